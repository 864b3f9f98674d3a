"""The canonical-landmark yardsticks of reports/evaluation.md, pure numpy.

Synthetic (3D truth): arrays are (T, N, 3) in canonical mm; pass displacements from the neutral
(for LVE and landmark error absolute positions give the same numbers, FDD and the angle need
displacements).

Real speech (no 3D truth): landmark tracks (T, 68, 3) with the phones (`Phone` tuples, seconds)
and the time of every frame. Choices made here, used by every model and baseline alike:
- lip gap g(t) = |lm62 - lm66| / rest mouth width, where the rest width is |lm48 - lm54| of the
  given neutral (rest_width=) or else the median over the clip (robust to a clip that starts
  mid-word; the width changes little in speech).
- the frames of a phone are those whose time lies in [start, end); a phone too short to hold a
  frame gets the frame nearest its middle. "Within ±1 frame" widens that by one frame each side.
- false closure: the share of vowel frames (each vowel's first and last frame left out, where
  lips may still be closing or opening) with g under the bilabial threshold: a post-step that
  snaps lips shut must not buy its closures with shut vowels.
- spurious closures: runs of frames with g under the bilabial threshold that touch no /p b m/
  (±1 frame), no pause (±1 frame) and lie inside the labelled span: the lips shutting on another
  sound, counted as events, since a single shut frame on /n/ or /t/ reads as a chattering mouth
  but barely moves false_closure. Reported per minute of speech (non-pause phones) and as
  closure precision, closed bilabials / (closed bilabials + spurious closures).
- open-vowel separation is per phone: the peak g of each open vowel against the minimum g
  (±1 frame) of each bilabial, AUC = P(vowel > bilabial) with ties counted half.
- rest: silences (SIL) longer than 300 ms, minus 100 ms at each edge where the mouth may still be
  closing or already opening; reports mean g and the RMS speed (mm/s) of jaw and mouth landmarks.
- lag: the shift k (frames, |k| <= 10) maximising the Pearson correlation of g(t) with the phone
  openness reference r(t - k); positive k means the face moves after the sound (model late).
  Also in milliseconds, refined between frames (lag_ms), since a frame is 17-42 ms by fps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..core.head.landmarks import JAW, MOUTH
from ..core.speech.phones import BILABIALS, OPEN_VOWELS, SIL, VOWELS, Phone

FloatArray = NDArray[np.floating[Any]]
Vec = NDArray[np.float64]

MM_PER_M = 1000.0
MOVING_MM = 0.5  # the angle metric only looks at points that really move
LIP_LANDMARKS = np.arange(48, 68)
# Lips count as shut under this fraction of the clip's own wide opening (its 95th percentile gap).
SHUT_FRACTION = 0.1
SHUT_PERCENTILE = 95.0


def _pair(pred: FloatArray, true: FloatArray) -> tuple[Vec, Vec]:
    p = np.asarray(pred, dtype=np.float64)
    t = np.asarray(true, dtype=np.float64)
    if p.shape != t.shape or p.ndim != 3 or p.shape[2] != 3:
        raise ValueError(f"Need two (T, N, 3) arrays of one shape; got {p.shape} and {t.shape}.")
    return p, t


# --- synthetic, with 3D truth -------------------------------------------------------------------


def lve_mm(pred: FloatArray, true: FloatArray, lip_idx: NDArray[np.integer[Any]]) -> float:
    """Lip vertex error: per frame the largest L2 error over lip vertices, mean over frames."""
    p, t = _pair(pred, true)
    err = np.linalg.norm(p[:, lip_idx] - t[:, lip_idx], axis=2)
    return float(err.max(axis=1).mean())


def lve_m2(pred: FloatArray, true: FloatArray, lip_idx: NDArray[np.integer[Any]]) -> float:
    """LVE as the FaceFormer/CodeTalker papers report it: the largest squared error, in m^2."""
    p, t = _pair(pred, true)
    sq = np.sum((p[:, lip_idx] - t[:, lip_idx]) ** 2, axis=2) / MM_PER_M**2
    return float(sq.max(axis=1).mean())


def landmark_error(
    pred: FloatArray, true: FloatArray, idx: NDArray[np.integer[Any]] | None = None
) -> float:
    """Mean L2 distance (mm) over frames and the chosen points (all when idx is None)."""
    p, t = _pair(pred, true)
    if idx is not None:
        p, t = p[:, idx], t[:, idx]
    return float(np.linalg.norm(p - t, axis=2).mean())


def fdd(
    pred: FloatArray,
    true: FloatArray,
    upper_idx: NDArray[np.integer[Any]],
    *,
    squared_metres: bool = False,
) -> float:
    """Upper-face dynamics deviation: how much less (positive) or more (negative) the upper face
    varies over time than the truth.

    Per vertex, the motion magnitude over time (|displacement| in mm, or the squared distance in
    m^2 as CodeTalker), its standard deviation over time, averaged over the upper-face vertices;
    truth minus prediction.
    """
    p, t = _pair(pred, true)

    def dynamics(d: Vec) -> float:
        sq = np.sum(d[:, upper_idx] ** 2, axis=2)
        mag = sq / MM_PER_M**2 if squared_metres else np.sqrt(sq)
        return float(mag.std(axis=0).mean())

    return dynamics(t) - dynamics(p)


def mean_angle_deg(pred: FloatArray, true: FloatArray, min_motion_mm: float = MOVING_MM) -> float:
    """Mean angle (degrees) between predicted and true displacement vectors, over the (frame,
    point) pairs whose true displacement exceeds min_motion_mm; a zero prediction counts 90°.
    NaN when nothing moves that much."""
    p, t = _pair(pred, true)
    t_norm = np.linalg.norm(t, axis=2)
    p_norm = np.linalg.norm(p, axis=2)
    moving = t_norm > min_motion_mm
    if not moving.any():
        return float("nan")
    dots = np.sum(p * t, axis=2)[moving]
    denom = (p_norm * t_norm)[moving]
    cos = np.divide(dots, denom, out=np.zeros_like(dots), where=denom > 0)
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))).mean())


def jitter(track: FloatArray, fps: float) -> float:
    """Mean |acceleration| (mm/s^2) over frames and points of a (T, N, 3) track; NaN if T < 3."""
    x = np.asarray(track, dtype=np.float64)
    if x.shape[0] < 3:
        return float("nan")
    acc = (x[2:] - 2.0 * x[1:-1] + x[:-2]) * fps**2
    return float(np.linalg.norm(acc, axis=2).mean())


def landmark_metrics(pred: FloatArray, true: FloatArray, fps: float) -> dict[str, float]:
    """Synthetic landmark-level table row: (T, 68, 3) displacements (canonical mm)."""
    return {
        "lm_err_mm": landmark_error(pred, true),
        "mouth_err_mm": landmark_error(pred, true, MOUTH),
        "lip_lve_mm": lve_mm(pred, true, LIP_LANDMARKS),
        "angle_deg": mean_angle_deg(pred, true),
        "jitter_pred": jitter(pred, fps),
        "jitter_true": jitter(true, fps),
    }


def dense_metrics(
    pred: FloatArray,
    true: FloatArray,
    lip_idx: NDArray[np.integer[Any]],
    upper_idx: NDArray[np.integer[Any]],
    fps: float,
) -> dict[str, float]:
    """Synthetic dense table row: (T, V, 3) vertex displacements (canonical mm)."""
    return {
        "vertex_err_mm": landmark_error(pred, true),
        "lve_mm": lve_mm(pred, true, lip_idx),
        "lve_m2": lve_m2(pred, true, lip_idx),
        "fdd_mm": fdd(pred, true, upper_idx),
        "fdd_m2": fdd(pred, true, upper_idx, squared_metres=True),
        "angle_deg": mean_angle_deg(pred, true),
        "jitter_pred": jitter(pred, fps),
        "jitter_true": jitter(true, fps),
    }


# --- real speech: landmark tracks + phones ------------------------------------------------------


def lip_gap(landmarks: FloatArray, rest_width: float | None = None) -> Vec:
    """g(t) = |lm62 - lm66| / mouth width at rest (see the module notes)."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 3 or lm.shape[1:] != (68, 3):
        raise ValueError(f"Need a (T, 68, 3) landmark track; got {lm.shape}.")
    if rest_width is None:
        rest_width = float(np.median(np.linalg.norm(lm[:, 48] - lm[:, 54], axis=1)))
    if not rest_width > 0:
        raise ValueError("The mouth width at rest must be positive.")
    return np.asarray(np.linalg.norm(lm[:, 62] - lm[:, 66], axis=1) / rest_width)


def mouth_width(landmarks: FloatArray) -> float:
    """|lm48 - lm54| of one (68, 3) pose, e.g. the neutral, to pass as rest_width."""
    lm = np.asarray(landmarks, dtype=np.float64)
    return float(np.linalg.norm(lm[48] - lm[54]))


def phone_frames(times: FloatArray, phone: Phone, tol_frames: int = 0) -> slice:
    """Frames of one phone (module notes), widened by tol_frames each side."""
    t = np.asarray(times, dtype=np.float64)
    lo = int(np.searchsorted(t, phone.start, side="left"))
    hi = int(np.searchsorted(t, phone.end, side="left"))
    if hi <= lo:
        mid = 0.5 * (phone.start + phone.end)
        lo = int(np.argmin(np.abs(t - mid)))
        hi = lo + 1
    return slice(max(0, lo - tol_frames), min(len(t), hi + tol_frames))


def _in_clip(phones: Sequence[Phone], times: Vec) -> list[Phone]:
    """Phones that overlap the frames at all (a clip may be shorter than its labels)."""
    if len(times) == 0:
        return []
    return [p for p in phones if p.end > times[0] and p.start <= times[-1]]


def _shut_threshold(gap: Vec, fraction: float, percentile: float) -> float:
    """Lip gap under which the lips count as shut: a fraction of the clip's own wide opening, so
    bilabial_closure, false_closure and spurious_closures judge "shut" the same way."""
    return fraction * float(np.percentile(gap, percentile))


def _gap_and_threshold(
    g: FloatArray, times: FloatArray, fraction: float, percentile: float
) -> tuple[Vec, Vec, float]:
    gap = np.asarray(g, dtype=np.float64)
    return gap, np.asarray(times, dtype=np.float64), _shut_threshold(gap, fraction, percentile)


def bilabial_closure(
    g: FloatArray,
    phones: Sequence[Phone],
    times: FloatArray,
    *,
    fraction: float = SHUT_FRACTION,
    percentile: float = SHUT_PERCENTILE,
    tol_frames: int = 1,
) -> float:
    """Share of /p b m/ phones during which g falls below fraction x the clip's 95th percentile
    of g (within ±tol_frames); NaN when the clip has no bilabial."""
    gap, t, thresh = _gap_and_threshold(g, times, fraction, percentile)
    labials = [p for p in _in_clip(phones, t) if p.phone in BILABIALS]
    if not labials:
        return float("nan")
    closed = [float(gap[phone_frames(t, p, tol_frames)].min()) < thresh for p in labials]
    return float(np.mean(closed))


def false_closure(
    g: FloatArray,
    phones: Sequence[Phone],
    times: FloatArray,
    *,
    fraction: float = SHUT_FRACTION,
    percentile: float = SHUT_PERCENTILE,
) -> float:
    """Share of vowel frames, first and last frame of each vowel left out, during which the lips
    are shut by bilabial_closure's threshold: closures where the sound says open. NaN without
    such frames."""
    gap, t, thresh = _gap_and_threshold(g, times, fraction, percentile)
    inner = [gap[phone_frames(t, p)][1:-1] for p in _in_clip(phones, t) if p.phone in VOWELS]
    frames = np.concatenate(inner) if inner else np.zeros(0)
    return float(np.mean(frames < thresh)) if frames.size else float("nan")


def spurious_closures(
    g: FloatArray, phones: Sequence[Phone], times: FloatArray, tol_frames: int = 1
) -> int:
    """Shut runs (bilabial_closure's default threshold) touching no /p b m/ and no pause
    (±tol_frames), within the labelled span: lips closing on some other sound."""
    gap, t, thresh = _gap_and_threshold(g, times, SHUT_FRACTION, SHUT_PERCENTILE)
    return shut_runs_elsewhere(gap < thresh, phones, t, tol_frames)


def shut_runs_elsewhere(
    shut: NDArray[np.bool_], phones: Sequence[Phone], times: FloatArray, tol_frames: int = 1
) -> int:
    """Runs of shut frames touching no /p b m/ and no pause (±tol_frames) within the labelled
    span, whatever decided "shut" (a relative threshold on landmarks, millimetres on a mesh)."""
    t = np.asarray(times, dtype=np.float64)
    clip = _in_clip(phones, t)
    if not clip:
        return 0
    excused = np.ones(len(t), dtype=bool)  # frames outside every label are not speech
    for p in clip:
        excused[phone_frames(t, p)] = False
    for p in clip:
        if p.phone in BILABIALS or p.phone == SIL:
            excused[phone_frames(t, p, tol_frames)] = True
    edges = np.flatnonzero(np.diff(np.concatenate([[0], shut.astype(np.int8), [0]])))
    return sum(1 for a, b in zip(edges[::2], edges[1::2], strict=True) if not excused[a:b].any())


def speech_seconds(phones: Sequence[Phone], times: FloatArray) -> float:
    """Seconds of labelled non-pause phones within the clip."""
    t = np.asarray(times, dtype=np.float64)
    return float(sum(p.end - p.start for p in _in_clip(phones, t) if p.phone != SIL))


def auc(positive: FloatArray, negative: FloatArray) -> float:
    """P(a positive score > a negative one), ties half (Mann-Whitney); NaN if a side is empty."""
    pos = np.asarray(positive, dtype=np.float64).reshape(-1, 1)
    neg = np.asarray(negative, dtype=np.float64).reshape(1, -1)
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    return float(np.mean((pos > neg) + 0.5 * (pos == neg)))


def open_vowel_auc(
    g: FloatArray, phones: Sequence[Phone], times: FloatArray, *, tol_frames: int = 1
) -> float:
    """AUC separating open vowels (peak g per phone) from bilabials (min g per phone, ±tol)."""
    gap = np.asarray(g, dtype=np.float64)
    t = np.asarray(times, dtype=np.float64)
    clip = _in_clip(phones, t)
    vowels = [gap[phone_frames(t, p)].max() for p in clip if p.phone in OPEN_VOWELS]
    labials = [gap[phone_frames(t, p, tol_frames)].min() for p in clip if p.phone in BILABIALS]
    return auc(np.array(vowels), np.array(labials))


def rest_stats(
    g: FloatArray,
    landmarks: FloatArray,
    phones: Sequence[Phone],
    times: FloatArray,
    *,
    min_silence: float = 0.3,
    margin: float = 0.1,
) -> tuple[float, float]:
    """(mean g, RMS speed in mm/s of jaw and mouth landmarks) inside long silences; NaNs when
    the clip has none."""
    gap = np.asarray(g, dtype=np.float64)
    lm = np.asarray(landmarks, dtype=np.float64)[:, np.concatenate([JAW, MOUTH])]
    t = np.asarray(times, dtype=np.float64)
    gaps: list[Vec] = []
    speeds: list[Vec] = []
    for p in phones:
        if p.phone != SIL or p.end - p.start <= min_silence:
            continue
        sl = phone_frames(t, Phone(p.start + margin, p.end - margin, SIL))
        if not (t[sl.start] >= p.start + margin - 1e-9 and t[sl.stop - 1] < p.end - margin):
            continue  # the nearest-frame fallback landed outside the core
        gaps.append(gap[sl])
        if sl.stop - sl.start >= 2:
            dt = np.diff(t[sl])[:, None]
            v = np.linalg.norm(np.diff(lm[sl], axis=0), axis=2) / dt
            speeds.append(v.reshape(-1))
    if not gaps:
        return float("nan"), float("nan")
    mean_gap = float(np.concatenate(gaps).mean())
    speed = float(np.sqrt(np.mean(np.concatenate(speeds) ** 2))) if speeds else float("nan")
    return mean_gap, speed


# How open the mouth is for each phone class: the reference the lag is measured against.
_OPENNESS = {"open": 1.0, "vowel": 0.6, "consonant": 0.3, "labiodental": 0.1, "closed": 0.0}


def phone_openness(phone: str) -> float:
    if phone in OPEN_VOWELS:
        return _OPENNESS["open"]
    if phone in VOWELS:
        return _OPENNESS["vowel"]
    if phone in BILABIALS or phone == SIL:
        return _OPENNESS["closed"]
    if phone in ("F", "V"):
        return _OPENNESS["labiodental"]
    return _OPENNESS["consonant"]


def openness_reference(
    phones: Sequence[Phone], times: FloatArray, smooth_s: float = 0.02
) -> Vec:
    """Reference mouth openness from the phones alone at each frame time (a step track on a
    1 ms grid, Gaussian-smoothed by smooth_s so the correlation peak is well defined)."""
    t = np.asarray(times, dtype=np.float64)
    if len(t) == 0:
        return np.zeros(0)
    step = 0.001
    pad = 4.0 * smooth_s
    grid = np.arange(t[0] - pad, t[-1] + pad + step, step)
    values = np.zeros_like(grid)
    for p in phones:
        values[(grid >= p.start) & (grid < p.end)] = phone_openness(p.phone)
    if smooth_s > 0:
        k = np.arange(-int(pad / step), int(pad / step) + 1) * step
        kernel = np.exp(-0.5 * (k / smooth_s) ** 2)
        values = np.convolve(values, kernel / kernel.sum(), mode="same")
    return np.asarray(np.interp(t, grid, values))


def _lag_correlations(g: Vec, ref: Vec, max_lag: int) -> dict[int, float]:
    """Pearson r of g(t) with ref(t - k) for every shift k that has a defined correlation."""
    n = len(g)
    out: dict[int, float] = {}
    for k in range(-max_lag, max_lag + 1):
        a = g[max(k, 0) : n + min(k, 0)]
        b = ref[max(-k, 0) : n - max(k, 0)]
        if len(a) < 3 or np.ptp(a) < 1e-9 or np.ptp(b) < 1e-9:
            continue  # a still track has no lag
        out[k] = float(np.corrcoef(a, b)[0, 1])
    return out


def openness_lag(
    g: FloatArray, phones: Sequence[Phone], times: FloatArray, *, max_lag: int = 10
) -> tuple[int, float]:
    """(lag in frames, its correlation) of the best match of g(t) with reference(t - lag);
    (0, NaN) when g or the reference does not move."""
    r = _lag_correlations(np.asarray(g, dtype=np.float64), openness_reference(phones, times),
                          max_lag)
    if not r:
        return 0, float("nan")
    best = max(r, key=lambda k: r[k])
    return best, r[best]


def openness_lag_ms(
    g: FloatArray, phones: Sequence[Phone], times: FloatArray, *, max_lag: int = 10
) -> float:
    """The same lag in milliseconds, refined between frames by a parabola through the peak and
    its neighbours (frames differ in length between 24 and 60 fps; milliseconds do not)."""
    t = np.asarray(times, dtype=np.float64)
    r = _lag_correlations(np.asarray(g, dtype=np.float64), openness_reference(phones, t), max_lag)
    if not r or len(t) < 2:
        return float("nan")
    k = max(r, key=lambda j: r[j])
    frac = 0.0
    if k - 1 in r and k + 1 in r:
        curve = r[k - 1] - 2.0 * r[k] + r[k + 1]
        if curve < 0:
            frac = float(np.clip(0.5 * (r[k - 1] - r[k + 1]) / curve, -0.5, 0.5))
    return (k + frac) * float(np.median(np.diff(t))) * 1000.0


def real_speech_metrics(
    landmarks: FloatArray,
    phones: Sequence[Phone],
    times: FloatArray,
    rest_width: float | None = None,
) -> dict[str, float]:
    """One table row of the real-speech protocol for a (T, 68, 3) landmark track."""
    g = lip_gap(landmarks, rest_width)
    t = np.asarray(times, dtype=np.float64)
    rest_gap, rest_speed = rest_stats(g, landmarks, phones, t)
    lag, lag_r = openness_lag(g, phones, t)
    clip = _in_clip(phones, t)
    closure = bilabial_closure(g, phones, t)
    n_bilabial = float(sum(p.phone in BILABIALS for p in clip))
    closed = 0.0 if np.isnan(closure) else closure * n_bilabial
    spurious = float(spurious_closures(g, phones, t))
    speech_s = speech_seconds(phones, t)
    return {
        "bilabial_closure": closure,
        "false_closure": false_closure(g, phones, t),
        "spurious_closures": spurious,
        "spurious_per_min": 60.0 * spurious / speech_s if speech_s > 0 else float("nan"),
        "closure_precision": closed / (closed + spurious) if closed + spurious else float("nan"),
        "speech_s": speech_s,
        "open_vowel_auc": open_vowel_auc(g, phones, t),
        "rest_gap": rest_gap,
        "rest_speed_mm_s": rest_speed,
        "lag_frames": float(lag) if np.isfinite(lag_r) else float("nan"),
        "lag_ms": openness_lag_ms(g, phones, t),
        "lag_corr": lag_r,
        "n_bilabial": n_bilabial,
        "n_open_vowel": float(sum(p.phone in OPEN_VOWELS for p in clip)),
    }
