"""Per-vertex features that let one S2D model drive any head topology.

A vertex is described by where it sits relative to the 68 landmarks, measured ALONG THE SURFACE
(Dijkstra over the polygon graph, polygon diagonals included so quads do not measure in Manhattan
steps). Surface distance is what separates the lips: the inner upper and lower lip are under a
millimetre apart in space but several centimetres apart on the surface, so a vertex of the upper
lip reads as "near 62, far from 66" and follows the upper lip. Parts not connected to the face
(eyeballs, teeth, lashes) have no surface path to the landmarks; they get straight-line distances
and a flag, so the model can keep them still or move them rigidly with the nearest face part.
Everything is invariant to vertex order and face type (tris, quads, n-gons).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from ..errors import LandmarkError, MeshError
from .landmarks import N_LANDMARKS
from .mesh import FacesLike, as_polygons, validate_mesh

# Surface distances beyond this are all "far" (mm); it also bounds Dijkstra's work.
DISTANCE_LIMIT_MM = 150.0
# Length scale of the near-field encoding: lips and eyelids are resolved at this scale (mm).
NEAR_SCALE_MM = 12.0
POSITION_SCALE_MM = 100.0
FEATURE_DIM = 3 + 1 + 2 * N_LANDMARKS
ON_FACE_COLUMN = 3  # 1 where the vertex is on the face part, 0 on separate parts


def on_face_mask(features: NDArray[np.floating[Any]]) -> NDArray[np.bool_]:
    """Which vertices `mesh_features` put on the face part (its 0/1 column)."""
    mask: NDArray[np.bool_] = np.asarray(features)[:, ON_FACE_COLUMN] > 0.5
    return mask


def polygons_by_size(faces: FacesLike) -> dict[int, NDArray[np.int64]]:
    """Polygons grouped by corner count, as (n_k, k) arrays (vectorised for padded arrays)."""
    groups: dict[int, list[NDArray[np.int64]]] = {}
    if isinstance(faces, np.ndarray) and faces.ndim == 2:
        arr = faces.astype(np.int64)
        valid = arr >= 0
        counts = valid.sum(axis=1)
        # -1 padding is expected at the end of a row; anything else goes the slow way.
        tidy = np.all(valid == (np.arange(arr.shape[1])[None, :] < counts[:, None]), axis=1)
        for k in np.unique(counts[tidy]):
            groups.setdefault(int(k), []).append(arr[tidy & (counts == k), : int(k)])
        rest: list[NDArray[np.int64]] = as_polygons(arr[~tidy])
    else:
        rest = as_polygons(faces)
    for poly in rest:
        groups.setdefault(len(poly), []).append(poly[None, :])
    return {k: np.concatenate(v) for k, v in groups.items() if k >= 2}


def fan_triangles(groups: dict[int, NDArray[np.int64]]) -> NDArray[np.int64]:
    tris = [
        np.stack([arr[:, 0], arr[:, i], arr[:, i + 1]], axis=1)
        for k, arr in groups.items()
        for i in range(1, k - 1)
    ]
    return np.concatenate(tris) if tris else np.zeros((0, 3), dtype=np.int64)


def _flip_edges(tri: NDArray[np.int64]) -> NDArray[np.int64]:
    """Pairs of vertices opposite each other across a triangulation edge.

    Polygon edges alone measure distance in a few fixed directions (on a regular triangulation
    up to 41% too long across the diagonals); the opposite-vertex pairs add the missing
    directions, so tris, quads and n-gons of the same surface give nearly the same distances.
    """
    if len(tri) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    edges = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]])
    opposite = np.concatenate([tri[:, 2], tri[:, 0], tri[:, 1]])
    key = np.sort(edges, axis=1)
    order = np.lexsort((key[:, 1], key[:, 0]))
    key, opposite = key[order], opposite[order]
    same = np.all(key[1:] == key[:-1], axis=1)
    return np.stack([opposite[:-1][same], opposite[1:][same]], axis=1)


def polygon_graph(vertices: NDArray[np.floating[Any]], faces: FacesLike) -> sp.csr_matrix:
    """Sparse distance graph: all corner pairs of each polygon plus opposite-vertex pairs."""
    v = np.asarray(vertices, dtype=np.float64)
    by_size = polygons_by_size(faces)
    parts = [_flip_edges(fan_triangles(by_size))]
    for k, arr in by_size.items():
        for a in range(k):
            for b in range(a + 1, k):
                parts.append(arr[:, [a, b]])
    n = v.shape[0]
    if sum(len(p) for p in parts) == 0:
        return sp.csr_matrix((n, n))
    pairs = np.concatenate(parts)
    lo, hi = pairs.min(axis=1), pairs.max(axis=1)
    key = np.unique(lo[lo != hi] * n + hi[lo != hi])
    e = np.stack([key // n, key % n], axis=1)
    w = np.linalg.norm(v[e[:, 0]] - v[e[:, 1]], axis=1)
    # Coincident vertices (split seams) still connect; a zero weight would drop the edge.
    w = np.maximum(w, 1e-6)
    g = sp.coo_matrix((w, (e[:, 0], e[:, 1])), shape=(n, n)).tocsr()
    return (g + g.T).tocsr()


def _nearest(points: NDArray[np.float64], candidates: NDArray[np.float64]) -> NDArray[np.int64]:
    """Index into candidates of the nearest one to each point (68 points: brute force is fine)."""
    out = np.empty(len(points), dtype=np.int64)
    for i, p in enumerate(points):
        out[i] = int(np.argmin(np.sum((candidates - p) ** 2, axis=1)))
    return out


def face_anchors(
    vertices: NDArray[np.float64],
    graph: sp.csr_matrix,
    landmarks: NDArray[np.float64],
    landmark_vertices: NDArray[np.integer[Any]] | None,
) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Landmark source vertices on the face surface and the mask of vertices connected to it.

    The face part is the connected component holding most landmarks; a landmark that lands on
    another part (an eye-corner point snapping to a tear-duct mesh) is re-snapped onto the face.
    """
    from scipy.sparse.csgraph import connected_components

    _, labels = connected_components(graph, directed=True, connection="weak")
    if landmark_vertices is None:
        anchors = _nearest(landmarks, vertices)
    else:
        anchors = np.asarray(landmark_vertices, dtype=np.int64).reshape(-1)
        if anchors.shape != (N_LANDMARKS,):
            raise LandmarkError(f"Expected 68 landmark vertex indices; got {anchors.shape[0]}.")
        if anchors.min() < 0 or anchors.max() >= len(vertices):
            raise LandmarkError("A landmark vertex index is outside the mesh.")
    face_label = int(np.bincount(labels[anchors]).argmax())
    on_face = labels == face_label
    off = labels[anchors] != face_label
    if off.any():
        face_idx = np.flatnonzero(on_face)
        anchors[off] = face_idx[_nearest(landmarks[off], vertices[face_idx])]
    return anchors, on_face


def landmark_distances(
    vertices: NDArray[np.floating[Any]],
    faces: FacesLike,
    landmarks: NDArray[np.floating[Any]],
    landmark_vertices: NDArray[np.integer[Any]] | None = None,
    graph: sp.csr_matrix | None = None,
) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """(V, 68) distances in mm (surface on the face part, straight elsewhere) and the face mask.
    graph: this mesh's `polygon_graph`, when the caller has it already (head_mesh.py)."""
    from scipy.sparse.csgraph import dijkstra

    v = np.asarray(vertices, dtype=np.float64)
    lm = np.asarray(landmarks, dtype=np.float64)
    if graph is None:
        graph = polygon_graph(v, faces)
    anchors, on_face = face_anchors(v, graph, lm, landmark_vertices)
    surf = dijkstra(graph, directed=True, indices=anchors, limit=DISTANCE_LIMIT_MM).T
    # A landmark a little off its vertex (fitted on the surface) starts its distance there.
    surf = surf + np.linalg.norm(v[anchors] - lm, axis=1)[None, :]
    off = ~on_face
    surf[off] = np.linalg.norm(v[off][:, None, :] - lm[None, :, :], axis=2)
    dist = np.minimum(surf, DISTANCE_LIMIT_MM)
    return dist.astype(np.float32), on_face


def mesh_features(
    vertices_canon: NDArray[np.floating[Any]],
    faces: FacesLike,
    landmarks_canon: NDArray[np.floating[Any]],
    landmark_vertices: NDArray[np.integer[Any]] | None = None,
    graph: sp.csr_matrix | None = None,
) -> NDArray[np.float32]:
    """(V, FEATURE_DIM) features of a neutral mesh already similarity-aligned to canonical mm
    (graph: its `polygon_graph`, when the caller has it already)."""
    v = np.asarray(vertices_canon, dtype=np.float64)
    validate_mesh(v, [])
    groups = polygons_by_size(faces)
    if not groups:
        raise MeshError("The mesh has no faces; surface distances need polygons.")
    for arr in groups.values():
        if arr.min() < 0 or arr.max() >= len(v):
            raise MeshError("A face refers to a vertex index outside the mesh.")
    lm = np.asarray(landmarks_canon, dtype=np.float64)
    if lm.shape != (N_LANDMARKS, 3):
        raise LandmarkError(f"Expected 68 landmarks of shape (68, 3); got {lm.shape}.")
    if not np.all(np.isfinite(lm)):
        raise LandmarkError("Landmarks contain NaN or infinite values.")
    dist, on_face = landmark_distances(v, faces, lm, landmark_vertices, graph)
    feats = np.concatenate(
        [
            v / POSITION_SCALE_MM,
            on_face[:, None].astype(np.float64),
            dist / POSITION_SCALE_MM,
            np.exp(-dist / NEAR_SCALE_MM),
        ],
        axis=1,
    )
    out: NDArray[np.float32] = feats.astype(np.float32)
    return out
