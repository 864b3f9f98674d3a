"""The non-learned baseline: RBF interpolation of the 68 landmark displacements over the mesh.

Interpolation is linear in the landmark displacements, so it is a (V, 68) matrix per mesh and has
the same factorised form as S2D (68 unit landmark motions as the basis).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.interpolate import RBFInterpolator


@dataclass(frozen=True)
class RBFSettings:
    kernel: str = "thin_plate_spline"
    epsilon: float = 1.0
    degree: int = 1


# Tried on training identities by `eval-s2d` (the best one is used for the reported baseline).
CANDIDATES = (
    RBFSettings("thin_plate_spline", 1.0, 1),
    RBFSettings("gaussian", 1.0 / 15.0, 0),
    RBFSettings("gaussian", 1.0 / 25.0, 0),
    RBFSettings("gaussian", 1.0 / 40.0, 0),
    RBFSettings("inverse_multiquadric", 1.0 / 20.0, 0),
)


def rbf_matrix(
    vertices: NDArray[np.floating[Any]], landmarks: NDArray[np.floating[Any]], settings: RBFSettings
) -> NDArray[np.float32]:
    """(V, 68) weights W with dense[v] = sum_l W[v, l] * landmark_motion[l].

    Landmarks at the same position (snapped to one vertex) would make the system singular; they
    are merged and interpolate the mean of their motions.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    points, group = np.unique(np.round(lm, 6), axis=0, return_inverse=True)
    group = group.reshape(-1)
    share = np.zeros((len(points), len(lm)))
    share[group, np.arange(len(lm))] = 1.0
    share /= share.sum(axis=1, keepdims=True)
    interp = RBFInterpolator(
        points, share, kernel=settings.kernel, epsilon=settings.epsilon, degree=settings.degree,
    )
    return np.asarray(interp(np.asarray(vertices, dtype=np.float64)), dtype=np.float32)


def rbf_motion(
    matrix: NDArray[np.floating[Any]], lm_disp: NDArray[np.floating[Any]]
) -> NDArray[np.float32]:
    """(V, 68) matrix and (T, 68, 3) landmark motion -> (T, V, 3) dense motion."""
    out: NDArray[np.float32] = np.einsum("vl,tlc->tvc", matrix, lm_disp).astype(np.float32)
    return out
