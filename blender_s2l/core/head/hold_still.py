"""What a bake leaves still: the neck and below, and whatever the user marks.

S2D moves every vertex a little, and on a bust or a head joined to a body the shoulders and the
neck would slide against whatever they are attached to (measured: 2.4 mm at the shoulders of a
scanned bust, 0.9 mm on the ICT neck). Speech moves the jaw and the skin under it, not the neck:
below the chin the motion fades out and is zero a little above the collarbones, measured in
the head's own proportions (the eyes-to-chin distance), so it works in any unit and on any
topology. The user can hold any other part still with a painted weight (1: still, 0: free).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import MeshError
from .landmarks import EYES

CHIN = 8
UP = np.array([0.0, 1.0, 0.0])  # canonical +Y
# Below the chin, in eyes-to-chin distances: the jaw's underside moves fully down to FREE, and
# nothing moves from STILL down.
FREE_BELOW_CHIN = 0.2
STILL_BELOW_CHIN = 0.8


def motion_weights(
    vertices_canon: NDArray[np.floating[Any]],
    landmarks_canon: NDArray[np.floating[Any]],
    hold: NDArray[np.floating[Any]] | None = None,
) -> NDArray[np.float32]:
    """(V,) share of the motion each vertex keeps, in [0, 1]: 0 from the neck down and where
    hold (V,) says 1."""
    v = np.asarray(vertices_canon, dtype=np.float64)
    lm = np.asarray(landmarks_canon, dtype=np.float64)
    chin = float(lm[CHIN] @ UP)
    span = max(float(lm[EYES].mean(axis=0) @ UP) - chin, 1e-6)
    below = (chin - v @ UP) / span
    t = np.clip((below - FREE_BELOW_CHIN) / (STILL_BELOW_CHIN - FREE_BELOW_CHIN), 0.0, 1.0)
    weights = 1.0 - t * t * (3.0 - 2.0 * t)
    if hold is not None:
        weights = weights * (1.0 - check_hold(hold, len(v)))
    out: NDArray[np.float32] = weights.astype(np.float32)
    return out


def check_hold(hold: NDArray[np.floating[Any]], n_vertices: int) -> NDArray[np.float64]:
    """The user's hold-still weights as (V,) floats in [0, 1], or one sentence why not."""
    h = np.asarray(hold)
    if h.shape != (n_vertices,):
        raise MeshError(f"The hold-still weights must have one value per vertex ({n_vertices}); "
                        f"got shape {h.shape}.")
    if not np.issubdtype(h.dtype, np.number) or not np.all(np.isfinite(h)):
        raise MeshError("The hold-still weights contain NaN, infinite or non-numbers.")
    out: NDArray[np.float64] = np.clip(h.astype(np.float64), 0.0, 1.0)
    return out
