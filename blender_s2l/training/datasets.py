"""Helpers shared by datasets of captured meshes (VOCASET and the like) to make S2L targets.

A captured dataset gives whole-mesh frames at its own frame rate; S2L learns 68 landmark
displacements on the 100 Hz feature grid. Landmarks are a fixed embedding on the topology
(vertex triples with barycentric weights, as FLAME ships them), so every frame and every
identity of one topology shares them, and the track is interpolated at the exact feature times.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..core.errors import LandmarkError, S2LError
from ..core.head.landmarks import N_LANDMARKS
from ..core.head.mesh import FacesLike, SurfaceIndex, triangulate

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


@dataclass(frozen=True)
class LandmarkEmbedding:
    """68 landmarks as barycentric combinations of vertex triples (a vertex: weights 1, 0, 0)."""

    vertex_ids: I64  # (68, 3)
    weights: F64  # (68, 3), rows sum to 1

    @classmethod
    def from_indices(
        cls, indices: Sequence[int] | NDArray[Any], n_vertices: int
    ) -> LandmarkEmbedding:
        """One vertex per landmark; raises LandmarkError on a wrong count or index."""
        idx = np.asarray(indices)
        if idx.shape != (N_LANDMARKS,) or not np.issubdtype(idx.dtype, np.integer):
            raise LandmarkError(f"Landmarks must be 68 vertex indices; got shape {idx.shape}.")
        if idx.min() < 0 or idx.max() >= n_vertices:
            raise LandmarkError(
                f"A landmark vertex index is outside the mesh (0-{n_vertices - 1})."
            )
        ids = np.repeat(idx.astype(np.int64)[:, None], 3, axis=1)
        weights = np.zeros((N_LANDMARKS, 3))
        weights[:, 0] = 1.0
        return cls(ids, weights)

    @classmethod
    def on_surface(
        cls, vertices: NDArray[np.floating[Any]], faces: FacesLike, points: NDArray[Any]
    ) -> LandmarkEmbedding:
        """Embed 68 points (e.g. from fit_landmarks) in the closest triangles of the mesh."""
        v = np.asarray(vertices, dtype=np.float64)
        tris = triangulate(faces)
        if len(tris) == 0:
            raise S2LError("The faces given hold no triangle to embed landmarks in.")
        if tris.min() < 0 or tris.max() >= len(v):
            raise S2LError(f"A face refers to a vertex outside the mesh (0-{len(v) - 1}).")
        closest, tri_ids = SurfaceIndex(v, tris).closest(np.asarray(points, dtype=np.float64))
        ids = tris[tri_ids]
        return cls(ids, _barycentric(closest, v[ids[:, 0]], v[ids[:, 1]], v[ids[:, 2]]))

    def apply(self, vertices: NDArray[np.floating[Any]]) -> NDArray[np.float32]:
        """(..., V, 3) vertices -> (..., 68, 3) landmark positions."""
        v = np.asarray(vertices)
        out = np.einsum("...kjc,kj->...kc", v[..., self.vertex_ids, :], self.weights)
        return np.asarray(out, dtype=np.float32)


def _barycentric(p: F64, a: F64, b: F64, c: F64) -> F64:
    """Barycentric weights of points lying on triangles; degenerate triangles use vertex a."""
    e0, e1, e2 = b - a, c - a, p - a
    d00, d01, d11 = (e0 * e0).sum(1), (e0 * e1).sum(1), (e1 * e1).sum(1)
    d20, d21 = (e2 * e0).sum(1), (e2 * e1).sum(1)
    den = d00 * d11 - d01 * d01
    ok = den > 1e-12 * np.maximum(d00 * d11, 1e-30)
    safe = np.where(ok, den, 1.0)
    wb = np.where(ok, (d11 * d20 - d01 * d21) / safe, 0.0)
    wc = np.where(ok, (d00 * d21 - d01 * d20) / safe, 0.0)
    w = np.clip(np.stack([1.0 - wb - wc, wb, wc], axis=1), 0.0, 1.0)
    out: F64 = w / w.sum(axis=1, keepdims=True)
    return out


def resample_track(
    track: NDArray[np.floating[Any]], times: NDArray[np.floating[Any]], rate: float
) -> NDArray[np.float32]:
    """Linear interpolation of a (T, ...) track at times k / rate from 0 to its last time.

    Times are the real sample times (they may start late or skip frames); before the first
    sample the first value is held.
    """
    x = np.asarray(track, dtype=np.float64)
    t = np.asarray(times, dtype=np.float64)
    if len(t) != len(x) or len(t) == 0:
        raise S2LError(f"A track of {len(x)} frames needs as many times; got {len(t)}.")
    if len(t) > 1 and np.any(np.diff(t) <= 0):
        raise S2LError("Track times must be strictly increasing.")
    n = int(np.floor(t[-1] * rate + 1e-9)) + 1
    new_t = np.arange(n) / rate
    if len(t) == 1:
        return np.repeat(x, n, axis=0).astype(np.float32)
    i = np.clip(np.searchsorted(t, new_t, side="right") - 1, 0, len(t) - 2)
    w = np.clip((new_t - t[i]) / (t[i + 1] - t[i]), 0.0, 1.0)
    w = w.reshape((-1,) + (1,) * (x.ndim - 1))
    out: NDArray[np.float32] = ((1.0 - w) * x[i] + w * x[i + 1]).astype(np.float32)
    return out
