"""Lip contact on the user's own mesh: a closure means the inner lips touch, whatever their gap.

S2L predicts landmark displacements learnt on the canonical face, whose inner lips rest 0.8 mm
apart. Added to a mesh whose lips rest 3 mm apart, a closure stops short; on one whose lips rest
sealed, it drives one lip through the other. So the closing is finished here, on the mesh, from
what the mesh itself does: at three columns across the mouth (iBUG pairs 61/67, 62/66, 63/65) the
inner-lip gap after S2D is read every frame, and a correction closes what the closure weight asks
for (contact at weight 1) and, at any weight, undoes a crossing. Everywhere else the opening stays
relative to the mesh's own rest.

The correction is three smooth fields, one per column: the lower lip travels further than the
upper (the jaw carries it), the motion fades into the chin over a few centimetres of surface and
into the upper lip before the nose, and across the mouth it blends between the columns to zero at
the corners. Surface (geodesic) distances keep the two lips apart even where they touch. The fields
join the motion's low-rank basis like any other, so both bake modes carry them.

A mesh whose lips cross in the neutral keeps that crossing as its contact: closures never press
further, and the rest stays the user's neutral.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..motion import append_fields
from ..speech.lip_closure import UPPER_SHARE, without_pauses
from .landmarks import N_LANDMARKS, canonical_neutral
from .mesh import FacesLike, SurfaceIndex, fan_triangles, padded_faces
from .mesh_features import polygon_graph

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

UPPER_INNER = (61, 62, 63)
LOWER_INNER = (67, 66, 65)
CORNERS = (60, 64)
UP = np.array([0.0, 1.0, 0.0])  # canonical +Y
# Canonical mm: full correction this close to the inner-lip line (the vermilion's edge) ...
HOLD_MM = 2.0
# ... fading to nothing this far along the surface: the upper lip's before the nose, the lower
# lip's over the chin (the jaw moves the chin with the lower lip).
UPPER_REACH_MM = 16.0
LOWER_REACH_MM = 60.0
# Vertices about as near to one lip as to the other (a fused seam) get a blend over this margin.
SIDE_BLEND_MM = 2.0
# Inner-lip points further apart than this share of the mouth width are not a mouth's lips
# (a fit gone wrong): the bake leaves them to the landmark motion and says so.
MAX_GAP_SHARE = 0.3
# A column whose correction field barely reaches both of its lip points cannot be steered.
MIN_EFFECT = 0.5


# A half-sure closure (closure weight 0.5) already touches: chosen on development speech
# (reports/stage_selection.md, 2026-12-07) among four ways of turning closures into contact.
CONTACT_GAIN = 2.0


def contact_weight(closure: NDArray[np.floating[Any]]) -> F64:
    """(T,) contact from the closure weight (T,) in [0, 1] that the landmark step used."""
    out: F64 = np.clip(CONTACT_GAIN * np.asarray(closure, np.float64), 0.0, 1.0)
    return out


# A canonical column whose lips rest closer than this has no opening to take a share of.
MIN_REST_GAP_MM = 0.2


def regression_contact(disp: NDArray[np.floating[Any]], times: NDArray[np.float64]) -> F64:
    """(T, 3) per column, how far S2L's own canonical inner lips have closed from their rest
    opening (0 at rest or open, 1 touching), closed runs that are pauses excepted.

    The landmark regression shuts the lips inside many words where the closure head is unsure
    (a misheard or mistimed /m/): on the canonical face those lips touch, but the displacement
    that closes its 0.8 mm stops short on a mesh whose lips rest further apart. Taking the same
    share of the mesh's own opening keeps every head as closed as the canonical track, whatever
    its gap (rule and numbers: reports/stage_selection.md, session 15)."""
    d = np.asarray(disp, np.float64)
    lm0 = canonical_neutral().astype(np.float64)
    rest = (lm0[list(UPPER_INNER)] - lm0[list(LOWER_INNER)]) @ UP  # (3,)
    gap = rest[None] + (d[:, list(UPPER_INNER)] - d[:, list(LOWER_INNER)]) @ UP  # (T, 3)
    usable = rest > MIN_REST_GAP_MM
    share = np.where(usable[None], 1.0 - gap / np.where(usable, rest, 1.0)[None], 0.0)
    share = np.clip(np.nan_to_num(share, nan=0.0), 0.0, 1.0)
    out: F64 = np.stack([without_pauses(share[:, k].astype(np.float32), times)
                         for k in range(3)], axis=1).astype(np.float64)
    return out


@dataclass(frozen=True)
class SurfacePoints:
    """Points on a mesh as barycentric mixes of triangle corners (or single vertices)."""

    vertices: I64  # (P, 3)
    weights: F64  # (P, 3), rows sum to 1

    def sample(self, field: NDArray[np.floating[Any]]) -> F64:
        """(..., V, 3) per-vertex values -> (..., P, 3) at the points."""
        f = np.asarray(field, dtype=np.float64)
        picked = f[..., self.vertices, :]  # (..., P, 3, 3)
        out: F64 = np.einsum("...pkc,pk->...pc", picked, self.weights)
        return out

    def subset(self, rows: tuple[int, ...]) -> SurfacePoints:
        return SurfacePoints(self.vertices[list(rows)], self.weights[list(rows)])


def surface_points(
    vertices: F64, faces: FacesLike, points: F64, indices: I64 | None
) -> SurfacePoints:
    """The given vertex indices, or else the closest surface point of each position."""
    n = len(points)
    if indices is not None:
        ids = np.asarray(indices, dtype=np.int64).reshape(n, 1)
        return SurfacePoints(np.repeat(ids, 3, axis=1), np.tile([1.0, 0.0, 0.0], (n, 1)))
    tris = fan_triangles(padded_faces(faces))
    closest, tri_ids = SurfaceIndex(vertices, tris).closest(points)
    corners = tris[tri_ids]
    return SurfacePoints(corners, _barycentric(closest, *(vertices[corners[:, k]]
                                                          for k in range(3))))


def _barycentric(p: F64, a: F64, b: F64, c: F64) -> F64:
    v0, v1, v2 = b - a, c - a, p - a
    d00, d01, d11 = (np.sum(v0 * v0, 1), np.sum(v0 * v1, 1), np.sum(v1 * v1, 1))
    d20, d21 = np.sum(v2 * v0, 1), np.sum(v2 * v1, 1)
    den = d00 * d11 - d01 * d01
    safe = np.abs(den) > 1e-18
    den = np.where(safe, den, 1.0)
    v = np.where(safe, (d11 * d20 - d01 * d21) / den, 0.0)
    w = np.where(safe, (d00 * d21 - d01 * d20) / den, 0.0)
    out = np.clip(np.stack([1.0 - v - w, v, w], axis=1), 0.0, 1.0)
    out /= np.maximum(out.sum(axis=1, keepdims=True), 1e-12)
    result: F64 = out
    return result


def _smoothstep(x: F64) -> F64:
    t = np.clip(x, 0.0, 1.0)
    out: F64 = t * t * (3.0 - 2.0 * t)
    return out


def _fade(d: F64, reach: float) -> F64:
    """1 within HOLD_MM, smoothly 0 at `reach` (mm along the surface)."""
    return 1.0 - _smoothstep((d - HOLD_MM) / (reach - HOLD_MM))


def column_weights(x: F64, nodes: F64) -> F64:
    """(N, 3) weights of the three columns at lateral positions x.

    nodes are the five lateral positions corner, 61/67, 62/66, 63/65, corner (increasing); each
    column's weight is 1 at its own node and falls smoothly to 0 at its neighbours, so the
    corners (where the lips always meet) get none and the weights sum to 1 in between.
    """
    out = np.zeros((len(x), 3))
    for j in range(3):
        lo, mid, hi = nodes[j], nodes[j + 1], nodes[j + 2]
        rise = _smoothstep((x - lo) / max(mid - lo, 1e-9))
        fall = 1.0 - _smoothstep((x - mid) / max(hi - mid, 1e-9))
        out[:, j] = np.where(x <= mid, rise, fall) * ((x > lo) & (x < hi))
    return out


@dataclass(frozen=True)
class LipContact:
    """What closes one mesh's lips: three correction fields and where to read the gap."""

    fields: F32  # (3, V, 3) canonical mm per mm of closing, one field per column
    landmark_fields: F32  # (3, 68, 3) the same at the 68 landmark points
    upper: SurfacePoints  # inner upper lip at 61, 62, 63
    lower: SurfacePoints  # inner lower lip at 67, 66, 65
    neutral_gap: F64  # (3,) canonical mm, (upper - lower) . up at rest
    reference: F64  # (3,) the gap the lips close to: 0, or the neutral's own crossing
    solve: F64  # (3, 3) closing per column -> field amounts

    @classmethod
    def of_mesh(
        cls,
        vertices_canon: NDArray[np.floating[Any]],
        faces: FacesLike,
        landmarks_canon: NDArray[np.floating[Any]],
        landmark_vertices: NDArray[np.integer[Any]] | None,
        on_face: NDArray[np.bool_],
        *,
        graph: Any = None,
        points: SurfacePoints | None = None,
    ) -> LipContact | str:
        """The contact of a canonical-aligned mesh, or a sentence saying why it has none.
        graph (its `polygon_graph`) and points (the 68 landmarks' `surface_points`): the
        mesh's own, when the caller has them already (head_mesh.py)."""
        from scipy.sparse.csgraph import dijkstra

        v = np.asarray(vertices_canon, dtype=np.float64)
        lm = np.asarray(landmarks_canon, dtype=np.float64)
        idx = None if landmark_vertices is None else np.asarray(landmark_vertices, np.int64)
        if lm.shape != (N_LANDMARKS, 3):
            return "the landmarks do not match the mesh"
        every = surface_points(v, faces, lm, idx) if points is None else points
        upper, lower = every.subset(UPPER_INNER), every.subset(LOWER_INNER)
        up_pos, low_pos = upper.sample(v), lower.sample(v)
        gap = (up_pos - low_pos) @ UP
        width = float(np.linalg.norm(lm[CORNERS[0]] - lm[CORNERS[1]]))
        if not width > 0 or np.max(np.abs(gap)) > MAX_GAP_SHARE * width:
            return (f"its inner-lip landmarks are {np.max(np.abs(gap)):.0f} mm apart on a "
                    f"{width:.0f} mm mouth, too far to be the lips")
        centres = 0.5 * (up_pos + low_pos)
        nodes = np.array([lm[CORNERS[0], 0], *centres[:, 0], lm[CORNERS[1], 0]])
        if nodes[0] > nodes[-1]:
            nodes = nodes[::-1]
            flip = True
        else:
            flip = False
        if not np.all(np.diff(nodes) > 0):
            return "its inner-lip landmarks are not in order between the mouth corners"
        # Surface distance from each lip's own points (the corners of the triangles they lie
        # on): a nearest-vertex anchor can sit on the other lip where the lips nearly touch.
        if graph is None:
            graph = polygon_graph(v, faces)
        reach = max(UPPER_REACH_MM, LOWER_REACH_MM)
        d_up, d_low = (np.minimum(dijkstra(graph, indices=np.unique(p.vertices), limit=reach,
                                           min_only=True), 2.0 * reach)
                       for p in (upper, lower))
        upper_side = _smoothstep(0.5 + (d_low - d_up) / (2.0 * SIDE_BLEND_MM))
        vertical = (-UPPER_SHARE * _fade(d_up, UPPER_REACH_MM) * upper_side
                    + (1.0 - UPPER_SHARE) * _fade(d_low, LOWER_REACH_MM) * (1.0 - upper_side))
        vertical = np.where(on_face, vertical, 0.0)
        lateral = column_weights(v[:, 0], nodes)
        if flip:
            lateral = lateral[:, ::-1]
        fields = (lateral.T[:, :, None] * vertical[None, :, None]) * UP[None, None, :]
        # effect[k, j]: how much column j's field closes column k (1 on the diagonal by design;
        # measured, since lip points between vertices sample the fields' falloff).
        effect = ((lower.sample(fields) - upper.sample(fields)) @ UP).T
        if np.min(np.diag(effect)) < MIN_EFFECT or np.linalg.cond(effect) > 1e3:
            return "its inner lips could not be told apart along the surface"
        return cls(
            fields=fields.astype(np.float32),
            landmark_fields=every.sample(fields).astype(np.float32),
            upper=upper,
            lower=lower,
            neutral_gap=gap,
            reference=np.minimum(gap, 0.0),
            solve=np.linalg.inv(effect),
        )

    def gaps(self, codes: NDArray[np.floating[Any]], basis: NDArray[np.floating[Any]]) -> F64:
        """(T, 3) inner-lip gap per column (canonical mm) of the motion codes @ basis."""
        b_up = self.upper.sample(basis) @ UP  # (J, 3)
        b_low = self.lower.sample(basis) @ UP
        out: F64 = self.neutral_gap[None] + np.asarray(codes, np.float64) @ (b_up - b_low)
        return out

    def amounts(self, gaps: F64, weight: NDArray[np.floating[Any]]) -> F64:
        """(T, 3) field amounts: close each column towards contact by `weight` (T,) in [0, 1],
        and never leave it crossed beyond the reference."""
        w = np.clip(np.asarray(weight, np.float64), 0.0, 1.0)
        w = w[:, None] if w.ndim == 1 else w
        over = gaps - self.reference[None]  # gap above the contact
        target = (1.0 - w) * np.maximum(over, 0.0)
        out: F64 = (over - target) @ self.solve.T
        return out

    def extend(
        self,
        basis: NDArray[np.floating[Any]],
        codes: NDArray[np.floating[Any]],
        weight: NDArray[np.floating[Any]],
    ) -> tuple[F32, F32, F64]:
        """Basis and codes with the three contact fields appended, and their amounts (T, 3)."""
        amounts = self.amounts(self.gaps(codes, basis), weight)
        return (*append_fields(basis, codes, self.fields, amounts), amounts)
