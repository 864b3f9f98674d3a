"""A take is written even where the head's NLA will not play it (the NLA switched off, another
track soloed), and every report of the bake says so: the operator's, modal or not, Bake All's,
batch's line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from blender_helpers import bpy, grid_head, submodule, voice_scene
from fake_animator import FakeAnimator
from modal_helpers import pkg_of, run_until_done, stand_in

import blender_s2l
from blender_s2l import batch
from blender_s2l.core.bake import pipeline as checkout_pipeline


def nla_off(obj: Any) -> None:
    obj.data.shape_keys.animation_data_create().use_nla = False


def solo(obj: Any) -> None:
    track = obj.data.shape_keys.animation_data_create().nla_tracks.new()
    track.name = "MyTrack"
    track.strips.new("m", 100, bpy.data.actions.new("Mine"))
    track.is_solo = True


NOTES = {
    "nla_off": "The take 'Voice' will not play as it is: the NLA of the shape keys of 'Head' is "
               "switched off; turn it on in the NLA editor.",
    "solo": "The take 'Voice' will not play as it is: the NLA track 'MyTrack' of the shape keys "
            "of 'Head' is soloed, so it alone plays; unsolo it.",
}
CASES: list[tuple[str, Callable[[Any], None]]] = [("nla_off", nla_off), ("solo", solo)]


def head_that_will_not_play(tmp_path: Path, spoil: Callable[[Any], None]) -> Any:
    voice_scene(tmp_path)
    obj = grid_head()
    obj.shape_key_add(name="Basis", from_mix=False)
    obj.shape_key_add(name="Mine", from_mix=False)
    spoil(obj)
    return obj


@pytest.mark.parametrize(("case", "spoil"), CASES, ids=[c[0] for c in CASES])
def test_the_operator_writes_the_take_and_says_it_will_not_play(
    fake: FakeAnimator, tmp_path: Path, capfd: pytest.CaptureFixture[str], case: str,
    spoil: Callable[[Any], None],
) -> None:
    obj = head_that_will_not_play(tmp_path, spoil)
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice") == {"FINISHED"}
    assert NOTES[case] in capfd.readouterr().out
    assert "Voice" in submodule(pkg_of(fake), "blender.storage").read_takes(obj)


def test_a_take_that_plays_gets_no_such_note(fake: FakeAnimator, tmp_path: Path,
                                             capfd: pytest.CaptureFixture[str]) -> None:
    obj = head_that_will_not_play(tmp_path, solo)
    obj.data.shape_keys.animation_data.nla_tracks["MyTrack"].is_solo = False
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice") == {"FINISHED"}
    assert "will not play" not in capfd.readouterr().out


@pytest.mark.parametrize(("case", "spoil"), CASES, ids=[c[0] for c in CASES])
def test_the_modal_bake_and_bake_all_say_it_too(
    fake: FakeAnimator, tmp_path: Path, case: str, spoil: Callable[[Any], None]
) -> None:
    head_that_will_not_play(tmp_path, spoil)
    op, ctx, reports = stand_in(pkg_of(fake), "S2L_OT_bake", object_name="Head")
    assert op.start_modal(ctx) == {"RUNNING_MODAL"}
    assert run_until_done(op, ctx) == {"FINISHED"}, reports
    assert ({"WARNING"}, NOTES[case]) in reports
    bpy.context.scene.sequence_editor.strips["Voice"]["s2l_character"] = "Head"
    op, ctx, reports = stand_in(pkg_of(fake), "S2L_OT_bake_all", replace=True)
    assert op.start_modal(ctx) == {"RUNNING_MODAL"}
    assert run_until_done(op, ctx) == {"FINISHED"}, reports
    assert ({"WARNING"}, f"Voice: {NOTES[case]}") in reports


def test_batch_prints_it_on_the_line(tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """batch runs this checkout's package, so the stand-in animator is the checkout's too."""
    bpy.ops.wm.read_homefile(use_empty=True)
    anim = FakeAnimator(blender_s2l)
    monkeypatch.setattr(checkout_pipeline, "load_animator", lambda *a: anim)
    head_that_will_not_play(tmp_path, nla_off)
    scene_file = tmp_path / "scene.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(scene_file))
    assert batch.main([str(scene_file), "--object", "Head", "--strip", "Voice",
                       "--out", str(tmp_path / "out.blend")]) == 0
    assert f"; note: {NOTES['nla_off']}" in capsys.readouterr().out
