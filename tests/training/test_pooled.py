"""Pooled bilabial closure over real clips and its Wilson interval."""

from __future__ import annotations

import pytest

from blender_s2l.training.evaluate import Row
from blender_s2l.training.pooled import pooled_closure_table, wilson_interval


def test_wilson_interval_matches_known_values() -> None:
    lo, hi = wilson_interval(13, 16)
    assert lo == pytest.approx(0.570, abs=0.002) and hi == pytest.approx(0.934, abs=0.002)
    assert wilson_interval(0, 5)[0] == 0.0 and wilson_interval(5, 5)[1] == 1.0
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_pooled_table_sums_events_over_clips() -> None:
    rows = [
        Row("a.wav", "model", {"bilabial_closure": 1.0, "n_bilabial": 2.0,
                               "spurious_closures": 3.0, "speech_s": 40.0}),
        Row("b.wav", "model", {"bilabial_closure": 3 / 7, "n_bilabial": 7.0,
                               "spurious_closures": 8.0, "speech_s": 50.0}),
        Row("c.wav", "model", {"bilabial_closure": 6 / 7, "n_bilabial": 7.0}),
        Row("a.wav", "still", {"bilabial_closure": 0.0, "n_bilabial": 2.0}),
        Row("d.wav", "model", {"bilabial_closure": float("nan"), "n_bilabial": 0.0}),
    ]
    table = pooled_closure_table(rows)
    assert "| model | 11 / 16 | 0.688 | 0.44-0.86 | 11 (7) | 0.50 |" in table
    assert "| still | 0 / 2 | 0.000 | 0.00-0.66 | - | - |" in table
