"""Landmarks on any head mesh from a few key points the user marked (the panel's Fit).

The canonical face plus a few statistical shape modes (`weights/landmark_prior.npy`) is fitted to
the key points by a similarity and a regularised shape solve; every landmark is then projected
onto the surface of the part the key points lie on (so eyeballs and teeth are never picked), and
the inner-lip landmarks are snapped to the upper and lower edge of the mouth slit when the mesh
has one, so that they cannot land on the wrong lip.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import LandmarkError, MeshError
from .keypoints import load_keypoints_json, validate_keypoints
from .landmarks import N_LANDMARKS, Similarity, canonical_neutral, fit_similarity
from .mesh import (
    FEW_CORNERS,
    OUTSIDE_MESH,
    FacesLike,
    SurfaceIndex,
    closest_on_polyline,
    components,
    fan_triangles,
    padded_faces,
    polygon_edges,
)
from .pick_checks import check_picks

MIRRORED_KEYPOINTS = ("The key points are mirrored: left and right are swapped (the subject's "
                      "left eye is the one on the subject's left side).")

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
__all__ = ["fit_landmarks", "fit_shape", "load_keypoints_json", "shape_prior"]

PRIOR_PATH = Path(__file__).parents[1] / "weights" / "landmark_prior.npy"
STRETCH_STD = 0.08  # prior spread of per-axis face proportions (8 %)
KEYPOINT_NOISE_MM = 1.0  # how far a clicked vertex may sit from the true landmark
MAX_KEYPOINT_RMS_MM = 9.0  # beyond this the key points do not describe a face
MAX_SURFACE_GAP_MM = 6.0  # mean landmark-to-surface gap beyond which it is not a face
# Nose tip ahead of the eye/mouth corners, in outer-eye distances (ICT mean face: 0.41).
MIN_NOSE_RATIO, MAX_NOSE_RATIO = 0.1, 1.2
UPPER_INNER, LOWER_INNER = (60, 61, 62, 63, 64), (65, 66, 67)


@cache
def shape_prior() -> tuple[F64, F64]:
    """(mean (68, 3), modes (K, 68, 3)) in canonical mm; template only if the file is absent."""
    if PRIOR_PATH.exists():
        p = np.load(PRIOR_PATH, allow_pickle=False).astype(np.float64)
        if p.ndim == 3 and p.shape[1:] == (N_LANDMARKS, 3) and len(p) >= 1:
            return p[0], p[1:]
    return canonical_neutral().astype(np.float64), np.zeros((0, N_LANDMARKS, 3))


def _stretch_modes(mean: F64) -> F64:
    """Stretching the face along each canonical axis: stylized heads vary more than scans."""
    centred = mean - mean.mean(axis=0)
    return np.stack([centred * np.eye(3)[a] * STRETCH_STD for a in range(3)])


def fit_shape(keypoints: Mapping[int, F64], iterations: int = 6) -> tuple[Similarity, F64]:
    """Similarity (canonical -> mesh) and full landmark shape (canonical mm) from key points."""
    idx = np.array(sorted(keypoints), dtype=np.int64)
    target = np.stack([np.asarray(keypoints[int(k)], dtype=np.float64) for k in idx])
    mean, modes = shape_prior()
    modes = np.concatenate([modes, _stretch_modes(mean)])
    shape = mean.copy()
    basis = modes[:, idx, :].reshape(len(modes), 3 * len(idx)).T  # (3n, K)
    sim = fit_similarity(shape[idx], target)
    for _ in range(iterations):
        if len(modes) == 0:
            break
        local = sim.inverse().apply(target).astype(np.float64)
        resid = (local - mean[idx]).reshape(-1)
        lhs = basis.T @ basis + KEYPOINT_NOISE_MM**2 * np.eye(len(modes))
        coef = np.linalg.solve(lhs, basis.T @ resid)
        shape = mean + np.tensordot(coef, modes, axes=1)
        sim = fit_similarity(shape[idx], target)
    return sim, shape


def _check_keypoint_layout(keypoints: Mapping[int, F64]) -> None:
    """A face's nose stands out in front of its eyes and mouth; flat or reversed sets do not."""
    r_eye, l_eye, nose = keypoints[36], keypoints[45], keypoints[30]
    r_mouth, l_mouth = keypoints[48], keypoints[54]
    across = l_eye - r_eye
    up = 0.5 * (r_eye + l_eye) - 0.5 * (r_mouth + l_mouth)
    front = np.cross(across, up)
    size = float(np.linalg.norm(across))
    if size <= 0.0 or np.linalg.norm(front) <= 1e-12 * size * size:
        raise LandmarkError("The key points are degenerate (eyes or mouth marked on one spot).")
    base = 0.25 * (r_eye + l_eye + r_mouth + l_mouth)
    stand_out = float((nose - base) @ front) / float(np.linalg.norm(front)) / size
    if abs(stand_out) > MAX_NOSE_RATIO:
        raise MeshError(
            "This does not look like a head: the nose tip is too far from the eyes and mouth."
        )
    if stand_out < -MIN_NOSE_RATIO:
        if _face_like(_mirrored(keypoints, across)):
            raise LandmarkError(MIRRORED_KEYPOINTS)
        raise MeshError("This does not look like a head: the key points do not form a face.")
    if stand_out < MIN_NOSE_RATIO:
        raise MeshError(
            "This does not look like a head: the nose tip does not stand out in front of the "
            "eyes and mouth."
        )


def _mirrored(keypoints: Mapping[int, F64], across: F64) -> dict[int, F64]:
    """The key points reflected left-right (through the plane normal to the eye line)."""
    n = across / np.linalg.norm(across)
    return {k: p - 2.0 * float(p @ n) * n for k, p in keypoints.items()}


def _keypoint_rms(sim: Similarity, shape: F64, keypoints: Mapping[int, F64]) -> float:
    """How far (canonical mm, rms) the fitted face misses the key points."""
    idx = sorted(keypoints)
    target = np.stack([keypoints[k] for k in idx])
    err = np.linalg.norm(sim.apply(shape[idx]) - target, axis=1) / sim.scale
    return float(np.sqrt(np.mean(err**2)))


def _face_like(keypoints: Mapping[int, F64]) -> bool:
    try:
        sim, shape = fit_shape(keypoints)
    except LandmarkError:
        return False
    return _keypoint_rms(sim, shape, keypoints) <= MAX_KEYPOINT_RMS_MM


def _check_face_like(sim: Similarity, shape: F64, keypoints: Mapping[int, F64]) -> None:
    rms = _keypoint_rms(sim, shape, keypoints)
    if rms > MAX_KEYPOINT_RMS_MM:
        raise LandmarkError(
            f"The key points do not form a face (they miss a face shape by {rms:.0f} mm): "
            "check that each sits on its feature and that left and right are not swapped."
        )


def _ordered_loop(edges: I64) -> I64 | None:
    """Vertices of a simple closed boundary loop in walking order, or None if it is not one."""
    verts, deg = np.unique(edges, return_counts=True)
    if len(verts) < 4 or not np.all(deg == 2):
        return None
    nbr: dict[int, list[int]] = {int(v): [] for v in verts}
    for a, b in edges.tolist():
        nbr[a].append(b)
        nbr[b].append(a)
    start = int(verts[0])
    order, prev, cur = [start], -1, start
    while True:
        nxt = nbr[cur][0] if nbr[cur][0] != prev else nbr[cur][1]
        if nxt == start:
            break
        order.append(nxt)
        prev, cur = cur, nxt
        if len(order) > len(verts):
            return None
    return np.array(order, dtype=np.int64) if len(order) == len(verts) else None


def _boundary_loops(faces: I64) -> list[I64]:
    """Open boundary loops (edges used by a single polygon), each in walking order."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    e = np.sort(polygon_edges(faces), axis=1)
    uniq, counts = np.unique(e, axis=0, return_counts=True)
    bnd = uniq[counts == 1]
    if len(bnd) == 0:
        return []
    verts, inv = np.unique(bnd, return_inverse=True)
    inv = inv.reshape(-1, 2)
    g = coo_matrix((np.ones(len(inv)), (inv[:, 0], inv[:, 1])), shape=(len(verts), len(verts)))
    n, lab = connected_components(g, directed=False)
    loops = []
    for k in range(n):
        loop = _ordered_loop(verts[inv[lab[inv[:, 0]] == k]])
        if loop is not None:
            loops.append(loop)
    return loops


def _snap_inner_lips(
    points: F64, vertices: F64, faces: I64, kp: Mapping[int, int], sim: Similarity
) -> None:
    """Move inner-lip landmarks onto the matching edge of the mouth slit, when there is one."""
    corners = vertices[[kp[48], kp[54]]]
    width = float(np.linalg.norm(corners[1] - corners[0]))
    centre = corners.mean(axis=0)
    inner = points[list(UPPER_INNER + LOWER_INNER)]
    best: tuple[float, I64] | None = None
    for loop in _boundary_loops(faces):
        lv = vertices[loop]
        if np.max(np.linalg.norm(lv - centre, axis=1)) > 0.8 * width:
            continue
        gap = float(np.mean(np.min(np.linalg.norm(inner[:, None] - lv[None], axis=2), axis=1)))
        if gap < 0.15 * width and (best is None or gap < best[0]):
            best = (gap, loop)
    if best is None:
        return
    loop = best[1]
    i = int(np.argmin(np.linalg.norm(vertices[loop] - corners[0], axis=1)))
    loop = np.roll(loop, -i)
    j = int(np.argmin(np.linalg.norm(vertices[loop] - corners[1], axis=1)))
    if j == 0:
        return
    arc_a, arc_b = loop[: j + 1], np.concatenate([loop[j:], loop[:1]])
    if 62 in kp:
        a_is_upper = kp[62] in set(arc_a.tolist())
    elif 66 in kp:
        a_is_upper = kp[66] not in set(arc_a.tolist())
    else:
        to_can = sim.inverse()
        a_is_upper = bool(to_can.apply(vertices[arc_a])[:, 1].mean()
                          > to_can.apply(vertices[arc_b])[:, 1].mean())
    upper, lower = (arc_a, arc_b) if a_is_upper else (arc_b, arc_a)
    for group, arc in ((UPPER_INNER, upper), (LOWER_INNER, lower)):
        ids = list(group)
        points[ids] = closest_on_polyline(points[ids], vertices[arc])


def _with_area(v: F64, tris: I64) -> I64:
    """The triangles that have an area: closest points on the rest are undefined, and a part
    made only of them (every corner one vertex) has no surface to put a landmark on."""
    a, b, c = v[tris[:, 0]], v[tris[:, 1]], v[tris[:, 2]]
    area2 = np.linalg.norm(np.cross(b - a, c - a), axis=1)
    size = float(np.ptp(v, axis=0).max()) if len(v) else 0.0
    kept: I64 = tris[area2 > 1e-12 * size * size]
    if len(kept) == 0:
        raise MeshError("The key points lie on no polygon with an area: the faces around them "
                        "are degenerate (collapsed to a line or a point) or missing.")
    return kept


def fit_landmarks(
    vertices: NDArray[np.floating[Any]], faces: FacesLike, keypoints: Mapping[int, int]
) -> NDArray[np.float32]:
    """The 68 iBUG landmarks (68, 3) on the mesh surface, in the mesh's own space.

    keypoints maps iBUG index -> vertex index; 36, 45, 30, 48, 54 and 8 are required, 39, 42, 62
    and 66 improve the fit, any other landmark given is honoured too.
    """
    v = np.asarray(vertices, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != 3 or len(v) < N_LANDMARKS:
        raise MeshError(f"The mesh needs (V, 3) vertices, V >= 68; got shape {v.shape}.")
    if not np.all(np.isfinite(v)):
        raise MeshError("The mesh has vertices with NaN or infinite coordinates.")
    kp = validate_keypoints(keypoints, len(v))
    pf = padded_faces(faces)
    if len(pf) == 0:
        raise MeshError("The mesh has no faces to fit landmarks onto.")
    if pf.max() >= len(v) or pf.min() < -1:
        raise MeshError(OUTSIDE_MESH)
    if pf[:, :3].min() < 0:
        raise MeshError(FEW_CORNERS)
    tris = fan_triangles(pf)
    labels = components(len(v), tris)
    part = np.unique(labels[list(kp.values())])
    tris = _with_area(v, tris[np.isin(labels[tris[:, 0]], part)])
    pf = pf[np.isin(labels[pf[:, 0]], part)]

    kp_pos = {k: v[i] for k, i in kp.items()}
    _check_keypoint_layout(kp_pos)
    check_picks(v, pf, labels, kp)
    sim, shape = fit_shape(kp_pos)
    _check_face_like(sim, shape, kp_pos)
    predicted = sim.apply(shape).astype(np.float64)
    points, _ = SurfaceIndex(v, tris).closest(predicted)
    free = np.setdiff1d(np.arange(N_LANDMARKS), list(kp))
    gap = float(np.mean(np.linalg.norm(points[free] - predicted[free], axis=1))) / sim.scale
    if gap > MAX_SURFACE_GAP_MM:
        raise MeshError(
            f"The mesh does not look like a head around the key points (the fitted face is "
            f"{gap:.0f} mm from its surface)."
        )
    _snap_inner_lips(points, v, pf, kp, sim)
    for k, i in kp.items():
        points[k] = v[i]
    return points.astype(np.float32)
