"""The panel of test heads on which "do the baked lips meet on /p b m/?" is measured.

A closure that only works on the ICT mean face, in canonical millimetres, proves little: users
bring heads whose neutral lips are already shut, or a few millimetres apart, or even crossed, in
centimetres or metres, Y-up or Z-up, on their own topology. Each head here is one of those cases,
given exactly as a user would have it (its own units, orientation and landmarks), together with
the facts a closure check needs to turn a measurement into real millimetres: how big a unit is,
which way is up, and how far apart the inner lips already are in the neutral.

Everything is regenerated from the ICT FaceKit pack and project code on each call; nothing from
the pack is stored in the repository. ICT heads keep the parts a user's head has (skin, mouth and
eye sockets, gums and tongue, teeth, eyeballs) and drop the render helpers (lacrimal fluid, eye
blend/occlusion shells, eyelashes), which no closure check should have to look through. ICT heads
sit in the pack's centimetres and axes, translated so landmark 27 (the nose bridge) is the origin,
as `load_ict` leaves them; a translation changes nothing a lip gap depends on.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import lsq_linear
from scipy.spatial.transform import Rotation

from ..core.head.mesh import closest_on_triangles
from ..demo_head.make import OBJECT_ROTATION, OBJECT_SCALE, make_demo_head
from .ict import CM_TO_MM, ICTFace, load_ict
from .s2d.data import EVAL_ID_SEED0, identity_weights
from .s2d.remesh import voronoi_remesh

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

# (upper, lower) inner-lip landmark pairs, left to right in the iBUG numbering.
INNER_PAIRS: tuple[tuple[int, int], ...] = ((61, 67), (62, 66), (63, 65))
MOUTH_CORNERS = (48, 54)
ICT_UP = np.array([0.0, 1.0, 0.0])
ICT_PARTS = (
    "face", "head_and_neck", "mouth_socket", "eye_socket_left", "eye_socket_right",
    "gums_and_tongue", "teeth", "eyeball_left", "eyeball_right",
)
# Held-out identities only: seeds from EVAL_ID_SEED0 never meet training (TRAIN_ID_SEED0 + i).
POOL_SIZE = 200
GAP_TARGETS_MM = (0.2, 0.6, 1.0, 1.5, 2.0, 2.5, 3.0)
SEAL_GAP_MM = 0.01  # touching, never crossing, whatever float rounding does to "exactly 0"
APART_GAP_MM = 5.0
# What a seal or an opening may be made of: lips pressed, rolled or shrugged for the seal (the
# upper roll and shrug lift the upper lip, which can even the three pairs out); jaw and lip
# raisers/lowerers for the opening. All weights stay in [0, 1]: a negative jawOpen would close
# the lips too, but by pushing the lower teeth through the upper ones.
SEAL_SHAPES = (
    "mouthClose", "mouthPress_L", "mouthPress_R", "mouthRollLower", "mouthRollUpper",
    "mouthShrugLower", "mouthShrugUpper",
)
APART_SHAPES = ("jawOpen", "mouthLowerDown_L", "mouthLowerDown_R", "mouthUpperUp_L",
                "mouthUpperUp_R")
# mm of gap error weighed against mm of face motion: the gaps come out exact (the model is
# linear), the motion only as small as that allows.
_GAP_WEIGHT = 1e4
_GAP_TOLERANCE_MM = 1e-3
RETOPO_CELL_MM = 2.5  # the finer re-topology of the S2D evaluation
RETOPO_SEED = 31337 + 1
# An arbitrary, not axis-aligned pose, so nothing can assume up is a coordinate axis.
TILTED_EULER_DEG = (20.0, -35.0, 100.0)
MM_PER_INCH = 25.4
TILTED_ORIGIN_IN = np.array([3.0, -2.0, 7.0])
BLENDER_ORIGIN_M = np.array([0.0, 0.0, 1.6])  # a head at standing height above the floor


@dataclass(frozen=True)
class PanelHead:
    """One test head as a user would have it, plus what turns its units into real mm."""

    name: str
    vertices: F64  # (V, 3), the head's own units and axes
    faces: I64  # (F, 4) padded with -1, or (F, 3)
    landmarks68: I64 | F64  # (68,) vertex indices, or (68, 3) surface points
    mm_per_unit: float
    up: F64  # unit vector, the head's up axis in its own space
    neutral_gap_mm: float  # mean inner-lip (upper - lower) . up, real mm
    note: str

    @property
    def landmark_points(self) -> F64:
        return landmark_points(self.vertices, self.landmarks68)

    @property
    def pair_gaps_mm(self) -> F64:
        return inner_lip_gaps_mm(self.vertices, self.landmarks68, self.mm_per_unit, self.up)

    @property
    def mouth_width_mm(self) -> float:
        p = self.landmark_points
        a, b = MOUTH_CORNERS
        return float(np.linalg.norm(p[a] - p[b]) * self.mm_per_unit)


def landmark_points(vertices: NDArray[np.floating[Any]], landmarks: NDArray[Any]) -> F64:
    """(68, 3) positions whether the head names landmark vertices or carries surface points."""
    v = np.asarray(vertices, dtype=np.float64)
    lm = np.asarray(landmarks)
    if lm.ndim == 1:
        out: F64 = v[lm.astype(np.int64)]
        return out
    return lm.astype(np.float64)


def inner_lip_gaps_mm(
    vertices: NDArray[np.floating[Any]], landmarks: NDArray[Any], mm_per_unit: float,
    up: NDArray[np.floating[Any]],
) -> F64:
    """(upper - lower) . up of each inner pair in real mm: negative means the lips cross."""
    p = landmark_points(vertices, landmarks)
    upper = [u for u, _ in INNER_PAIRS]
    lower = [lo for _, lo in INNER_PAIRS]
    out: F64 = (p[upper] - p[lower]) @ np.asarray(up, dtype=np.float64) * mm_per_unit
    return out


def _head(
    name: str, vertices: NDArray[np.floating[Any]], faces: NDArray[np.integer[Any]],
    landmarks: NDArray[Any], mm_per_unit: float, up: NDArray[np.floating[Any]], note: str,
) -> PanelHead:
    """Read-only arrays: one panel is shared by every check, none may bend it for the next."""
    v = np.array(vertices, dtype=np.float64)
    f = np.array(faces, dtype=np.int64)
    lm_in = np.asarray(landmarks)
    lm: I64 | F64 = (np.array(lm_in, dtype=np.int64) if lm_in.ndim == 1
                     else np.array(lm_in, dtype=np.float64))
    u = np.asarray(up, dtype=np.float64)
    u = u / np.linalg.norm(u)
    for a in (v, f, lm, u):
        a.setflags(write=False)
    gap = float(inner_lip_gaps_mm(v, lm, mm_per_unit, u).mean())
    return PanelHead(name, v, f, lm, float(mm_per_unit), u, gap, note)


@dataclass(frozen=True)
class _ICTParts:
    """The pack restricted to what a user's head has, with vertex indices renumbered."""

    keep: I64  # pack vertex index of each kept vertex
    faces: I64  # (F, 4), -1 padded
    landmarks68: I64
    face_region: I64  # kept indices of the 'face' region: where "the rest of the face" moves


def ict_submesh(ict: ICTFace, regions: Sequence[str]) -> tuple[NDArray[np.bool_], I64, I64]:
    """The pack cut to some of its regions: (which vertices are kept, each pack vertex's index
    among the kept ones, the faces wholly inside them renumbered, -1 padded)."""
    mask = np.zeros(len(ict.neutral), dtype=bool)
    for name in regions:
        mask[ict.region(name)] = True
    new_index = (np.cumsum(mask) - 1).astype(np.int64)
    faces = ict.faces.astype(np.int64)
    used = faces >= 0
    inside = np.where(used, mask[np.where(used, faces, 0)], True).all(axis=1)
    kept_faces = np.where(used, new_index[np.where(used, faces, 0)], -1)[inside]
    return mask, new_index, kept_faces.astype(np.int64)


def _ict_parts(ict: ICTFace) -> _ICTParts:
    mask, new_index, kept_faces = ict_submesh(ict, ICT_PARTS)
    lm = ict.landmarks68.astype(np.int64)
    if not mask[lm].all():
        raise ValueError("An ICT landmark vertex lies outside the kept parts.")
    face = np.zeros(len(ict.neutral), dtype=bool)
    face[ict.region("face")] = True
    return _ICTParts(
        np.flatnonzero(mask).astype(np.int64), kept_faces.astype(np.int64),
        new_index[lm].astype(np.int64), new_index[np.flatnonzero(face & mask)].astype(np.int64),
    )


def _identity_mm(ict: ICTFace, seed: int) -> F64:
    return np.asarray(ict.identity(identity_weights(seed)), dtype=np.float64)


def scan_identity_gaps(ict: ICTFace, seeds: range) -> F64:
    """(N, 3) neutral inner-pair gaps (mm) of each identity, from its six lip landmarks only,
    so the whole pool costs less than building one head."""
    upper = ict.landmarks68[[u for u, _ in INNER_PAIRS]]
    lower = ict.landmarks68[[lo for _, lo in INNER_PAIRS]]
    idx = np.concatenate([upper, lower])
    base = ict.neutral[idx].astype(np.float64)
    deltas = ict.identity_deltas[:, idx].astype(np.float64)
    w = np.stack([identity_weights(s) for s in seeds]).astype(np.float64)
    p = base + np.tensordot(w, deltas[: w.shape[1]], axes=1)
    out: F64 = (p[:, :3] - p[:, 3:]) @ ICT_UP
    return out


def pick_seeds(seeds: range, pair_gaps: F64) -> tuple[list[int], int]:
    """Seeds whose mean gap is nearest each target (then the widest), each used once; and the
    most crossed one.

    The spanning heads must be valid input, so a seed with any pair crossed only ever stands for
    the bad input. Ties go to the lower seed.
    """
    gaps = pair_gaps.mean(axis=1)
    valid = [k for k in range(len(seeds)) if pair_gaps[k].min() >= 0.0]
    chosen: list[int] = []
    for target in GAP_TARGETS_MM:
        free = [k for k in valid if k not in chosen]
        chosen.append(min(free, key=lambda k: (abs(gaps[k] - target), k)))
    widest = max(valid, key=lambda k: (gaps[k], -k))
    if widest not in chosen:
        chosen.append(widest)
    crossed = min(range(len(seeds)), key=lambda k: (gaps[k], k))
    return [seeds[k] for k in chosen], seeds[crossed]


def solve_lip_weights(
    ict: ICTFace, vertices_mm: F64, parts: _ICTParts, target_mm: float,
    shapes: tuple[str, ...], per_pair: bool,
) -> dict[str, float]:
    """Expression weights in [0, 1] that bring the inner lips to `target_mm` (every pair, or
    their mean) while each shape moves the face region as little as it can.

    The cost is each shape's own motion, not the motion of the mix: the mix's motion rewards
    opposed shapes that cancel away from the lips, a face no one makes.
    """
    idx = [ict.expression_index(n) for n in shapes]
    deltas = ict.expression_deltas[idx][:, parts.keep].astype(np.float64)  # (J, V, 3)
    lm = parts.landmarks68
    upper = lm[[u for u, _ in INNER_PAIRS]]
    lower = lm[[lo for _, lo in INNER_PAIRS]]
    gap0 = (vertices_mm[upper] - vertices_mm[lower]) @ ICT_UP
    a = ((deltas[:, upper] - deltas[:, lower]) @ ICT_UP).T  # (3, J) gap change per weight
    if not per_pair:
        gap0, a = gap0.mean(keepdims=True), a.mean(axis=0, keepdims=True)
    motion = deltas[:, parts.face_region]
    rms = np.sqrt(np.mean(np.sum(motion * motion, axis=2), axis=1))
    rows = np.concatenate([_GAP_WEIGHT * a, np.diag(rms)])
    rhs = np.concatenate([_GAP_WEIGHT * (target_mm - gap0), np.zeros(len(idx))])
    res = lsq_linear(rows, rhs, bounds=(0.0, 1.0), method="bvls", tol=1e-12)
    w = np.asarray(res.x, dtype=np.float64)
    err = np.abs(gap0 + a @ w - target_mm)
    if err.max() > _GAP_TOLERANCE_MM:
        raise ValueError(f"No mix of {shapes} brings the lips to {target_mm} mm "
                         f"(off by {err.max():.3f} mm).")
    return {n: float(x) for n, x in zip(shapes, w, strict=True) if x > 1e-6}


def _with_expression(ict: ICTFace, vertices_mm: F64, parts: _ICTParts,
                     weights: dict[str, float]) -> F64:
    idx = [ict.expression_index(n) for n in weights]
    deltas = ict.expression_deltas[idx][:, parts.keep].astype(np.float64)
    out: F64 = vertices_mm + np.tensordot(np.array(list(weights.values())), deltas, axes=1)
    return out


def _describe(weights: dict[str, float]) -> str:
    return ", ".join(f"{n} {x:.4f}" for n, x in weights.items())


def _retopo_landmarks(vertices: F64, triangles: I64, cluster_of_lm: I64, points: F64) -> F64:
    """Each carried-over landmark moved to the closest point of the triangles within two rings
    of the new vertex whose cluster holds its old vertex. A search over the whole surface puts
    inner-lip points on the other lip (seen on 4.5 mm cells) and eyelid points on the eyeball."""
    out = np.empty_like(points)
    for k, (c, p) in enumerate(zip(cluster_of_lm, points, strict=True)):
        ring = np.unique(triangles[(triangles == c).any(axis=1)])
        cand = triangles[np.isin(triangles, ring).any(axis=1)]
        q = np.repeat(p[None], len(cand), axis=0)
        hits = closest_on_triangles(q, *(vertices[cand[:, i]] for i in range(3)))
        out[k] = hits[int(np.argmin(np.sum((hits - p) ** 2, axis=1)))]
    return out


def _ict_head(name: str, vertices_mm: F64, parts: _ICTParts, note: str) -> PanelHead:
    return _head(name, vertices_mm / CM_TO_MM, parts.faces, parts.landmarks68, CM_TO_MM,
                 ICT_UP, note)


def head_panel(ict: ICTFace | None = None) -> list[PanelHead]:
    """Every test head, rebuilt deterministically from the ICT pack and the demo-head code."""
    ict = ict or load_ict()
    parts = _ict_parts(ict)
    neutral = ict.neutral[parts.keep].astype(np.float64)
    heads = [_ict_head("ict-mean", neutral, parts,
                       "ICT FaceKit neutral: cm, +y up, +z forward, origin at landmark 27")]

    pool = range(EVAL_ID_SEED0, EVAL_ID_SEED0 + POOL_SIZE)
    pair_gaps = scan_identity_gaps(ict, pool)
    seeds, crossed = pick_seeds(pool, pair_gaps)
    ids = {s: _identity_mm(ict, s)[parts.keep] for s in [*seeds, crossed]}
    for s in seeds:
        heads.append(_ict_head(f"ict-{s}", ids[s], parts,
                               f"held-out identity {s}, picked for its neutral lip gap"))
    heads.append(_ict_head(
        f"ict-crossed-{crossed}", ids[crossed], parts,
        f"bad input: identity {crossed}, lips crossed in the neutral (most negative gap of "
        f"seeds {pool.start}-{pool.stop - 1})"))

    pattern = voronoi_remesh(neutral, parts.faces, RETOPO_CELL_MM,
                             np.random.default_rng(RETOPO_SEED))
    new_vertices = pattern.apply(neutral).astype(np.float64)
    cluster_of = np.asarray(pattern.averaging.T.tocsr()[parts.landmarks68].argmax(axis=1))
    lm_new = _retopo_landmarks(new_vertices, pattern.faces, cluster_of.reshape(-1),
                               neutral[parts.landmarks68])
    heads.append(_head(
        "ict-retopo", new_vertices / CM_TO_MM, pattern.faces, lm_new / CM_TO_MM, CM_TO_MM,
        ICT_UP, f"ICT neutral re-topologised ({RETOPO_CELL_MM:g} mm surface Voronoi cells, "
        "triangles, cm); landmarks are the old landmark points projected on the new surface"))

    for name, level in (("demo-lo", 0), ("demo-hi", 3)):
        demo = make_demo_head(level)
        heads.append(_head(
            name, demo.vertices, demo.face_array(), demo.landmark_vertices, 1.0 / OBJECT_SCALE,
            OBJECT_ROTATION @ ICT_UP, "project demo head: metres, +Z up, facing -Y"))

    # Sealed and apart: the unused, uncrossed seed whose gap is nearest the ICT mean's.
    gaps = pair_gaps.mean(axis=1)
    free = [k for k, s in enumerate(pool) if s not in ids and pair_gaps[k].min() >= 0.0]
    k_base = min(free, key=lambda k: (abs(gaps[k] - heads[0].neutral_gap_mm), k))
    base_seed = pool[k_base]
    base = _identity_mm(ict, base_seed)[parts.keep]
    for name, target, shapes, per_pair in (
        ("ict-sealed", SEAL_GAP_MM, SEAL_SHAPES, True),
        (f"ict-apart{APART_GAP_MM:g}", APART_GAP_MM, APART_SHAPES, False),
    ):
        w = solve_lip_weights(ict, base, parts, target, shapes, per_pair)
        heads.append(_ict_head(
            name, _with_expression(ict, base, parts, w), parts,
            f"identity {base_seed} (neutral gap {gaps[k_base]:.2f} mm) with expression "
            f"weights baked in: {_describe(w)}"))

    # Units and orientation: the identity picked for 1 mm, as in Blender and as a tilted inch
    # mesh; their gaps in mm must equal its own.
    src_seed = seeds[GAP_TARGETS_MM.index(1.0)]
    src = ids[src_seed]
    metres = (src / 1000.0) @ OBJECT_ROTATION.T + BLENDER_ORIGIN_M
    heads.append(_head(
        f"ict-{src_seed}-blender-m", metres, parts.faces, parts.landmarks68, 1000.0,
        OBJECT_ROTATION @ ICT_UP,
        f"identity {src_seed} in metres, +Z up, facing -Y, standing at z = 1.6 m"))
    rot = Rotation.from_euler("xyz", TILTED_EULER_DEG, degrees=True).as_matrix()
    inches = (src / MM_PER_INCH) @ rot.T + TILTED_ORIGIN_IN
    heads.append(_head(
        f"ict-{src_seed}-tilted-in", inches, parts.faces, parts.landmarks68, MM_PER_INCH,
        rot @ ICT_UP,
        f"identity {src_seed} in inches, turned by xyz Euler angles {TILTED_EULER_DEG} deg"))
    return heads


def seed_of(name: str) -> int | None:
    """The identity seed in a panel head's name, if it has one."""
    m = re.search(r"ict-(?:crossed-)?(\d{4,})", name)
    return int(m.group(1)) if m else None


def format_table(heads: list[PanelHead]) -> str:
    lines = [f"{'name':<26}{'vertices':>9}{'gap mm':>9}{'pairs mm':>22}{'mouth mm':>10}"]
    for h in heads:
        pairs = " ".join(f"{g:6.2f}" for g in h.pair_gaps_mm)
        lines.append(f"{h.name:<26}{len(h.vertices):>9}{h.neutral_gap_mm:>9.3f}"
                     f"{pairs:>22}{h.mouth_width_mm:>10.2f}")
    return "\n".join(lines)


def main() -> int:
    heads = head_panel()
    print(format_table(heads))
    for h in heads:
        print(f"{h.name}: {h.note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
