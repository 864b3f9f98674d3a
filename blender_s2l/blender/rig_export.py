"""Export a take's weights for other programs: Live Link Face CSV or JSON (core/rig/export.py).

The weights are read from the take's own action, whatever wrote it: every F-curve
`key_blocks["<name>"].value` of the slot its NLA strip plays, evaluated at every frame of the
take's range. A RIG take animates the character's own keys (jawOpen, visemes...), so its CSV
fills the ARKit columns; a compact or per-frame take animates its `s2l.<take>.NNNN` keys, which
JSON keeps under their names. Takes are written with their NLA strip starting where their keys
start, so action frames are scene frames. Nothing in the file is changed by an export.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import bpy
import numpy as np

from ..core.errors import ExportError, S2LError
from ..core.rig import export
from . import bake
from .compat import find_channelbag
from .keying import take_track
from .rna import Action, ActionSlot, Context, Object, OpResult, Scene
from .storage import NO_TAKE, TakeRecord, read_takes

_KEY_VALUE = re.compile(r'^key_blocks\["((?:[^"\\]|\\.)*)"\]\.value$')


def scene_fps(scene: Scene) -> float:
    return float(scene.render.fps) / float(scene.render.fps_base)


def _record(obj: Object, take: str) -> TakeRecord:
    record = read_takes(obj).get(take)
    if record is None:
        raise ExportError(NO_TAKE.format(name=obj.name, take=take))
    return record


def take_action(obj: Object, record: TakeRecord) -> tuple[Action, ActionSlot]:
    """The take's action and the slot its NLA strip plays (else the action's shape-key slot)."""
    action = bpy.data.actions.get(record.action) if record.action else None
    if action is None:
        raise ExportError(f"The action of take '{record.take}' on '{obj.name}' is missing; "
                          "bake the take again.")
    key = obj.data.shape_keys if obj.type == "MESH" else None
    track = take_track(key, record.action, record.track)
    for strip in track.strips if track is not None else ():
        if strip.action == action and strip.action_slot is not None:
            return action, strip.action_slot
    for slot in action.slots:
        if slot.target_id_type == "KEY":
            return action, slot
    raise ExportError(f"The action '{action.name}' of take '{record.take}' animates no shape "
                      "keys.")


def _key_curves(action: Action, slot: ActionSlot) -> list[tuple[str, Any]]:
    """(shape key name, F-curve) of every key value the slot animates, in the action's order."""
    bag = find_channelbag(action, slot)
    curves = []
    for fc in bag.fcurves if bag is not None else ():
        match = _KEY_VALUE.match(fc.data_path)
        if match is not None:
            curves.append((re.sub(r"\\(.)", r"\1", match.group(1)), fc))
    return curves


def take_weights(obj: Object, take: str, fps: float) -> export.Weights:
    """The take's weights at every frame of its range (fps: the scene's, for the timecodes)."""
    record = _record(obj, take)
    action, slot = take_action(obj, record)
    curves = _key_curves(action, slot)
    if not curves:
        raise ExportError(f"Take '{take}' on '{obj.name}' animates no shape keys, so there is "
                          "nothing to export.")
    first, last = record.frame_start, record.frame_end
    if last <= first:  # a record without its range: the keys' own
        ranges = np.array([fc.range() for _, fc in curves], dtype=np.float64)
        first, last = int(np.floor(ranges[:, 0].min())), int(np.ceil(ranges[:, 1].max()))
    frames = np.arange(first, last + 1, dtype=np.int64)
    values = np.empty((frames.size, len(curves)), dtype=np.float64)
    for k, (_, fc) in enumerate(curves):
        evaluate = fc.evaluate
        values[:, k] = [evaluate(float(f)) for f in frames.tolist()]
    return export.weights(frames, fps, [name for name, _ in curves], values)


def export_take(obj: Object, take: str, path: str | Path, fps: float) -> list[str]:
    """Write the take's weights to path (.csv or .json); returns notes for the user."""
    export.export_format(path)  # a bad extension before any work
    w = take_weights(obj, take, fps)
    meta = {"object": str(obj.name), "take": take, "mode": _record(obj, take).mode}
    return export.write_weights(path, w, meta)


class S2L_OT_export_weights(bpy.types.Operator):
    """Export a take's shape-key weights: Live Link Face CSV (ARKit names) or JSON (any keys)"""

    bl_idname = "s2l.export_weights"
    bl_label = "Export Weights"
    bl_options = {"REGISTER"}  # noqa: RUF012 (bpy reads it as a class attribute)

    object_name: bpy.props.StringProperty(name="Object", default="")  # type: ignore[valid-type]
    take: bpy.props.StringProperty(name="Take", default="")  # type: ignore[valid-type]
    filepath: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="File", subtype="FILE_PATH", default="",
        description="Where to write: .csv (Live Link Face columns) or .json (every key)",
    )
    filter_glob: bpy.props.StringProperty(  # type: ignore[valid-type]
        default="*.csv;*.json", options={"HIDDEN"}
    )
    check_existing: bpy.props.BoolProperty(  # type: ignore[valid-type]
        default=True, options={"HIDDEN"}
    )

    def invoke(self, context: Context, event: Any) -> OpResult:
        if self.filepath or bpy.app.background or context.window is None:
            return self.execute(context)
        stem = bpy.path.clean_name(f"{self.object_name}_{self.take}") or "weights"
        self.filepath = str(Path(bpy.path.abspath("//")) / f"{stem}.csv") \
            if bpy.data.filepath else f"{stem}.csv"
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context: Context) -> OpResult:
        try:
            obj = bake.resolve_object(context, self.object_name)
            if not self.filepath:
                raise ExportError("Choose a file to export the weights to (.csv or .json).")
            path = Path(bpy.path.abspath(self.filepath))
            if path.is_dir():
                raise ExportError(f"The export path {path} is a folder, not a file name.")
            if not path.suffix:  # typed without an extension in the file browser
                path = path.with_suffix(".csv")
            notes = export_take(obj, self.take, path, scene_fps(context.scene))
        except S2LError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        for note in notes:
            self.report({"WARNING"}, note)
        self.report({"INFO"}, f"Exported the weights of take '{self.take}' to {path}.")
        return {"FINISHED"}


def export_baked_take(object_name: str, take: str, path: Path) -> list[str]:
    """Batch: the take just baked on the object, at the open scene's frame rate."""
    obj = bpy.data.objects.get(object_name)
    if obj is None:
        raise ExportError(f"There is no object named '{object_name}'.")
    return export_take(obj, take, path, scene_fps(bpy.context.scene))
