"""ICT identities (and re-topologies of them) in canonical mm, ready for S2D training/eval.

The caller of S2D sees a mesh already similarity-aligned by its 68 landmarks; training does the
same, so identities differ by shape and by the small scale/rotation of that fit (ICT expression
deltas are identical in absolute mm for every identity; after the fit they differ by that scale).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ...core.head.landmarks import BROWS, EYES, MOUTH, to_canonical
from ...core.head.mesh import FacesLike
from ...core.head.mesh_features import landmark_distances, mesh_features
from ..ict import ICTFace
from .remesh import RemeshPattern

TRAIN_ID_SEED0 = 1000
EVAL_ID_SEED0 = 9000
MOUTH_RADIUS_MM = 30.0
UPPER_RADIUS_MM = 20.0
LIP_RADIUS_MM = 6.0
LIP_MARGIN_MM = 5.0


def identity_weights(seed: int, n_modes: int = 100) -> NDArray[np.float32]:
    return np.random.default_rng(seed).standard_normal(n_modes).astype(np.float32)


@dataclass(frozen=True)
class VertexLabels:
    """Per-vertex labels on the ICT topology (carried to re-topologies via a source vertex)."""

    face: NDArray[np.bool_]  # ICT 'face' region: where errors are reported
    mouth: NDArray[np.bool_]  # near the mouth landmarks: weighted up in the loss
    upper: NDArray[np.bool_]  # brows/eyes area, away from the mouth
    upper_lip: NDArray[np.bool_]
    lower_lip: NDArray[np.bool_]

    def take(self, index: NDArray[np.int64]) -> VertexLabels:
        return VertexLabels(*(getattr(self, k)[index] for k in self.__dataclass_fields__))


def vertex_labels(
    vertices: NDArray[np.floating[Any]],
    faces: FacesLike,
    landmark_vertices: NDArray[np.int64],
    face: NDArray[np.bool_],
    mouth_part: NDArray[np.bool_],
) -> VertexLabels:
    """Regions by distance to landmark groups; lips split by surface distance to 62 vs 66."""
    v = np.asarray(vertices, dtype=np.float32)
    lm = v[landmark_vertices]
    d_mouth = np.linalg.norm(v[:, None] - lm[None, MOUTH], axis=2).min(axis=1)
    d_upper = np.linalg.norm(v[:, None] - lm[None, np.concatenate([BROWS, EYES])], axis=2).min(1)
    mouth = mouth_part & (d_mouth < MOUTH_RADIUS_MM)
    upper = face & (d_upper < UPPER_RADIUS_MM) & (d_mouth > MOUTH_RADIUS_MM)
    dist, _ = landmark_distances(v, faces, lm, landmark_vertices)
    lip = face & (d_mouth < LIP_RADIUS_MM)
    gap = dist[:, 66] - dist[:, 62]
    return VertexLabels(
        face, mouth, upper, lip & (gap > LIP_MARGIN_MM), lip & (gap < -LIP_MARGIN_MM)
    )


def ict_labels(ict: ICTFace) -> VertexLabels:
    n = len(ict.neutral)
    face = np.zeros(n, dtype=bool)
    face[ict.region("face")] = True
    socket = np.zeros(n, dtype=bool)
    socket[ict.region("mouth_socket")] = True
    lm_idx = ict.landmarks68.astype(np.int64)
    return vertex_labels(ict.neutral, ict.faces, lm_idx, face, face | socket)


@dataclass
class FaceVariant:
    """One neutral head (identity x topology) in canonical mm plus what maps weights to motion."""

    name: str
    vertices: NDArray[np.float32]
    faces: FacesLike
    landmarks: NDArray[np.float32]  # (68, 3) neutral landmark positions
    landmark_vertices: NDArray[np.int64] | None
    deltas: NDArray[np.float32]  # (E, V, 3) expression deltas in ICT mm, before the fit
    lm_deltas: NDArray[np.float32]  # (E, 68, 3) same for the landmarks
    scale: float
    rotation: NDArray[np.float32]
    labels: VertexLabels

    @cached_property
    def features(self) -> NDArray[np.float32]:
        return mesh_features(self.vertices, self.faces, self.landmarks, self.landmark_vertices)

    def to_canonical(self, x: NDArray[np.floating[Any]]) -> NDArray[np.float32]:
        out = self.scale * np.asarray(x, dtype=np.float32) @ self.rotation.T
        return out.astype(np.float32)

    def landmark_motion(self, weights: NDArray[np.floating[Any]]) -> NDArray[np.float32]:
        """(T, E) weights -> (T, 68, 3) canonical landmark displacement."""
        return self.to_canonical(np.tensordot(weights, self.lm_deltas, axes=1))

    def dense_motion(self, weights: NDArray[np.floating[Any]]) -> NDArray[np.float32]:
        """(T, E) weights -> (T, V, 3) canonical dense displacement (the truth)."""
        return self.to_canonical(np.tensordot(weights, self.deltas, axes=1))


def build_variant(
    ict: ICTFace,
    id_seed: int,
    labels: VertexLabels,
    pattern: RemeshPattern | None = None,
    pattern_deltas: NDArray[np.float32] | None = None,
    name: str = "",
) -> FaceVariant:
    """Identity `id_seed` on the ICT topology, or on `pattern` (pass its carried-over deltas)."""
    verts = ict.identity(identity_weights(id_seed))
    lm_idx = ict.landmarks68.astype(np.int64)
    sim = to_canonical(verts[lm_idx])
    canon = sim.apply(verts)
    lm = canon[lm_idx]
    lm_deltas = ict.expression_deltas[:, lm_idx]
    rot = sim.rotation.astype(np.float32)
    if pattern is None:
        return FaceVariant(
            name or f"ict-id{id_seed}", canon, ict.faces, lm, lm_idx,
            ict.expression_deltas, lm_deltas, sim.scale, rot, labels,
        )
    if pattern_deltas is None:
        pattern_deltas = pattern.apply_stack(ict.expression_deltas)
    return FaceVariant(
        name or f"remesh{pattern.n_vertices}-id{id_seed}", pattern.apply(canon), pattern.faces,
        lm, None, pattern_deltas, lm_deltas, sim.scale, rot,
        labels.take(pattern.source_vertex),
    )
