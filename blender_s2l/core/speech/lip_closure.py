"""Lip closure from S2L's closure head: the lips meet on /p b m/ even where regression would not.

A landmark regressor trained with L2 averages a 50 ms closure with the open vowels around it, so
the lips stop a few millimetres short. The closure head is a classifier on the same audio; where it
is confident, the upper and lower lip landmarks are pulled together until they press, as the
training targets do on a closure. Only the lip pairs move, so jaw and corners keep what S2L said.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

# (upper, lower) landmark pairs of the iBUG 68 scheme: outer lip 49-53 over 59-55, inner 61-63
# over 67-65. The corners (48, 54, 60, 64) belong to both lips and stay where S2L put them.
LIP_PAIRS: tuple[tuple[int, int], ...] = (
    (49, 59), (50, 58), (51, 57), (52, 56), (53, 55), (61, 67), (62, 66), (63, 65),
)
# Where the closed lips end up, as (upper - lower) displacement of each pair in canonical mm:
# the median over the 32k closed frames of speech in 800 training utterances (teacher targets),
# lips pressed together (the neutral's inner lips are 0.8 mm apart; shut they touch).
PRESSED_OFFSET = np.array([
    [0.10, -0.59, -0.11], [0.09, -0.60, -0.11], [0.00, -0.51, -0.13], [-0.09, -0.60, -0.11],
    [-0.10, -0.59, -0.11], [0.08, -0.75, -0.14], [0.00, -0.76, -0.28], [-0.08, -0.75, -0.14],
], dtype=np.float32)
MAX_PRESS_S = 0.25  # a stop or /m/ closure is shorter; longer closed runs are pauses, lips at rest
UPPER_SHARE = 0.4  # the jaw carries the lower lip, so it travels further than the upper one
# Probability -> closing weight: a smoothstep between these, so an unsure head changes nothing
# and a confident one closes fully. Chosen on synthetic held-out voices (MODEL_CARD.md).
CLOSURE_LOW = 0.35
CLOSURE_HIGH = 0.7
# Closure sensitivity 0..1 slides the range between these, through the tuned one at
# TUNED_SENSITIVITY. Eager closes more of the /p b m/ the head is unsure of (on real speech: more
# of them, at the price of lips shut inside some vowels; numbers in MODEL_CARD.md); cautious
# closes only sure ones.
EAGER_RANGE = (0.02, 0.2)
CAUTIOUS_RANGE = (0.55, 0.9)
TUNED_SENSITIVITY = 0.5
# The bake's default is more eager than the range tuned on synthetic voices: chosen on real
# development speech (reports/stage_selection.md, sessions 15 and 16).
DEFAULT_SENSITIVITY = 0.8
# The acoustic gate (`acoustic_gate`): the head's probability is scaled by min(1, b / TAU), b the
# largest summed posterior of pocketsphinx's acoustic model on GATE_PHONES within +-HALF_S of the
# frame. Chosen with the default sensitivity (session 16).
ACOUSTIC_GATE_TAU = 0.1
ACOUSTIC_GATE_HALF_S = 0.05
# The bilabials only: noise in a take raises the silence and noise posteriors inside speech, so
# counting them would open the gate there (session 16's G4). Pauses keep the ungated weight
# (`gated_weight`).
GATE_PHONES = ("P", "B", "M")
# Part of the cache key of S2L's output, which carries the gate: change it whenever
# `acoustic_gate`'s arithmetic changes, or bakes read gates the old code computed.
ACOUSTIC_GATE_ID = (f"acoustic-gate-4:{ACOUSTIC_GATE_TAU}:{ACOUSTIC_GATE_HALF_S}:"
                    + "+".join(GATE_PHONES))


def sensitivity_range(
    sensitivity: float, normal: tuple[float, float] = (CLOSURE_LOW, CLOSURE_HIGH)
) -> tuple[float, float]:
    """Closure-head probability range for a sensitivity in [0, 1]; TUNED_SENSITIVITY gives
    `normal`."""
    if not 0.0 <= sensitivity <= 1.0:
        raise ValueError("Closure sensitivity must be between 0 and 1.")
    if sensitivity >= TUNED_SENSITIVITY:
        far, t = EAGER_RANGE, (sensitivity - TUNED_SENSITIVITY) / (1 - TUNED_SENSITIVITY)
    else:
        far, t = CAUTIOUS_RANGE, (TUNED_SENSITIVITY - sensitivity) / TUNED_SENSITIVITY
    return (normal[0] + t * (far[0] - normal[0]), normal[1] + t * (far[1] - normal[1]))


def acoustic_gate(
    features: NDArray[np.floating[Any]], n_mels: int, rate: float
) -> NDArray[np.float32] | None:
    """The factor (T,) in [0, 1] by which the closure head's probability is scaled outside
    pauses: min(1, b / ACOUSTIC_GATE_TAU), b the largest summed posterior of GATE_PHONES within
    +-ACOUSTIC_GATE_HALF_S. None (no gate) for a model that does not hear this acoustic model's
    posteriors, or no frames.

    Why: on real voices the head's confident mistakes fall on /n t d dh/ (the same closure of
    the vocal tract, another place), and the acoustic model, trained on human speech, rarely
    puts P, B or M there. Where it hears one at all, the head is left alone: the posteriors alone
    find too many bilabials to be trusted on their own (reports/stage_selection.md, session 16).
    `gated_weight` never applies the factor in a pause (a closed run longer than MAX_PRESS_S,
    or at either end of the clip), where the head's "shut" is the lips at rest whatever the
    acoustic model hears there (hiss before a line is heard as speech); shorter silent gaps are
    gated like speech.
    `features` are S2L's input rows: log-mel, then the acoustic model's floored log phone
    posteriors on the same grid."""
    feats = np.asarray(features)
    if feats.ndim != 2 or feats.shape[1] <= n_mels or len(feats) == 0:
        return None
    from . import acoustic

    names = acoustic.phones()
    if feats.shape[1] != n_mels + len(names) or not set(GATE_PHONES) <= set(names):
        return None  # a model trained on other posteriors: its columns are not these phones
    cols = [n_mels + names.index(ph) for ph in GATE_PHONES]
    mass = np.exp(feats[:, cols].astype(np.float64)).sum(axis=1)
    half = max(round(ACOUSTIC_GATE_HALF_S * rate), 0)
    padded = np.pad(mass, half, mode="edge")
    near = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1).max(axis=1)
    factor: NDArray[np.float32] = np.minimum(1.0, near / ACOUSTIC_GATE_TAU).astype(np.float32)
    return factor


def gated_weight(
    prob: NDArray[np.floating[Any]], gate: NDArray[np.floating[Any]] | None,
    times: NDArray[np.float64], rate: float, low: float, high: float,
) -> NDArray[np.float32]:
    """Closing weight at the frame times from the head's probability (rate Hz) and the acoustic
    gate: inside speech the gated probability sampled at each frame's own time
    (`closure_at_frames`); on the runs that the ungated, window-sampled weight makes pauses
    (`without_pauses`), and on their ramps, that weight itself.

    Why two samplings: in speech a short vowel beside a /p b m/ must keep its open frame, which
    the half-frame window takes from it; in a pause the weight is what holds the lips at the
    neutral, and the window holds it to the last frame the head's rest reaches (candidate S3 in
    reports/stage_selection.md). The gate is never applied in a pause: hiss before a line is
    heard as speech, and the head's "shut" there is the lips at rest."""
    p = np.asarray(prob, np.float32)
    window = closure_weight(closure_at_times(p, times, rate), low, high)
    pause = (window > 0) & (without_pauses(window, times) == 0)
    heard = p
    if gate is not None:
        if len(gate) != len(prob):
            raise ValueError(
                "The acoustic gate and the closure head must have one value a frame.")
        heard = p * np.asarray(gate, np.float32)
    speech = closure_weight(closure_at_frames(heard, times, rate), low, high)
    return np.where(pause, window, speech).astype(np.float32)


def closure_weight(
    prob: NDArray[np.floating[Any]], low: float = CLOSURE_LOW, high: float = CLOSURE_HIGH
) -> NDArray[np.float32]:
    x = np.clip((np.asarray(prob, np.float64) - low) / max(high - low, 1e-6), 0.0, 1.0)
    return (x * x * (3.0 - 2.0 * x)).astype(np.float32)


def _half_frame(times: NDArray[np.float64], rate: float) -> float:
    """Half the spacing of the frame times (at least half a sample of the rate Hz track): how
    far from a frame's time a closure still belongs to that frame."""
    step = float(np.median(np.diff(times))) if len(times) > 1 else 1.0 / 30.0
    return max(0.5 * abs(step), 0.5 / rate)


def closure_at_times(
    prob: NDArray[np.float32], times: NDArray[np.float64], rate: float
) -> NDArray[np.float32]:
    """The largest closure probability within half a frame of each frame time.

    A bilabial lasts 40-100 ms; sampling the 100 Hz track only at 24 or 30 fps frame times can
    step over it, and an animator expects every /p b m/ to show a closed mouth on some frame.
    """
    t = np.asarray(times, dtype=np.float64)
    n = len(prob)
    if n == 0:
        return np.zeros(len(t), np.float32)
    half = _half_frame(t, rate)
    lo = np.clip(np.ceil((t - half) * rate - 1e-9).astype(np.int64), 0, n - 1)
    hi = np.clip(np.floor((t + half) * rate + 1e-9).astype(np.int64), 0, n - 1)
    # Running max over windows via a sparse table: O(n log n), fine for hours of audio.
    table = [np.asarray(prob, np.float32)]
    while (1 << len(table)) <= n:
        prev, k = table[-1], 1 << (len(table) - 1)
        table.append(np.maximum(prev[:-k], prev[k:]))
    width = np.maximum(hi - lo + 1, 1)
    level = np.floor(np.log2(width)).astype(np.int64)
    out = np.empty(len(t), np.float32)
    for lev in np.unique(level):
        sel = level == lev
        row = table[int(lev)]
        out[sel] = np.maximum(row[lo[sel]], row[hi[sel] - (1 << int(lev)) + 1])
    return out


def closure_at_frames(
    prob: NDArray[np.floating[Any]], times: NDArray[np.float64], rate: float,
    *, fill_dips: bool = True,
) -> NDArray[np.float32]:
    """A closure track (rate Hz) at the frame times (in order): its value at each frame's own
    time, with every local peak (a plateau counts once, at its middle) lifted onto its nearest
    frame if it lies within half a frame of it (a peak beyond the first or last frame is
    dropped, as the window drops it) and, with fill_dips, no frame left lower than both its
    neighbours.

    Why not the largest value within half a frame (`closure_at_times`): a short vowel beside
    a /p b m/ owns a single frame, and the window lends that frame the neighbouring closure, so
    the lips stay shut through the vowel. At the frame's own time the vowel is open; lifting the
    peaks still gives every closure the head hears a frame (an animator expects each /p b m/ to
    show), and filling one-frame dips keeps one closing gesture from flickering open between two
    frames where the window had bridged it (reports/stage_selection.md, candidate S2)."""
    p = np.asarray(prob, np.float64)
    t = np.asarray(times, dtype=np.float64)
    n = len(p)
    if n == 0 or len(t) == 0:
        return np.zeros(len(t), np.float32)
    out = np.interp(t * rate, np.arange(n, dtype=np.float64), p)
    # Runs of equal samples; a run higher than both neighbouring runs is one peak.
    starts = np.flatnonzero(np.concatenate([[True], p[1:] != p[:-1]]))
    ends = np.concatenate([starts[1:], [n]])
    vals = p[starts]
    left = np.concatenate([[-np.inf], vals[:-1]])
    right = np.concatenate([vals[1:], [-np.inf]])
    peak = (vals > left) & (vals > right) & (vals > 0)
    mid = 0.5 * (starts[peak] + ends[peak] - 1) / rate
    if len(mid):
        half = _half_frame(t, rate)
        right_j = np.minimum(np.searchsorted(t, mid), len(t) - 1)
        left_j = np.maximum(right_j - 1, 0)
        j = np.where(np.abs(t[left_j] - mid) <= np.abs(t[right_j] - mid), left_j, right_j)
        near = np.abs(t[j] - mid) <= half + 1e-9
        np.maximum.at(out, j[near], vals[peak][near])
    if fill_dips and len(out) > 2:
        out[1:-1] = np.maximum(out[1:-1], np.minimum(out[:-2], out[2:]))
    return out.astype(np.float32)


def press_factor(
    weight: NDArray[np.floating[Any]], times: NDArray[np.float64], max_run_s: float = MAX_PRESS_S
) -> NDArray[np.float32]:
    """1 on frames of short closed runs (weight >= 0.5 for at most max_run_s): speech closures
    press the lips; in a pause they rest at the neutral's opening instead."""
    closed = np.asarray(weight) >= 0.5
    t = np.asarray(times, dtype=np.float64)
    out = np.zeros(len(closed), np.float32)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], closed.astype(np.int8), [0]])))
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        if t[b - 1] - t[a] <= max_run_s:
            out[a:b] = 1.0
    return out


def without_pauses(
    weight: NDArray[np.floating[Any]], times: NDArray[np.float64], max_run_s: float = MAX_PRESS_S
) -> NDArray[np.float32]:
    """weight with every closing gesture (a run of weight > 0) that holds the lips shut for
    longer than max_run_s, or that runs into either end of the clip (how long it lasts is not
    known), set to 0: a pause, where the lips rest at the mesh's own neutral instead of being
    pressed into contact. Shorter gestures keep their ramps."""
    w = np.asarray(weight, np.float32)
    pressed = press_factor(w, times, max_run_s)
    closed = w >= 0.5
    out = w.copy()
    edges = np.flatnonzero(np.diff(np.concatenate([[0], (w > 0).astype(np.int8), [0]])))
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        if a == 0 or b == len(w) or np.any(closed[a:b] & (pressed[a:b] == 0)):
            out[a:b] = 0.0
    return out


def close_lips(
    disp: NDArray[np.float32], weight: NDArray[np.floating[Any]], strength: float = 1.0,
    press: NDArray[np.floating[Any]] | None = None,
) -> NDArray[np.float32]:
    """disp (T, 68, 3) canonical-mm displacements; weight (T,) in [0, 1] closes each frame's lips
    that far towards the neutral opening, or where press (T,) is 1 towards the pressed pose
    (PRESSED_OFFSET). strength 0 returns disp unchanged."""
    w = np.clip(np.asarray(weight, np.float32) * float(strength), 0.0, 1.0)
    if not np.any(w > 0):
        return disp
    out = disp.copy()
    up = np.array([a for a, _ in LIP_PAIRS])
    lo = np.array([b for _, b in LIP_PAIRS])
    # How far each pair is from its target. Where the lips are apart (the upper one higher over
    # the lower than the target; canonical +y is up) that is removed; lips pressed harder
    # already are left alone.
    excess = disp[:, up] - disp[:, lo]  # (T, P, 3) beyond the neutral's opening
    if press is not None:
        excess = excess - np.asarray(press, np.float32)[:, None, None] * PRESSED_OFFSET
    excess = np.where((excess[..., 1] > 0)[..., None], excess, 0.0).astype(np.float32)
    shift = w[:, None, None] * excess
    out[:, up] -= UPPER_SHARE * shift
    out[:, lo] += (1.0 - UPPER_SHARE) * shift
    return out
