"""A bake's inference on a worker thread; the main thread polls it from a modal timer.

Only `core.pipeline.infer` runs on the worker and it never touches Blender data. At most one
job runs at a time (the models are used sequentially), which is also how a second start is
refused.
"""

from __future__ import annotations

import threading

from ..core.bake.pipeline import infer
from ..core.bake.plans import KeyPlan
from ..core.errors import BakeError, Cancelled, S2LError
from ..core.progress import CANCELLED, Task
from .bake import Snapshot

BUSY = "A bake is already running; wait for it to finish or press Esc."
ESC_CANCELS = "Esc cancels"
_ACTIVE: BakeJob | None = None
_LOCK = threading.Lock()


class BakeJob:
    """One strip's inference. `progress` is on the whole run's bar: the job's own 0..1 mapped
    onto `span` (a Bake All strip's share of it; a single bake's is all of it) by a Task."""

    def __init__(self, snap: Snapshot, span: tuple[float, float] = (0.0, 1.0)) -> None:
        self.snap = snap
        self.progress = span[0]
        self.what = ""  # what is baked, when the bar is for more than this job ("strip 2 of 3")
        self.esc = ESC_CANCELS  # what Esc does now, as the status bar and the sidebar say it
        self.plan: KeyPlan | None = None
        self.error: S2LError | None = None
        self._cancel = threading.Event()
        self._task = Task(self._set_progress, self._cancel.is_set, *span)
        self._thread = threading.Thread(target=self._run, name="s2l-bake", daemon=True)

    def _run(self) -> None:
        try:
            self.plan = infer(self.snap.inputs, self._task)
        except S2LError as exc:
            self.error = exc
        except Exception as exc:
            self.error = BakeError(f"The bake failed: {type(exc).__name__}: {exc}")
        finally:
            self.snap.audio.cleanup()

    def _set_progress(self, value: float) -> None:
        self.progress = value

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self, wait: float = 30.0) -> None:
        self._cancel.set()
        self._thread.join(wait)
        if isinstance(self.error, Cancelled) or self.error is None:
            self.error = Cancelled(CANCELLED)
        self.plan = None

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)


def status_line(running: BakeJob) -> str:
    """What the status bar and the sidebar say while the job runs."""
    what = f" {running.what}" if running.what else ""
    return f"Baking{what}... {running.progress * 100:.0f}% ({running.esc})"


def active() -> BakeJob | None:
    """The job started last until its operator has written (or dropped) its result."""
    return _ACTIVE


def start(snap: Snapshot, span: tuple[float, float] = (0.0, 1.0)) -> BakeJob:
    """Start a job, refusing while another one runs."""
    global _ACTIVE
    with _LOCK:
        if active() is not None:
            snap.audio.cleanup()
            raise BakeError(BUSY)
        job = BakeJob(snap, span)
        _ACTIVE = job
        job._thread.start()
        return job


def release(job: BakeJob) -> None:
    global _ACTIVE
    with _LOCK:
        if _ACTIVE is job:
            _ACTIVE = None


def cancel_all() -> None:
    job = _ACTIVE
    if job is not None:
        job.cancel()
        release(job)
