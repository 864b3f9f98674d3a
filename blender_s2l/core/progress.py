"""Progress and cancel for long work, declared once.

A bake runs on a worker thread while Blender's main thread shows a bar and listens for Esc, so
every stage reports how far it is and asks whether to stop. The stages nest (recognition, then
the networks, then the mesh), so each one sees its own 0..1 and a `Task` maps it onto its slice
of the whole bar; the one sentence a cancelled bake ends with lives here too, and the one way a
bake runs a part of itself on a second thread (`on_another_thread`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from .errors import Cancelled

ProgressFn = Callable[[float], None]
CancelFn = Callable[[], bool]
CANCELLED = "The bake was cancelled; nothing was changed."
T = TypeVar("T")


@dataclass(frozen=True)
class Task:
    """Where a stage reports (its own 0..1) and how it learns it should stop."""

    report: ProgressFn | None = None
    cancel: CancelFn | None = None
    start: float = 0.0
    end: float = 1.0

    def __call__(self, fraction: float) -> None:
        if self.report is not None:
            f = min(max(float(fraction), 0.0), 1.0)
            self.report(self.start + (self.end - self.start) * f)

    def cancelled(self) -> bool:
        return bool(self.cancel is not None and self.cancel())

    def check(self) -> None:
        """Stop here if the user asked to: raises Cancelled with the one sentence."""
        if self.cancelled():
            raise Cancelled(CANCELLED)

    def part(self, start: float, end: float) -> Task:
        """The slice [start, end] of this task's bar, as a task of its own."""
        span = self.end - self.start
        return Task(self.report, self.cancel, self.start + span * start, self.start + span * end)


def as_task(progress: ProgressFn | Task | None = None, cancel: CancelFn | None = None) -> Task:
    """The task of an API call that takes plain callbacks (or already a task)."""
    if isinstance(progress, Task):
        return progress
    return Task(progress, cancel)


def on_another_thread(work: Callable[[], T], name: str) -> Callable[..., T]:
    """Start `work` on a thread; the returned function waits for it and returns its result,
    or raises what it raised. With quiet=True it only waits: a caller that failed itself calls
    it so that no bake's thread outlives the bake, and its own error is the one raised."""
    result: list[T] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            result.append(work())
        except BaseException as exc:  # raised again on the caller's thread
            failed.append(exc)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()

    def wait(quiet: bool = False) -> T:
        thread.join()
        if failed and not quiet:
            raise failed[0]
        return result[0] if result else None  # type: ignore[return-value]

    return wait
