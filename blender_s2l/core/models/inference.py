"""Running S2L over audio of any length and sampling its 100 Hz output at exact frame times.

The public API's timing arguments are checked here, before any audio is read: each one sizes
work (frames to compute, a smoothing kernel, a blink timeline), so an absurd value is a hang or a
huge allocation, not merely a wrong answer: fps 1e6 asked for millions of frames, frame times
spanning 1e7 s kept the blink generator busy long after any bake would have ended, and smoothing
1e9 asked for more memory than any machine has.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit

from ..errors import Cancelled, S2LError
from ..progress import CANCELLED, CancelFn, ProgressFn
from ..speech.audio import MAX_SECONDS
from .runners import s2l_runner

FEATURE_RATE = 100.0  # log-mel frames per second (10 ms hop)
DEFAULT_CHUNK_FRAMES = 3000
MAX_FPS = 240.0  # the highest common scene rate; it only sizes MAX_FRAMES
# The most frames one call computes: the longest sound (audio.MAX_SECONDS, 30 min) at MAX_FPS,
# from frame 0 to the one at its end.
MAX_FRAMES = int(MAX_SECONDS * MAX_FPS) + 1
# Frame times may reach this far before the sound's start or past the longest sound's end (the
# face is at rest there): room for any scene around a strip, a bound on the blink timeline.
MAX_OUTSIDE_S = MAX_SECONDS



@dataclass
class S2LTrack:
    """S2L output at 100 Hz: displacements (T, 68, 3) mm and, where the model has a closure
    head, the probability (T,) that the lips are closed."""

    disp: NDArray[np.float32]
    closure: NDArray[np.float32] | None


def run_s2l(
    model: Any,
    mel: NDArray[np.float32],
    *,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> S2LTrack:
    """(T_a, 80) features -> displacements (and closure), chunk by chunk; model is an S2L
    runner (numpy) or a torch S2L module.

    Each chunk carries the model's full receptive field of real neighbouring frames on both
    sides, so the kept centre is what a single pass would give: no seams, and memory bounded by
    the chunk size rather than the clip length.
    """
    runner = s2l_runner(model)
    n = mel.shape[0]
    ctx = runner.receptive_frames
    out = np.zeros((n, runner.config.n_landmarks, 3), dtype=np.float32)
    closure = np.zeros(n, dtype=np.float32) if runner.config.closure_head else None
    starts = list(range(0, max(n, 1), chunk_frames))
    for i, start in enumerate(starts):
        if cancel is not None and cancel():
            raise Cancelled(CANCELLED)
        stop = min(start + chunk_frames, n)
        lo, hi = max(0, start - ctx), min(n, stop + ctx)
        disp, logit = runner.predict(mel[lo:hi])
        keep = slice(start - lo, stop - lo)
        out[start:stop] = disp[keep]
        if closure is not None and logit is not None:
            closure[start:stop] = expit(logit[keep])
        if progress is not None:
            progress((i + 1) / len(starts))
    return S2LTrack(out, closure)


def rest_response(model: Any, silence_feature: NDArray[np.float32]) -> NDArray[np.float32]:
    """What the model outputs on pure silence; subtracted so silence is exactly a still face."""
    runner = s2l_runner(model)
    frames = 2 * runner.receptive_frames + 1
    mel = np.repeat(silence_feature[None, :], frames, axis=0).astype(np.float32)
    rest: NDArray[np.float32] = runner.predict(mel)[0][runner.receptive_frames].astype(np.float32)
    return rest


def sample_at_times(
    track: NDArray[np.float32], times: NDArray[np.float64], rate: float = FEATURE_RATE
) -> NDArray[np.float32]:
    """Linear interpolation of a track sampled at k/rate seconds, at arbitrary times.

    Times come straight from the scene's frames, so 29.97 fps never drifts; times outside the
    track hold its end values (the caller keeps the face neutral outside the sound).
    """
    n = track.shape[0]
    pos = np.clip(np.asarray(times, dtype=np.float64) * rate, 0.0, max(n - 1, 0))
    i0 = np.floor(pos).astype(np.int64)
    i1 = np.minimum(i0 + 1, n - 1)
    w = (pos - i0).astype(np.float32).reshape((-1,) + (1,) * (track.ndim - 1))
    out: NDArray[np.float32] = ((1.0 - w) * track[i0] + w * track[i1]).astype(np.float32)
    return out


def smooth_track(track: NDArray[np.float32], sigma_frames: float) -> NDArray[np.float32]:
    """Gaussian smoothing along time; sigma 0 returns the input unchanged."""
    if sigma_frames <= 0 or track.shape[0] < 2:
        return track
    from scipy.ndimage import gaussian_filter1d

    return np.asarray(gaussian_filter1d(track, sigma_frames, axis=0, mode="nearest"), np.float32)


def default_frame_times(duration_s: float, fps: float) -> NDArray[np.float64]:
    """Times of frames 0, 1, ... that fall inside the sound, computed as f / fps (no drift)."""
    rate = check_fps(fps)
    frames = duration_s * rate + 1e-9
    if not frames < MAX_FRAMES:  # NaN and inf fail too
        raise S2LError(
            f"{duration_s:.1f} s at {rate:g} fps is over {MAX_FRAMES} frames, the limit per "
            f"bake ({MAX_SECONDS / 60:.0f} min at {MAX_FPS:g} fps); use a lower frame rate or "
            "a shorter sound.")
    n = int(np.floor(frames)) + 1
    return np.arange(n, dtype=np.float64) / rate


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool | str | bytes):
        raise S2LError(f"{what} must be a number; got {value!r:.40}.")
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        raise S2LError(f"{what} must be a number; got {value!r:.40}.") from None


def check_fps(fps: Any) -> float:
    """fps as a float if it is a frame rate (finite, above 0); how many frames it makes of a
    sound is bounded where the sound's length is known (default_frame_times)."""
    rate = _number(fps, "The frame rate (fps)")
    if not (np.isfinite(rate) and rate > 0.0):
        raise S2LError(f"The frame rate must be a positive number of frames per second; "
                       f"got {rate:g}.")
    return rate


def check_frame_times(frame_times: Any) -> NDArray[np.float64]:
    """Caller-given frame times (seconds into the sound), if they are a bounded amount of work:
    at most MAX_FRAMES, finite, and within MAX_OUTSIDE_S of where a sound can be."""
    try:
        times = np.asarray(frame_times, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise S2LError("Frame times must be an array of seconds.") from None
    if times.ndim != 1 or times.size == 0 or not np.all(np.isfinite(times)):
        raise S2LError("Frame times must be a non-empty 1-D array of finite seconds.")
    if times.size > MAX_FRAMES:
        raise S2LError(f"{times.size} frame times are more than {MAX_FRAMES}, the limit per "
                       f"bake ({MAX_SECONDS / 60:.0f} min at {MAX_FPS:g} fps).")
    lo, hi = -MAX_OUTSIDE_S, MAX_SECONDS + MAX_OUTSIDE_S
    if times.min() < lo or times.max() > hi:
        raise S2LError(f"Frame times must lie between {lo / 60:.0f} and {hi / 60:.0f} min of "
                       f"the sound's start; got {times.min():.4g} to {times.max():.4g} s.")
    return times

