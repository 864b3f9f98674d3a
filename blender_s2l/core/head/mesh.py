"""Meshes as the core sees them: polygon soup checks, triangles and edges, closest points.

Faces come in two shapes: a list of index sequences (n-gons) or an (F, K) int array padded with
-1; vectorised work uses the padded form. Closest points: only a handful of query points
(landmarks) are ever projected, so a KD-tree over vertices picks candidate triangles (those
around the nearest vertices) and the exact point-triangle distance decides among them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import MeshError

FacesLike = NDArray[np.integer[Any]] | Sequence[Sequence[int]]


BAD_FACES = "Faces must be a list of polygons of whole vertex indices or an (F, K) index array."
OUTSIDE_MESH = "A face refers to a vertex index outside the mesh."
FEW_CORNERS = "A face has fewer than three corners."


def as_polygons(faces: FacesLike) -> list[NDArray[np.int64]]:
    """Normalise faces to a list of int arrays, dropping -1 padding."""
    if isinstance(faces, np.ndarray):
        if faces.ndim != 2 or not whole_numbers(faces):
            raise MeshError(BAD_FACES)
        return [row[row >= 0].astype(np.int64) for row in faces]
    if faces is None or isinstance(faces, str | bytes):
        raise MeshError(BAD_FACES)
    try:  # a caller's odd input (None, strings, floats beyond int64) is a sentence, not a trace
        return [np.asarray(f, dtype=np.int64).reshape(-1) for f in faces]
    except (TypeError, ValueError, OverflowError):
        raise MeshError(BAD_FACES) from None


def whole_numbers(a: NDArray[Any]) -> bool:
    """Integers, or floats that all are whole (an index array read back as float)."""
    if np.issubdtype(a.dtype, np.integer):
        return True
    if not np.issubdtype(a.dtype, np.floating):
        return False
    return bool(np.all(np.isfinite(a)) and np.all(a == np.round(a))
                and (a.size == 0 or np.abs(a).max() < 2**62))


def validate_mesh(
    vertices: NDArray[np.floating[Any]], faces: FacesLike, min_vertices: int = 68
) -> None:
    """Reject meshes no animation can be computed for, with one sentence each."""
    v = np.asarray(vertices)
    if v.ndim != 2 or v.shape[1] != 3:
        raise MeshError(f"Vertices must have shape (V, 3); got {v.shape}.")
    if v.shape[0] == 0:
        raise MeshError("The mesh has no vertices.")
    if v.shape[0] < min_vertices:
        raise MeshError(
            f"The mesh has {v.shape[0]} vertices; a face needs at least {min_vertices}."
        )
    if not np.all(np.isfinite(v)):
        raise MeshError("The mesh has vertices with NaN or infinite coordinates.")
    if isinstance(faces, np.ndarray):
        # A padded array at once, not row by row (a bake's faces: the row loop cost a tenth
        # of a second on 11k faces): negative entries are padding, as as_polygons reads them.
        if faces.ndim != 2 or not whole_numbers(faces):
            raise MeshError(BAD_FACES)
        if faces.size and faces.max() >= v.shape[0]:
            raise MeshError(OUTSIDE_MESH)
        pad = faces < 0
        # Padding only ends a row (a -1 inside one is an index from the end, not padding).
        if pad.shape[1] > 1 and np.any(pad[:, :-1] & ~pad[:, 1:]):
            raise MeshError(OUTSIDE_MESH)
        if faces.size and np.any((~pad).sum(axis=1) < 3):
            raise MeshError(FEW_CORNERS)
        return
    for poly in as_polygons(faces):
        if len(poly) and (poly.min() < 0 or poly.max() >= v.shape[0]):
            raise MeshError(OUTSIDE_MESH)
        if len(poly) < 3:
            raise MeshError(FEW_CORNERS)


F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


def padded_faces(faces: FacesLike) -> I64:
    """Faces as an (F, K) int array padded with -1 (vectorised work needs a rectangle)."""
    if isinstance(faces, np.ndarray):
        if faces.ndim != 2 or faces.shape[1] < 3 or not whole_numbers(faces):
            raise MeshError(BAD_FACES)
        return faces.astype(np.int64)
    if faces is None or isinstance(faces, str | bytes):
        raise MeshError(BAD_FACES)
    try:
        polys = list(faces)
        if not polys:
            return np.zeros((0, 3), dtype=np.int64)
        width = max(len(p) for p in polys)
        out = np.full((len(polys), max(width, 3)), -1, dtype=np.int64)
        for i, p in enumerate(polys):
            out[i, : len(p)] = p
    except (TypeError, ValueError, OverflowError):
        raise MeshError(BAD_FACES) from None
    return out


def fan_triangles(faces: I64) -> I64:
    """Fan triangulation of padded polygons: (a, b, c), (a, c, d), ..."""
    parts = []
    for k in range(1, faces.shape[1] - 1):
        keep = (faces[:, k + 1] >= 0) & (faces[:, k] >= 0)
        parts.append(np.stack([faces[keep, 0], faces[keep, k], faces[keep, k + 1]], axis=1))
    if not parts:
        return np.zeros((0, 3), dtype=np.int64)
    return np.concatenate(parts)


def polygon_edges(faces: I64) -> I64:
    """Every directed polygon edge (a, b), padded corners skipped; duplicates kept."""
    k = faces.shape[1]
    counts = (faces >= 0).sum(axis=1)
    nxt = np.where(
        np.arange(k)[None, :] + 1 < counts[:, None], np.roll(faces, -1, axis=1), faces[:, :1]
    )
    keep = np.arange(k)[None, :] < counts[:, None]
    return np.stack([faces[keep], nxt[keep]], axis=1)


def components(n_vertices: int, triangles: I64) -> I64:
    """Connected-component label of every vertex (separate parts such as eyeballs differ)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    e = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]]])
    graph = coo_matrix((np.ones(len(e), dtype=np.int8), (e[:, 0], e[:, 1])),
                       shape=(n_vertices, n_vertices))
    _, labels = connected_components(graph, directed=False)
    out: I64 = labels.astype(np.int64)
    return out


def closest_on_triangles(p: F64, a: F64, b: F64, c: F64) -> F64:
    """Closest point to p on triangle (a, b, c), row by row (Voronoi-region test)."""
    ab, ac, ap = b - a, c - a, p - a
    bp, cp = p - b, p - c

    def dot(x: F64, y: F64) -> F64:
        out: F64 = np.einsum("ij,ij->i", x, y)
        return out

    d1, d2 = dot(ab, ap), dot(ac, ap)
    d3, d4 = dot(ab, bp), dot(ac, bp)
    d5, d6 = dot(ab, cp), dot(ac, cp)
    vc, vb, va = d1 * d4 - d3 * d2, d5 * d2 - d1 * d6, d3 * d6 - d5 * d4
    tiny = 1e-30
    with np.errstate(divide="ignore", invalid="ignore"):
        t_ab = d1 / np.where(np.abs(d1 - d3) > tiny, d1 - d3, 1.0)
        t_ac = d2 / np.where(np.abs(d2 - d6) > tiny, d2 - d6, 1.0)
        e43, e56 = d4 - d3, d5 - d6
        t_bc = e43 / np.where(np.abs(e43 + e56) > tiny, e43 + e56, 1.0)
        den = va + vb + vc
        den = np.where(np.abs(den) > tiny, den, 1.0)
    inside = a + ab * (vb / den)[:, None] + ac * (vc / den)[:, None]
    conds = [
        (d1 <= 0) & (d2 <= 0),
        (d3 >= 0) & (d4 <= d3),
        (vc <= 0) & (d1 >= 0) & (d3 <= 0),
        (d6 >= 0) & (d5 <= d6),
        (vb <= 0) & (d2 >= 0) & (d6 <= 0),
        (va <= 0) & (e43 >= 0) & (e56 >= 0),
    ]
    picks = [a, b, a + ab * t_ab[:, None], c, a + ac * t_ac[:, None], b + (c - b) * t_bc[:, None]]
    out = inside.copy()
    done = np.zeros(len(p), dtype=bool)
    for cond, pick in zip(conds, picks, strict=True):
        use = cond & ~done
        out[use] = pick[use]
        done |= use
    return out


class SurfaceIndex:
    """Closest-point queries restricted to a subset of a mesh's triangles."""

    def __init__(self, vertices: NDArray[np.floating[Any]], triangles: I64, k: int = 24) -> None:
        from scipy.spatial import cKDTree

        self.vertices = np.asarray(vertices, dtype=np.float64)
        self.triangles = triangles
        used = np.unique(triangles)
        self._used = used
        self._tree = cKDTree(self.vertices[used])
        self._k = int(min(k, len(used)))
        # vertex -> incident triangles (CSR layout)
        flat = triangles.reshape(-1)
        order = np.argsort(flat, kind="stable")
        self._tri_of = order // 3
        self._start = np.searchsorted(flat[order], np.arange(len(self.vertices) + 1))

    def closest(self, points: NDArray[np.floating[Any]]) -> tuple[F64, I64]:
        """Closest surface point and its triangle for each query point."""
        q = np.asarray(points, dtype=np.float64)
        _, near = self._tree.query(q, k=self._k)
        near = self._used[np.asarray(near).reshape(len(q), -1)]
        out = np.empty_like(q)
        tri_ids = np.empty(len(q), dtype=np.int64)
        for i, vs in enumerate(near):
            cand = np.unique(np.concatenate(
                [self._tri_of[self._start[v]: self._start[v + 1]] for v in vs]))
            t = self.triangles[cand]
            pts = closest_on_triangles(
                np.repeat(q[i : i + 1], len(cand), axis=0),
                self.vertices[t[:, 0]], self.vertices[t[:, 1]], self.vertices[t[:, 2]],
            )
            best = int(np.argmin(np.sum((pts - q[i]) ** 2, axis=1)))
            out[i], tri_ids[i] = pts[best], cand[best]
        return out, tri_ids


def closest_on_polyline(points: F64, line: F64) -> F64:
    """Closest point on an open polyline (L, 3) for each query point (N, 3)."""
    a, b = line[:-1], line[1:]
    ab = b - a
    ll = np.maximum(np.sum(ab * ab, axis=1), 1e-30)
    t = np.clip(np.einsum("nlk,lk->nl", points[:, None, :] - a[None], ab) / ll, 0.0, 1.0)
    cand = a[None] + t[..., None] * ab[None]
    d = np.sum((cand - points[:, None, :]) ** 2, axis=-1)
    out: F64 = cand[np.arange(len(points)), np.argmin(d, axis=1)]
    return out


def triangulate(faces: FacesLike) -> I64:
    """Fan triangles of any faces (fine for the convex-ish quads and n-gons of head meshes)."""
    return fan_triangles(padded_faces(faces))


def unique_edges(faces: FacesLike) -> I64:
    """Undirected polygon edges (not triangulation diagonals), shape (E, 2) with i < j."""
    e = polygon_edges(padded_faces(faces))
    if len(e) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    edges: I64 = np.unique(np.sort(e, axis=1), axis=0)
    return edges
