"""Blinks on the user's own eyelids: the upper lid slides over the eye to meet the lower lid.

The upper-face model's blink is landmark motion learnt on the ICT face (four lid points an eye),
and S2D spreads it over whatever lid a mesh has. On a coarse lid the few edge vertices between
the landmarks follow the net's smooth guess, so the edge zig-zags, dips through the lower lid or
leaves the outer corner open; on a scan whose eyes are closed the same motion pushes skin that
already touches into the eye. So, as lip contact does for the lips, the blink is built here on
the mesh itself:

- the lid edges are found on the skin a viewer sees from the front (skin behind an eyeball part
  or behind the lid itself is hidden): the shortest path over it through each lid's landmarks
  (36-37-38-39 and 36-41-40-39, the same for the other eye) hugs the eye's opening, which it
  cannot cross; visible skin bordering the opening (hidden skin or a hole) between the two
  paths is edge too, as a coarse lid's path may step over it;
- every upper-edge vertex gets its own target, the point of the lower edge at the same place
  across the eye (its share of the corner-to-corner line), and travels there by turning about
  the eyeball's centre (so it slides over the eye instead of cutting through it) plus the small
  rest of the way; hidden skin just behind the edge closes with it; the skin above follows,
  fading with surface distance from the edge, so the lid stays smooth however few or many its
  vertices; lashes modelled as parts of their own ride the skin under them.

The path is written as two fields an eye with amounts w and w^2 (w the model's blink weight):
exact at rest, half and full blink, and a low-rank addition every bake mode keys. The net is
then given the brows alone: its blink is replaced, not corrected. The net's motion (brows,
speech) still moves the skin round the eye, the lids a little differently; so that a shut lid
does not part from the lower one or sink under it then, the lid also takes on, in proportion
to w, the lower edge's share of that motion in place of its own (`follow`: fields read from the
mesh's basis when a bake extends it, cut to the few that matter by an SVD).

An eye whose lids already touch in the neutral, or whose lids border no opening at all (a scan
with closed eyes is one surface there, whatever its fitted landmarks say), gets no blink; an eye
whose edges cannot be traced keeps the net's blink; both say so in the motion's notes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from ..motion import append_fields
from .inner_parts import part_labels
from .landmarks import N_LANDMARKS
from .lip_contact import SurfacePoints, surface_points
from .mesh import FacesLike, fan_triangles, padded_faces, polygon_edges
from .mesh_features import polygon_graph

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
B = NDArray[np.bool_]

UP = np.array([0.0, 1.0, 0.0])  # canonical +Y
FORWARD = np.array([0.0, 0.0, 1.0])  # canonical +Z, out of the face
# (name, upper lid curve, lower lid curve), each landmark curve running corner to corner;
# "right"/"left" are the subject's (canonical -X / +X), which the upper-face model calls
# eyeBlink_R / eyeBlink_L.
EYES: tuple[tuple[str, tuple[int, int, int, int], tuple[int, int, int, int]], ...] = (
    ("right", (36, 37, 38, 39), (36, 41, 40, 39)),
    ("left", (42, 43, 44, 45), (42, 47, 46, 45)),
)
# All sizes are shares of the eye's width (corner to corner), so any unit and any face size work.
# Skin and parts further than this from the eye's centre are not the eye's.
NEAR_SHARE = 0.9
# A separate part is the eyeball when a sphere fits it this well (rms over radius) with a radius
# in this range: lashes, tear films and teeth do not.
BALL_FIT = 0.1
BALL_RADIUS = (0.25, 0.75)
# ... and its vertices' mean lies this near its centre (a share of its radius).
BALL_CENTRED = 0.5
# A separate part this near the lid skin (median distance) lies on it and moves with it.
ATTACHED_SHARE = 0.1
# Without an eyeball part the lid turns about a point this far behind the corners' midpoint:
# where the ICT mean head's eyeball centre lies (over its eye width, rounded).
CENTRE_DEPTH_SHARE = 0.3
# The upper lid turns whole this far up its surface from the edge (its firm part slides over
# the eye as one), fading to nothing at REACH (above its crease).
HOLD_SHARE = 0.1
REACH_SHARE = 0.45
# Hidden skin this near the upper edge along the surface, this deep inside the eyeball, closes
# with it.
TUCK_SHARE = 0.15
TUCK_DEPTH_SHARE = 0.05
# Opening-border skin more than this behind the lid paths' deepest point is not lid edge.
EDGE_DEPTH_SHARE = 0.25
# The lid edges' ends this near a corner (a share of the width) may touch without being shut.
CORNER_SHARE = 0.05
# Lids whose edges are nowhere further apart than this rest closed: no blink.
CLOSED_SHARE = 0.05
# Skin this far behind a surface in front of it (a share of the eye width) is hidden by it.
VISIBLE_TOLERANCE = 0.02
# Motion the lids follow when shut is kept to this share of its largest singular value.
FOLLOW_TOLERANCE = 1e-2
# An opening border needs this many vertices a lid to be an eye opening.
MIN_EDGE_VERTICES = 2

CLOSED_NOTE = ("The {eyes} closed in this mesh's neutral (the upper and lower lids touch or "
               "are one surface), so the bake adds no blinks to {them}.")
ASKED_NOTE = ("The {eyes} closed in this mesh's neutral; Blink Closed Eyes makes {them} blink by "
              "the landmarks' motion: check that the lids do not sink into the eyes.")
NOT_FOUND_NOTE = ("No eye opening was found between the eyelid landmarks of the {eyes}, so "
                  "{its} blinks follow the landmark motion; check landmarks 36-47.")


def _smoothstep(x: F64) -> F64:
    t = np.clip(x, 0.0, 1.0)
    out: F64 = t * t * (3.0 - 2.0 * t)
    return out


def _rotate(points: F64, centre: F64, axis: F64, angles: F64) -> F64:
    """Each point turned by its own angle (radians) about the line through centre along axis."""
    x = points - centre
    cos, sin = np.cos(angles)[:, None], np.sin(angles)[:, None]
    along = (x @ axis)[:, None] * axis[None]
    out: F64 = centre + along + cos * (x - along) + sin * np.cross(axis[None], x)
    return out


def _sphere(points: F64) -> tuple[F64, float, float]:
    """Least-squares sphere (centre, radius, rms distance from it) through the points."""
    a = np.concatenate([2.0 * points, np.ones((len(points), 1))], axis=1)
    b = np.sum(points * points, axis=1)
    sol = np.linalg.lstsq(a, b, rcond=None)[0]
    centre = sol[:3]
    radius = float(np.sqrt(max(sol[3] + centre @ centre, 0.0)))
    rms = float(np.sqrt(np.mean((np.linalg.norm(points - centre, axis=1) - radius) ** 2)))
    return centre, radius, rms


@dataclass(frozen=True)
class EyeFrame:
    """An eye's own axes from its landmarks: across (corner to corner), up, forward."""

    origin: F64  # the first corner
    across: F64
    up: F64
    forward: F64
    width: float
    upper_guide: F64  # (4, 2) (share across, height) of the upper landmark curve
    lower_guide: F64

    @classmethod
    def of(cls, lm: F64, upper: tuple[int, ...], lower: tuple[int, ...]) -> EyeFrame:
        origin, end = lm[upper[0]], lm[upper[-1]]
        across = end - origin
        width = float(np.linalg.norm(across))
        across = across / max(width, 1e-12)
        up = UP - (UP @ across) * across
        up /= max(float(np.linalg.norm(up)), 1e-12)
        forward = np.cross(across, up)
        if forward @ FORWARD < 0:
            forward = -forward
        frame = cls(origin, across, up, forward, width, np.zeros((4, 2)), np.zeros((4, 2)))
        return cls(origin, across, up, forward, width, frame.flat(lm[list(upper)]),
                   frame.flat(lm[list(lower)]))

    def flat(self, points: F64) -> F64:
        """(N, 2): share of the way across the eye, and height (canonical mm) above the corners."""
        x = points - self.origin
        out: F64 = np.stack([x @ self.across / max(self.width, 1e-12), x @ self.up], axis=1)
        return out


def curve_at(ts: F64, curve_t: F64, curve: F64) -> F64:
    """Points of a polyline (sorted by its share across, curve_t) at the shares ts."""
    out: F64 = np.stack([np.interp(ts, curve_t, curve[:, k]) for k in range(3)], axis=1)
    return out


@dataclass(frozen=True)
class Eye:
    """One eye's blink on one mesh: its lid edges and its two fields."""

    name: str
    upper: I64  # upper lid edge vertices
    lower: I64  # lower lid edge vertices, sorted across the eye
    frame: EyeFrame
    fields: F32  # (2, V, 3) canonical mm at amounts w and w^2
    # (V, V) sparse: row v says how vertex v must move, at a full blink, to go on meeting the
    # lower edge when the rest of the motion moves the lids (a combination of that motion at
    # other vertices); rows of vertices the blink does not move are empty.
    follow: Any

    def follow_fields(self, basis: NDArray[np.floating[Any]]) -> tuple[F64, F64]:
        """Fields (K, V, 3) and their mix (J, K) that carry the motion basis (J, V, 3) over
        the lid as `follow` says, by a truncated SVD (the lid is a few hundred vertices)."""
        b = np.asarray(basis)
        j, n, _ = b.shape
        rows = np.unique(self.follow.nonzero()[0])
        if j == 0 or len(rows) == 0:
            return np.zeros((0, n, 3)), np.zeros((j, 0))
        # Only the vertices the lid follows are read (not the whole basis, transposed, once an
        # eye): their rows, the matrix's columns renumbered in place, so every row still sums
        # its terms in the same order.
        lid = self.follow[rows]
        cols = np.unique(lid.indices)
        lid = sp.csr_matrix((lid.data, np.searchsorted(cols, lid.indices), lid.indptr),
                            shape=(len(rows), len(cols)))
        flat = b[:, cols].astype(np.float64).transpose(1, 0, 2).reshape(len(cols), j * 3)
        moved = np.asarray(lid @ flat).reshape(len(rows), j, 3)
        u, sing, vt = np.linalg.svd(moved.transpose(1, 0, 2).reshape(j, -1),
                                    full_matrices=False)
        keep = sing > FOLLOW_TOLERANCE * max(float(sing[0]), 1e-12)
        fields = np.zeros((int(keep.sum()), n, 3))
        fields[:, rows] = (sing[keep, None] * vt[keep]).reshape(-1, len(rows), 3)
        return fields, u[:, keep]

    def lower_curve(self, vertices: F64) -> tuple[F64, F64]:
        """The lower edge as (shares across, points) from given vertex positions."""
        pts = np.asarray(vertices, np.float64)[self.lower]
        return self.frame.flat(pts)[:, 0], pts

    def edge_gaps(self, vertices: F64) -> F64:
        """Height of each upper-edge vertex above the lower edge at its place across the eye
        (canonical mm along the eye's up; negative: crossed), for given vertex positions."""
        v = np.asarray(vertices, np.float64)
        lt, lp = self.lower_curve(v)
        up = self.frame.flat(v[self.upper])
        below = self.frame.flat(curve_at(up[:, 0], lt, lp))
        out: F64 = up[:, 1] - below[:, 1]
        return out


def _eyeball(v: F64, on_face: B, labels: I64, frame: EyeFrame) -> tuple[F64, float, B]:
    """The centre the lid turns about: the eyeball part's (a sphere fitted to the largest
    sphere-like separate part at the eye), else a point behind the corners; that sphere's
    radius (0 without one); and the vertices of every sphere-like part at the eye (eyeballs
    and the shells round them)."""
    mid = frame.origin + 0.5 * frame.width * frame.across
    best: tuple[int, F64, float] | None = None
    balls = np.zeros(len(v), bool)
    for part in np.unique(labels[~on_face]):
        idx = np.flatnonzero(labels == part)
        if len(idx) < 8:
            continue
        c, r, ball = _ball_like(v[idx], frame)
        if ball and np.linalg.norm(c - mid) < NEAR_SHARE * frame.width:
            balls[idx] = True
            if best is None or len(idx) > best[0]:
                best = (len(idx), c, r)
    if best is None:
        return mid - CENTRE_DEPTH_SHARE * frame.width * frame.forward, 0.0, balls
    return best[1], best[2], balls


def _pairs_by_cell(q: F64, lo: F64, hi: F64, cell: float) -> tuple[I64, I64]:
    """(point, box) index pairs whose grid cells meet: each 2-D point against the boxes (lo, hi)
    that may hold it, without testing every pair."""
    blo = np.floor(lo / cell).astype(np.int64)
    bhi = np.floor(hi / cell).astype(np.int64)
    nx, ny = bhi[:, 0] - blo[:, 0] + 1, bhi[:, 1] - blo[:, 1] + 1
    counts = nx * ny
    box = np.repeat(np.arange(len(lo)), counts)
    k = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    span = 1 << 31
    key = (blo[box, 0] + k % nx[box]) * span + (blo[box, 1] + k // nx[box])
    order = np.argsort(key, kind="stable")
    key, box = key[order], box[order]
    pq = np.floor(q / cell).astype(np.int64)
    pkey = pq[:, 0] * span + pq[:, 1]
    start = np.searchsorted(key, pkey, "left")
    n = np.searchsorted(key, pkey, "right") - start
    point = np.repeat(np.arange(len(q)), n)
    at = np.repeat(start, n) + np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    return point, box[at]


def visible_from_front(v: F64, triangles: I64, ids: I64, frame: EyeFrame) -> B:
    """Which of the vertices `ids` no triangle covers from in front (seen along the eye's
    forward axis): the skin a viewer sees, not the lid's underside nor the socket."""
    if len(ids) == 0 or len(triangles) == 0:
        return np.ones(len(ids), bool)
    q = np.stack([(v - frame.origin) @ frame.across,
                  (v - frame.origin) @ frame.up], axis=1)
    depth = (v - frame.origin) @ frame.forward
    tq = q[triangles]  # (M, 3, 2)
    cell = max(float(np.median(np.ptp(tq, axis=1).max(axis=1))), 1e-6)
    point, tri = _pairs_by_cell(q[ids], tq.min(axis=1), tq.max(axis=1), cell)
    t = triangles[tri]
    own = np.any(t == ids[point][:, None], axis=1)
    point, tri, t = point[~own], tri[~own], t[~own]
    a, b, c = q[t[:, 0]], q[t[:, 1]], q[t[:, 2]]
    p = q[ids[point]]
    v0, v1, v2 = b - a, c - a, p - a
    den = v0[:, 0] * v1[:, 1] - v1[:, 0] * v0[:, 1]
    ok = np.abs(den) > 1e-12
    den = np.where(ok, den, 1.0)
    s = (v2[:, 0] * v1[:, 1] - v1[:, 0] * v2[:, 1]) / den
    r = (v0[:, 0] * v2[:, 1] - v2[:, 0] * v0[:, 1]) / den
    inside = ok & (s >= 0) & (r >= 0) & (s + r <= 1)
    z = (1 - s - r) * depth[t[:, 0]] + s * depth[t[:, 1]] + r * depth[t[:, 2]]
    covered = inside & (z > depth[ids[point]] + VISIBLE_TOLERANCE * frame.width)
    out = np.ones(len(ids), bool)
    out[point[covered]] = False
    return out


def _path(graph: Any, stops: list[int]) -> I64:
    """Vertices of the shortest path through the stops in order (local indices)."""
    from scipy.sparse.csgraph import dijkstra

    out: list[int] = [stops[0]]
    for a, b in pairwise(stops):
        _, pred = dijkstra(graph, indices=b, return_predecessors=True)
        node = a
        while node != b:
            node = int(pred[node])
            if node < 0:
                return np.zeros(0, np.int64)
            out.append(node)
    return np.asarray(out, np.int64)


def find_eye(v: F64, faces: FacesLike, lm: F64, on_face: B, labels: I64, graph: Any,
             topology: tuple[I64, I64], name: str, upper_lm: tuple[int, ...],
             lower_lm: tuple[int, ...]) -> Eye | str:
    """One eye's blink, or "closed" / "not found". topology: mesh_edges(faces)."""
    frame = EyeFrame.of(lm, upper_lm, lower_lm)
    if not frame.width > 0:
        return "not found"
    mid = frame.origin + 0.5 * frame.width * frame.across
    dist = np.linalg.norm(v - mid, axis=1)
    near = dist < NEAR_SHARE * frame.width
    tris = fan_triangles(padded_faces(faces))
    # Skin and eyeballs hide what lies behind them; lashes and other thin parts do not count
    # (they hang over the lid's edge without being the eye's opening).
    centre, radius, balls = _eyeball(v, on_face, labels, frame)
    solid = on_face | balls
    occluders = tris[np.any(dist[tris] < 1.5 * NEAR_SHARE * frame.width, axis=1)
                     & np.all(solid[tris], axis=1)]
    skin = np.flatnonzero(near & on_face)
    seen = skin[visible_from_front(v, occluders, skin, frame)]
    if len(seen) < 8:
        return "not found"
    # The lids' edges: shortest paths over the visible skin through each lid's landmarks hug
    # the opening (it lies between the landmarks and cannot be crossed).
    sub = graph[seen][:, seen]
    # Each landmark's nearest visible vertex on its own lid's side of the eye's midline.
    flat = frame.flat(v[seen])
    middle = 0.5 * (np.interp(flat[:, 0], *frame.upper_guide.T)
                    + np.interp(flat[:, 0], *frame.lower_guide.T))
    sides = (flat[:, 1] >= middle, flat[:, 1] <= middle)
    anchors: list[int] = []
    for side, marks in ((0, upper_lm), (1, lower_lm)):
        for j, k in enumerate(marks):
            ok = sides[side] if 0 < j < 3 else np.ones(len(seen), bool)
            d = np.where(ok, np.linalg.norm(v[seen] - lm[k], axis=1), np.inf)
            anchors.append(int(np.argmin(d)))
    up_path, low_path = _path(sub, anchors[:4]), _path(sub, anchors[4:])
    lm_gap = float(np.max(frame.upper_guide[1:3, 1] - frame.lower_guide[1:3, 1]))
    if len(up_path) < MIN_EDGE_VERTICES or len(low_path) < MIN_EDGE_VERTICES:
        return "closed" if lm_gap < CLOSED_SHARE * frame.width else "not found"
    # Visible skin beside hidden skin or a hole, between the two paths, is lid edge too (a
    # coarse lid's path may step over it).
    edges, hole_rim = topology
    shown = np.zeros(len(v), bool)
    shown[seen] = True
    rim = np.zeros(len(v), bool)
    cut = shown[edges[:, 0]] != shown[edges[:, 1]]
    rim[edges[cut].reshape(-1)] = True
    rim[hole_rim] = True
    rim &= shown
    up_ids, low_ids = seen[up_path], seen[low_path]
    # An open eye's lid edges border its opening (hidden skin, an eyeball or a hole); lids that
    # are one visible surface (a scan with closed eyes, whatever its landmarks say) do not.
    lid_edges = np.concatenate([up_ids, low_ids])
    inner = np.abs(frame.flat(v[lid_edges])[:, 0] - 0.5) < 0.5 - CORNER_SHARE
    if not rim[lid_edges[inner]].any():
        return "closed"
    up_flat, low_flat = frame.flat(v[up_ids]), frame.flat(v[low_ids])
    uo, lo_ = np.argsort(up_flat[:, 0]), np.argsort(low_flat[:, 0])
    extra = np.setdiff1d(np.flatnonzero(rim), np.concatenate([up_ids, low_ids]))
    ef = frame.flat(v[extra])
    top = np.interp(ef[:, 0], up_flat[uo, 0], up_flat[uo, 1])
    bottom = np.interp(ef[:, 0], low_flat[lo_, 0], low_flat[lo_, 1])
    between = (ef[:, 0] > 0) & (ef[:, 0] < 1) & (ef[:, 1] < top) & (ef[:, 1] > bottom)
    # ... but not rim skin far behind the lids: with the eyeball a separate object, the back of
    # the empty socket shows through the opening, and a blink would drag it to the lid line.
    path_depth = (v[np.concatenate([up_ids, low_ids])] - frame.origin) @ frame.forward
    between &= ((v[extra] - frame.origin) @ frame.forward
                >= path_depth.min() - EDGE_DEPTH_SHARE * frame.width)
    middle = 0.5 * (top + bottom)
    upper = np.unique(np.concatenate([up_ids, extra[between & (ef[:, 1] >= middle)]]))
    lower = np.unique(np.concatenate([low_ids, extra[between & (ef[:, 1] < middle)]]))
    upper = np.setdiff1d(upper, lower)  # the corners end both paths and stay
    lower = lower[np.argsort(frame.flat(v[lower])[:, 0], kind="stable")]
    if len(upper) == 0:
        return "closed"
    return _blink_fields(v, frame, name, upper, lower, on_face, labels, graph, near, shown,
                         (centre, radius))


def mesh_edges(faces: FacesLike, n: int) -> tuple[I64, I64]:
    """Undirected polygon edges (E, 2), and the vertices on a hole's rim (edges that only one
    polygon uses); by 1-D keys, which sort far faster than rows."""
    e = polygon_edges(padded_faces(faces))
    key = np.minimum(e[:, 0], e[:, 1]) * n + np.maximum(e[:, 0], e[:, 1])
    uniq, counts = np.unique(key, return_counts=True)
    edges = np.stack([uniq // n, uniq % n], axis=1)
    rim: I64 = np.unique(edges[counts == 1].reshape(-1))
    return edges, rim


def _interp_matrix(x: F64, knots: F64) -> Any:
    """(len(x), len(knots)) sparse weights of linear interpolation between sorted knots,
    clamped at the ends (np.interp's rule, as a matrix that can carry any per-knot value)."""
    k = np.clip(np.searchsorted(knots, x, side="right") - 1, 0, len(knots) - 1)
    k1 = np.minimum(k + 1, len(knots) - 1)
    span = knots[k1] - knots[k]
    a = np.where(span > 0, np.clip((x - knots[k]) / np.where(span > 0, span, 1.0), 0.0, 1.0),
                 0.0)
    rows = np.repeat(np.arange(len(x)), 2)
    cols = np.stack([k, k1], axis=1).reshape(-1)
    vals = np.stack([1.0 - a, a], axis=1).reshape(-1)
    return sp.csr_matrix((vals, (rows, cols)), shape=(len(x), len(knots)))


def _blink_fields(v: F64, frame: EyeFrame, name: str, upper: I64, lower: I64, on_face: B,
                  labels: I64, graph: Any, near: B, shown: B,
                  ball: tuple[F64, float]) -> Eye | str:
    """The two fields that carry the upper lid onto the lower one, turning about the eye's
    centre (ball: the centre and the eyeball's radius, 0 without one), or "closed"."""
    from scipy.sparse.csgraph import dijkstra

    centre, radius = ball
    lt = frame.flat(v[lower])[:, 0]
    up_flat = frame.flat(v[upper])
    opening = float(np.max(up_flat[:, 1] - frame.flat(curve_at(up_flat[:, 0], lt, v[lower]))[:, 1]))
    lm_gap = float(np.max(frame.upper_guide[1:3, 1] - frame.lower_guide[1:3, 1]))
    # Closed lids overlap (the upper one hides the lower one's edge, so the edges found lie
    # apart); the landmarks on them still touch.
    if min(opening, lm_gap) < CLOSED_SHARE * frame.width:
        return "closed"
    axis = frame.across
    reach = REACH_SHARE * frame.width
    local = np.flatnonzero(near & on_face)
    sub = graph[local][:, local]
    pos = np.full(len(v), -1)
    pos[local] = np.arange(len(local))
    d_up = np.full(len(v), np.inf)
    d_low = np.full(len(v), np.inf)
    d_up[local] = dijkstra(sub, indices=pos[upper], limit=reach, min_only=True)
    d_low[local] = dijkstra(sub, indices=pos[lower], limit=reach, min_only=True)
    upper_side = np.isfinite(d_up) & (d_up < d_low)
    # Skin the eyeball pokes through, just behind the upper edge, closes onto the lower edge
    # with it, so no triangle of the shut lid dips behind the eyeball (the underside of a lid
    # that lies on the eye stays: folded out, it would show).
    inside = np.linalg.norm(v - centre, axis=1) < radius - TUCK_DEPTH_SHARE * frame.width
    tucked = np.flatnonzero(upper_side & ~shown & inside & (d_up < TUCK_SHARE * frame.width))
    exact = np.concatenate([upper, np.setdiff1d(tucked, upper)])
    ex_flat = frame.flat(v[exact])
    target = curve_at(ex_flat[:, 0], lt, v[lower])
    # Each of them turns about the eye onto its target, then goes the small rest of the way.
    x0, x1 = v[exact] - centre, target - centre
    x0p = x0 - (x0 @ axis)[:, None] * axis
    x1p = x1 - (x1 @ axis)[:, None] * axis
    angle = np.arctan2(np.cross(x0p, x1p) @ axis, np.sum(x0p * x1p, axis=1))
    rest = target - _rotate(v[exact], centre, axis, angle)
    # The skin above follows the edge at its place across the eye, fading up the lid; the
    # corners (share 0 and 1) do not turn.
    n_up = len(upper)
    order = np.argsort(up_flat[:, 0], kind="stable")
    st = np.concatenate([[0.0], up_flat[order, 0], [1.0]])
    sa = np.concatenate([[0.0], angle[:n_up][order], [0.0]])
    sr = np.concatenate([np.zeros((1, 3)), rest[:n_up][order], np.zeros((1, 3))])
    lid = np.setdiff1d(np.flatnonzero(upper_side & shown), exact)
    hold = HOLD_SHARE * frame.width
    fade = 1.0 - _smoothstep((d_up[lid] - hold) / (reach - hold))
    share = frame.flat(v[lid])[:, 0]
    who = np.concatenate([exact, lid])
    ang = np.concatenate([angle, fade * np.interp(share, st, sa)])
    res = np.concatenate([rest, fade[:, None] * curve_at(share, st, sr)])
    p0 = v[who]

    def path(w: float) -> F64:
        out: F64 = _rotate(p0, centre, axis, w * ang) - p0 + w * res
        return out

    half, full = path(0.5), path(1.0)
    fields = np.zeros((2, len(v), 3))
    fields[0, who] = 4.0 * half - full
    fields[1, who] = 2.0 * full - 4.0 * half
    # What the rest of the motion (brows, speech) does to the lids must not part them at a
    # full blink: each exact vertex takes on the lower edge's motion at its target instead of
    # its own, and the lid above follows its place across the eye, as it follows the blink.
    n = len(v)
    to_lower = _interp_matrix(ex_flat[:, 0], lt)  # (n_exact, n_lower)
    exact_rows = (sp.csr_matrix((np.ones(len(lower)), (np.arange(len(lower)), lower)),
                                shape=(len(lower), n)))
    exact_rows = (to_lower @ exact_rows
                  - sp.csr_matrix((np.ones(len(exact)), (np.arange(len(exact)), exact)),
                                  shape=(len(exact), n)))
    knots = _interp_matrix(share, st)[:, 1:-1]  # the corners' anchors carry nothing
    lid_rows = sp.diags(fade) @ knots @ exact_rows[:n_up][order]
    stacked = sp.vstack([exact_rows, lid_rows]).tocsr()
    follow = (sp.csr_matrix((np.ones(len(who)), (who, np.arange(len(who)))),
                            shape=(n, len(who))) @ stacked).tocsr()
    follow = _carry_to_parts(v, fields, follow, on_face, labels, near, frame)
    if not np.all(np.isfinite(fields)):  # a degenerate lid: the net's blink, never a NaN key
        return "not found"
    return Eye(name, upper.astype(np.int64), lower.astype(np.int64), frame,
               fields.astype(np.float32), follow)


def _ball_like(points: F64, frame: EyeFrame) -> tuple[F64, float, bool]:
    """A sphere's centre fitted to a part, and whether the part is an eyeball (or a shell
    around one): it fits the sphere, of an eyeball's size, and lies all round its centre (a
    lash strip along the lid may fit a sphere too, but lies to one side of it)."""
    c, r, rms = _sphere(points)
    ball = bool(BALL_RADIUS[0] * frame.width < r < BALL_RADIUS[1] * frame.width
                and rms < BALL_FIT * r
                and np.linalg.norm(points.mean(axis=0) - c) < BALL_CENTRED * r)
    return c, r, ball


def _carry_to_parts(v: F64, fields: F64, follow: Any, on_face: B, labels: I64, near: B,
                    frame: EyeFrame) -> Any:
    """Lashes and other thin separate parts lying on the lids move with the skin under them
    (the network moved them before, and now blinks no more); eyeballs stay. Returns `follow`
    with their rows."""
    from scipy.spatial import cKDTree

    skin = np.flatnonzero(near & on_face)
    if len(skin) == 0:
        return follow
    tree = cKDTree(v[skin])
    dst: list[I64] = []
    src: list[I64] = []
    for part in np.unique(labels[near & ~on_face]):
        idx = np.flatnonzero(labels == part)
        if len(idx) >= 8 and _ball_like(v[idx], frame)[2]:
            continue
        dist, nearest = tree.query(v[idx])
        if np.median(dist) < ATTACHED_SHARE * frame.width:
            fields[:, idx] = fields[:, skin[nearest]]
            dst.append(idx)
            src.append(skin[nearest])
    if not dst:
        return follow
    d, s_ = np.concatenate(dst), np.concatenate(src)
    pick = sp.csr_matrix((np.ones(len(d)), (d, s_)), shape=follow.shape)
    keep = np.ones(follow.shape[0])
    keep[d] = 0.0
    return (sp.diags(keep) @ follow + pick @ follow).tocsr()


def eye_words(names: list[str]) -> dict[str, str]:
    """How a note names one eye or both."""
    if len(names) == 2:
        return {"eyes": "eyes", "them": "them", "its": "their"}
    return {"eyes": f"{names[0]} eye", "them": "it", "its": "its"}


@dataclass(frozen=True)
class Eyelids:
    """A mesh's blinks: per eye (right, left) its fields, or why the eye has none."""

    eyes: tuple[Eye | str, Eye | str]  # Eye, "closed", "not found" or "asked" (closed, blinks)
    points: SurfacePoints | None = None  # the 68 landmarks on the mesh, to read fields at

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
        labels: I64 | None = None,
        points: SurfacePoints | None = None,
    ) -> Eyelids:
        """The blinks of a canonical-aligned mesh. graph (`polygon_graph`), labels
        (`part_labels`) and points (the 68 landmarks' `surface_points`): the mesh's own, when
        the caller has them already (head_mesh.py)."""
        v = np.asarray(vertices_canon, dtype=np.float64)
        lm = np.asarray(landmarks_canon, dtype=np.float64)
        if lm.shape != (N_LANDMARKS, 3):
            return cls(("not found", "not found"))
        faces = padded_faces(faces)  # once: every step below reads the polygons
        if labels is None:
            labels = part_labels(len(v), faces)
        graph = (polygon_graph(v, faces) if graph is None else graph).tocsr()
        topology = mesh_edges(faces, len(v))
        found = tuple(find_eye(v, faces, lm, np.asarray(on_face, bool), labels, graph, topology,
                               name, up, low) for name, up, low in EYES)
        eyes: tuple[Eye | str, Eye | str] = (found[0], found[1])
        if points is None:
            idx = None if landmark_vertices is None else np.asarray(landmark_vertices, np.int64)
            points = surface_points(v, faces, lm, idx)
        return cls(eyes, points)

    @property
    def blinking(self) -> list[int]:
        """Which eyes (0 right, 1 left) blink by their fields."""
        return [k for k, e in enumerate(self.eyes) if isinstance(e, Eye)]

    @property
    def net_blinks(self) -> list[int]:
        """Which eyes keep the landmark-driven blink (no opening found, or closed and asked to
        blink anyway)."""
        return [k for k, e in enumerate(self.eyes) if e in ("not found", "asked")]

    def closed_eyes_follow_landmarks(self) -> Eyelids:
        """These lids with every eye closed in the neutral blinking by the landmarks' motion
        (Blink Closed Eyes): the user's choice, so the note says so."""
        eyes = tuple("asked" if e == "closed" else e for e in self.eyes)
        return replace(self, eyes=(eyes[0], eyes[1]))

    @property
    def fields(self) -> F32:
        parts = [e.fields for e in self.eyes if isinstance(e, Eye)]
        if not parts:
            return np.zeros((0, 0, 3), np.float32)
        return np.concatenate(parts).astype(np.float32)

    def notes(self) -> tuple[str, ...]:
        """Sentences for the user: eyes closed in the neutral, eyes whose opening was not found."""
        out = []
        for kind, text in (("closed", CLOSED_NOTE), ("not found", NOT_FOUND_NOTE),
                           ("asked", ASKED_NOTE)):
            names = [EYES[k][0] for k, e in enumerate(self.eyes) if e == kind]
            if names:
                words = eye_words(names)
                if kind in ("closed", "asked"):
                    words["eyes"] += " are" if len(names) == 2 else " is"
                out.append(text.format(**words))
        return tuple(out)

    def amounts(self, blink: NDArray[np.floating[Any]]) -> F64:
        """(T, 2 * blinking eyes) field amounts from the blink weights (T, 2): right, left."""
        w = np.clip(np.asarray(blink, np.float64), 0.0, 1.0)
        cols = [np.stack([w[:, k], w[:, k] ** 2], axis=1) for k in self.blinking]
        out: F64 = np.concatenate(cols, axis=1) if cols else np.zeros((len(w), 0))
        return out

    def extend(
        self,
        basis: NDArray[np.floating[Any]],
        codes: NDArray[np.floating[Any]],
        blink: NDArray[np.floating[Any]],
    ) -> tuple[F32, F32, F64, F32]:
        """Basis and codes with the blinking eyes' fields appended, their amounts, and the
        appended fields at the landmark points. Besides the blink's own two fields an eye,
        fields that make a shut lid move as the lower lid does under the rest of the motion
        (codes @ basis: brows, speech), at amounts that grow with the blink."""
        w = np.clip(np.asarray(blink, np.float64), 0.0, 1.0)
        b = np.asarray(basis)  # follow_fields reads the lid's vertices in float64
        c = np.asarray(codes, np.float64)
        fields = [self.fields.astype(np.float64)] if self.blinking else []
        amounts = [self.amounts(w)]
        for k in self.blinking:
            eye = self.eyes[k]
            assert isinstance(eye, Eye)
            extra, mix = eye.follow_fields(b)
            fields.append(extra)
            amounts.append(w[:, k:k + 1] * (c @ mix))
        if not fields or sum(len(f) for f in fields) == 0:
            return (np.asarray(basis, np.float32), np.asarray(codes, np.float32),
                    np.zeros((len(w), 0)), np.zeros((0, N_LANDMARKS, 3), np.float32))
        all_fields = np.concatenate(fields)
        all_amounts = np.concatenate(amounts, axis=1)
        lm_fields = (np.zeros((len(all_fields), N_LANDMARKS, 3)) if self.points is None
                     else self.points.sample(all_fields))
        return (*append_fields(basis, codes, all_fields, all_amounts), all_amounts,
                lm_fields.astype(np.float32))
