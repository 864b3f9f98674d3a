"""Is there an opening between the lips, and where does a cut make one (Cut Mouth, issue 18)?

Many artist heads (scans, sculpts, game heads) model the mouth closed with no slit: the upper and
lower lip share polygons. A bake that opens such a mouth stretches those polygons into a pale
sheet, and nothing else in the pipeline notices, so the mouth is checked here, on the neutral
mesh and its 68 landmarks, and the cut that opens it is planned here, without Blender.

Fused or open is told as `pick_checks` tells the lips apart: at each inner-lip column (iBUG
61/67, 62/66, 63/65) the path along the mesh from the upper point to the lower one goes round a
mouth corner or through the mouth when the lips are separate surfaces, far longer than the gap
across; on welded lips it is a vertex or an edge or two. The cut is the chain of mesh edges from
corner 60 to corner 64 that stays nearest the inner-lip line (through the column midpoints):
a shortest path whose edges cost more the further they stray from that line. After the split
(Blender's bmesh, which carries UVs, shape keys and vertex groups to the new vertices), each
vertex of the path has two copies, and the one whose polygons lie above (the face's up axis,
from the landmarks) is the upper lip's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import MeshError
from .landmarks import N_LANDMARKS, to_canonical
from .lip_contact import surface_points
from .mesh import FacesLike, closest_on_polyline, padded_faces, polygon_edges
from .pick_checks import APART_PATH, APART_RATIO

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

CORNERS = (60, 64)
# The inner-lip columns from corner 60 towards 64: (upper, lower) landmark of each.
COLUMNS = ((61, 67), (62, 66), (63, 65))
# Only vertices this near the mouth's centre (mouth widths) are searched: the cut and the lips'
# paths stay on the mouth, and a big head costs no more than a small one.
REACH = 1.5
# An edge of the cut costs its length times 1 + (its midpoint's distance from the inner-lip
# line through the corners and column midpoints / this share of the mouth width)^2. The line is
# a chord of a curved lip: on the demo head welded shut (5k to 50k vertices) the cut kept to the
# welded seam with 0.1 to 0.3; with 0.02 or 0.05 it left it near the corners of the 11k head,
# where the seam lies 6 mm off the chord, and with no pull at all it ran beside the seam there.
LINE_TOL = 0.15
# A cut longer than this (mouth widths) has left the lips.
MAX_CUT = 3.0
# Where a stored landmark position on the cut goes: this share of the way from its vertex
# towards the middle of its side's polygons, so that the closest surface point is on its lip.
NUDGE = 0.05

# The inner lip roll and mouth bag a cut may add (mouth widths): the lips' new borders roll this
# far back into the mouth, curling apart by ROLL_CURL; the bag's back lies BAG_DEPTH behind the
# roll, narrowed towards the middle by BAG_NARROW, and open BAG_OPEN up and down, so a bag has
# room inside before the mouth opens (tapering to nothing at the corners).
ROLL, ROLL_CURL = 0.06, 0.02
BAG_DEPTH, BAG_NARROW, BAG_OPEN = 0.45, 0.7, 0.12

FUSED = ("The mouth of '{name}' has no opening between the lips: the lips will stretch into a "
         "sheet when it opens. Use Cut Mouth (panel) or --cut-mouth (batch).")
NO_CUT = ("No path along the inner lips of '{name}' joins the mouth corners (landmarks 60 and "
          "64), so its mouth cannot be cut: check the inner-lip landmarks (60-67), or cut the "
          "lips apart in Edit Mode.")
PARTLY_OPEN = ("The lips of '{name}' are open in places and joined in others along the lip "
               "line, so Cut Mouth cannot cut them: cut the joined parts apart in Edit Mode.")
TOO_FEW = ("The lip line of '{name}' has {n} vertices between the mouth corners; a cut needs 3 "
           "for the inner-lip landmarks 61-63: subdivide the mouth first.")


def fused_note(name: str) -> str:
    """The sentence a fused mouth gets at Fit and in a bake's notes."""
    return FUSED.format(name=name)


@dataclass(frozen=True)
class Mouth:
    """What a mesh's mouth is: fused or open, and for a fused one the cut that opens it."""

    fused: bool
    path: I64  # fused: vertices from corner 60 to corner 64 along the inner-lip line; open: ()
    columns: tuple[int, int, int]  # positions in path of the 61/67, 62/66, 63/65 columns
    up: F64  # the face's up axis in mesh space (unit)

    @property
    def inner(self) -> I64:
        """The path's vertices that a split doubles (the corners stay shared: the mouth's ends
        stay closed)."""
        out: I64 = self.path[1:-1]
        return out

    @property
    def edges(self) -> I64:
        """(N, 2) the edges of the cut, in order."""
        out: I64 = np.stack([self.path[:-1], self.path[1:]], axis=1)
        return out


def face_up(positions: NDArray[np.floating[Any]]) -> F64:
    """Unit mesh-space direction of the canonical face's +Y (up), from the 68 landmarks."""
    sim = to_canonical(np.asarray(positions, np.float64))
    up = sim.inverse().apply_vectors(np.array([[0.0, 1.0, 0.0]]))[0].astype(np.float64)
    out: F64 = up / float(np.linalg.norm(up))
    return out


def face_front(positions: NDArray[np.floating[Any]]) -> F64:
    """Unit mesh-space direction of the canonical face's +Z (out of the face)."""
    sim = to_canonical(np.asarray(positions, np.float64))
    out = sim.inverse().apply_vectors(np.array([[0.0, 0.0, 1.0]]))[0].astype(np.float64)
    front: F64 = out / float(np.linalg.norm(out))
    return front


def mouth_bag(ring: NDArray[np.floating[Any]], sign: NDArray[Any],
              positions: NDArray[np.floating[Any]]) -> tuple[F64, F64]:
    """(roll, back): where the inner lip roll and the back of the mouth bag go, one point per
    point of the opening's border `ring` (K, 3), whose `sign` is +1 on the upper lip, -1 on the
    lower and 0 at the corners. A fused mouth's borders coincide at rest, so the roll curls them
    apart and the bag is open inside: its faces have an area, and an opened mouth shows a dark
    inside rather than the back of the head."""
    p = np.asarray(ring, dtype=np.float64)
    pos = np.asarray(positions, dtype=np.float64)
    up, front = face_up(pos), face_front(pos)
    a, b = pos[CORNERS[0]], pos[CORNERS[1]]
    width = float(np.linalg.norm(b - a))
    t = np.clip((p - a) @ (b - a) / width**2, 0.0, 1.0)
    lift = (np.asarray(sign, dtype=np.float64) * np.sin(np.pi * t))[:, None] * up[None]
    roll = p - ROLL * width * front + ROLL_CURL * width * lift
    centre = 0.5 * (a + b)
    back = (centre + BAG_NARROW * (p - centre) - (ROLL + BAG_DEPTH) * width * front
            + BAG_OPEN * width * lift)
    return roll, back


def landmark_vertices(vertices: F64, faces: FacesLike, positions: F64,
                      indices: I64 | None) -> I64:
    """A vertex for each landmark: the given ones, else the corner of the polygon the position
    lies on that is nearest it (a plain nearest vertex may sit on the other lip)."""
    if indices is not None:
        return np.asarray(indices, dtype=np.int64)
    points = surface_points(vertices, faces, positions, None)
    out: I64 = points.vertices[np.arange(len(positions)), np.argmax(points.weights, axis=1)]
    return out


def _graph(n: int, edges: I64, weights: F64) -> Any:
    from scipy.sparse import coo_matrix

    return coo_matrix((weights, (edges[:, 0], edges[:, 1])), shape=(n, n)).tocsr()


def find_mouth(vertices: NDArray[np.floating[Any]], faces: FacesLike,
               positions: NDArray[np.floating[Any]], indices: NDArray[Any] | None = None,
               name: str = "the mesh", plan_cut: bool = True) -> Mouth:
    """Fused or open, and the cut of a fused mouth; MeshError (one sentence) when a fused
    mouth has no cut. positions: the 68 landmarks (mesh space); indices: their vertices when
    known (an open mouth's inner-lip points are on their own lip). plan_cut=False only tells
    fused from open (a note needs no cut)."""
    from scipy.sparse.csgraph import dijkstra

    v = np.asarray(vertices, dtype=np.float64)
    pos = np.asarray(positions, dtype=np.float64)
    if pos.shape != (N_LANDMARKS, 3):
        raise MeshError(f"Expected 68 landmark positions; got shape {pos.shape}.")
    pf = padded_faces(faces)
    idx = landmark_vertices(v, pf, pos, None if indices is None else np.asarray(indices))
    up = face_up(pos)
    c0, c1 = int(idx[CORNERS[0]]), int(idx[CORNERS[1]])
    width = float(np.linalg.norm(pos[CORNERS[1]] - pos[CORNERS[0]]))
    if not width > 0.0 or c0 == c1:
        raise MeshError(NO_CUT.format(name=name))
    centre = pos[60:68].mean(axis=0)
    keep = np.flatnonzero(np.linalg.norm(v - centre, axis=1) < REACH * width)
    local = np.full(len(v), -1, dtype=np.int64)
    local[keep] = np.arange(len(keep))
    near_mouth = (np.where(pf >= 0, local[pf], -1) >= 0).any(axis=1)  # the rest is not read
    directed = polygon_edges(pf[near_mouth])
    undirected, n_faces = np.unique(np.sort(directed, axis=1), axis=0, return_counts=True)
    inside = (local[undirected] >= 0).all(axis=1)
    e, e_faces = local[undirected[inside]], n_faces[inside]
    length = np.linalg.norm(v[keep[e[:, 0]]] - v[keep[e[:, 1]]], axis=1)
    plain = _graph(len(keep), e, length)
    needed = [c0, c1, *(int(idx[k]) for col in COLUMNS for k in col)]
    if min(local[needed]) < 0:
        raise MeshError(NO_CUT.format(name=name))
    none = np.zeros(0, dtype=np.int64)
    welded = _welded(v, idx, plain, local, width)
    if not welded or not plan_cut:
        return Mouth(welded, none, (0, 0, 0), up)
    mids = np.array([0.5 * (pos[a] + pos[b]) for a, b in COLUMNS])
    line = np.concatenate([pos[CORNERS[0]][None], mids, pos[CORNERS[1]][None]])
    middle = 0.5 * (v[keep[e[:, 0]]] + v[keep[e[:, 1]]])
    off = np.linalg.norm(closest_on_polyline(middle, line) - middle, axis=1)
    cost = length * (1.0 + (off / (LINE_TOL * width)) ** 2)
    dist, pred = dijkstra(_graph(len(keep), e, cost), directed=False,
                          indices=int(local[c0]), return_predecessors=True)
    if not np.isfinite(dist[local[c1]]):
        raise MeshError(NO_CUT.format(name=name))
    chain = [int(local[c1])]
    while chain[-1] != local[c0]:
        chain.append(int(pred[chain[-1]]))
    path = keep[np.array(chain[::-1], dtype=np.int64)]
    span = float(np.linalg.norm(np.diff(v[path], axis=0), axis=1).sum())
    if span > MAX_CUT * width:
        raise MeshError(NO_CUT.format(name=name))
    n_local = len(keep)
    faces_of = dict(zip((e[:, 0] * n_local + e[:, 1]).tolist(), e_faces.tolist(), strict=True))
    steps = np.sort(local[np.stack([path[:-1], path[1:]], axis=1)], axis=1)
    sheets = [faces_of.get(int(a) * n_local + int(b), 0) for a, b in steps]
    if max(sheets) < 2:
        return Mouth(False, none, (0, 0, 0), up)  # the line is an open border: lips apart
    if min(sheets) < 2:
        raise MeshError(PARTLY_OPEN.format(name=name))
    if len(path) - 2 < len(COLUMNS):
        raise MeshError(TOO_FEW.format(name=name, n=len(path) - 2))
    return Mouth(True, path, _columns(v[path], mids), up)


def _welded(v: F64, idx: I64, graph: Any, local: I64, width: float) -> bool:
    """Whether any inner-lip column's upper and lower points are near each other along the
    surface (pick_checks' test of separate lips): one welded column makes the mouth fused."""
    from scipy.sparse.csgraph import dijkstra

    sources = [int(local[idx[a]]) for a, _ in COLUMNS]
    dist = dijkstra(graph, directed=False, indices=sources,
                    limit=max(APART_PATH * width, 1e-12) * 2.0)
    for row, (a, b) in zip(dist, COLUMNS, strict=True):
        straight = float(np.linalg.norm(v[idx[a]] - v[idx[b]]))
        if row[local[idx[b]]] <= max(APART_PATH * width, APART_RATIO * straight):
            return True
    return False


def _columns(path_points: F64, mids: F64) -> tuple[int, int, int]:
    """Positions (inside the path, increasing) of the path vertices nearest the three column
    midpoints; evenly spaced ones where the nearest would collide."""
    n = len(path_points)
    near = [1 + int(np.argmin(np.linalg.norm(path_points[1:-1] - m, axis=1))) for m in mids]
    if near[0] < near[1] < near[2]:
        return near[0], near[1], near[2]
    inner = n - 2
    a, b, c = (1 + round(f * (inner - 1)) for f in (0.25, 0.5, 0.75))
    if not a < b < c:
        a, b, c = 1, 1 + inner // 2, inner
    return a, b, c


@dataclass(frozen=True)
class Sides:
    """After the split: for each inner path vertex, its copy on the upper and on the lower lip."""

    upper: I64  # (len(path) - 2,) vertex indices after the cut
    lower: I64


def split_sides(vertices: NDArray[np.floating[Any]], faces: FacesLike, origin: NDArray[Any],
                mouth: Mouth) -> Sides:
    """Which copy of each split vertex is the upper lip's: the one whose polygons lie further
    up. origin: for each vertex after the split, the vertex it came from (itself if unsplit)."""
    v = np.asarray(vertices, dtype=np.float64)
    pf = padded_faces(faces)
    src = np.asarray(origin, dtype=np.int64)
    valid = pf >= 0
    counts = valid.sum(axis=1)
    centroid = np.where(valid[..., None], v[np.maximum(pf, 0)], 0.0).sum(axis=1) / counts[:, None]
    upper, lower = [], []
    for p in mouth.inner.tolist():
        copies = np.flatnonzero(src == p)
        scores = []
        for c in copies.tolist():
            rows = np.flatnonzero((pf == c).any(axis=1))
            scores.append(float(np.mean((centroid[rows] - v[c]) @ mouth.up)) if len(rows)
                          else 0.0)
        if len(copies) < 2:
            raise MeshError("The cut did not separate the lips at a vertex of the lip line.")
        upper.append(int(copies[int(np.argmax(scores))]))
        lower.append(int(copies[int(np.argmin(scores))]))
    return Sides(np.array(upper, dtype=np.int64), np.array(lower, dtype=np.int64))


def cut_landmark_vertices(indices: NDArray[Any], mouth: Mouth, sides: Sides) -> I64:
    """The landmark vertices after the cut: each inner-lip column on its own lip's copy of the
    cut's vertex there (61-63 upper, 65-67 lower); the others where they were (a split keeps the
    original vertices' indices)."""
    out = np.asarray(indices, dtype=np.int64).copy()
    for (a, b), col in zip(COLUMNS, mouth.columns, strict=True):
        out[a], out[b] = sides.upper[col - 1], sides.lower[col - 1]
    return out


def cut_landmark_positions(positions: NDArray[np.floating[Any]], vertices: NDArray[Any],
                           faces: FacesLike, mouth: Mouth, sides: Sides) -> F64:
    """Fitted positions after the cut: each inner-lip column a hair inside its own lip from the
    cut's vertex there, so that a closest-point lookup cannot land on the other lip."""
    v = np.asarray(vertices, dtype=np.float64)
    pf = padded_faces(faces)
    valid = pf >= 0
    counts = valid.sum(axis=1)
    centroid = np.where(valid[..., None], v[np.maximum(pf, 0)], 0.0).sum(axis=1) / counts[:, None]
    out = np.asarray(positions, dtype=np.float64).copy()
    for (a, b), col in zip(COLUMNS, mouth.columns, strict=True):
        for k, vert in ((a, sides.upper[col - 1]), (b, sides.lower[col - 1])):
            rows = np.flatnonzero((pf == vert).any(axis=1))
            target = centroid[rows].mean(axis=0) if len(rows) else v[vert]
            out[k] = v[vert] + NUDGE * (target - v[vert])
    return out
