"""The modal half that s2l.bake and s2l.bake_all share, declared once.

In the UI a bake's inference runs on the worker of `job.py` while a window timer polls it here:
the window's progress bar, the status bar and the sidebar follow the job's progress (already on
the whole run's bar, see `job.BakeJob.span`), Esc goes to the operator's `escape`, and a finished
job to its `job_done`, which writes on the main thread. Blender pushes one undo step when the
operator returns FINISHED (its bl_options hold UNDO), so a bake or a whole Bake All is undone by
one Ctrl+Z. In background mode, or called without a window, the operator's `execute` runs
instead, synchronously.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import bpy

from . import job
from .rna import Context, OpResult

TIMER_STEP = 0.1  # seconds between polls of the worker


class JobModal:
    """Mixin for an operator that runs its bake(s) on the worker in the UI: put it first in the
    bases (`class S2L_OT_x(JobModal, bpy.types.Operator)`) and give it `execute` (the synchronous
    path), `start_modal`, `escape` and `job_done`."""

    _job: job.BakeJob | None = None
    _timer: Any = None

    if TYPE_CHECKING:
        def execute(self, context: Context) -> OpResult: ...

        def start_modal(self, context: Context) -> OpResult: ...

        def escape(self, context: Context, running: job.BakeJob) -> OpResult: ...

        def job_done(self, context: Context, running: job.BakeJob) -> OpResult: ...

    def invoke(self, context: Context, event: Any) -> OpResult:
        if bpy.app.background or context.window is None:
            return self.execute(context)
        return self.start_modal(context)

    def _begin(self, context: Context) -> None:
        """Go modal: the timer that polls the job, the handler, the window's progress bar. Call it
        only when start_modal is about to return RUNNING_MODAL."""
        wm = context.window_manager
        self._timer = wm.event_timer_add(TIMER_STEP, window=context.window)
        wm.modal_handler_add(self)
        wm.progress_begin(0, 100)
        if self._job is not None:
            self._show(context, self._job)

    def _show(self, context: Context, running: job.BakeJob | None, fraction: float = 1.0) -> None:
        """The run's progress (the job's, or `fraction` once no job runs) on the window's bar,
        the status bar and the sidebar."""
        value = running.progress if running is not None else fraction
        context.window_manager.progress_update(int(value * 100))
        if running is not None and context.workspace is not None:
            context.workspace.status_text_set(f"Lip Sync: {job.status_line(running)}")
        for area in context.screen.areas if context.screen else []:
            if area.type == "VIEW_3D":  # the sidebar shows the percentage too
                area.tag_redraw()

    def modal(self, context: Context, event: Any) -> OpResult:
        running = self._job
        if running is None:
            return {"CANCELLED"}
        if event.type == "ESC" and event.value == "PRESS":
            return self.escape(context, running)
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        self._show(context, running)
        if not running.done:
            return {"PASS_THROUGH"}
        return self.job_done(context, running)

    def cancel(self, context: Context) -> None:
        """Blender calls this when the modal operator is killed (file load, window closed)."""
        if self._job is not None:
            self._job.cancel()
        self._end(context)

    def _end(self, context: Context) -> None:
        """Leave modal: timer, progress bar and status text gone, the job released."""
        wm = context.window_manager
        if self._timer is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.progress_end()
        if context.workspace is not None:
            context.workspace.status_text_set(None)
        if self._job is not None:
            job.release(self._job)
            self._job = None
        for area in context.screen.areas if context.screen else []:
            area.tag_redraw()
