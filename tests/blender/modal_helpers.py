"""Driving a modal operator by hand (a uniquely named module: `conftest` is taken).

The bpy module has no event loop, so timer and Esc events never arrive on their own. A stand-in
operator gets the real operator class's own functions (its modal mixin's too) bound to it and
runs against a stand-in window manager and workspace that record what the window's progress
bar and the status bar would show, with the real worker thread and real Blender data.
"""

from __future__ import annotations

import inspect
import sys
import time
from types import ModuleType, SimpleNamespace
from typing import Any

from blender_helpers import bpy


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


def pkg_of(fake: Any) -> ModuleType:
    """The installed extension's package, from the fake animator built for it."""
    return sys.modules[fake.errors.__name__.rsplit(".core", 1)[0]]


def stand_in(pkg: ModuleType, cls_name: str,
             **props: Any) -> tuple[Any, Any, list[tuple[Any, str]]]:
    """(operator, context, reports): the operator class's functions bound to a namespace with
    the bake options' defaults and `props`, and a context with the stand-in WM and workspace."""
    cls = getattr(sys.modules[f"{pkg.__name__}.blender.operators"], cls_name)
    reports: list[tuple[Any, str]] = []
    defaults = dict(object_name="", strip_name="", strip_scene="", mode="COMPACT", device="CPU",
                    seed=0, take="", replace=False, mouth_strength=1.0, upper_face=True,
                    smoothing=0.0, lip_closure=1.0, phones_file="", transcript="",
                    weights_dir="")
    op = SimpleNamespace(**(defaults | props),
                         properties=SimpleNamespace(is_property_set=lambda name: True),
                         report=lambda kind, msg: reports.append((kind, msg)))
    for klass in reversed(cls.__mro__):  # the mixin's first, the class's own over them
        if not klass.__module__.startswith(pkg.__name__):
            continue
        for name, value in vars(klass).items():
            if inspect.isfunction(value):
                setattr(op, name, value.__get__(op))
            elif not name.startswith("__"):
                setattr(op, name, value)  # class defaults such as _job = None
    ctx = SimpleNamespace(scene=bpy.context.scene, active_object=bpy.context.active_object,
                          workspace=FakeWorkspace(), window_manager=FakeWM(), window="win",
                          screen=None, preferences=bpy.context.preferences)
    return op, ctx, reports


def timer() -> Any:
    return SimpleNamespace(type="TIMER", value="NOTHING")


def esc() -> Any:
    return SimpleNamespace(type="ESC", value="PRESS")


def run_until_done(op: Any, ctx: Any, seconds: float = 30.0) -> set[str]:
    """Timer ticks until the operator stops passing them through; what it returned then."""
    deadline = time.time() + seconds
    state: set[str] = {"PASS_THROUGH"}
    while time.time() < deadline:
        state = op.modal(ctx, timer())
        if state != {"PASS_THROUGH"}:
            break
        time.sleep(0.02)
    return state
