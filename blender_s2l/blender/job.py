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
from ..core.progress import CANCELLED
from .bake import Snapshot

_ACTIVE: BakeJob | None = None
_LOCK = threading.Lock()


class BakeJob:
    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap
        self.progress = 0.0
        self.plan: KeyPlan | None = None
        self.error: S2LError | None = None
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name="s2l-bake", daemon=True)

    def _run(self) -> None:
        try:
            self.plan = infer(self.snap.inputs, self._set_progress, self._cancel.is_set)
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


def active() -> BakeJob | None:
    """The job started last until its operator has written (or dropped) its result."""
    return _ACTIVE


def start(snap: Snapshot) -> BakeJob:
    """Start a job, refusing while another one runs."""
    global _ACTIVE
    with _LOCK:
        if active() is not None:
            snap.audio.cleanup()
            raise BakeError("A bake is already running; wait for it to finish or press Esc.")
        job = BakeJob(snap)
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
