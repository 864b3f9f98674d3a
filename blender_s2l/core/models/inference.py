"""Running S2L over audio of any length and sampling its 100 Hz output at exact frame times
(the frame times themselves are checked and made by the public API, animate.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit

from ..errors import Cancelled
from ..progress import CANCELLED, CancelFn, ProgressFn
from .runners import s2l_runner

FEATURE_RATE = 100.0  # log-mel frames per second (10 ms hop)
DEFAULT_CHUNK_FRAMES = 3000


@dataclass
class S2LTrack:
    """S2L output at 100 Hz: displacements (T, 68, 3) mm and, where the model has a closure
    head, the probability (T,) that the lips are closed. `gate` is not the network's:
    `Animator._s2l_output` adds the acoustic gate (T,) in [0, 1] (`lip_closure.acoustic_gate`)
    read from the same input, so the bake cache keeps both together; `run_s2l` leaves it None."""

    disp: NDArray[np.float32]
    closure: NDArray[np.float32] | None
    gate: NDArray[np.float32] | None = None


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
