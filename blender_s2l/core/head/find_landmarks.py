"""Where a mesh's 68 landmarks come from: given by the caller, a known preset, or an error.

The Blender side passes a stored set (object attribute) or fitted positions as `landmarks68`;
with nothing given, a recognised topology supplies them; otherwise the user must fit them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import LandmarkError, MeshError
from .keypoints import SHAREABLE, load_keypoints_json
from .landmarks import N_LANDMARKS, to_canonical
from .mesh import FacesLike, SurfaceIndex, fan_triangles, padded_faces
from .presets import match_preset

Resolved = tuple[NDArray[np.float32], NDArray[np.int64] | None, str]
# How far (mm at the canonical face's scale, whose outer eye corners are 89 mm apart) a given
# landmark position may lie off the mesh: fitted and stored landmarks lie on it, and the network
# reads each vertex's distances to them, so a set a metre off drove 11 times normal motion.
MAX_OFF_SURFACE_MM = 20.0
__all__ = ["load_keypoints_json", "nearest_vertices", "resolve_landmarks"]


def _from_indices(vertices: NDArray[np.float64], idx: NDArray[Any]) -> Resolved:
    whole = np.issubdtype(idx.dtype, np.integer) or (
        np.issubdtype(idx.dtype, np.floating)
        and bool(np.all(np.isfinite(idx)))
        and bool(np.all(idx == np.round(idx)))
    )
    if not whole:
        raise LandmarkError("Landmark vertex indices must be whole numbers.")
    ids = idx.astype(np.int64)
    bad = ids[(ids < 0) | (ids >= len(vertices))]
    if len(bad):
        raise LandmarkError(
            f"Landmark vertex index {int(bad[0])} is outside the mesh ({len(vertices)} vertices)."
        )
    shared = ids.copy()
    for pair in SHAREABLE:
        a, b = sorted(pair)
        if shared[a] == shared[b]:
            shared[b] = -1 - b  # a welded lip may share its inner-lip vertices
    if len(np.unique(shared)) < N_LANDMARKS:
        raise LandmarkError("Two landmarks refer to the same vertex; each needs its own.")
    return vertices[ids].astype(np.float32), ids, "indices"


def resolve_landmarks(
    vertices: NDArray[np.floating[Any]],
    faces: FacesLike,
    landmarks68: NDArray[Any] | None = None,
) -> Resolved:
    """(positions (68, 3) in mesh space, vertex indices (68,) or None, source name).

    landmarks68 may be a (68,) vertex-index array or (68, 3) positions; None looks for a preset.
    """
    v = np.asarray(vertices, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != 3 or len(v) == 0:
        raise MeshError(f"Vertices must have shape (V, 3); got {v.shape}.")
    if landmarks68 is not None:
        lm = np.asarray(landmarks68)
        if lm.shape == (N_LANDMARKS,):
            return _from_indices(v, lm)
        if lm.shape == (N_LANDMARKS, 3):
            if not np.issubdtype(lm.dtype, np.number) or not np.all(np.isfinite(lm)):
                raise LandmarkError("Landmark positions contain NaN, infinite or non-numbers.")
            _check_on_surface(v, faces, lm.astype(np.float64))
            return lm.astype(np.float32), None, "positions"
        raise LandmarkError(
            f"Landmarks must be 68 vertex indices or (68, 3) positions; got shape {lm.shape}."
        )
    preset = match_preset(v, faces)
    if preset is not None:
        ids = preset.landmark_vertices
        return v[ids].astype(np.float32), ids.copy(), f"preset:{preset.name}"
    raise LandmarkError(
        "This mesh has no landmarks yet: mark the key points (eye corners, nose tip, mouth "
        "corners, chin) and press Fit (in batch: --keypoints, or a keypoints column)."
    )


def _check_on_surface(v: NDArray[np.float64], faces: FacesLike, lm: NDArray[np.float64]) -> None:
    """Given positions must lie on this mesh, in its own space (not world space, not another
    mesh's): the farthest one is measured against the face's size, found from the set itself."""
    scale = to_canonical(lm).scale  # canonical mm per mesh unit; refuses degenerate sets
    tris = fan_triangles(padded_faces(faces))
    tris = tris[np.all((tris >= 0) & (tris < len(v)), axis=1)]
    if len(tris):
        on, _ = SurfaceIndex(v, tris).closest(lm)
    else:  # a point cloud: its vertices are the surface
        on = v[nearest_vertices(v, lm)]
    gap = np.linalg.norm(on - lm, axis=1) * scale
    worst = int(np.argmax(gap))
    if gap[worst] > MAX_OFF_SURFACE_MM:
        raise LandmarkError(
            f"Landmark {worst} lies {gap[worst]:.0f} mm (at a standard face's size) off the "
            "mesh: landmark positions must be on this mesh, in its own object space.")


def nearest_vertices(
    vertices: NDArray[np.floating[Any]], points: NDArray[np.floating[Any]]
) -> NDArray[np.int64]:
    """Index of the vertex nearest each landmark, to store a fitted set with the topology."""
    v = np.asarray(vertices, dtype=np.float64)
    p = np.asarray(points, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != 3 or len(v) == 0 or p.ndim != 2 or p.shape[1] != 3:
        raise LandmarkError("Need (V, 3) vertices and (N, 3) landmark positions.")
    from scipy.spatial import cKDTree  # here, not at import: it is slow to import (cold start)

    _, idx = cKDTree(v).query(p)
    return np.asarray(idx, dtype=np.int64)
