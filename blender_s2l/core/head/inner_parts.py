"""Rigid inner parts: eyeballs and upper teeth stay with the skull, lower teeth ride the jaw.

S2D sees a part that is not connected to the face (an eyeball, a tooth) only through straight-line
distances, and upper teeth sit as close to the lower lip as lower teeth do: on ICT heads it moved
upper teeth up to 20 mm with the jaw and dented eyeballs near blinking lids. Bone does not bend,
so a separate part lying deep behind the skin is taken off the network and moved rigidly:
wholly above the lip line it stays still, wholly below it follows the jaw, whose motion a
linear map (`jaw.npz`, fitted on ICT heads by `fit-jaw`) reads from the 68 landmark motions.
Parts near the surface (lashes, tear films) or spanning the lip line (tongue with gums, a mouth
cavity) keep the network's motion, which follows the lids and lips.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..models.npz_weights import NpzWeights, load_npz, reseal_npz, save_npz
from ..motion import JawMotion, append_fields
from .landmarks import INNER_LIPS, N_LANDMARKS, Similarity
from .mesh import FacesLike, components
from .mesh_features import fan_triangles, polygons_by_size

# A part's centre this far behind the frontmost skin over it is inside the head (mm): eyeballs
# are ~12 mm, teeth 15-50 mm, tear films and lashes 0-4 mm behind.
INNER_DEPTH_MM = 8.0
# Skin within this distance of the part's centre, seen from the front, is the skin over it (mm).
OVER_RADIUS_MM = 6.0
# How far the centre must sit from the lip line, as a share of the part's half-height, for the
# part to count as above or below it (lower molars 0.4, tongue with gums 0.04).
SIDE_SHARE = 0.25

N_RIGID = 6
KIND = "jaw"


def part_labels(n_vertices: int, faces: FacesLike) -> NDArray[np.int64]:
    """Connected-component label of every vertex (each eyeball, tooth, ... its own)."""
    return components(n_vertices, fan_triangles(polygons_by_size(faces)))


def classify_parts(
    vertices_canon: NDArray[np.floating[Any]],
    faces: FacesLike,
    landmarks_canon: NDArray[np.floating[Any]],
    on_face: NDArray[np.bool_],
    labels: NDArray[np.int64] | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Vertex indices that stay with the skull, and those that follow the jaw (labels: the
    mesh's `part_labels`, when the caller has them already)."""
    v = np.asarray(vertices_canon, dtype=np.float64)
    if labels is None:
        labels = part_labels(len(v), faces)
    skin = v[on_face]
    seam = float(np.asarray(landmarks_canon, dtype=np.float64)[INNER_LIPS, 1].mean())
    still: list[NDArray[np.int64]] = []
    jaw: list[NDArray[np.int64]] = []
    if len(skin) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    for part in np.unique(labels[~on_face]):
        idx = np.flatnonzero(labels == part)
        p = v[idx]
        centre = p.mean(axis=0)
        over = skin[np.linalg.norm(skin[:, :2] - centre[:2], axis=1) < OVER_RADIUS_MM]
        if len(over) == 0 or over[:, 2].max() - centre[2] < INNER_DEPTH_MM:
            continue
        half_height = max(0.5 * float(np.ptp(p[:, 1])), 1e-6)
        side = (centre[1] - seam) / half_height
        if side >= SIDE_SHARE:
            still.append(idx)
        elif side <= -SIDE_SHARE:
            jaw.append(idx)
    empty = np.zeros(0, dtype=np.int64)
    return (np.concatenate(still) if still else empty, np.concatenate(jaw) if jaw else empty)


def rigid_fields(points: NDArray[np.floating[Any]], pivot: NDArray[np.floating[Any]]) -> NDArray[
    np.float64
]:
    """(6, n, 3) displacement of each point for unit translation along x, y, z and unit (small)
    rotation about x, y, z through the pivot: a linear rigid motion is their weighted sum."""
    y = np.asarray(points, dtype=np.float64) - np.asarray(pivot, dtype=np.float64)
    n = len(y)
    out = np.zeros((N_RIGID, n, 3))
    for k in range(3):
        out[k, :, k] = 1.0
        axis = np.zeros(3)
        axis[k] = 1.0
        out[3 + k] = np.cross(axis[None, :], y)
    return out


def rigid_params(
    motion: NDArray[np.floating[Any]], fields: NDArray[np.floating[Any]]
) -> NDArray[np.float64]:
    """(T, 6) least-squares rigid parameters of (T, n, 3) motion on the given fields."""
    a = np.asarray(fields, dtype=np.float64).reshape(N_RIGID, -1).T
    b = np.asarray(motion, dtype=np.float64).reshape(len(motion), -1).T
    params: NDArray[np.float64] = np.linalg.lstsq(a, b, rcond=None)[0].T
    return params


@dataclass(frozen=True)
class JawModel:
    """Linear map from canonical landmark motion (68 x 3) to the jaw's rigid parameters."""

    matrix: NDArray[np.float64]  # (6, 204)
    pivot: NDArray[np.float64]  # (3,) canonical mm

    def params(self, landmark_motion: NDArray[np.floating[Any]]) -> NDArray[np.float64]:
        flat = np.asarray(landmark_motion, dtype=np.float64).reshape(len(landmark_motion), -1)
        out: NDArray[np.float64] = flat @ self.matrix.T
        return out

    def save(self, path: str | Path) -> None:
        arrays = {"matrix": self.matrix.astype(np.float32), "pivot": self.pivot.astype(np.float32)}
        save_npz(path, NpzWeights(KIND, {}, arrays, {}))


def jaw_motion(model: JawModel, landmark_motion: NDArray[np.floating[Any]],
               sim: Similarity) -> JawMotion:
    """The jaw's rigid motion in the mesh's space, from canonical landmark motion (T, 68, 3) and
    the mesh's similarity to the canonical face (x_canon = s R x + c). The map's small rotation
    w (canonical) about its pivot p moves a point y by t + w x (y - p); in the mesh that is
    R^T t / s + (R^T w) x (x - x_p), x_p the pivot in the mesh: the same angle about the
    rotated axis."""
    params = model.params(landmark_motion)
    r = np.asarray(sim.rotation, dtype=np.float64)
    pivot = sim.inverse().apply(model.pivot[None, :]).astype(np.float64)[0]
    return JawMotion(rotation=params[:, 3:] @ r, translation=params[:, :3] @ r / sim.scale,
                     pivot=pivot)


def _jaw_shapes(_config: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    return {"matrix": (N_RIGID, N_LANDMARKS * 3), "pivot": (3,)}


def reseal_jaw(path: str | Path) -> bool:
    """Give a jaw.npz written before weight files carried a digest its digest (`export-numpy`):
    it has no .pt source to export from, and re-fitting it needs the ICT data."""
    return reseal_npz(path, KIND, _jaw_shapes)


def load_jaw(path: str | Path) -> JawModel:
    """Plain arrays only (no pickle), so a tampered file cannot run code."""
    w = load_npz(path, KIND, _jaw_shapes)
    return JawModel(w.arrays["matrix"].astype(np.float64), w.arrays["pivot"].astype(np.float64))


@dataclass(frozen=True)
class InnerParts:
    """The rigid parts of one mesh: who stays still, who follows the jaw, and how."""

    still: NDArray[np.int64]
    jaw: NDArray[np.int64]
    jaw_fields: NDArray[np.float64]  # (6, len(jaw), 3)
    model: JawModel

    @classmethod
    def of_mesh(
        cls,
        vertices_canon: NDArray[np.floating[Any]],
        faces: FacesLike,
        landmarks_canon: NDArray[np.floating[Any]],
        on_face: NDArray[np.bool_],
        model: JawModel,
        labels: NDArray[np.int64] | None = None,
    ) -> InnerParts:
        still, jaw = classify_parts(vertices_canon, faces, landmarks_canon, on_face, labels)
        fields = rigid_fields(np.asarray(vertices_canon)[jaw], model.pivot)
        return cls(still, jaw, fields, model)

    @property
    def rigid(self) -> NDArray[np.int64]:
        return np.concatenate([self.still, self.jaw])

    def dense(
        self, motion: NDArray[np.floating[Any]], landmark_motion: NDArray[np.floating[Any]]
    ) -> NDArray[np.float32]:
        """(T, V, 3) network motion with the rigid parts replaced."""
        out = np.array(motion, dtype=np.float32)
        out[:, self.still] = 0.0
        params = self.model.params(landmark_motion)
        out[:, self.jaw] = np.tensordot(params, self.jaw_fields, axes=1).astype(np.float32)
        return out

    def extend(
        self,
        basis: NDArray[np.floating[Any]],
        codes: NDArray[np.floating[Any]],
        landmark_motion: NDArray[np.floating[Any]],
    ) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """Low-rank form of `dense`: rigid rows zeroed in the (J, V, 3) basis, six jaw fields
        appended to it and the jaw parameters appended to the (T, J) codes (none without a
        jaw-riding part)."""
        b = np.array(basis, dtype=np.float32)
        b[:, self.rigid] = 0.0
        if len(self.jaw) == 0:
            return b, np.asarray(codes, dtype=np.float32)
        extra = np.zeros((N_RIGID, b.shape[1], 3), dtype=np.float32)
        extra[:, self.jaw] = self.jaw_fields
        return append_fields(b, codes, extra, self.model.params(landmark_motion))
