"""Lip closures at the closure head's peaks, for the /p b m/ it hears but is unsure of.

On real speech the head's probability on many bilabials stays low (logit -2 to -4) yet rises to a
local peak, while vowels that raise it form broad plateaus. A probability threshold shuts whole
plateaus before it reaches those low peaks; marking only the peaks closes the lips for one short
moment per bilabial. Numbers and the choice of the settings: reports/stage_selection.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

CONTEXT_S = 0.1  # prominence is measured against the lowest logit this far before and after


@dataclass(frozen=True)
class PeakSettings:
    """floor: the logit a peak must exceed; prominence: how far above its surroundings;
    radius_s: a peak is the largest logit this far either side (one closure per bilabial);
    half_width_s: how long either side of a peak the lips close (0: the one frame holding it)."""

    floor: float
    prominence: float
    radius_s: float = 0.05
    half_width_s: float = 0.0


# Chosen on the development clips (reports/stage_selection.md, candidate P).
DEFAULT_PEAKS = PeakSettings(floor=-4.0, prominence=2.0, radius_s=0.07, half_width_s=0.0)
# Closure Sensitivity slides the floor by this many logits per unit away from 0.5: cautious 0
# raises it to -2 (probability 0.12), eager 1 lowers it to -6 (0.0025).
FLOOR_PER_SENSITIVITY = 4.0


def peaks_for_sensitivity(sensitivity: float, tuned: PeakSettings = DEFAULT_PEAKS) -> PeakSettings:
    """The tuned settings at 0.5; higher sensitivity accepts lower peaks."""
    if not 0.0 <= sensitivity <= 1.0:
        raise ValueError("Closure sensitivity must be between 0 and 1.")
    floor = tuned.floor + FLOOR_PER_SENSITIVITY * (0.5 - sensitivity)
    return PeakSettings(floor, tuned.prominence, tuned.radius_s, tuned.half_width_s)


def _logit(prob: NDArray[np.floating[Any]]) -> NDArray[np.float64]:
    p = np.clip(np.asarray(prob, np.float64), 1e-6, 1.0 - 1e-6)
    return np.asarray(np.log(p / (1.0 - p)), np.float64)


def _windows(x: NDArray[np.float64], before: int, after: int, fill: float) -> NDArray[np.float64]:
    """(T, before + 1 + after) view of x around each sample, padded with fill beyond the ends."""
    padded = np.concatenate([np.full(before, fill), x, np.full(after, fill)])
    return np.lib.stride_tricks.sliding_window_view(padded, before + 1 + after)


def peak_marks(
    prob: NDArray[np.floating[Any]], rate: float, settings: PeakSettings = DEFAULT_PEAKS
) -> NDArray[np.float32]:
    """(T,) 1 within half_width_s of each prominent peak of a rate-Hz closure probability."""
    logit = _logit(prob)
    n = len(logit)
    out = np.zeros(n, np.float32)
    if n == 0:
        return out
    r = max(1, round(settings.radius_s * rate))
    k = max(1, round(CONTEXT_S * rate))
    is_max = logit >= _windows(logit, r, r, -np.inf).max(axis=1)
    low_before = _windows(logit, k, 0, np.inf).min(axis=1)
    low_after = _windows(logit, 0, k, np.inf).min(axis=1)
    rise = logit - np.maximum(low_before, low_after)
    peaks = np.flatnonzero(is_max & (logit > settings.floor) & (rise >= settings.prominence))
    out[peaks] = 1.0
    h = round(settings.half_width_s * rate)
    if h > 0:
        out = (np.convolve(out, np.ones(2 * h + 1), mode="same") > 0.5).astype(np.float32)
    return out
