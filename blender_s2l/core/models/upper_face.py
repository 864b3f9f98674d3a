"""Upper face (MeshTalk's split): blinks and brows are sampled, not predicted from audio.

Events are drawn on an absolute timeline starting at t = 0 from the seed alone, so the same
seed gives the same blinks whatever the frame rate or the frames asked for. The basis holds
only eye/brow landmark motion; mouth and jaw rows are zero by construction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import S2LError, WeightsError
from .npz_weights import NpzWeights, load_npz, save_npz

UPPER_EXPRESSIONS: tuple[str, ...] = (
    "eyeBlink_L", "eyeBlink_R", "browInnerUp_L", "browInnerUp_R", "browDown_L", "browDown_R",
    "browOuterUp_L", "browOuterUp_R",
)
KIND = "upper_face"
# Events are drawn one by one from t = 0 to the last frame time, so the timeline's length is the
# work (frame times spanning 1e7 s took minutes); 3 h is beyond any bake (30 min of sound, frames
# at most 30 min either side of it).
MAX_TIMELINE_S = 3 * 3600.0
F64 = NDArray[np.float64]


def _span(ts: F64, a: float, b: float) -> slice:
    """Indices of the sorted times in [a, b): events only touch their own few frames."""
    return slice(int(np.searchsorted(ts, a, "left")), int(np.searchsorted(ts, b, "left")))


def _blink_shape(t: F64, t0: float, close: float, hold: float, opening: float) -> F64:
    """Fast close (smooth), short hold, slower open: 0..1 lid closure."""
    out = np.zeros_like(t)
    a = (t >= t0) & (t < t0 + close)
    out[a] = 0.5 - 0.5 * np.cos(np.pi * (t[a] - t0) / close)
    b = (t >= t0 + close) & (t < t0 + close + hold)
    out[b] = 1.0
    t1 = t0 + close + hold
    c = (t >= t1) & (t < t1 + opening)
    out[c] = 0.5 + 0.5 * np.cos(np.pi * (t[c] - t1) / opening)
    return out


def _bump(t: F64, t0: float, dur: float) -> F64:
    """Raised-cosine bump: rise, hold a little, fall (a brow raise)."""
    x = (t - t0) / dur
    out = np.where((x > 0) & (x < 1), 0.5 - 0.5 * np.cos(2 * np.pi * x), 0.0)
    return np.asarray(out)


def _blink_events(rng: np.random.Generator, t_end: float, rate: float) -> list[float]:
    refractory = 0.25
    mean = max(60.0 / max(rate, 1e-3) - refractory, 0.05)
    times: list[float] = []
    t = float(rng.uniform(0.0, mean))
    while t < t_end + 1.0:
        times.append(t)
        if rng.random() < 0.1:  # double blink
            times.append(t + float(rng.uniform(0.28, 0.42)))
            t += 0.42
        t += refractory + float(rng.exponential(mean))
    return times


def sample_upper_face_weights(
    frame_times: NDArray[np.floating[Any]],
    seed: int,
    *,
    blink_rate_per_min: float = 17.0,
    brow_activity: float = 1.0,
    energy: NDArray[np.floating[Any]] | None = None,
) -> NDArray[np.float32]:
    """(T, 8) weights in [0, 1] in UPPER_EXPRESSIONS order at the given times (seconds)."""
    t_in = np.asarray(frame_times, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(t_in)) or (t_in.size and np.abs(t_in).max() > MAX_TIMELINE_S):
        raise S2LError(f"Frame times for blinks must be finite and within {MAX_TIMELINE_S:g} s "
                       "of the sound's start.")
    for name, value, hi in (("blink rate", blink_rate_per_min, 600.0),
                            ("brow activity", brow_activity, 10.0)):
        if not 0.0 <= value <= hi:  # NaN fails too
            raise S2LError(f"The {name} must be between 0 and {hi:g}; got {value!r:.20}.")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise S2LError(f"The seed must be a whole number; got {seed!r:.40}.")
    order = np.argsort(t_in, kind="stable")
    t = t_in[order]
    out = np.zeros((len(t), len(UPPER_EXPRESSIONS)))
    if len(t) == 0:
        return out.astype(np.float32)
    t_end = float(t[-1])
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x5B1])
    lr_bias = float(rng.uniform(-0.06, 0.06))  # a person's consistent slight asymmetry
    for t0 in _blink_events(rng, t_end, blink_rate_per_min):
        close, hold = float(rng.uniform(0.05, 0.09)), float(rng.uniform(0.0, 0.04))
        opening = float(rng.uniform(0.08, 0.17))
        amp = float(rng.uniform(0.85, 1.0))
        skew = float(rng.uniform(-0.01, 0.01))
        for col, start, gain in ((0, t0, 1 + lr_bias), (1, t0 + skew, 1 - lr_bias)):
            sl = _span(t, start, start + close + hold + opening)
            shape = _blink_shape(t[sl], start, close, hold, opening)
            out[sl, col] = np.maximum(out[sl, col], amp * gain * shape)
    brow_rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0xB20])
    if brow_activity > 0:
        _add_brow_events(out, t, t_end, brow_rng, brow_activity, lr_bias)
        if energy is not None:
            e = np.asarray(energy, dtype=np.float64).reshape(-1)
            if e.shape != t.shape:
                raise ValueError(f"energy has shape {e.shape}, frame_times {t.shape}")
            _add_emphasis(out, t, e[order], brow_rng, brow_activity)
        out[:, 2:] = 0.7 * np.tanh(out[:, 2:] / 0.7)  # overlapping raises saturate softly
    result = np.empty_like(out)
    result[order] = out
    return np.clip(result, 0.0, 1.0).astype(np.float32)


def _add_brow_events(out: F64, t: F64, t_end: float, rng: np.random.Generator,
                     activity: float, lr_bias: float) -> None:
    rate = 5.0 * activity / 60.0  # raises per second
    s = float(rng.exponential(1 / rate))
    while s < t_end + 1.0:
        dur = float(rng.uniform(0.5, 1.6))
        amp = float(rng.uniform(0.15, 0.55)) * min(activity, 1.5)
        sl = _span(t, s, s + dur)
        bump = _bump(t[sl], s, dur)
        if rng.random() < 0.2:  # frown instead of a raise
            out[sl, 4] += 0.7 * amp * (1 + lr_bias) * bump
            out[sl, 5] += 0.7 * amp * (1 - lr_bias) * bump
        else:
            inner = float(rng.uniform(0.5, 1.0))
            out[sl, 2] += amp * inner * (1 + lr_bias) * bump
            out[sl, 3] += amp * inner * (1 - lr_bias) * bump
            out[sl, 6] += amp * (1 + lr_bias) * bump
            out[sl, 7] += amp * (1 - lr_bias) * bump
        s += dur + float(rng.exponential(1 / rate))


def _add_emphasis(out: F64, t: F64, energy: F64, rng: np.random.Generator,
                  activity: float) -> None:
    """Small raises on loud peaks (speech emphasis), at least 1.5 s apart (t is sorted)."""
    if not np.any(energy > 0):
        return
    thresh = np.percentile(energy, 90)
    taken: list[float] = []
    for i in np.argsort(-energy, kind="stable"):
        if energy[i] < thresh:
            break
        ti = float(t[i])
        if any(abs(ti - x) < 1.5 for x in taken) or rng.random() > 0.5:
            continue
        taken.append(ti)
        sl = _span(t, ti - 0.2, ti + 0.4)
        out[sl, 2:4] += (_bump(t[sl], ti - 0.2, 0.6) * 0.2 * activity)[:, None]
        out[sl, 6:8] += (_bump(t[sl], ti - 0.2, 0.6) * 0.2 * activity)[:, None]


def _basis_shape(config: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """The basis rows are read in UPPER_EXPRESSIONS order: another order would blink a brow."""
    if config.get("expressions") != list(UPPER_EXPRESSIONS):
        raise WeightsError("The upper-face weights list other expressions than this add-on "
                           "drives; export them again.")
    return {"basis": (len(UPPER_EXPRESSIONS), 68, 3)}


class UpperFaceModel:
    """Landmark motion of blinks and brows: weights (T, 8) times a basis (8, 68, 3) in mm."""

    def __init__(self, basis: NDArray[np.floating[Any]]) -> None:
        b = np.asarray(basis, dtype=np.float32)
        if b.shape != (len(UPPER_EXPRESSIONS), 68, 3):
            raise WeightsError(f"Upper-face basis has shape {b.shape}, expected (8, 68, 3).")
        self.basis = b

    @classmethod
    def load(cls, path: str | Path | None = None) -> UpperFaceModel:
        """From an upper_face.npz (None: the bundled one); plain arrays, no torch."""
        from .load import weights_file

        w = load_npz(path or weights_file(KIND), KIND, _basis_shape)
        return cls(w.arrays["basis"])

    def save_npz(self, path: str | Path, metadata: dict[str, Any] | None = None) -> None:
        save_npz(path, NpzWeights(KIND, {"expressions": list(UPPER_EXPRESSIONS)},
                                  {"basis": self.basis}, metadata or {}))

    def landmark_motion(self, frame_times: NDArray[np.floating[Any]], seed: int,
                        **kw: Any) -> NDArray[np.float32]:
        """(T, 68, 3) canonical-mm displacement; kw go to sample_upper_face_weights."""
        return self.motion_of(sample_upper_face_weights(frame_times, seed, **kw))

    def motion_of(self, weights: NDArray[np.floating[Any]]) -> NDArray[np.float32]:
        """(T, 68, 3) canonical-mm displacement of given (T, 8) weights (a bake gives the net
        the brows alone where it blinks the mesh's own lids: core/head/eyelids.py)."""
        return np.tensordot(np.asarray(weights, np.float32), self.basis,
                            axes=1).astype(np.float32)


# The blink columns of the weights, in the order core/head/eyelids.py lists the eyes (the
# subject's right, then left).
BLINK_COLUMNS = (UPPER_EXPRESSIONS.index("eyeBlink_R"), UPPER_EXPRESSIONS.index("eyeBlink_L"))
