"""blender/compat.py: the version-dependent API; the supported minimum is the tested Blender."""

from __future__ import annotations

import tomllib
from pathlib import Path
from types import ModuleType

from blender_helpers import ROOT, bpy, submodule, write_wav


def version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def test_manifest_minimum_is_the_tested_blender() -> None:
    """The extension claims no Blender older than the one the tests run (bpy.app.version)."""
    manifest = tomllib.loads((ROOT / "blender_manifest.toml").read_text(encoding="utf-8"))
    minimum = version(manifest["blender_version_min"])
    tested = tuple(bpy.app.version)
    assert minimum >= (*tested[:2], 0), (
        f"blender_version_min {minimum} is below the tested Blender {tested}: raise it, or test "
        "the older version too")
    assert minimum <= tested, f"blender_version_min {minimum} is above the tested {tested}"


def test_strip_collections(installed: ModuleType, tmp_path: Path) -> None:
    compat = submodule(installed, "blender.compat")
    bpy.ops.wm.read_homefile(use_empty=True)
    ed = bpy.context.scene.sequence_editor_create()
    wav = write_wav(tmp_path / "line.wav", 0.5)
    compat.top_strips(ed).new_sound("Line", str(wav), 1, 1)
    assert [s.name for s in compat.top_strips(ed)] == ["Line"]
    assert [s.name for s in compat.all_strips(ed)] == ["Line"]


def test_sequencer_scene(installed: ModuleType) -> None:
    compat = submodule(installed, "blender.compat")
    bpy.ops.wm.read_homefile(use_empty=True)
    workspace = bpy.context.workspace
    edit = bpy.data.scenes.new("Edit")
    workspace.sequencer_scene = edit
    try:
        assert compat.sequencer_scene(bpy.context) == edit
    finally:
        workspace.sequencer_scene = None
    assert compat.sequencer_scene(bpy.context) is None


def test_action_channelbag_is_made_once(installed: ModuleType) -> None:
    compat = submodule(installed, "blender.compat")
    bpy.ops.wm.read_homefile(use_empty=True)
    action = bpy.data.actions.new("Take")
    slot = action.slots.new("KEY", "Key")
    bag = compat.action_channelbag(action, slot)
    bag.fcurves.new('key_blocks["A"].value')
    again = compat.action_channelbag(action, slot)
    assert len(action.layers) == 1 and len(action.layers[0].strips) == 1
    assert [fc.data_path for fc in again.fcurves] == ['key_blocks["A"].value']


def test_an_uncompressed_file_ends_with_the_end_block(installed: ModuleType,
                                                       tmp_path: Path) -> None:
    compat = submodule(installed, "blender.compat")
    bpy.ops.wm.read_homefile(use_empty=True)
    path = tmp_path / "plain.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path), compress=False, copy=True)
    assert path.read_bytes().endswith(compat.BLEND_END_BLOCK)
