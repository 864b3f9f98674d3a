"""Bake All Strips in the UI: modal, one worker job per strip, driven by hand (modal_helpers.py);
and the panel's Set Character (s2l.set_character) that Bake All then follows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from blender_helpers import (
    bpy,
    evaluated_co,
    expected_time,
    grid_head,
    mesh_co,
    snapshot,
    submodule,
    write_wav,
)
from fake_animator import FakeAnimator, dense_at
from modal_helpers import esc, pkg_of, run_until_done, stand_in, timer

from blender_s2l.blender.storage import read_takes
from blender_s2l.core.bake.characters import CHARACTER_PROP


def three_lines(tmp_path: Path, *, gone: bool = False, narrator: bool = False) -> dict[str, Any]:
    """Anna and Ben; strips Anna.line_1 (name rule), take2 (s2l_character -> Ben), Anna.line_3;
    optionally Anna.gone (its sound file is deleted) and Narrator.x (nobody speaks it)."""
    scene = bpy.context.scene
    scene.render.fps, scene.frame_start, scene.frame_end = 30, 1, 300
    ed = scene.sequence_editor_create()
    strips = {"Anna.line_1": ed.strips.new_sound("Anna.line_1", str(
        write_wav(tmp_path / "a.wav", 1.0)), 1, 10)}
    if gone:
        lost = write_wav(tmp_path / "gone.wav", 1.0)
        ed.strips.new_sound("Anna.gone", str(lost), 2, 50)
        lost.unlink()
    strips["take2"] = ed.strips.new_sound("take2", str(write_wav(tmp_path / "b.wav", 1.0)), 3, 90)
    strips["take2"][CHARACTER_PROP] = "Ben"
    strips["Anna.line_3"] = ed.strips.new_sound("Anna.line_3", str(
        write_wav(tmp_path / "c.wav", 1.0)), 4, 170)
    if narrator:
        ed.strips.new_sound("Narrator.x", str(write_wav(tmp_path / "n.wav", 1.0)), 5, 230)
    grid_head("Anna")
    grid_head("Ben")
    return strips


def takes(name: str) -> list[str]:
    return list(read_takes(bpy.data.objects[name]))


def tracks(name: str) -> list[str]:
    """The object's NLA tracks bottom to top; the rest track under its takes is one of them."""
    key = bpy.data.objects[name].data.shape_keys
    if key is None or key.animation_data is None:
        return []
    return [t.name for t in key.animation_data.nla_tracks]


def speaks(obj_name: str, strip: Any, rest: np.ndarray) -> bool:
    """The object's evaluated mesh, 3 frames into the strip, is neutral + the fake's motion
    at that frame's sound time (the strip was baked onto it, per frame, exactly)."""
    scene = bpy.context.scene
    f = strip.frame_final_start + 3
    want = rest + dense_at(np.array([expected_time(f, strip, scene)]), len(rest))[0]
    return bool(np.abs(evaluated_co(bpy.data.objects[obj_name], f) - want).max() < 1e-6)


def still(obj_name: str, strip: Any, rest: np.ndarray) -> bool:
    co = evaluated_co(bpy.data.objects[obj_name], strip.frame_final_start + 3)
    return bool(np.abs(co - rest).max() < 1e-9)


def bake_all_op(fake: FakeAnimator) -> tuple[Any, Any, list[tuple[Any, str]]]:
    return stand_in(pkg_of(fake), "S2L_OT_bake_all", mode="PER_FRAME")


def test_all_strips_bake_with_one_progress_bar(fake: FakeAnimator, tmp_path: Path) -> None:
    strips = three_lines(tmp_path)
    rest = mesh_co(bpy.data.objects["Anna"])
    op, ctx, reports = bake_all_op(fake)
    assert op.start_modal(ctx) == {"RUNNING_MODAL"}
    assert ctx.window_manager.handlers == 1 and ctx.window_manager.timers == 1
    assert submodule(pkg_of(fake), "blender.job").active() is not None
    assert run_until_done(op, ctx) == {"FINISHED"}, reports
    progress = ctx.window_manager.progress
    assert progress == sorted(progress) and progress[-1] == 100
    assert 33 in progress and 66 in progress  # one bar over the three strips
    assert ctx.window_manager.ended and ctx.window_manager.timers == 0
    status = [s for s in ctx.workspace.status if s]
    assert any("strip 1 of 3 (Anna.line_1)" in s and "Esc stops after this strip" in s
               for s in status)
    assert any("strip 3 of 3 (Anna.line_3)" in s for s in status)
    assert ctx.workspace.status[-1] is None
    assert reports[-1] == ({"INFO"}, "Bake All Strips: 3 baked, 0 failed, "
                                     "0 without a character.")
    assert submodule(pkg_of(fake), "blender.job").active() is None
    assert takes("Anna") == ["Anna_line_1", "Anna_line_3"] and takes("Ben") == ["take2"]
    assert tracks("Anna") == ["s2l.(rest)", "s2l.Anna_line_1", "s2l.Anna_line_3"]
    assert tracks("Ben") == ["s2l.(rest)", "s2l.take2"]
    assert speaks("Anna", strips["Anna.line_1"], rest)
    assert speaks("Anna", strips["Anna.line_3"], rest)
    assert speaks("Ben", strips["take2"], rest) and still("Anna", strips["take2"], rest)


def test_escape_stops_after_the_current_strip(fake: FakeAnimator, tmp_path: Path) -> None:
    strips = three_lines(tmp_path)
    rest = mesh_co(bpy.data.objects["Anna"])
    fake.block.set()
    op, ctx, reports = bake_all_op(fake)
    assert op.start_modal(ctx) == {"RUNNING_MODAL"}
    assert fake.started.wait(10)
    assert op.modal(ctx, esc()) == {"RUNNING_MODAL"}  # the first strip goes on
    assert "stopping after this strip; Esc again cancels it" in ctx.workspace.status[-1]
    assert "stops after 'Anna.line_1'" in reports[-1][1]
    fake.block.clear()
    assert run_until_done(op, ctx) == {"FINISHED"}, reports  # FINISHED: one undo step
    assert reports[-1] == ({"INFO"}, "Bake All Strips: 1 baked, 0 failed, 0 without a "
                                     "character - stopped before the rest.")
    assert len(fake.calls) == 1  # the others never started
    assert takes("Anna") == ["Anna_line_1"] and tracks("Anna") == ["s2l.(rest)", "s2l.Anna_line_1"]
    assert takes("Ben") == [] and bpy.data.objects["Ben"].data.shape_keys is None
    assert speaks("Anna", strips["Anna.line_1"], rest)
    assert still("Anna", strips["Anna.line_3"], rest)
    assert ctx.window_manager.timers == 0 and ctx.window_manager.ended
    assert submodule(pkg_of(fake), "blender.job").active() is None


def test_escape_twice_cancels_the_current_strip_too(fake: FakeAnimator, tmp_path: Path) -> None:
    three_lines(tmp_path)
    before = snapshot()
    fake.block.set()
    op, ctx, reports = bake_all_op(fake)
    assert op.start_modal(ctx) == {"RUNNING_MODAL"}
    assert fake.started.wait(10)
    assert op.modal(ctx, timer()) == {"PASS_THROUGH"}  # still running
    # nothing else bakes meanwhile
    with pytest.raises(RuntimeError, match="already running"):
        bpy.ops.s2l.bake_all()
    assert op.modal(ctx, esc()) == {"RUNNING_MODAL"}
    assert op.modal(ctx, esc()) == {"CANCELLED"}
    assert ({"INFO"}, "Anna.line_1: cancelled, left as it was.") in reports
    assert reports[-1][1].endswith("0 baked, 0 failed, 0 without a character - stopped "
                                   "before the rest.")
    assert snapshot() == before
    assert ctx.window_manager.timers == 0 and ctx.workspace.status[-1] is None
    assert submodule(pkg_of(fake), "blender.job").active() is None


def test_a_failing_strip_does_not_stop_the_others(
    fake: FakeAnimator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anna.line_1 fails on the main thread (its mesh is edited while it infers), Anna.gone
    before inference (no sound file), take2 in the worker; Anna.line_3 still bakes."""
    strips = three_lines(tmp_path, gone=True, narrator=True)
    animate = fake.animate

    def broken_for_b(audio: Any, *a: Any, **k: Any) -> Any:
        if Path(str(audio)).name == "b.wav":
            raise ValueError("boom")
        return animate(audio, *a, **k)

    monkeypatch.setattr(fake, "animate", broken_for_b)
    fake.block.set()
    op, ctx, reports = bake_all_op(fake)
    assert op.start_modal(ctx) == {"RUNNING_MODAL"}
    assert fake.started.wait(10)
    anna = bpy.data.objects["Anna"]
    anna.data.vertices[0].co.z += 0.01  # edited during the first strip's inference
    rest = mesh_co(anna)
    fake.block.clear()
    assert run_until_done(op, ctx) == {"FINISHED"}, reports
    assert reports[-1][0] == {"WARNING"}
    summary = reports[-1][1]
    assert summary.startswith("Bake All Strips: 1 baked, 3 failed, 1 without a character (")
    assert "Anna.line_1: The mesh 'Anna' was edited during the bake" in summary
    assert "Anna.gone: " in summary
    assert "take2: The bake failed: ValueError: boom" in summary
    assert ({"INFO"}, "No character for the strip 'Narrator.x'.") in reports
    assert takes("Anna") == ["Anna_line_3"] and takes("Ben") == []
    assert speaks("Anna", strips["Anna.line_3"], rest)
    assert still("Anna", strips["Anna.line_1"], rest)
    assert ctx.window_manager.progress[-1] == 100
    assert submodule(pkg_of(fake), "blender.job").active() is None


def test_nothing_to_bake_says_so_without_going_modal(fake: FakeAnimator) -> None:
    grid_head("Anna")
    op, ctx, reports = bake_all_op(fake)
    assert op.start_modal(ctx) == {"CANCELLED"}
    assert reports[-1][0] == {"ERROR"} and "No sound strip has a character" in reports[-1][1]
    assert ctx.window_manager.handlers == 0 and ctx.window_manager.timers == 0


def test_set_character_sets_and_clears_one_strip(fake: FakeAnimator, tmp_path: Path) -> None:
    strips = three_lines(tmp_path)
    bpy.data.objects.new("Cam", None)  # an empty: not offered
    line_1, line_3 = strips["Anna.line_1"], strips["Anna.line_3"]
    bake_all = submodule(pkg_of(fake), "blender.bake_all")
    assert bpy.ops.s2l.set_character(strip_scene="Scene", strip_name="Anna.line_1",
                                     character="Ben") == {"FINISHED"}
    assert line_1[CHARACTER_PROP] == "Ben"
    assert CHARACTER_PROP not in line_3 and strips["take2"][CHARACTER_PROP] == "Ben"
    assert bake_all.character_note("Scene", "Anna.line_1") == f"Bake All: Ben ({CHARACTER_PROP})"
    with pytest.raises(TypeError):
        bpy.ops.s2l.set_character(strip_name="Anna.line_1", character="Cam")
    with pytest.raises(RuntimeError, match="Name the mesh object"):  # not the first mesh
        bpy.ops.s2l.set_character(strip_name="Anna.line_3")
    assert CHARACTER_PROP not in line_3
    with pytest.raises(RuntimeError, match="Pick a sound strip first"):
        bpy.ops.s2l.set_character(character="Ben")
    # invoke without a window (background) runs execute: Bake All in one go
    assert bpy.ops.s2l.bake_all("INVOKE_DEFAULT", mode="PER_FRAME") == {"FINISHED"}
    assert takes("Ben") == ["Anna_line_1", "take2"] and takes("Anna") == ["Anna_line_3"]

    assert bpy.ops.s2l.set_character("INVOKE_DEFAULT", strip_name="take2",
                                     clear=True) == {"FINISHED"}
    assert CHARACTER_PROP not in strips["take2"] and line_1[CHARACTER_PROP] == "Ben"
    assert "no character" in bake_all.character_note("Scene", "take2")
    bpy.ops.s2l.set_character(strip_name="Anna.line_1", clear=True)
    assert bake_all.character_note("Scene", "Anna.line_1") == "Bake All: Anna (by its name)"


def test_set_character_and_bake_all_are_one_undo_step_each(
    fake: FakeAnimator, tmp_path: Path
) -> None:
    """Each call pushes its undo step as a click would ('EXEC_DEFAULT', True: Python's operator
    calls push none otherwise)."""
    strips = three_lines(tmp_path)
    bpy.ops.ed.undo_push(message="start")
    bpy.ops.s2l.set_character("EXEC_DEFAULT", True, strip_name="Anna.line_1", character="Ben")
    bpy.ops.s2l.set_character("EXEC_DEFAULT", True, strip_name="Anna.line_1", clear=True)
    assert CHARACTER_PROP not in strips["Anna.line_1"]
    bpy.ops.ed.undo()  # back to after the set: each call was its own step

    def line_1() -> Any:
        return bpy.context.scene.sequence_editor.strips["Anna.line_1"]

    assert line_1()[CHARACTER_PROP] == "Ben"
    assert bpy.ops.s2l.bake_all("EXEC_DEFAULT", True, mode="PER_FRAME") == {"FINISHED"}
    assert takes("Ben") == ["Anna_line_1", "take2"] and takes("Anna") == ["Anna_line_3"]
    bpy.ops.ed.undo()  # the whole Bake All at once
    assert takes("Ben") == [] and takes("Anna") == [] and not bpy.data.actions
    assert line_1()[CHARACTER_PROP] == "Ben"
    bpy.ops.ed.redo()
    assert takes("Ben") == ["Anna_line_1", "take2"] and takes("Anna") == ["Anna_line_3"]
