"""The modal half of s2l.bake, driven by hand.

The bpy module has no event loop, so timer and Esc events never arrive on their own. Here the
operator's own start_modal/modal/cancel functions run against a stand-in window manager and
workspace that record what the status bar would show, with the real worker thread and real
Blender data.
"""

from __future__ import annotations

import time
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


class FakeWM:
    def __init__(self) -> None:
        self.progress: list[int] = []
        self.timers = 0
        self.handlers = 0
        self.ended = False

    def event_timer_add(self, step: float, window: Any = None) -> str:
        self.timers += 1
        return "timer"

    def event_timer_remove(self, timer: Any) -> None:
        self.timers -= 1

    def modal_handler_add(self, op: Any) -> None:
        self.handlers += 1

    def progress_begin(self, lo: int, hi: int) -> None:
        self.progress = []

    def progress_update(self, value: int) -> None:
        self.progress.append(value)

    def progress_end(self) -> None:
        self.ended = True


class FakeWorkspace:
    def __init__(self) -> None:
        self.status: list[str | None] = []
        self.sequencer_scene = None  # Blender 5's workspace has one; none is set here

    def status_text_set(self, text: str | None) -> None:
        self.status.append(text)


def operator(pkg: ModuleType, **props: Any) -> tuple[Any, Any, list[tuple[Any, str]]]:
    cls = submodule(pkg, "blender.operators").S2L_OT_bake
    reports: list[tuple[Any, str]] = []
    defaults = dict(object_name="", strip_name="", strip_scene="", mode="COMPACT", device="CPU",
                    seed=0, take="", replace=False, mouth_strength=1.0, upper_face=True,
                    smoothing=0.0, lip_closure=1.0, phones_file="", transcript="",
                    weights_dir="")
    defaults.update(props)
    op = SimpleNamespace(**defaults, _job=None, _timer=None,
                         properties=SimpleNamespace(is_property_set=lambda name: True),
                         report=lambda kind, msg: reports.append((kind, msg)))
    for name in ("start_modal", "modal", "cancel", "_end", "_report_done"):
        setattr(op, name, getattr(cls, name).__get__(op))
    ctx = SimpleNamespace(scene=bpy.context.scene, active_object=bpy.context.active_object,
                          workspace=FakeWorkspace(), window_manager=FakeWM(), window="win",
                          screen=None, preferences=bpy.context.preferences)
    return op, ctx, reports


def timer() -> Any:
    return SimpleNamespace(type="TIMER", value="NOTHING")


def pkg_of(fake: FakeAnimator) -> ModuleType:
    import sys

    return sys.modules[fake.errors.__name__.rsplit(".core", 1)[0]]


def test_modal_runs_the_worker_and_writes_on_a_timer_tick(fake: FakeAnimator,
                                                           tmp_path: Path) -> None:
    scene, strip = voice_scene(tmp_path)
    obj = grid_head()
    rest = mesh_co(obj)
    op, ctx, reports = operator(pkg_of(fake), object_name="Head", mode="PER_FRAME")
    assert op.start_modal(ctx) == {"RUNNING_MODAL"}
    assert ctx.window_manager.handlers == 1 and ctx.window_manager.timers == 1
    state = {"RUNNING_MODAL"}
    deadline = time.time() + 30
    while time.time() < deadline:
        state = op.modal(ctx, timer())
        if state != {"PASS_THROUGH"}:
            break
        time.sleep(0.02)
    assert state == {"FINISHED"}, reports
    assert ctx.window_manager.progress[-1] == 100 and ctx.window_manager.ended
    assert ctx.window_manager.timers == 0
    assert ctx.workspace.status[-1] is None and "Esc to cancel" in ctx.workspace.status[0]
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
    assert op.modal(ctx, SimpleNamespace(type="ESC", value="PRESS")) == {"CANCELLED"}
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
    for _ in range(500):
        state = op.modal(ctx, timer())
        if state != {"PASS_THROUGH"}:
            break
        time.sleep(0.01)
    assert state == {"CANCELLED"}
    assert reports[-1] == ({"ERROR"}, "The bake failed: ValueError: boom")
    assert snapshot() == before


def test_start_modal_reports_bad_input_without_starting(fake: FakeAnimator) -> None:
    op, ctx, reports = operator(pkg_of(fake), object_name="Nobody")
    assert op.start_modal(ctx) == {"CANCELLED"}
    assert reports == [({"ERROR"}, "There is no object named 'Nobody'.")]
    assert ctx.window_manager.handlers == 0
