"""Test heads and a line for lip contact, shared by the core and the Blender tests (imported
by name: pytest puts tests/ on sys.path)."""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from blender_s2l.core.head.lip_contact import CORNERS, LOWER_INNER, UPPER_INNER
from blender_s2l.demo_head.make import SIZE_TARGETS, build_canonical, resolution_for

F64 = NDArray[np.float64]
UP = np.array([0.0, 1.0, 0.0])
# A short line with four bilabials (key poses come from these labels, not from the sound).
PHONES = [(0.0, 0.25, "SIL"), (0.25, 0.34, "M"), (0.34, 0.52, "AA"), (0.52, 0.6, "P"),
          (0.6, 0.8, "IY"), (0.8, 0.88, "B"), (0.88, 1.1, "AE"), (1.1, 1.2, "M"),
          (1.2, 1.35, "AH"), (1.35, 1.7, "SIL")]

@cache
def _demo() -> tuple[F64, Any, NDArray[np.int64], dict[str, NDArray[np.int64]]]:
    return build_canonical(resolution_for(SIZE_TARGETS[0]))


def demo_with_gap(target_mm: float) -> tuple[F64, Any, NDArray[np.int64]]:
    """The demo head (canonical mm) with its lower lip and chin moved so that the three inner
    pairs rest target_mm apart (0: sealed), the change fading to the corners and down the chin.
    Made independently of lip_contact's fields so the test does not check them against
    themselves."""
    v, faces, lm, parts = _demo()
    v = v.copy()
    gaps = (v[lm[list(UPPER_INNER)]] - v[lm[list(LOWER_INNER)]]) @ UP
    xs = [v[lm[CORNERS[0]], 0], *((v[lm[list(UPPER_INNER)], 0] + v[lm[list(LOWER_INNER)], 0]) / 2),
          v[lm[CORNERS[1]], 0]]
    order = np.argsort(xs)
    change = np.array([0.0, *(target_mm - gaps), 0.0])
    lower = parts["lip_lower"]
    bottom = float(v[lower, 1].min())
    skin = parts["skin"]
    chin = skin[(v[skin, 1] < bottom) & (v[skin, 1] > bottom - 25.0)
                & (v[skin, 0] > min(xs)) & (v[skin, 0] < max(xs)) & (v[skin, 2] > -40.0)]
    for ids, fall in ((lower, np.ones(len(lower))), (chin, 1.0 - (bottom - v[chin, 1]) / 25.0)):
        v[ids, 1] -= np.interp(v[ids, 0], np.array(xs)[order], change[order]) * fall
    return v, faces, lm
