"""register()/unregister() are repeatable; panel state and preferences behave."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import addon_utils
from blender_helpers import REPO, bpy, grid_head, submodule, voice_scene

ADDON = f"bl_ext.{REPO}.blender_s2l"


def test_disable_enable_twice(installed: ModuleType) -> None:
    for _ in range(2):
        addon_utils.disable(ADDON, default_set=True)
        assert not hasattr(bpy.types.Scene, "s2l")
        assert not hasattr(bpy.types.Object, "s2l_rig")
        assert not hasattr(bpy.types, "S2L_OT_bake")
        addon_utils.enable(ADDON, default_set=True)
        assert hasattr(bpy.types.Scene, "s2l") and hasattr(bpy.types.Object, "s2l_rig")
        assert hasattr(bpy.types, "VIEW3D_PT_s2l")
        assert hasattr(bpy.types, "S2L_OT_bake") and hasattr(bpy.types, "S2L_OT_remove_take")


def test_preferences_defaults_reach_the_operator(installed: ModuleType) -> None:
    prefs = submodule(installed, "blender.prefs")
    assert prefs.ADDON_ID == ADDON
    addon = bpy.context.preferences.addons[ADDON]
    assert addon.preferences.default_mode == "COMPACT"
    assert prefs.get_prefs(bpy.context).device == "AUTO"
    addon.preferences.default_mode = "PER_FRAME"
    try:
        assert prefs.get_prefs(bpy.context).default_mode == "PER_FRAME"
    finally:
        addon.preferences.default_mode = "COMPACT"


def test_panel_explains_why_bake_is_disabled(installed: ModuleType, tmp_path: Path) -> None:
    panel = submodule(installed, "blender.panel")
    bpy.ops.wm.read_homefile(use_empty=True)
    assert panel.bake_blocker(bpy.context) == "Select a head mesh."
    grid_head()
    assert "no sound strips" in panel.bake_blocker(bpy.context)
    voice_scene(tmp_path)
    settings = bpy.context.scene.s2l
    props = submodule(installed, "blender.props")
    items = [i[0] for i in props._strip_items(settings, bpy.context)]
    assert items == [f"{bpy.context.scene.name}\tVoice"]
    settings.strip = items[0]
    assert panel.bake_blocker(bpy.context) is None
    bpy.ops.object.mode_set(mode="EDIT")
    assert "Edit Mode" in panel.bake_blocker(bpy.context)
    bpy.ops.object.mode_set(mode="OBJECT")
