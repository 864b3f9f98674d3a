"""Each bad input gets one clear sentence and leaves the file exactly as it was."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from blender_helpers import bpy, grid_head, snapshot, submodule, voice_scene
from fake_animator import FakeAnimator


def refused(match: str, **kw: Any) -> None:
    before = snapshot()
    with pytest.raises(RuntimeError, match=match):
        bpy.ops.s2l.bake(**kw)
    assert snapshot() == before


def no_active(tmp: Path) -> None:
    voice_scene(tmp)
    grid_head().select_set(False)
    bpy.context.view_layer.objects.active = None


def camera(tmp: Path) -> None:
    voice_scene(tmp)
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    bpy.context.scene.collection.objects.link(cam)
    bpy.context.view_layer.objects.active = cam


def edit_mode(tmp: Path) -> None:
    voice_scene(tmp)
    grid_head()
    bpy.ops.object.mode_set(mode="EDIT")


def no_sequencer(tmp: Path) -> None:
    grid_head()


def no_sound_strips(tmp: Path) -> None:
    bpy.context.scene.sequence_editor_create()
    grid_head()


def missing_file(tmp: Path) -> None:
    voice_scene(tmp)
    (tmp / "voice.wav").unlink()
    grid_head()


def muted(tmp: Path) -> None:
    _, strip = voice_scene(tmp)
    strip.mute = True
    grid_head()


def absolute_keys(tmp: Path) -> None:
    """Relative off: the keys are a sequence that Evaluation Time blends; a take's keys would
    join it (moving the user's pose) and never play."""
    voice_scene(tmp)
    obj = grid_head()
    obj.shape_key_add(name="Basis", from_mix=False)
    obj.shape_key_add(name="Open", from_mix=False)
    obj.data.shape_keys.use_relative = False
    obj.data.shape_keys.eval_time = 15.0


def longer_than_scene(tmp: Path) -> None:
    voice_scene(tmp, seconds=4.0, frame_end=60)
    grid_head()


def bad_take_name(tmp: Path) -> None:
    voice_scene(tmp)
    grid_head()


CASES: list[tuple[Callable[[Path], None], str, dict[str, Any]]] = [
    (no_active, "No active object", {}),
    (camera, "not a mesh", {}),
    (edit_mode, "Edit Mode", {}),
    (no_sequencer, "no sound strips", {}),
    (no_sound_strips, "no sound strips", {}),
    (missing_file, "sound file of strip 'Voice' is missing", {}),
    (muted, "is muted", {}),
    (longer_than_scene, "runs outside the scene's frame range", {}),
    (absolute_keys, "absolute \\(Relative is off\\), but the bake needs relative shape keys",
     {}),
    (bad_take_name, "may only use letters", {"take": 'x"]'}),
]


@pytest.mark.parametrize(("setup", "match", "kw"), CASES, ids=[c[0].__name__ for c in CASES])
def test_bad_input_is_refused(
    fake: FakeAnimator, tmp_path: Path, setup: Callable[[Path], None], match: str,
    kw: dict[str, Any],
) -> None:
    setup(tmp_path)
    refused(match, **kw)
    assert fake.calls == []  # refused before any inference


def test_unknown_strip_and_object_names(fake: FakeAnimator, tmp_path: Path) -> None:
    voice_scene(tmp_path)
    grid_head()
    refused("no sound strip named 'Nope'", strip_name="Nope")
    refused("no object named 'Nope'", object_name="Nope")


def test_existing_take_with_the_same_name(fake: FakeAnimator, tmp_path: Path) -> None:
    voice_scene(tmp_path)
    grid_head()
    assert bpy.ops.s2l.bake(take="T") == {"FINISHED"}
    refused("already has a take named 'T'", take="T")


def test_a_take_comes_off_keys_made_absolute_after_the_bake(
    fake: FakeAnimator, tmp_path: Path
) -> None:
    voice_scene(tmp_path)
    obj = grid_head()
    assert bpy.ops.s2l.bake(take="T") == {"FINISHED"}
    obj.data.shape_keys.use_relative = False
    assert bpy.ops.s2l.remove_take(object_name="Head", take="T") == {"FINISHED"}
    assert obj.data.shape_keys is None or all(
        not k.name.startswith("s2l.") for k in obj.data.shape_keys.key_blocks)


@pytest.mark.parametrize("mode", ["COMPACT", "PER_FRAME"])
def test_mouth_strength_0_with_nothing_else_moving_is_refused(
    fake: FakeAnimator, tmp_path: Path, mode: str
) -> None:
    """The fake's motion is all mouth, so Mouth Strength 0 leaves none: Compact used to crash
    keying no shape (OverflowError), Per-frame to write a take of rest poses."""
    voice_scene(tmp_path)
    obj = grid_head()
    obj.shape_key_add(name="Basis", from_mix=False)
    obj.shape_key_add(name="Mine", from_mix=False)
    refused("The bake moved nothing on 'Head' .*Mouth Strength 0 with Upper Face off.*so no "
            "take was written", mode=mode, mouth_strength=0.0, upper_face=False)
    assert [k.name for k in obj.data.shape_keys.key_blocks] == ["Basis", "Mine"]
    assert obj.data.shape_keys.animation_data is None


def test_linked_library_data(fake: FakeAnimator, tmp_path: Path) -> None:
    grid_head("LibHead")
    lib = tmp_path / "lib.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(lib))
    bpy.ops.wm.read_homefile(use_empty=True)
    voice_scene(tmp_path)
    with bpy.data.libraries.load(str(lib), link=True) as (_src, dst):
        dst.objects = ["LibHead"]
    obj = dst.objects[0]
    bpy.context.scene.collection.objects.link(obj)
    assert obj.library is not None
    refused("linked library data", object_name="LibHead")


def test_silent_failure_inside_inference_is_reported(
    fake: FakeAnimator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    voice_scene(tmp_path)
    grid_head()
    errors = fake.errors

    def broken(*a: Any, **k: Any) -> Any:
        raise errors.WeightsError("The s2l weights are missing: /x/s2l.npz does not exist.")

    monkeypatch.setattr(fake, "animate", broken)
    refused("weights are missing")


def test_write_failure_rolls_back(fake: FakeAnimator, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    voice_scene(tmp_path)
    grid_head()
    pkg_bake = submodule(__import__("sys").modules[fake.errors.__name__.rsplit(".core", 1)[0]],
                         "blender.bake")
    original = pkg_bake._write

    def half_then_fail(obj: Any, plan: Any, record: Any, created: bool) -> None:
        original(obj, plan, record, created)
        raise fake.errors.BakeError("Simulated failure after writing.")

    monkeypatch.setattr(pkg_bake, "_write", half_then_fail)
    refused("Simulated failure")

