"""Random ICT expression weights: mouth/jaw-focused lower face, independent upper face.

Upper (brows, eyes) and lower (jaw, mouth, cheeks, nose) weights are drawn independently so that
no correlation between them can be learnt (MeshTalk's cross-modality point); a share of samples
has only one of the two.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

PAIRED_LOWER = (
    "mouthSmile", "mouthStretch", "mouthPress", "mouthLowerDown", "mouthUpperUp",
    "mouthDimple", "mouthFrown", "cheekPuff", "cheekSquint", "noseSneer",
)
SINGLE_LOWER = (
    "mouthFunnel", "mouthPucker", "mouthRollLower", "mouthRollUpper", "mouthShrugLower",
    "mouthShrugUpper", "jawForward",
)
EXCLUSIVE_LOWER = (("jawLeft", "jawRight"), ("mouthLeft", "mouthRight"))
PAIRED_UPPER = (
    "eyeBlink", "browDown", "browInnerUp", "browOuterUp", "eyeSquint", "eyeWide",
    "eyeLookDown", "eyeLookUp", "eyeLookIn", "eyeLookOut",
)
PAIR_PROB = {"eyeBlink": 0.3, "cheekPuff": 0.05, "cheekSquint": 0.08, "noseSneer": 0.05}


class ExpressionSampler:
    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        self.index = {n: i for i, n in enumerate(self.names)}

    def _set(self, w: NDArray[np.float64], name: str, value: float) -> None:
        """Shapes a face model lacks are skipped (the synthetic face has only a few)."""
        if name in self.index:
            w[self.index[name]] = value

    def _pair(self, w: NDArray[np.float64], base: str, rng: np.random.Generator) -> None:
        a = rng.uniform(0.0, 1.0)
        b = a if rng.uniform() < 0.6 else rng.uniform(0.0, 1.0)
        self._set(w, base + "_L", a)
        self._set(w, base + "_R", b)

    def lower(self, rng: np.random.Generator) -> NDArray[np.float64]:
        w = np.zeros(len(self.names))
        jaw = rng.uniform(0.0, 1.0) ** 1.3 if rng.uniform() < 0.75 else 0.0
        self._set(w, "jawOpen", jaw)
        if jaw > 0 and rng.uniform() < 0.3:
            self._set(w, "mouthClose", rng.uniform(0.0, jaw))
        for base in PAIRED_LOWER:
            if rng.uniform() < PAIR_PROB.get(base, 0.18):
                self._pair(w, base, rng)
        for name in SINGLE_LOWER:
            if rng.uniform() < 0.15:
                self._set(w, name, rng.uniform(0.0, 1.0))
        for pair in EXCLUSIVE_LOWER:
            if rng.uniform() < 0.08:
                self._set(w, pair[rng.integers(2)], rng.uniform(0.0, 0.6))
        return w

    def upper(self, rng: np.random.Generator) -> NDArray[np.float64]:
        w = np.zeros(len(self.names))
        for base in PAIRED_UPPER:
            if rng.uniform() < PAIR_PROB.get(base, 0.12):
                self._pair(w, base, rng)
        return w

    def batch(
        self, rng: np.random.Generator, n: int
    ) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """(n, E) upper and (n, E) lower weights; ~15% have no upper, ~15% no lower part."""
        up = np.stack([self.upper(rng) for _ in range(n)])
        lo = np.stack([self.lower(rng) for _ in range(n)])
        mode = rng.uniform(size=n)
        up[mode < 0.15] = 0.0
        lo[(mode >= 0.15) & (mode < 0.3)] = 0.0
        return up.astype(np.float32), lo.astype(np.float32)
