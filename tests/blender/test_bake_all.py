"""Bake All Strips: the character rule, the operator in background mode, batch --all-strips."""

from __future__ import annotations

from pathlib import Path

import pytest
from blender_helpers import bpy, grid_head, write_wav
from fake_animator import FakeAnimator

import blender_s2l
from blender_s2l import batch
from blender_s2l.blender.storage import read_takes
from blender_s2l.core.bake import pipeline as checkout_pipeline
from blender_s2l.core.bake.characters import CHARACTER_PROP, assign, character_of


def test_the_rule() -> None:
    meshes = {"Anna", "Ben"}
    assert character_of("Anna.line_0042", "", meshes) == "Anna"
    assert character_of("whatever", "Ben", meshes) == "Ben"  # the property wins
    assert character_of("Anna.x", "Ben", meshes) == "Ben"
    assert character_of("Carl.line", "", meshes) == ""  # no such mesh: never guessed
    assert character_of("Anna", "", meshes) == ""  # no '.': no prefix
    found, missing = assign([("S", "Anna.1", ""), ("S", "Voice", "")], meshes)
    assert [j.character for j in found] == ["Anna"]
    assert [j.label for j in missing] == ["Voice (S)"]


def two_characters(tmp_path: Path) -> None:
    """Anna and Ben; strips: Anna.line_1 (name rule), take2 (property -> Ben), Narrator.intro
    (nobody), Anna.broken (its sound file is gone)."""
    scene = bpy.context.scene
    scene.render.fps, scene.frame_start, scene.frame_end = 30, 1, 250
    ed = scene.sequence_editor_create()
    ed.strips.new_sound("Anna.line_1", str(write_wav(tmp_path / "a.wav", 1.0)), 1, 10)
    s = ed.strips.new_sound("take2", str(write_wav(tmp_path / "b.wav", 1.0)), 2, 60)
    s[CHARACTER_PROP] = "Ben"
    ed.strips.new_sound("Narrator.intro", str(write_wav(tmp_path / "n.wav", 1.0)), 3, 100)
    gone = write_wav(tmp_path / "gone.wav", 1.0)
    ed.strips.new_sound("Anna.broken", str(gone), 4, 150)
    gone.unlink()
    grid_head("Anna")
    grid_head("Ben")


def check_takes() -> None:
    assert list(read_takes(bpy.data.objects["Anna"])) == ["Anna_line_1"]
    assert list(read_takes(bpy.data.objects["Ben"])) == ["take2"]


def test_operator_bakes_each_strip_onto_its_character(
    fake: FakeAnimator, tmp_path: Path
) -> None:
    two_characters(tmp_path)
    assert bpy.ops.s2l.bake_all(mode="PER_FRAME") == {"FINISHED"}
    check_takes()
    assert len(fake.calls) == 2  # the missing sound fails before inference


def test_operator_with_nothing_to_bake_says_so(fake: FakeAnimator) -> None:
    grid_head("Anna")
    with pytest.raises(RuntimeError, match="No sound strip has a character"):
        bpy.ops.s2l.bake_all()


def test_bake_all_lists_failures_and_the_unassigned(
    fake: FakeAnimator, installed: object, tmp_path: Path
) -> None:
    from blender_helpers import submodule

    two_characters(tmp_path)
    mod = submodule(installed, "blender.bake_all")  # type: ignore[arg-type]
    settings = submodule(installed, "core.bake.settings").BakeSettings()
    seen: list[float] = []
    result = mod.bake_all(bpy.context, settings, progress=seen.append)
    assert [(j.strip, r.take) for j, r in result.baked] == [("Anna.line_1", "Anna_line_1"),
                                                            ("take2", "take2")]
    assert [j.strip for j, _ in result.failed] == ["Anna.broken"]
    assert "missing" in result.failed[0][1]
    assert [j.strip for j in result.unassigned] == ["Narrator.intro"]
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0)
    assert "2 baked, 1 failed, 1 without a character" in result.summary()
    assert mod.character_note("Scene", "take2") == f"Bake All: Ben ({CHARACTER_PROP})"
    assert mod.character_note("Scene", "Anna.line_1") == "Bake All: Anna (by its name)"
    assert "no character" in mod.character_note("Scene", "Narrator.intro")
    assert mod.character_note("", "") == ""


@pytest.fixture
def fake_checkout(monkeypatch: pytest.MonkeyPatch) -> FakeAnimator:
    bpy.ops.wm.read_homefile(use_empty=True)
    anim = FakeAnimator(blender_s2l)
    monkeypatch.setattr(checkout_pipeline, "load_animator", lambda *a: anim)
    return anim


def test_batch_all_strips(fake_checkout: FakeAnimator, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    two_characters(tmp_path)
    scene = tmp_path / "scene.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(scene))
    out = tmp_path / "out" / "all.blend"
    rc = batch.main([str(scene), "--all-strips", "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 1, text  # one strip failed
    assert "ok   Anna.line_1 (Scene): Anna <- take Anna_line_1" in text
    assert "ok   take2 (Scene): Ben <- take take2" in text
    assert "FAIL Anna.broken (Scene): " in text
    assert "no character: Narrator.intro (Scene)" in text
    assert f"summary: 2 of 3 strips baked, 1 failed, 1 without a character -> {out}" in text
    bpy.ops.wm.open_mainfile(filepath=str(out))
    check_takes()


def test_batch_all_strips_usage(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert batch.main(["x.blend", "--all-strips", "--object", "Head", "--out", "o.blend"]) == 2
    assert "leave out --object" in capsys.readouterr().err
    assert batch.main(["x.blend", "--all-strips"]) == 2
    assert "needs --out" in capsys.readouterr().err
