"""Bilabial closure over all real clips, with a 95 % interval: with a few dozen events per
corpus, one /p b m/ moves the rate by several points, and the interval says how much a
difference between two models can mean. Beside it the closures on other sounds over the same
speech, so that closing the lips more often cannot pass for hearing /p b m/ better."""

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
    """One line per method: closed bilabials / all labelled bilabials of every clip, and the
    spurious closures (metrics.spurious_closures) per minute of their speech."""
    totals: dict[str, list[float]] = {}
    for r in rows:
        n = round(r.metrics.get("n_bilabial", 0.0))
        rate = r.metrics.get("bilabial_closure", float("nan"))
        if n <= 0 or math.isnan(rate):
            continue
        acc = totals.setdefault(r.method, [0, 0, 0.0, 0.0])
        acc[0] += round(rate * n)
        acc[1] += n
        acc[2] += r.metrics.get("spurious_closures", 0.0)
        acc[3] += r.metrics.get("speech_s", 0.0)
    lines = ["| method | closed / bilabials | bilabial_closure | 95 % interval "
             "| closures on other sounds (per min) | closure precision |",
             "|---|---|---|---|---|---|"]
    for method, (closed, total, spurious, speech_s) in totals.items():
        lo, hi = wilson_interval(int(closed), int(total))
        per_min = f"{spurious:.0f} ({60 * spurious / speech_s:.0f})" if speech_s > 0 else "-"
        precision = f"{closed / (closed + spurious):.2f}" if closed + spurious > 0 else "-"
        lines.append(f"| {method} | {closed:.0f} / {total:.0f} | {closed / total:.3f} "
                     f"| {lo:.2f}-{hi:.2f} "
                     f"| {per_min} | {precision} |")
    return "\n".join(lines)
