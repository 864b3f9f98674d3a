"""The closure range choice: best closure + AUC among ranges under the false-closure limit."""

from __future__ import annotations

from blender_s2l.training.tune_closure import MAX_FALSE_CLOSURE, RangeScore, best_range, markdown


def test_best_range_respects_the_false_closure_limit() -> None:
    eager = RangeScore(0.02, 0.2, 0.95, MAX_FALSE_CLOSURE * 3, 0.96, 1.45)
    fair = RangeScore(0.35, 0.7, 0.84, MAX_FALSE_CLOSURE / 2, 0.97, 1.39)
    shy = RangeScore(0.55, 0.9, 0.80, MAX_FALSE_CLOSURE / 4, 0.97, 1.38)
    off = RangeScore(1.1, 1.2, 0.79, 0.0, 0.98, 1.35)
    assert eager.score > fair.score  # eager would win on the yardsticks alone ...
    assert best_range([eager, fair, shy, off]) is fair  # ... but shuts too many vowels
    assert best_range([eager]) is eager  # nothing allowed: the least eager range given
    table = markdown([eager, fair, off])
    assert "0.35-0.70 **best**" in table and "0.02-0.20 (too many)" in table
