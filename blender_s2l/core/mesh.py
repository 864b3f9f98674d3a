"""Polygon soup helpers shared by fitting, mesh features and the demo head.

Faces come in two shapes: a list of index sequences (n-gons) or an (F, K) int array padded with -1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .errors import MeshError

FacesLike = NDArray[np.integer[Any]] | Sequence[Sequence[int]]


BAD_FACES = "Faces must be a list of polygons of whole vertex indices or an (F, K) index array."


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


def triangulate(faces: FacesLike) -> NDArray[np.int64]:
    """Fan-triangulate polygons; fine for convex-ish quads and n-gons of head meshes."""
    tris: list[NDArray[np.int64]] = []
    for poly in as_polygons(faces):
        if len(poly) < 3:
            continue
        a = np.full(len(poly) - 2, poly[0])
        tris.append(np.stack([a, poly[1:-1], poly[2:]], axis=1))
    if not tris:
        return np.zeros((0, 3), dtype=np.int64)
    out: NDArray[np.int64] = np.concatenate(tris, axis=0)
    return out


def unique_edges(faces: FacesLike) -> NDArray[np.int64]:
    """Undirected polygon edges (not triangulation diagonals), shape (E, 2) with i < j."""
    parts = []
    for poly in as_polygons(faces):
        if len(poly) < 2:
            continue
        parts.append(np.stack([poly, np.roll(poly, -1)], axis=1))
    if not parts:
        return np.zeros((0, 2), dtype=np.int64)
    e = np.sort(np.concatenate(parts, axis=0), axis=1)
    edges: NDArray[np.int64] = np.unique(e, axis=0)
    return edges


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
    for poly in as_polygons(faces):
        if len(poly) and (poly.min() < 0 or poly.max() >= v.shape[0]):
            raise MeshError("A face refers to a vertex index outside the mesh.")
