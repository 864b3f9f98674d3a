"""A tiny synthetic face (no ../shared needed): a curved sheet with a mouth slit and 5 motions.

Good enough to exercise every S2D code path in seconds: the slit makes a real lip seam (upper and
lower lip vertices share positions but are only joined at the mouth corners), the jaw moves only
the lower part, smiles pull the corners, brows lift the forehead.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.interpolate import RBFInterpolator

from ...core.head.landmarks import canonical_neutral
from .data import FaceVariant, vertex_labels

SPACING_MM = 5.0
NAMES = ("jawOpen", "mouthSmile_L", "mouthSmile_R", "browInnerUp_L", "browInnerUp_R")


def _bump(p: NDArray[np.float64], centre: NDArray[np.float64], sigma: float) -> NDArray[np.float64]:
    out: NDArray[np.float64] = np.exp(-np.sum((p - centre) ** 2, axis=1) / (2.0 * sigma**2))
    return out


def synthetic_face(spacing: float = SPACING_MM) -> FaceVariant:
    """The synthetic face in canonical mm with its 5 expression deltas (ICT-style names)."""
    ref = canonical_neutral().astype(np.float64)
    slit_y = float((ref[62, 1] + ref[66, 1]) / 2.0)
    half_width = float(abs(ref[54, 0] - ref[48, 0]) / 2.0)
    xs = np.arange(-80.0, 80.0 + 1e-6, spacing)
    n_below = int(np.ceil((slit_y + 125.0) / spacing))
    n_above = int(np.ceil((35.0 - slit_y) / spacing))
    ys = slit_y + spacing * np.arange(-n_below, n_above + 1)
    row_slit = n_below
    gx, gy = np.meshgrid(xs, ys)  # (rows, cols)
    depth = RBFInterpolator(ref[:, :2], ref[:, 2], kernel="thin_plate_spline", smoothing=10.0)
    flat = np.stack([gx.ravel(), gy.ravel()], axis=1)
    verts = np.concatenate([flat, depth(flat)[:, None]], axis=1)
    cols = len(xs)
    index = np.arange(len(verts)).reshape(len(ys), cols)
    # Lower-lip copies of the slit row, strictly between the mouth corners.
    slit_cols = np.flatnonzero(np.abs(xs) < half_width - 1e-6)
    lower_index = index.copy()
    copies = len(verts) + np.arange(len(slit_cols))
    lower_index[row_slit, slit_cols] = copies
    verts = np.concatenate([verts, verts[index[row_slit, slit_cols]]])
    quads = []
    for r in range(len(ys) - 1):
        use = lower_index if r + 1 == row_slit else index
        for c in range(cols - 1):
            quads.append([use[r, c], use[r, c + 1], use[r + 1, c + 1], use[r + 1, c]])
    faces = np.asarray(quads, dtype=np.int64)
    lower = np.zeros(len(verts), dtype=bool)
    lower[index[:row_slit].ravel()] = True
    lower[copies] = True
    # Landmarks: nearest vertex in the image plane; inner lower lip on the lower copies.
    lm_idx = np.empty(68, dtype=np.int64)
    for i, p in enumerate(ref):
        d = np.sum((verts[:, :2] - p[:2]) ** 2, axis=1)
        if i in (65, 66, 67):
            d[~lower] = np.inf
        elif i in (60, 61, 62, 63, 64):
            d[copies] = np.inf
        lm_idx[i] = int(np.argmin(d))
    lm = verts[lm_idx]
    deltas = np.zeros((len(NAMES), len(verts), 3))
    jaw_weight = np.where(lower, 1.0, 0.0) * np.exp(-((verts[:, 0] / 70.0) ** 2))
    deltas[0] = jaw_weight[:, None] * np.array([0.0, -9.0, -3.0])
    for k, (corner, sign) in enumerate(((lm[54], 1.0), (lm[48], -1.0))):
        deltas[1 + k] = _bump(verts, corner, 12.0)[:, None] * np.array([3.0 * sign, 3.0, -1.0])
    for k, brow in enumerate((lm[22:27].mean(0), lm[17:22].mean(0))):
        deltas[3 + k] = _bump(verts, brow, 15.0)[:, None] * np.array([0.0, 5.0, 0.0])
    everywhere = np.ones(len(verts), dtype=bool)
    v32 = verts.astype(np.float32)
    d32 = deltas.astype(np.float32)
    return FaceVariant(
        "synthetic", v32, faces, v32[lm_idx], lm_idx, d32, d32[:, lm_idx], 1.0,
        np.eye(3, dtype=np.float32), vertex_labels(v32, faces, lm_idx, everywhere, everywhere),
    )
