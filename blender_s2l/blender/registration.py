"""register()/unregister(): repeatable, and a running bake is cancelled on unregister/file load."""

from __future__ import annotations

from typing import Any

import bpy

from . import job
from .landmark_ops import (
    S2L_OT_add_hold_group,
    S2L_OT_adjust_landmark,
    S2L_OT_assign_keypoint,
    S2L_OT_clear_landmarks,
    S2L_OT_cut_mouth,
    S2L_OT_fit_landmarks,
)
from .operators import (
    S2L_OT_bake,
    S2L_OT_bake_all,
    S2L_OT_mute_take,
    S2L_OT_remove_take,
    S2L_OT_rig_map_add,
    S2L_OT_rig_map_remove,
    S2L_OT_set_character,
)
from .panel import S2L_UL_rig_map, VIEW3D_PT_s2l, VIEW3D_PT_s2l_landmarks, VIEW3D_PT_s2l_rig
from .prefs import S2L_OT_clear_cache, S2LPreferences
from .props import S2LRigMapRow, S2LRigSettings, S2LSettings
from .rig_export import S2L_OT_export_weights

CLASSES: tuple[Any, ...] = (
    S2LPreferences, S2LSettings, S2LRigMapRow, S2LRigSettings, S2L_OT_bake, S2L_OT_bake_all,
    S2L_OT_set_character, S2L_OT_remove_take, S2L_OT_mute_take,
    S2L_OT_rig_map_add, S2L_OT_rig_map_remove, S2L_OT_assign_keypoint, S2L_OT_fit_landmarks,
    S2L_OT_clear_landmarks, S2L_OT_adjust_landmark, S2L_OT_add_hold_group, S2L_OT_cut_mouth,
    S2L_UL_rig_map,
    VIEW3D_PT_s2l, VIEW3D_PT_s2l_landmarks, VIEW3D_PT_s2l_rig, S2L_OT_export_weights,
    S2L_OT_clear_cache,
)


def _cancel_on_load_impl(*_args: Any) -> None:
    job.cancel_all()


_cancel_on_load: Any = bpy.app.handlers.persistent(_cancel_on_load_impl)
_POINTER: Any = bpy.props.PointerProperty


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    setattr(bpy.types.Scene, "s2l", _POINTER(type=S2LSettings))  # noqa: B010
    setattr(bpy.types.Object, "s2l_rig", _POINTER(type=S2LRigSettings))  # noqa: B010
    if _cancel_on_load not in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.append(_cancel_on_load)


def unregister() -> None:
    job.cancel_all()
    if _cancel_on_load in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.remove(_cancel_on_load)
    if hasattr(bpy.types.Scene, "s2l"):
        del bpy.types.Scene.s2l
    if hasattr(bpy.types.Object, "s2l_rig"):
        del bpy.types.Object.s2l_rig
    for cls in reversed(CLASSES):
        if getattr(cls, "is_registered", False):
            bpy.utils.unregister_class(cls)
