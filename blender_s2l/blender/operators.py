"""Operators: s2l.bake and s2l.bake_all (modal with a worker thread in the UI, modal.py;
synchronous in background), s2l.set_character, s2l.remove_take and the rig map's rows.

Every failure is one sentence through self.report and {'CANCELLED'}; nothing is written until
inference has finished, so an error or Esc leaves the file as it was.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import bpy

from ..core.bake.characters import CHARACTER_PROP, StripJob
from ..core.bake.settings import OPTIONS, PATH_SUBTYPES, BakeSettings
from ..core.errors import BakeError, S2LError
from ..core.speech.phones import NO_POCKETSPHINX, words_unheard
from . import bake, bake_all, job
from .modal import JobModal
from .option_props import add_properties
from .prefs import get_prefs
from .rna import Context, Object, OpResult
from .storage import TakeRecord

NO_RESULT = "The bake produced no result."
ESC_STOPS = "Esc stops after this strip"
ESC_AGAIN = "stopping after this strip; Esc again cancels it"
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
        elif option.name == "transcript" and value.startswith("@"):
            value = transcript_file(value)
        chosen[option.name] = value
    return chosen


def transcript_file(value: str) -> str:
    """The words of `@words.txt` typed in the Transcript field, read here and only here (batch
    reads its own `@` before the bake, so words that begin with '@' are never read twice): a
    relative name lies beside the .blend, as a relative path in a file field does."""
    from ..core.speech.align import transcript_arg

    name = os.path.expanduser(value[1:])
    if name.startswith("//") or not os.path.isabs(name):
        if not bpy.data.filepath:
            raise BakeError(f"The transcript file {name} is relative to the .blend, which is "
                            "not saved yet: save it, or give the file's full path.")
        name = bpy.path.abspath(name if name.startswith("//") else "//" + name)
    return transcript_arg("@" + name)


class S2L_OT_bake(JobModal, bpy.types.Operator):
    """Bake lip-sync shape keys for a head mesh from a sound strip"""

    bl_idname = "s2l.bake"
    bl_label = "Bake Lip Sync"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (bpy reads it as a class attribute)

    object_name: bpy.props.StringProperty(name="Object", default="")  # type: ignore[valid-type]
    strip_name: bpy.props.StringProperty(name="Strip", default="")  # type: ignore[valid-type]
    strip_scene: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Strip Scene", default="", description="Scene holding the strip; empty searches"
    )

    def execute(self, context: Context) -> OpResult:
        if job.active() is not None:
            self.report({"ERROR"}, job.BUSY)
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

    def start_modal(self, context: Context) -> OpResult:
        """Snapshot inputs, start the worker, then poll it from a timer (modal.JobModal)."""
        try:
            snap = bake.gather(context, params_from(self, context))
            note = bake.size_note(snap)
            if note is not None:
                self.report({"WARNING"}, note)
            self._job = job.start(snap)
        except S2LError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self._begin(context)
        return {"RUNNING_MODAL"}

    def escape(self, context: Context, running: job.BakeJob) -> OpResult:
        running.cancel()
        self._end(context)
        self.report({"INFO"}, "Lip-sync bake cancelled; nothing was changed.")
        return {"CANCELLED"}

    def job_done(self, context: Context, running: job.BakeJob) -> OpResult:
        self._end(context)
        if running.error is not None or running.plan is None:
            self.report({"ERROR"}, str(running.error or NO_RESULT))
            return {"CANCELLED"}
        try:
            record = bake.complete(running.snap, running.plan)
        except S2LError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self._report_done(record, running.snap.params)
        return {"FINISHED"}

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


class S2L_OT_bake_all(JobModal, bpy.types.Operator):
    """Bake every sound strip of the scene (and of the sequencer scene) onto the character that
    speaks it: the strip's s2l_character property, else the mesh named like the strip's name
    before its first '.'. Esc stops after the strip being baked; Esc again cancels that one"""

    bl_idname = "s2l.bake_all"
    bl_label = "Bake All Strips"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (bpy reads it as a class attribute)

    _run: bake_all.AllRun | None = None
    _stopping = False  # Esc was pressed: no strip starts after the current one

    def execute(self, context: Context) -> OpResult:
        """One synchronous loop over the strips (background mode, or no window)."""
        if job.active() is not None:
            self.report({"ERROR"}, job.BUSY)
            return {"CANCELLED"}
        settings = self._settings(context)
        if settings is None:
            return {"CANCELLED"}
        result = bake_all.bake_all(context, settings, warn=self._warn, done=self._strip_done)
        return self._summarise(result)

    def start_modal(self, context: Context) -> OpResult:
        """One worker job per strip, polled from a timer (modal.JobModal); the strips that fail
        before their inference starts are reported on the way."""
        if job.active() is not None:
            self.report({"ERROR"}, job.BUSY)
            return {"CANCELLED"}
        settings = self._settings(context)
        if settings is None:
            return {"CANCELLED"}
        self._run = bake_all.AllRun(context, settings, warn=self._warn, done=self._strip_done)
        self._stopping = False
        if not self._start_next(context, self._run):
            return self._summarise(self._run.result)
        self._begin(context)
        return {"RUNNING_MODAL"}

    def escape(self, context: Context, running: job.BakeJob) -> OpResult:
        """The first Esc lets the strip being baked finish and starts no other; the second one
        cancels that strip too (nothing is written for it)."""
        run = self._run
        if run is None:
            return {"CANCELLED"}
        if not self._stopping:
            self._stopping = True
            running.esc = ESC_AGAIN
            self.report({"INFO"}, f"Bake All Strips stops after '{running.snap.inputs.label}'; "
                        "Esc again cancels it too.")
            self._show(context, running)
            return {"RUNNING_MODAL"}
        running.cancel()
        self.report({"INFO"}, f"{running.snap.inputs.label}: cancelled, left as it was.")
        run.stop()
        self._end(context)
        return self._summarise(run.result)

    def job_done(self, context: Context, running: job.BakeJob) -> OpResult:
        """Write the strip's take on the main thread, then start the next strip, or sum up."""
        run = self._run
        if run is None:
            return {"CANCELLED"}
        job.release(running)
        self._job = None
        if running.error is not None or running.plan is None:
            run.fail(str(running.error or NO_RESULT))
        else:
            plan = running.plan
            record = run.attempt(lambda: bake.complete(running.snap, plan))
            if record is not None:
                run.baked(record)
        if self._start_next(context, run):
            self._show(context, self._job)
            return {"PASS_THROUGH"}
        self._show(context, None, run.fraction)
        self._end(context)
        return self._summarise(run.result)

    def _start_next(self, context: Context, run: bake_all.AllRun) -> bool:
        """Start the next strip's inference on the worker; False when no strip is left (or Esc
        asked to stop). A strip that fails before inference is recorded and skipped."""
        while run.current is not None:
            if self._stopping:
                run.stop()
                return False
            started = run.attempt(lambda: self._start_strip(context, run))
            if started is not None:
                self._job = started
                return True
        return False

    def _start_strip(self, context: Context, run: bake_all.AllRun) -> job.BakeJob:
        snap = bake.gather(context, run.params())
        note = bake.size_note(snap)
        if note is not None:
            run.note(note)
        started = job.start(snap, run.span)
        started.what = f"strip {run.index + 1} of {len(run.todo)} ({snap.inputs.label})"
        started.esc = ESC_STOPS
        return started

    def _settings(self, context: Context) -> BakeSettings | None:
        """The options every strip bakes with, or None after reporting why they cannot be read
        (an `@file` transcript that is not there)."""
        try:
            chosen = chosen_options(self, context)
        except S2LError as exc:
            self.report({"ERROR"}, str(exc))
            return None
        return BakeSettings(**{k: v for k, v in chosen.items()
                               if k in BakeSettings.__dataclass_fields__})

    def _warn(self, note: str) -> None:
        self.report({"WARNING"}, note)

    def _strip_done(self, strip_job: StripJob, record: TakeRecord | None, why: str) -> None:
        """A strip's failure, or what its bake's report would warn of (its notes), named."""
        for text in ([why] if record is None else record.notes):
            self.report({"WARNING"}, f"{strip_job.strip}: {text}")

    def _summarise(self, result: bake_all.AllResult) -> OpResult:
        """The one summary; FINISHED (one undo step) whenever a strip was baked."""
        for strip_job in result.unassigned:
            self.report({"INFO"}, f"No character for the strip '{strip_job.strip}'.")
        if not result.baked and not result.failed and not result.stopped:
            self.report({"ERROR"}, "No sound strip has a character: "
                        f"{result.summary()}. Name strips 'Character.line' or set their "
                        f"'{CHARACTER_PROP}' property.")
            return {"CANCELLED"}
        self.report({"WARNING"} if result.failed else {"INFO"}, f"Bake All Strips: "
                    f"{result.summary()}.")
        return {"FINISHED"} if result.baked else {"CANCELLED"}


add_properties(S2L_OT_bake_all, OPERATOR_OPTIONS, "operator")

# Blender keeps only pointers to dynamic enum strings: hold them so they are not collected.
_MESH_ITEMS: list[tuple[str, str, str]] = []


def _mesh_items(self: Any, context: Context | None) -> list[tuple[str, str, str]]:
    _MESH_ITEMS.clear()
    _MESH_ITEMS.extend((o.name, o.name, "Mesh object") for o in bpy.data.objects
                       if o.type == "MESH")
    return _MESH_ITEMS


class S2L_OT_set_character(bpy.types.Operator):
    """Set which mesh object speaks this sound strip in Bake All Strips (the strip's
    s2l_character property), or clear it so the strip's name decides"""

    bl_idname = "s2l.set_character"
    bl_label = "Set Character"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (bpy reads it as a class attribute)
    bl_property = "character"  # what the search popup searches

    strip_name: bpy.props.StringProperty(name="Strip", default="")  # type: ignore[valid-type]
    strip_scene: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Strip Scene", default="", description="Scene holding the strip; empty searches"
    )
    character: bpy.props.EnumProperty(  # type: ignore[valid-type]
        name="Character", items=_mesh_items, description="The mesh object that speaks the strip"
    )
    clear: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name="Clear", default=False,
        description="Remove the strip's s2l_character: its name decides again",
    )

    def invoke(self, context: Context, event: Any) -> OpResult:
        if self.clear or context.window is None:
            return self.execute(context)
        context.window_manager.invoke_search_popup(self)
        return {"RUNNING_MODAL"}

    def execute(self, context: Context) -> OpResult:
        if not self.clear and not self.properties.is_property_set("character"):
            self.report({"ERROR"}, "Name the mesh object that speaks the strip, or clear it.")
            return {"CANCELLED"}
        try:
            message = bake_all.set_character(context, self.strip_scene, self.strip_name,
                                             "" if self.clear else self.character)
        except S2LError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, message)
        return {"FINISHED"}


class _OnTake:
    """The properties of an operator on one take of one object (Blender reads a mixin's
    annotations, as bpy_extras' ImportHelper does)."""

    object_name: bpy.props.StringProperty(name="Object", default="")  # type: ignore[valid-type]
    take: bpy.props.StringProperty(name="Take", default="")  # type: ignore[valid-type]


class S2L_OT_remove_take(_OnTake, bpy.types.Operator):
    """Remove a lip-sync take: its NLA track, action and the shape keys it added (a rig take
    added none: the character's own keys stay)"""

    bl_idname = "s2l.remove_take"
    bl_label = "Remove Take"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (bpy reads it as a class attribute)

    def execute(self, context: Context) -> OpResult:
        try:
            obj = bake.resolve_object(context, self.object_name)
            bake.check_object(obj, baking=False)
            bake.remove_take(obj, self.take)
        except S2LError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Removed take '{self.take}' from '{obj.name}'.")
        return {"FINISHED"}


class S2L_OT_mute_take(_OnTake, bpy.types.Operator):
    """Switch a lip-sync take off or on on this object (a rig take's other objects have toggles
    of their own); switched off here, the face is at rest"""

    bl_idname = "s2l.mute_take"
    bl_label = "Mute Take"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (bpy reads it as a class attribute)

    def execute(self, context: Context) -> OpResult:
        def switch(obj: Object) -> str:
            return f"Take '{self.take}' {'off' if bake.mute_take(obj, self.take) else 'on'}."

        return run_on_object(self, context, switch)


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
