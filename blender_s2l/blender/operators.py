"""Operators: s2l.bake (modal with a worker thread; synchronous in background) and s2l.remove_take.

Every failure is one sentence through self.report and {'CANCELLED'}; nothing is written until
inference has finished, so an error or Esc leaves the file as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import bpy

from ..core.bake.characters import CHARACTER_PROP
from ..core.bake.settings import OPTIONS, PATH_SUBTYPES, BakeSettings
from ..core.errors import BakeError, S2LError
from ..core.speech.phones import NO_POCKETSPHINX, words_unheard
from . import bake, bake_all, job
from .option_props import add_properties
from .prefs import get_prefs
from .rna import Context, Object, OpResult

STATUS = "Lip Sync: baking {pct:.0f}%  (Esc to cancel)"
OPERATOR_OPTIONS = tuple(o for o in OPTIONS if o.operator)


def params_from(op: Any, context: Context) -> bake.BakeParams:
    """Operator properties -> BakeParams; unset prefs-backed options fall back to the preferences.

    An enum is unset when the caller did not set it; a folder, when it is empty too. Options the
    operator lacks (a stand-in operator in a test) keep BakeParams' defaults.
    """
    return bake.BakeParams(object_name=op.object_name, strip_name=op.strip_name,
                           strip_scene=op.strip_scene, **chosen_options(op, context))


def chosen_options(op: Any, context: Context) -> dict[str, Any]:
    """The bake options of an operator's properties, as params_from reads them."""
    prefs = get_prefs(context)
    chosen: dict[str, Any] = {}
    for option in OPERATOR_OPTIONS:
        if not hasattr(op, option.name):
            continue
        value = getattr(op, option.name)
        if option.prefs and (value == "" or not op.properties.is_property_set(option.name)):
            value = getattr(prefs, option.prefs)
        elif option.subtype in PATH_SUBTYPES and value:  # "//..." is relative to the .blend
            value = bpy.path.abspath(value)
        chosen[option.name] = value
    return chosen


class S2L_OT_bake(bpy.types.Operator):
    """Bake lip-sync shape keys for a head mesh from a sound strip"""

    bl_idname = "s2l.bake"
    bl_label = "Bake Lip Sync"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (bpy reads it as a class attribute)

    object_name: bpy.props.StringProperty(name="Object", default="")  # type: ignore[valid-type]
    strip_name: bpy.props.StringProperty(name="Strip", default="")  # type: ignore[valid-type]
    strip_scene: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Strip Scene", default="", description="Scene holding the strip; empty searches"
    )
    _job: job.BakeJob | None = None
    _timer: Any = None

    def execute(self, context: Context) -> OpResult:
        if job.active() is not None:
            self.report({"ERROR"}, "A bake is already running; wait for it to finish or press Esc.")
            return {"CANCELLED"}
        try:
            params = params_from(self, context)
            record = bake.run_sync(context, params,
                                   warn=lambda note: self.report({"WARNING"}, note))
        except S2LError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self._report_done(record, params)
        return {"FINISHED"}

    def invoke(self, context: Context, event: Any) -> OpResult:
        if bpy.app.background or context.window is None:
            return self.execute(context)
        return self.start_modal(context)

    def start_modal(self, context: Context) -> OpResult:
        """Snapshot inputs, start the worker, then poll it from a timer (see modal)."""
        try:
            snap = bake.gather(context, params_from(self, context))
            note = bake.size_note(snap)
            if note is not None:
                self.report({"WARNING"}, note)
            self._job = job.start(snap)
        except S2LError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        wm.progress_begin(0, 100)
        context.workspace.status_text_set(STATUS.format(pct=0))
        return {"RUNNING_MODAL"}

    def modal(self, context: Context, event: Any) -> OpResult:
        running = self._job
        if running is None:
            return {"CANCELLED"}
        if event.type == "ESC" and event.value == "PRESS":
            running.cancel()
            self._end(context)
            self.report({"INFO"}, "Lip-sync bake cancelled; nothing was changed.")
            return {"CANCELLED"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        context.window_manager.progress_update(int(running.progress * 100))
        context.workspace.status_text_set(STATUS.format(pct=running.progress * 100))
        for area in context.screen.areas if context.screen else []:
            if area.type == "VIEW_3D":  # the sidebar shows the percentage too
                area.tag_redraw()
        if not running.done:
            return {"PASS_THROUGH"}
        self._end(context)
        if running.error is not None or running.plan is None:
            self.report({"ERROR"}, str(running.error or "The bake produced no result."))
            return {"CANCELLED"}
        try:
            record = bake.finish(running.snap, running.plan)
        except S2LError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self._report_done(record, running.snap.params)
        return {"FINISHED"}

    def cancel(self, context: Context) -> None:
        """Blender calls this when the modal operator is killed (file load, window closed)."""
        if self._job is not None:
            self._job.cancel()
        self._end(context)

    def _end(self, context: Context) -> None:
        wm = context.window_manager
        if self._timer is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.progress_end()
        if context.workspace is not None:
            context.workspace.status_text_set(None)
        if self._job is not None:
            job.release(self._job)
        for area in context.screen.areas if context.screen else []:
            area.tag_redraw()

    def _report_done(self, record: Any, params: bake.BakeParams) -> None:
        if words_unheard(params.phones_file, params.transcript, params.recognise_words):
            self.report({"WARNING"}, NO_POCKETSPHINX)
        for note in record.notes:
            self.report({"WARNING"}, note)
        detail = f", max error {record.max_error_mm:.3f} mm" if record.mode == "COMPACT" else ""
        self.report(
            {"INFO"},
            f"Baked take '{record.take}': {record.written}, frames "
            f"{record.frame_start + 1}-{record.frame_end - 1}{detail}.",
        )


# Every bake option the operator takes, after the Blender data it applies to.
add_properties(S2L_OT_bake, OPERATOR_OPTIONS, "operator")


class S2L_OT_bake_all(bpy.types.Operator):
    """Bake every sound strip of the scene (and of the sequencer scene) onto the character that
    speaks it: the strip's s2l_character property, else the mesh named like the strip's name
    before its first '.'"""

    bl_idname = "s2l.bake_all"
    bl_label = "Bake All Strips"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (bpy reads it as a class attribute)

    def execute(self, context: Context) -> OpResult:
        """One synchronous loop over the strips (background and UI alike); the window's progress
        bar shows it in the UI."""
        if job.active() is not None:
            self.report({"ERROR"}, "A bake is already running; wait for it to finish or press Esc.")
            return {"CANCELLED"}
        chosen = chosen_options(self, context)
        settings = BakeSettings(**{k: v for k, v in chosen.items()
                                   if k in BakeSettings.__dataclass_fields__})
        wm = context.window_manager
        ui = not bpy.app.background and context.window is not None

        def done(strip_job: Any, record: Any, why: str) -> None:
            if record is None:
                self.report({"WARNING"}, f"{strip_job.strip}: {why}")

        if ui:
            wm.progress_begin(0, 100)
        try:
            result = bake_all.bake_all(
                context, settings,
                progress=(lambda f: wm.progress_update(int(f * 100))) if ui else None,
                warn=lambda note: self.report({"WARNING"}, note), done=done)
        finally:
            if ui:
                wm.progress_end()
        for strip_job in result.unassigned:
            self.report({"INFO"}, f"No character for the strip '{strip_job.strip}'.")
        if not result.baked and not result.failed:
            self.report({"ERROR"}, "No sound strip has a character: "
                        f"{result.summary()}. Name strips 'Character.line' or set their "
                        f"'{CHARACTER_PROP}' property.")
            return {"CANCELLED"}
        self.report({"WARNING"} if result.failed else {"INFO"}, f"Bake All Strips: "
                    f"{result.summary()}.")
        return {"FINISHED"} if result.baked else {"CANCELLED"}


add_properties(S2L_OT_bake_all, OPERATOR_OPTIONS, "operator")


class S2L_OT_remove_take(bpy.types.Operator):
    """Remove a lip-sync take: its NLA track, action and the shape keys it added (a rig take
    added none: the character's own keys stay)"""

    bl_idname = "s2l.remove_take"
    bl_label = "Remove Take"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (bpy reads it as a class attribute)

    object_name: bpy.props.StringProperty(name="Object", default="")  # type: ignore[valid-type]
    take: bpy.props.StringProperty(name="Take", default="")  # type: ignore[valid-type]

    def execute(self, context: Context) -> OpResult:
        try:
            obj = bake.resolve_object(context, self.object_name)
            bake.check_object(obj)
            bake.remove_take(obj, self.take)
        except S2LError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Removed take '{self.take}' from '{obj.name}'.")
        return {"FINISHED"}


def run_on_object(op: Any, context: Context, action: Callable[[Object], str],
                  check: Callable[[Object], None] | None = None) -> OpResult:
    """Run action on the operator's object (checked by `check` first); any S2LError becomes one
    reported sentence, and the action's message an INFO report."""
    try:
        obj = bake.resolve_object(context, op.object_name)
        if check is not None:
            check(obj)
        message = action(obj)
    except S2LError as exc:
        op.report({"ERROR"}, str(exc))
        return {"CANCELLED"}
    if message:
        op.report({"INFO"}, message)
    return {"FINISHED"}


class S2L_OT_rig_map_add(bpy.types.Operator):
    """Add a row to the head's rig map: a rig name and the shape key that plays it"""

    bl_idname = "s2l.rig_map_add"
    bl_label = "Add Rig Name"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (bpy reads it as a class attribute)

    object_name: bpy.props.StringProperty(name="Object", default="")  # type: ignore[valid-type]

    def execute(self, context: Context) -> OpResult:
        def add(obj: Object) -> str:
            obj.s2l_rig.rows.add()
            obj.s2l_rig.index = len(obj.s2l_rig.rows) - 1
            return ""

        return run_on_object(self, context, add)


class S2L_OT_rig_map_remove(bpy.types.Operator):
    """Remove the selected row of the head's rig map"""

    bl_idname = "s2l.rig_map_remove"
    bl_label = "Remove Rig Name"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (bpy reads it as a class attribute)

    object_name: bpy.props.StringProperty(name="Object", default="")  # type: ignore[valid-type]

    def execute(self, context: Context) -> OpResult:
        def remove(obj: Object) -> str:
            settings = obj.s2l_rig
            if not 0 <= settings.index < len(settings.rows):
                raise BakeError("Select a row of the rig map to remove.")
            settings.rows.remove(settings.index)
            settings.index = max(0, min(settings.index, len(settings.rows) - 1))
            return ""

        return run_on_object(self, context, remove)
