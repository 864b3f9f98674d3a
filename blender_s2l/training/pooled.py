"""Bilabial closure over all real clips, with a 95 % interval: with a few dozen events per
corpus, one /p b m/ moves the rate by several points, and the interval says how much a
difference between two models can mean."""

from __future__ import annotations

import math
from collections.abc import Sequence

from .evaluate import Row


def wilson_interval(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval: sensible at rates near 0 or 1 and for small n, unlike p +- z*se."""
    if n <= 0:
        return (0.0, 1.0)
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def pooled_closure_table(rows: Sequence[Row]) -> str:
    """One line per method: closed bilabials / all labelled bilabials of every clip."""
    totals: dict[str, list[int]] = {}
    for r in rows:
        n = round(r.metrics.get("n_bilabial", 0.0))
        rate = r.metrics.get("bilabial_closure", float("nan"))
        if n <= 0 or math.isnan(rate):
            continue
        hit_n = totals.setdefault(r.method, [0, 0])
        hit_n[0] += round(rate * n)
        hit_n[1] += n
    lines = ["| method | closed / bilabials | bilabial_closure | 95 % interval |",
             "|---|---|---|---|"]
    for method, (hits, n) in totals.items():
        lo, hi = wilson_interval(hits, n)
        lines.append(f"| {method} | {hits} / {n} | {hits / n:.3f} | {lo:.2f}-{hi:.2f} |")
    return "\n".join(lines)
