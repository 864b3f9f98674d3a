"""Random ICT identities whose lips meet at rest like the mean face.

ICT identity modes also move the lips apart or into each other (rest gap from about -2 to
+4 mm over N(0,1) weights); the mouth targets assume the mean face's near-closed rest, so the
component of the identity weights that changes the inner-lip gap is projected out.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ..ict import ICTFace

N_IDENTITY = 100


def lip_gap_rows(ict: ICTFace) -> NDArray[np.float64]:
    """(3, 100): how each identity weight changes landmark 62 minus landmark 66."""
    lm = ict.landmarks68
    d = ict.identity_deltas[:, lm[62]] - ict.identity_deltas[:, lm[66]]
    return np.asarray(d.T, dtype=np.float64)


def sample_identity(ict: ICTFace, rng: np.random.Generator, scale: float = 1.0) -> NDArray[
    np.float32
]:
    w = np.clip(rng.standard_normal(N_IDENTITY) * scale, -2.5, 2.5)
    h = lip_gap_rows(ict)
    w = w - h.T @ np.linalg.lstsq(h @ h.T, h @ w, rcond=None)[0]
    return np.asarray(w, dtype=np.float32)
