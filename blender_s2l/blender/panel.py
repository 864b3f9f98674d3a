"""Sidebar panel: View3D > N > Lip Sync."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import bpy

from ..core.bake.plans import RigPlan, large_bake_note
from ..core.bake.settings import OPTION, Option, panel_copies, panel_rows
from ..core.errors import S2LError
from ..core.head.keypoints import NAMES, REQUIRED
from ..core.models import load as device_check
from ..core.speech import recognise
from ..core.speech.phones import wants_words
from . import bake, job, rig
from .bake_all import assigned_character, character_note, picked_strip
from .keying import take_track
from .landmarks import KEYPOINT_ORDER, landmark_status
from .option_props import PREFS, chosen
from .prefs import get_prefs
from .props import split_strip_id
from .rna import Context, Object
from .storage import (
    HOLD_GROUP,
    LANDMARK_ATTR,
    LANDMARK_GROUP,
    LANDMARK_POS_PROP,
    read_keypoints,
    read_takes,
)
from .strips import find_strip, played_frames

RIG = RigPlan.mode


def target_object(context: Context) -> Object | None:
    settings = context.scene.s2l
    return settings.target or context.active_object


def bake_blocker(context: Context) -> str | None:
    """Why Bake is disabled right now, in one sentence; None when it can run (cheap checks)."""
    running = job.active()
    if running is not None:
        return f"A bake is running ({running.esc})."
    obj = target_object(context)
    if obj is None:
        return "Select a head mesh."
    try:
        bake.check_object(obj)
        scene_name, strip_name = split_strip_id(context.scene.s2l.strip)
        find_strip(context, strip_name, scene_name)
        if _mode(context) == RIG:
            rig.recognise(obj)
    except S2LError as exc:
        return str(exc)
    return None


def _mode(context: Context) -> str:
    return str(chosen(context.scene.s2l, OPTION["mode"], get_prefs(context)))


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
    first, end = played_frames(strip)
    frames = max(0, end - first)
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
    if _mode(context) == RIG and obj is not None and obj.type == "MESH":
        with contextlib.suppress(S2LError):  # the sentence is the Bake button's blocker
            col.label(text=rig.summary(obj), icon="SHAPEKEY_DATA")


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


def _group_rows(box: Any, obj: Object, take: str) -> None:
    """The other objects a rig take plays on, each with its own mute toggle."""
    for member, record in bake.take_group(obj, take):
        if member == obj:
            continue
        row = box.row(align=True)
        track = take_track(rig.anim_owner(member), record.action, record.track)
        if track is not None:
            row.prop(track, "mute", text="", invert_checkbox=True,
                     icon="HIDE_ON" if track.mute else "HIDE_OFF")
        row.label(text=f"    also {member.name}")


def _speaker_row(col: Any, scene_name: str, strip_name: str) -> None:
    """Who speaks the picked strip in Bake All Strips, with Set (a search over the mesh
    objects) and Clear of the strip's own s2l_character."""
    strip = picked_strip(scene_name, strip_name)
    if strip is None:
        return
    row = col.row(align=True)
    row.label(text=character_note(scene_name, strip_name), icon="USER")
    op = row.operator("s2l.set_character", text="", icon="VIEWZOOM")
    op.strip_scene, op.strip_name, op.clear = scene_name, strip_name, False
    sub = row.row(align=True)
    sub.enabled = bool(assigned_character(strip))
    op = sub.operator("s2l.set_character", text="", icon="X")
    op.strip_scene, op.strip_name, op.clear = scene_name, strip_name, True


class S2L_UL_rig_map(bpy.types.UIList):
    """Rows of the head's rig map: rig name -> the head's shape key."""

    bl_idname = "S2L_UL_rig_map"

    def draw_item(self, context: Context, layout: Any, data: Any | None, item: Any | None,
                  icon: int | None, active_data: Any, active_property: str | None,
                  index: int | None = 0, flt_flag: int | None = 0) -> None:
        row = layout.row(align=True)
        row.prop(item, "rig_name", text="", emboss=False, placeholder="jawOpen")
        obj: Object = getattr(data, "id_data", None)
        key = obj.data.shape_keys if obj is not None and obj.type == "MESH" else None
        if key is not None:
            row.prop_search(item, "key_name", key, "key_blocks", text="")
        else:
            row.prop(item, "key_name", text="")


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
        _speaker_row(col, *split_strip_id(settings.strip))
        col.separator()
        for row in panel_rows():
            _draw_row(col, settings, row)
            for option in row:
                note = _NOTES.get(option.name)
                if note is not None:
                    note(col, context, obj)

        running = job.active()
        if running is not None:
            layout.label(text=job.status_line(running), icon="TIME")
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
        row = layout.row()
        row.enabled = running is None
        copy_to_operator(settings, row.operator("s2l.bake_all", icon="SEQUENCE"))

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
            for name, rec in takes.items():
                row = box.row(align=True)
                track = take_track(obj.data.shape_keys, rec.action, rec.track)
                if track is not None:  # overlapping takes add up: mute the ones not wanted
                    mute = row.operator("s2l.mute_take", text="",
                                        icon="HIDE_ON" if track.mute else "HIDE_OFF")
                    mute.object_name, mute.take = obj.name, name
                row.label(text=f"{name}  ({rec.mode.lower()}, {rec.strip})")
                ex = row.operator("s2l.export_weights", text="", icon="EXPORT")
                ex.object_name, ex.take = obj.name, name
                rm = row.operator("s2l.remove_take", text="", icon="X")
                rm.object_name, rm.take = obj.name, name
                if rec.group:  # a rig take also keys the character's other meshes
                    _group_rows(box, obj, name)


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
        row.enabled = (fitted or obj.data.attributes.get(LANDMARK_ATTR) is not None) and editing
        row.prop(context.scene.s2l, "landmark_index")
        op = row.operator("s2l.adjust_landmark", text="To Selected", icon="EYEDROPPER")
        op.object_name, op.index = obj.name, context.scene.s2l.landmark_index
        layout.operator("s2l.clear_landmarks", icon="X").object_name = obj.name
        row = layout.row(align=True)
        row.enabled = not editing
        op = row.operator("s2l.cut_mouth", icon="MOD_EDGESPLIT")
        op.object_name, op.bag = obj.name, context.scene.s2l.cut_mouth_bag
        row.prop(context.scene.s2l, "cut_mouth_bag", text="Bag")


class VIEW3D_PT_s2l_rig(bpy.types.Panel):
    """Rig Shape Keys: names the recogniser does not know, and the jaw bone."""

    bl_label = "Rig"
    bl_idname = "VIEW3D_PT_s2l_rig"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Lip Sync"
    bl_parent_id = "VIEW3D_PT_s2l"

    @classmethod
    def poll(cls, context: Context) -> bool:
        return _mode(context) == RIG

    def draw(self, context: Context) -> None:
        layout: Any = self.layout
        obj = target_object(context)
        if obj is None or obj.type != "MESH":
            layout.label(text="Select a head mesh.", icon="INFO")
            return
        try:
            layout.label(text=rig.summary(obj), icon="SHAPEKEY_DATA")
        except S2LError as exc:
            layout.label(text=str(exc), icon="ERROR")
        settings = obj.s2l_rig
        layout.label(text="Names the add-on does not know (rig name -> shape key):")
        row = layout.row()
        row.template_list("S2L_UL_rig_map", "", settings, "rows", settings, "index", rows=3)
        col = row.column(align=True)
        col.operator("s2l.rig_map_add", text="", icon="ADD").object_name = obj.name
        col.operator("s2l.rig_map_remove", text="", icon="REMOVE").object_name = obj.name
        armature = rig.armature_of(obj)
        if armature is None:
            layout.label(text="No armature: no jaw bone to key", icon="INFO")
            return
        layout.prop_search(settings, "jaw_bone", armature.data, "bones")
        try:
            found = rig.find_jaw_bone(armature, settings.jaw_bone)
        except S2LError as exc:
            layout.label(text=str(exc), icon="ERROR")
            return
        if not found:
            layout.label(text="No bone named like a jaw: the shape keys open the jaw",
                         icon="BONE_DATA")
            return
        bone = found[len(armature.name) + 1:]
        skinned = rig.skin_modifier(obj, armature, bone) is not None
        how = ("keyed; the shape keys make the rest" if skinned
               else "keyed; the head has no Armature modifier and group for it")
        layout.label(text=f"Jaw bone: {bone} ({how})", icon="BONE_DATA")
