"""The 68-point iBUG scheme, the canonical face space and similarity (Umeyama) fits.

Canonical face space: millimetres, +X subject's left, +Y up, +Z out of the face, origin at
landmark 27 (nose bridge), scaled like the ICT FaceKit mean face. Every model works in it, so a
user's mesh scale and orientation never matter.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import LandmarkError

N_LANDMARKS = 68
JAW = np.arange(0, 17)
BROWS = np.arange(17, 27)
NOSE = np.arange(27, 36)
EYES = np.arange(36, 48)
OUTER_LIPS = np.arange(48, 60)
INNER_LIPS = np.arange(60, 68)
MOUTH = np.arange(48, 68)
# Speech-driven part (lower face); brows and eyes are the upper face (MeshTalk's split).
LOWER_FACE = np.concatenate([JAW, MOUTH])
UPPER_FACE = np.concatenate([BROWS, EYES])
UPPER_LIP = np.array([48, 49, 50, 51, 52, 53, 54, 60, 61, 62, 63, 64])
LOWER_LIP = np.array([55, 56, 57, 58, 59, 65, 66, 67])
NOSE_BRIDGE = 27
# Left/right mirror partner of every landmark (iBUG order), used to detect mirrored input.
MIRROR = np.array(
    [16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0,
     26, 25, 24, 23, 22, 21, 20, 19, 18, 17,
     27, 28, 29, 30, 35, 34, 33, 32, 31,
     45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40,
     54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55,
     64, 63, 62, 61, 60, 67, 66, 65]
)

Array = NDArray[np.float64]
_CANONICAL_PATH = Path(__file__).parents[1] / "weights" / "canonical_landmarks.npy"


@cache
def canonical_neutral() -> NDArray[np.float32]:
    """Neutral 68 landmarks of the canonical face (mm), built by `training canonical`."""
    if not _CANONICAL_PATH.exists():
        raise LandmarkError(f"The canonical landmark template is missing: {_CANONICAL_PATH}.")
    lm = np.load(_CANONICAL_PATH, allow_pickle=False).astype(np.float32)
    if lm.shape != (N_LANDMARKS, 3):
        raise LandmarkError("The canonical landmark template is corrupt.")
    lm.setflags(write=False)
    out: NDArray[np.float32] = lm
    return out


@dataclass(frozen=True)
class Similarity:
    """x_canonical = scale * R @ x_mesh + t (R proper rotation, scale > 0)."""

    scale: float
    rotation: NDArray[np.float64]
    translation: NDArray[np.float64]

    def apply(self, points: NDArray[np.floating[Any]]) -> NDArray[np.float32]:
        p = np.asarray(points, dtype=np.float64)
        return (self.scale * p @ self.rotation.T + self.translation).astype(np.float32)

    def apply_vectors(self, vectors: NDArray[np.floating[Any]]) -> NDArray[np.float32]:
        """Displacements ignore translation. float32 input stays float32 (a bake's basis is
        millions of vectors, and a float64 copy would double this step's memory and time)."""
        v = np.asarray(vectors)
        m = self.scale * self.rotation.T
        if v.dtype == np.float32:
            return np.asarray(v @ m.astype(np.float32), dtype=np.float32)
        return (np.asarray(v, dtype=np.float64) @ m).astype(np.float32)

    def inverse(self) -> Similarity:
        r_inv = self.rotation.T
        s_inv = 1.0 / self.scale
        return Similarity(s_inv, r_inv, -s_inv * (r_inv @ self.translation))


def fit_similarity(
    source: NDArray[np.floating[Any]],
    target: NDArray[np.floating[Any]],
    weights: NDArray[np.floating[Any]] | None = None,
) -> Similarity:
    """Umeyama least-squares similarity mapping source onto target.

    Reflections are rejected rather than silently fixed: a mirrored landmark set means the
    user swapped left and right, and the fit would animate the wrong side.
    """
    src = np.asarray(source, dtype=np.float64)
    dst = np.asarray(target, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 3:
        raise LandmarkError(f"Point sets must both be (N, 3); got {src.shape} and {dst.shape}.")
    if not (np.all(np.isfinite(src)) and np.all(np.isfinite(dst))):
        raise LandmarkError("Landmarks contain NaN or infinite values.")
    n = src.shape[0]
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    mu_s = w @ src
    mu_d = w @ dst
    xs = src - mu_s
    xd = dst - mu_d
    var_s = float(w @ np.sum(xs * xs, axis=1))
    cov = (xd * w[:, None]).T @ xs
    u, sing, vt = np.linalg.svd(cov)
    if var_s < 1e-12 or sing[1] < 1e-9 * max(sing[0], 1e-30):
        raise LandmarkError("Landmarks are degenerate (all in one point or on one line).")
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        raise LandmarkError(
            "Landmarks are mirrored relative to the canonical face (left and right swapped)."
        )
    rot = u @ vt
    scale = float(sing.sum() / var_s)
    trans = mu_d - scale * rot @ mu_s
    return Similarity(scale, rot, trans)


def to_canonical(landmarks: NDArray[np.floating[Any]]) -> Similarity:
    """Similarity taking a mesh's 68 landmarks into the canonical face frame.

    Rigid points (nose, eye corners, jaw) drive the fit so an open mouth does not tilt the head.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (N_LANDMARKS, 3):
        raise LandmarkError(f"Expected 68 landmarks of shape (68, 3); got {lm.shape}.")
    weights = np.ones(N_LANDMARKS)
    weights[MOUTH] = 0.25
    return fit_similarity(lm, canonical_neutral(), weights)
