"""Landmark-track baselines for the real-speech protocol (`metrics.py`), in canonical mm.

- still face: the neutral at every frame; any model must beat doing nothing.
- loudness-driven jaw: the neutral plus a fixed jaw-open landmark pattern scaled by the smoothed
  loudness of the sound; this is what "lip flap" tools do, and what S2L has to be better than.
- phone-rule teacher: the corpus's phones -> expression-weights rules on the true phones, turned
  into landmarks through the expression shapes' landmark deltas.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..core.head.landmarks import N_LANDMARKS, canonical_neutral
from ..core.speech.audio import SAMPLE_RATE
from ..core.speech.phones import Phone

FloatArray = NDArray[np.floating[Any]]
TeacherFn = Callable[..., FloatArray]

_ENV_RATE = 100.0  # loudness envelope sampled every 10 ms before it is read at frame times


def _neutral(neutral: FloatArray | None) -> NDArray[np.float64]:
    lm = canonical_neutral() if neutral is None else neutral
    arr = np.asarray(lm, dtype=np.float64)
    if arr.shape != (N_LANDMARKS, 3):
        raise ValueError(f"The neutral must be (68, 3); got {arr.shape}.")
    return arr


def _times(frame_times: FloatArray) -> NDArray[np.float64]:
    return np.asarray(frame_times, dtype=np.float64).reshape(-1)


def still_face(frame_times: FloatArray, neutral: FloatArray | None = None) -> NDArray[np.float32]:
    """(T, 68, 3): the neutral landmarks at every frame."""
    t = _times(frame_times)
    return np.repeat(_neutral(neutral)[None], len(t), axis=0).astype(np.float32)


def _gaussian_smooth(x: NDArray[np.float64], sigma: float) -> NDArray[np.float64]:
    if sigma <= 0 or len(x) < 2:
        return x
    half = int(np.ceil(4 * sigma))
    k = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma) ** 2)
    k /= k.sum()
    padded = np.pad(x, half, mode="edge")
    return np.asarray(np.convolve(padded, k, mode="valid"))


def loudness_envelope(
    wav: FloatArray,
    frame_times: FloatArray,
    *,
    window_s: float = 0.04,
    smooth_s: float = 0.03,
    sample_rate: int = SAMPLE_RATE,
) -> NDArray[np.float64]:
    """Loudness in [0, 1] at each frame time: centred RMS over window_s, Gaussian-smoothed by
    smooth_s, divided by the clip's 95th percentile (so input gain does not matter)."""
    x = np.asarray(wav, dtype=np.float64).reshape(-1)
    t = _times(frame_times)
    if len(x) == 0 or len(t) == 0:
        return np.zeros(len(t))
    hop = sample_rate / _ENV_RATE
    n_env = int(len(x) / hop) + 1
    centres = (np.arange(n_env) * hop).astype(np.int64)
    half = max(1, int(window_s * sample_rate / 2))
    csum = np.concatenate([[0.0], np.cumsum(x * x)])
    lo = np.clip(centres - half, 0, len(x))
    hi = np.clip(centres + half, 0, len(x))
    rms = np.sqrt((csum[hi] - csum[lo]) / (2 * half))
    rms = _gaussian_smooth(rms, smooth_s * _ENV_RATE)
    ref = float(np.percentile(rms, 95))
    if ref <= 1e-9:
        return np.zeros(len(t))
    env = np.clip(rms / ref, 0.0, 1.0)
    return np.asarray(np.interp(t, np.arange(n_env) / _ENV_RATE, env, left=0.0, right=0.0))


def loudness_jaw(
    wav: FloatArray,
    frame_times: FloatArray,
    jaw_open_delta: FloatArray,
    *,
    neutral: FloatArray | None = None,
    amplitude: float = 0.5,
    sample_rate: int = SAMPLE_RATE,
) -> NDArray[np.float32]:
    """(T, 68, 3): neutral + amplitude * loudness(t) * jaw_open_delta.

    jaw_open_delta is the (68, 3) landmark displacement of a fully open jaw in canonical mm
    (e.g. ICT's jawOpen expression at the 68 landmark vertices); amplitude is the jaw weight at
    the clip's loud peaks (0.5: half open, as in lively speech).
    """
    delta = np.asarray(jaw_open_delta, dtype=np.float64)
    if delta.shape != (N_LANDMARKS, 3):
        raise ValueError(f"jaw_open_delta must be (68, 3); got {delta.shape}.")
    env = loudness_envelope(wav, frame_times, sample_rate=sample_rate)
    out = _neutral(neutral)[None] + (amplitude * env)[:, None, None] * delta[None]
    return out.astype(np.float32)


def teacher_landmarks(
    phones: Sequence[Phone] | Sequence[tuple[float, float, str]],
    frame_times: FloatArray,
    expression_landmark_deltas: FloatArray,
    teacher_fn: TeacherFn,
    *,
    neutral: FloatArray | None = None,
    **teacher_kwargs: Any,
) -> NDArray[np.float32]:
    """(T, 68, 3): neutral + teacher weights (T, E) applied to the expressions' landmark deltas
    (E, 68, 3). teacher_fn(phones, frame_times, **teacher_kwargs) -> (T, E) is the corpus's
    phones_to_expression_weights (pass loudness=... or style=... through teacher_kwargs)."""
    t = _times(frame_times)
    deltas = np.asarray(expression_landmark_deltas, dtype=np.float64)
    if deltas.ndim != 3 or deltas.shape[1:] != (N_LANDMARKS, 3):
        raise ValueError(f"Expression landmark deltas must be (E, 68, 3); got {deltas.shape}.")
    rows = [(float(s), float(e), str(p)) for s, e, p in phones]
    weights = np.asarray(teacher_fn(rows, t, **teacher_kwargs), dtype=np.float64)
    if weights.shape != (len(t), deltas.shape[0]):
        raise ValueError(
            f"The teacher gave weights of shape {weights.shape}; expected {(len(t), len(deltas))}."
        )
    out = _neutral(neutral)[None] + np.tensordot(weights, deltas, axes=1)
    return out.astype(np.float32)
