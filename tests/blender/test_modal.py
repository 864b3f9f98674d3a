"""The modal half of s2l.bake, driven by hand (modal_helpers.py says how)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType, SimpleNamespace
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
    voice_scene,
)
from fake_animator import FakeAnimator, dense_at
from modal_helpers import esc, pkg_of, run_until_done, stand_in, timer


def operator(pkg: ModuleType, **props: Any) -> tuple[Any, Any, list[tuple[Any, str]]]:
    return stand_in(pkg, "S2L_OT_bake", **props)


def test_modal_runs_the_worker_and_writes_on_a_timer_tick(fake: FakeAnimator,
                                                           tmp_path: Path) -> None:
    scene, strip = voice_scene(tmp_path)
    obj = grid_head()
    rest = mesh_co(obj)
    op, ctx, reports = operator(pkg_of(fake), object_name="Head", mode="PER_FRAME")
    assert op.start_modal(ctx) == {"RUNNING_MODAL"}
    assert ctx.window_manager.handlers == 1 and ctx.window_manager.timers == 1
    state = run_until_done(op, ctx)
    assert state == {"FINISHED"}, reports
    assert ctx.window_manager.progress[-1] == 100 and ctx.window_manager.ended
    assert ctx.window_manager.timers == 0
    assert ctx.workspace.status[-1] is None and "Esc cancels" in ctx.workspace.status[0]
    assert reports[-1][1].startswith("Baked take 'Voice'")
    assert submodule(pkg_of(fake), "blender.job").active() is None
    f = strip.frame_final_start + 3
    want = rest + dense_at(np.array([expected_time(f, strip, scene)]), len(rest))[0]
    assert np.abs(evaluated_co(obj, f) - want).max() < 1e-6


def test_escape_cancels_and_leaves_the_file_as_it_was(fake: FakeAnimator,
                                                      tmp_path: Path) -> None:
    voice_scene(tmp_path)
    grid_head()
    before = snapshot()
    fake.block.set()
    op, ctx, reports = operator(pkg_of(fake), object_name="Head")
    assert op.start_modal(ctx) == {"RUNNING_MODAL"}
    assert fake.started.wait(10)
    assert op.modal(ctx, SimpleNamespace(type="MOUSEMOVE", value="NOTHING")) == {"PASS_THROUGH"}
    assert op.modal(ctx, timer()) == {"PASS_THROUGH"}  # still running
    # a second bake is refused while this one runs
    with pytest.raises(RuntimeError, match="already running"):
        bpy.ops.s2l.bake(object_name="Head", take="again")
    assert op.modal(ctx, esc()) == {"CANCELLED"}
    assert "cancelled" in reports[-1][1]
    assert ctx.window_manager.timers == 0 and ctx.window_manager.ended
    assert snapshot() == before
    assert submodule(pkg_of(fake), "blender.job").active() is None


def test_errors_in_the_worker_are_reported(fake: FakeAnimator, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    voice_scene(tmp_path)
    grid_head()
    before = snapshot()

    def broken(*a: Any, **k: Any) -> Any:
        raise ValueError("boom")

    monkeypatch.setattr(fake, "animate", broken)
    op, ctx, reports = operator(pkg_of(fake), object_name="Head")
    assert op.start_modal(ctx) == {"RUNNING_MODAL"}
    assert run_until_done(op, ctx) == {"CANCELLED"}
    assert reports[-1] == ({"ERROR"}, "The bake failed: ValueError: boom")
    assert snapshot() == before


def test_start_modal_reports_bad_input_without_starting(fake: FakeAnimator) -> None:
    op, ctx, reports = operator(pkg_of(fake), object_name="Nobody")
    assert op.start_modal(ctx) == {"CANCELLED"}
    assert reports == [({"ERROR"}, "There is no object named 'Nobody'.")]
    assert ctx.window_manager.handlers == 0
