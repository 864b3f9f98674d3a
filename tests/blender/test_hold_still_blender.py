"""The hold-still vertex group in Blender: added from the panel, read by the bake."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from blender_helpers import bpy, evaluated_co, submodule
from test_lip_contact_blender import START, head_object, line_scene
from test_panel_draw import draw


@pytest.fixture
def bundled(installed: ModuleType) -> ModuleType:
    submodule(installed, "core.bake.pipeline").forget_animators()
    bpy.ops.wm.read_homefile(use_empty=True)
    return installed


def test_panel_offers_the_group_and_the_bake_keeps_painted_vertices_still(
    bundled: ModuleType, tmp_path: Path
) -> None:
    _, phones = line_scene(tmp_path)
    obj, lm = head_object(bundled, 2.0)
    bpy.context.view_layer.objects.active = obj
    assert "op:s2l.add_hold_group:on" in draw(bundled, "VIEW3D_PT_s2l")
    assert bpy.ops.s2l.add_hold_group(object_name="Head") == {"FINISHED"}
    group = obj.vertex_groups["s2l.mask"]
    assert any("Held still" in x for x in draw(bundled, "VIEW3D_PT_s2l"))
    rest = np.array([list(v.co) for v in obj.data.vertices])
    lower_lip = [int(i) for i in lm[[65, 66, 67, 55, 56, 57, 58, 59]]]
    group.add(lower_lip, 1.0, "REPLACE")
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Line", mode="PER_FRAME",
                            device="CPU", phones_file=str(phones),
                            recognise_words=False) == {"FINISHED"}
    moved_lip, moved_upper = 0.0, 0.0
    for f in range(START, START + 50, 3):
        co = evaluated_co(obj, f)
        moved_lip = max(moved_lip, float(np.abs(co[lower_lip] - rest[lower_lip]).max()))
        moved_upper = max(moved_upper, float(np.abs(co[lm[62]] - rest[lm[62]]).max()))
    assert moved_lip == 0.0
    assert moved_upper * 1000.0 > 0.5  # mm: the rest of the mouth still speaks


def test_hold_group_for_a_missing_object_is_one_sentence(bundled: ModuleType) -> None:
    with pytest.raises(RuntimeError, match="There is no object named 'Nobody'"):
        bpy.ops.s2l.add_hold_group(object_name="Nobody")
    assert not any(len(o.vertex_groups) for o in bpy.data.objects)
