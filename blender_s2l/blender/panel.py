"""Sidebar panel: View3D > N > Lip Sync."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import bpy

from ..core.bake.plans import large_bake_note
from ..core.bake.settings import OPTION, Option, panel_copies, panel_rows
from ..core.errors import S2LError
from ..core.head.keypoints import NAMES, REQUIRED
from ..core.models import load as device_check
from ..core.speech import recognise
from ..core.speech.key_poses import wants_words
from . import bake, job
from .landmarks import KEYPOINT_ORDER, landmark_status
from .names import HOLD_GROUP, LANDMARK_GROUP, LANDMARK_POS_PROP
from .option_props import PREFS, chosen
from .prefs import get_prefs
from .props import split_strip_id
from .rna import Context, Object
from .storage import read_keypoints, read_takes
from .strips import find_strip


def target_object(context: Context) -> Object | None:
    settings = context.scene.s2l
    return settings.target or context.active_object


def bake_blocker(context: Context) -> str | None:
    """Why Bake is disabled right now, in one sentence; None when it can run (cheap checks)."""
    if job.active() is not None:
        return "A bake is running (Esc cancels it)."
    obj = target_object(context)
    if obj is None:
        return "Select a head mesh."
    try:
        bake.check_object(obj)
        scene_name, strip_name = split_strip_id(context.scene.s2l.strip)
        find_strip(context, strip_name, scene_name)
    except S2LError as exc:
        return str(exc)
    return None


def _size_note(context: Context, obj: Object | None) -> str | None:
    """large_bake_note for the chosen strip and head, before the user presses Bake."""
    settings = context.scene.s2l
    mode = chosen(settings, OPTION["mode"], get_prefs(context))
    if mode != "PER_FRAME" or obj is None or obj.type != "MESH":
        return None
    try:
        scene_name, strip_name = split_strip_id(settings.strip)
        _, strip = find_strip(context, strip_name, scene_name)
    except S2LError:
        return None
    frames = int(strip.frame_final_end) - int(strip.frame_final_start)
    return large_bake_note(mode, frames, len(obj.data.vertices))


def _draw_row(col: Any, settings: Any, row: tuple[Option[Any], ...]) -> None:
    """One sidebar row: an option alone, or options that go together side by side."""
    layout = col.row(align=True) if len(row) > 1 else col
    for option in row:
        where = layout
        if option.active is not None:
            where = layout.row()
            where.enabled = option.active(settings)
        if option.toggle:
            where.prop(settings, option.name, toggle=True)
        else:
            where.prop(settings, option.name)


def copy_to_operator(settings: Any, op: Any) -> None:
    """Hand the panel's options to the Bake button; a "Default" stays unset for the prefs."""
    for option in panel_copies():
        value = getattr(settings, option.name)
        if not (option.prefs and value == PREFS):
            setattr(op, option.name, value)


def _device_note(col: Any, context: Context, obj: Object | None) -> None:
    device = chosen(context.scene.s2l, OPTION["device"], get_prefs(context))
    if device == "CUDA" and not device_check.torch_installed():
        col.label(text="CUDA needs torch in Blender's Python; Auto runs on the CPU",
                  icon="ERROR")


def _mode_note(col: Any, context: Context, obj: Object | None) -> None:
    note = _size_note(context, obj)
    if note is not None:
        col.label(text=note, icon="ERROR")


def _words_note(col: Any, context: Context, obj: Object | None) -> None:
    settings = context.scene.s2l
    if not recognise.pocketsphinx_available():
        if settings.transcript.strip() and not settings.phones_file:
            col.label(text="Transcript needs pocketsphinx in Blender's Python", icon="ERROR")
        elif wants_words(settings.phones_file, settings.transcript, settings.recognise_words):
            col.label(text="No pocketsphinx here: lips from the audio alone", icon="INFO")


# What the panel says under an option's row, about the choice made there.
_NOTES: dict[str, Callable[[Any, Context, Object | None], None]] = {
    "device": _device_note, "mode": _mode_note, "recognise_words": _words_note,
}


class VIEW3D_PT_s2l(bpy.types.Panel):
    bl_label = "Lip Sync"
    bl_idname = "VIEW3D_PT_s2l"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Lip Sync"

    def draw(self, context: Context) -> None:
        layout: Any = self.layout
        settings = context.scene.s2l
        obj = target_object(context)
        col = layout.column()
        col.prop(settings, "target", text="Head")
        if settings.target is None and obj is not None:
            col.label(text=f"Using active object: {obj.name}", icon="INFO")
        col.prop(settings, "strip", text="Sound")
        col.separator()
        for row in panel_rows():
            _draw_row(col, settings, row)
            for option in row:
                note = _NOTES.get(option.name)
                if note is not None:
                    note(col, context, obj)

        running = job.active()
        if running is not None:
            layout.label(text=f"Baking... {running.progress * 100:.0f}% (Esc cancels)", icon="TIME")
        blocker = bake_blocker(context)
        row = layout.row()
        row.scale_y = 1.4
        row.enabled = blocker is None
        op = row.operator("s2l.bake", icon="REC")
        if blocker is not None:
            layout.label(text=blocker, icon="ERROR")
        elif obj is not None:
            scene_name, strip_name = split_strip_id(settings.strip)
            op.object_name = obj.name
            op.strip_name, op.strip_scene = strip_name, scene_name
            copy_to_operator(settings, op)

        if obj is not None and obj.type == "MESH":
            group = obj.vertex_groups.get(HOLD_GROUP)
            row = layout.row()
            if group is None:
                row.label(text="Neck and below stay still", icon="LOCKED")
                row.operator("s2l.add_hold_group", text="Hold More", icon="GROUP_VERTEX"
                             ).object_name = obj.name
            else:
                row.label(text=f"Held still: neck, below and '{HOLD_GROUP}' (1 = still)",
                          icon="LOCKED")
            takes = read_takes(obj)
            box = layout.box()
            box.label(text=f"Takes on {obj.name}" if takes else "No takes yet")
            anim = obj.data.shape_keys.animation_data if obj.data.shape_keys else None
            for name, rec in takes.items():
                row = box.row(align=True)
                track = anim.nla_tracks.get(rec.track) if anim is not None else None
                if track is not None:  # overlapping takes add up: mute the ones not wanted
                    row.prop(track, "mute", text="", invert_checkbox=True,
                             icon="HIDE_ON" if track.mute else "HIDE_OFF")
                row.label(text=f"{name}  ({rec.mode.lower()}, {rec.strip})")
                ex = row.operator("s2l.export_weights", text="", icon="EXPORT")
                ex.object_name, ex.take = obj.name, name
                rm = row.operator("s2l.remove_take", text="", icon="X")
                rm.object_name, rm.take = obj.name, name


class VIEW3D_PT_s2l_landmarks(bpy.types.Panel):
    """Key points -> Fit, for heads whose topology the add-on does not know."""

    bl_label = "Landmarks"
    bl_idname = "VIEW3D_PT_s2l_landmarks"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Lip Sync"
    bl_parent_id = "VIEW3D_PT_s2l"
    bl_options = {"DEFAULT_CLOSED"}  # noqa: RUF012 (bpy reads it as a class attribute)

    def draw(self, context: Context) -> None:
        layout: Any = self.layout
        obj = target_object(context)
        if obj is None or obj.type != "MESH":
            layout.label(text="Select a head mesh.", icon="INFO")
            return
        layout.label(text=landmark_status(obj))
        editing = obj.mode == "EDIT"
        if not editing:
            layout.label(text="In Edit Mode, pick one vertex per key point.", icon="INFO")
        keypoints = read_keypoints(obj)
        col = layout.column(align=True)
        for k in KEYPOINT_ORDER:
            row = col.row(align=True)
            mark = f"vertex {keypoints[k]}" if k in keypoints else "-"
            star = "" if k in REQUIRED else " (optional)"
            row.label(text=f"{NAMES[k].capitalize()}{star}: {mark}")
            sub = row.row(align=True)
            sub.enabled = editing
            op = sub.operator("s2l.assign_keypoint", text="", icon="EYEDROPPER")
            op.point, op.object_name = str(k), obj.name
        row = layout.row(align=True)
        row.enabled = all(k in keypoints for k in REQUIRED)
        row.operator("s2l.fit_landmarks", icon="SHADERFX").object_name = obj.name
        fitted = obj.data.get(LANDMARK_POS_PROP) is not None
        if fitted:
            layout.label(text=f"Shown as vertex group '{LANDMARK_GROUP}'.", icon="GROUP_VERTEX")
        row = layout.row(align=True)
        row.enabled = fitted and editing
        row.prop(context.scene.s2l, "landmark_index")
        op = row.operator("s2l.adjust_landmark", text="To Selected", icon="EYEDROPPER")
        op.object_name, op.index = obj.name, context.scene.s2l.landmark_index
        layout.operator("s2l.clear_landmarks", icon="X").object_name = obj.name
