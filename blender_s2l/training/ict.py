"""The ICT FaceKit pack (../shared/data/ict_face) in canonical face space (mm, origin at lm 27).

Nothing from the pack is ever written into the repository; everything derived from it (weights,
the canonical template) is produced by project commands.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..core.errors import S2LError

CM_TO_MM = 10.0


def shared_data_dir() -> Path:
    """../shared/data beside the checkout, or $BLENDER_S2L_SHARED_DATA."""
    env = os.environ.get("BLENDER_S2L_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


def ict_path() -> Path:
    return shared_data_dir() / "ict_face" / "ict_face.npz"


@dataclass(frozen=True)
class ICTFace:
    """Linear ICT model in canonical mm: V = neutral + id_deltas.w_id + expr_deltas.w_ex."""

    neutral: NDArray[np.float32]  # (V, 3)
    identity_deltas: NDArray[np.float32]  # (100, V, 3)
    expression_deltas: NDArray[np.float32]  # (53, V, 3)
    expression_names: tuple[str, ...]
    faces: NDArray[np.int32]  # (F, 4), -1 pads triangles
    faces_tri: NDArray[np.int32]  # (F3, 3)
    landmarks68: NDArray[np.int32]  # (68,) vertex indices
    region_names: tuple[str, ...]
    region_ranges: NDArray[np.int32]  # (R, 2) half-open vertex ranges

    def expression_index(self, name: str) -> int:
        return self.expression_names.index(name)

    def identity(self, weights: NDArray[np.floating[Any]]) -> NDArray[np.float32]:
        """Neutral vertices of one identity (canonical mm)."""
        w = np.asarray(weights, dtype=np.float32)
        out = self.neutral + np.tensordot(w, self.identity_deltas[: len(w)], axes=1)
        return out.astype(np.float32)

    def expression_displacement(self, weights: NDArray[np.floating[Any]]) -> NDArray[np.float32]:
        """Dense displacement (..., V, 3) for expression weights (..., 53)."""
        w = np.asarray(weights, dtype=np.float32)
        return np.tensordot(w, self.expression_deltas, axes=1).astype(np.float32)

    def region(self, name: str) -> slice:
        start, stop = self.region_ranges[self.region_names.index(name)]
        return slice(int(start), int(stop))


@cache
def load_ict(path: str | None = None) -> ICTFace:
    p = Path(path) if path else ict_path()
    if not p.is_file():
        raise S2LError(f"The ICT FaceKit pack is not at {p}; training needs ../shared/data.")
    z = np.load(p, allow_pickle=False)
    scale = CM_TO_MM
    neutral = z["neutral"].astype(np.float32) * scale
    lm = z["landmarks68"].astype(np.int32)
    origin = neutral[lm[27]].copy()
    return ICTFace(
        neutral=(neutral - origin).astype(np.float32),
        identity_deltas=(z["identity_deltas"].astype(np.float32) * scale),
        expression_deltas=(z["expression_deltas"].astype(np.float32) * scale),
        expression_names=tuple(str(s) for s in z["expression_names"]),
        faces=z["faces_quads"].astype(np.int32),
        faces_tri=z["faces_tri"].astype(np.int32),
        landmarks68=lm,
        region_names=tuple(str(s) for s in z["region_names"]),
        region_ranges=z["region_ranges"].astype(np.int32),
    )
