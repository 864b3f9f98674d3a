"""Closures at the closure head's peaks: low but prominent peaks close, plateaus do not."""

from __future__ import annotations

import numpy as np
import pytest

from blender_s2l.core.closure_peaks import (
    DEFAULT_PEAKS,
    PeakSettings,
    peak_marks,
    peaks_for_sensitivity,
)


def _prob(logit: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-logit))).astype(np.float32)


def _bump(n: int, centre: int, height: float, base: float, width: float = 3.0) -> np.ndarray:
    i = np.arange(n)
    return base + (height - base) * np.exp(-0.5 * ((i - centre) / width) ** 2)


def test_a_low_isolated_peak_is_marked_once_at_its_top() -> None:
    logit = _bump(200, 80, -3.0, -8.0)
    marks = peak_marks(_prob(logit), 100.0, PeakSettings(-4.0, 2.0, 0.07, 0.0))
    assert np.flatnonzero(marks).tolist() == [80]
    wide = peak_marks(_prob(logit), 100.0, PeakSettings(-4.0, 2.0, 0.07, 0.02))
    assert np.flatnonzero(wide).tolist() == [78, 79, 80, 81, 82]


def test_floor_and_prominence_decide() -> None:
    low = _bump(200, 80, -5.0, -8.0)  # prominent, but under the floor
    assert not peak_marks(_prob(low), 100.0, PeakSettings(-4.0, 2.0)).any()
    shallow = _bump(200, 80, -2.0, -3.0)  # above the floor, but only 1 logit above its valley
    assert not peak_marks(_prob(shallow), 100.0, PeakSettings(-4.0, 2.0)).any()
    assert peak_marks(_prob(shallow), 100.0, PeakSettings(-4.0, 0.5)).any()


def test_a_wavering_plateau_gives_at_most_one_peak_per_radius() -> None:
    rng = np.random.default_rng(0)
    logit = -2.0 + 0.3 * rng.standard_normal(300)  # a vowel that keeps the head half-interested
    logit[:50] = logit[250:] = -9.0
    marks = peak_marks(_prob(logit), 100.0, PeakSettings(-4.0, 0.0, 0.07, 0.0))
    peaks = np.flatnonzero(marks)
    assert len(peaks) >= 1
    assert np.all(np.diff(peaks) > 7)  # each is the largest within ±70 ms


def test_a_flat_track_and_an_empty_one_have_no_peaks() -> None:
    assert not peak_marks(np.full(100, 0.3, np.float32), 100.0).any()
    assert not peak_marks(np.full(100, 1.0, np.float32), 100.0).any()
    assert peak_marks(np.zeros(0, np.float32), 100.0).shape == (0,)


def test_sensitivity_moves_the_floor_through_the_tuned_one() -> None:
    assert peaks_for_sensitivity(0.5) == DEFAULT_PEAKS
    floors = [peaks_for_sensitivity(s).floor for s in np.linspace(0, 1, 11)]
    assert all(a > b for a, b in zip(floors, floors[1:], strict=False))
    assert peaks_for_sensitivity(1.0).prominence == DEFAULT_PEAKS.prominence
    with pytest.raises(ValueError, match="between 0 and 1"):
        peaks_for_sensitivity(-0.1)
