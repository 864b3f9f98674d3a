"""Do the key points a user marked sit where their names say? One sentence for the first that does
not (a LandmarkError), before anything is fitted.

The face's own frame comes from the picks the fit already trusts (`fitting._check_keypoint_layout`
has refused degenerate, flat and mirrored sets by then): `across` is the eye line (outer corners,
the subject's right to left, canonical +X), `up` points from the mouth corners' midpoint to the eye
corners' midpoint, square to the eye line. Every threshold is a fraction of the face's own size
(eye width, mouth width, eye-to-mouth height), so units and orientation do not matter. Canonical
face values (`canonical_neutral`) are given for each, so the margins can be judged.

The inner lips are the pick that goes wrong silently: on a closed mouth the upper and lower inner
lip midpoints (62, 66) are a hair apart, and marking both on one lip leaves the other lip
undriven. Where the lips are separate surfaces (a slit or a mouth bag), the path along the mesh
from one lip to the other goes round a mouth corner or through the mouth, far longer than the gap
across; on one lip it is about as long as the straight line. That is what is checked.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from ..errors import LandmarkError
from .keypoints import describe
from .mesh import polygon_edges

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

# Inner eye corner along the eye line, as a fraction from the right outer corner (canonical 0.29
# and 0.71): strictly on its own side of the face's middle, and inside the outer corners.
EYE_T_MARGIN = 0.05
# Inner eye corner off the eye line, in eye widths (canonical 0.00-0.02): beyond, it is a brow,
# cheek or lid point, not a corner of the eye opening.
MAX_EYE_CORNER_DROP = 0.2
# Nose tip height between the mouth (0) and the eyes (1) (canonical 0.45); mouth corners below it.
NOSE_HEIGHT = (0.1, 0.9)
# Chin below the mouth, in eye-to-mouth heights (canonical 0.56).
MIN_CHIN_DROP = 0.1
MIN_MOUTH = 0.1  # mouth width, in eye widths (canonical 0.57), below which it is one spot
# Inner-lip midpoints along the mouth-corner line (canonical 0.5), and off it, in mouth widths.
LIP_T = (0.15, 0.85)
MAX_LIP_DROP = 0.35
# Where no other lip is near (welded lips, or a mouth open wider than NEAR_LIP): 62 below 66 by
# more than this (mouth widths) is swapped; crossed neutral lips (the panel's worst -0.043) pass.
LIP_CROSS_TOL = 0.05
# Along the surface, the two lips are this far apart (mouth widths, and in straight-line gaps)
# when they are separate surfaces; on one lip the path is about the straight line.
APART_PATH = 0.3
APART_RATIO = 3.0
# How near a pick (mouth widths) its own lip and the other lip are looked at: the mean height of
# one over the other tells the upper lip from the lower, even on crossed or sealed lips (panel
# heads: +0.04 to +0.10 mouth widths for 62, as much below for 66).
NEAR_LIP = 0.15


def _unit(x: F64) -> F64:
    out: F64 = x / float(np.linalg.norm(x))
    return out


def check_picks(vertices: F64, faces: I64, labels: I64, kp: Mapping[int, int]) -> None:
    """Refuse a key point that is not where its name says (faces -1 padded, labels = part of each
    vertex). Required points are present and distinct, the layout is already a face."""
    p = {k: vertices[i] for k, i in kp.items()}
    eye_vec = p[45] - p[36]
    e = float(np.linalg.norm(eye_vec))
    across = eye_vec / e
    eye_mid, mouth_mid = 0.5 * (p[36] + p[45]), 0.5 * (p[48] + p[54])
    rise = eye_mid - mouth_mid
    up = _unit(rise - (rise @ across) * across)
    h = float(rise @ up)

    if float(np.linalg.norm(p[54] - p[48])) < MIN_MOUTH * e:
        raise LandmarkError(
            f"The {describe(48)} and {describe(54)} are on one spot: mark the two ends of the "
            "mouth.")
    _check_eyes(p, across, up, e)
    nose = float((p[30] - mouth_mid) @ up) / h
    if not NOSE_HEIGHT[0] < nose < NOSE_HEIGHT[1]:
        raise LandmarkError(
            f"The {describe(30)} is not between the eyes and the mouth: mark it on the tip of "
            "the nose.")
    for k, sign, side in ((48, -1.0, "right"), (54, 1.0, "left")):
        if float((p[k] - p[30]) @ up) >= 0.0:
            raise LandmarkError(f"The {describe(k)} is not below the nose tip.")
        if sign * float((p[k] - eye_mid) @ across) <= 0.0:
            raise LandmarkError(
                f"The {describe(k)} is not on the subject's {side} side: the mouth corners are "
                "swapped or marked on one side.")
    if float((mouth_mid - p[8]) @ up) < MIN_CHIN_DROP * h:
        raise LandmarkError(f"The {describe(8)} is not below the mouth: mark it on the chin.")
    if 62 in kp or 66 in kp:
        _check_inner_lips(vertices, faces, labels, kp, p, up)


def _check_eyes(p: Mapping[int, F64], across: F64, up: F64, e: float) -> None:
    for k, lo, hi, side in ((39, EYE_T_MARGIN, 0.5, "right"), (42, 0.5, 1.0 - EYE_T_MARGIN,
                                                               "left")):
        if k not in p:
            continue
        t = float((p[k] - p[36]) @ across) / e
        if t <= 0.0 or t >= 1.0:
            raise LandmarkError(
                f"The {describe(k)} is not between the outer eye corners: inner and outer "
                "corners may be swapped.")
        if not lo < t < hi:
            raise LandmarkError(
                f"The {describe(k)} is not on the subject's {side} side of the face: the inner "
                "eye corners may be swapped.")
        outer = p[36] if k == 39 else p[45]
        if abs(float((p[k] - outer) @ up)) > MAX_EYE_CORNER_DROP * e:
            raise LandmarkError(
                f"The {describe(k)} is not level with its outer corner: mark it where the "
                "eyelids meet, at the nose end of the eye opening.")


def _check_inner_lips(vertices: F64, faces: I64, labels: I64, kp: Mapping[int, int],
                      p: Mapping[int, F64], up: F64) -> None:
    mouth = p[54] - p[48]
    w = float(np.linalg.norm(mouth))
    along = mouth / w
    for k in (62, 66):
        if k not in p:
            continue
        t = float((p[k] - p[48]) @ along) / w
        off = abs(float((p[k] - p[48]) @ up)) / w
        if not LIP_T[0] < t < LIP_T[1] or off > MAX_LIP_DROP:
            raise LandmarkError(
                f"The {describe(k)} is not between the mouth corners: mark it in the middle of "
                "the mouth, on the inner edge of its lip.")
    if 62 not in kp or 66 not in kp:
        return
    a, b = kp[62], kp[66]
    dist, other_a, other_b, own_a, own_b = _lip_paths(vertices, faces, labels, a, b, w)
    straight = float(np.linalg.norm(p[62] - p[66]))
    apart = dist > max(APART_PATH * w, APART_RATIO * straight)
    side_a, side_b = _side(vertices, own_a, other_a, up), _side(vertices, own_b, other_b, up)
    if not apart and (side_a is not None or side_b is not None):
        # The lips are separate surfaces here, and both picks are on one of them.
        lip = "upper" if (side_a if side_a is not None else side_b or 0.0) > 0.0 else "lower"
        raise LandmarkError(
            f"The {describe(62)} and {describe(66)} are both on the {lip} lip: mark 62 on the "
            "upper lip's inner edge and 66 on the lower lip's.")
    if apart and (side_a is not None or side_b is not None):
        swapped = (side_a is not None and side_a < 0.0) or (side_b is not None and side_b > 0.0)
    else:  # lips welded into one surface (both on the seam, or one vertex, is right), or wide
        swapped = float((p[62] - p[66]) @ up) < -LIP_CROSS_TOL * w  # open with no lip near
    if swapped:
        raise LandmarkError(
            f"The {describe(62)} is on the lower lip and the {describe(66)} on the upper lip: "
            "they are swapped.")


def _side(vertices: F64, own: list[int], other: list[int], up: F64) -> float | None:
    """How far a pick's own lip lies above the other lip near it (None: no other lip near)."""
    if not own or not other:
        return None
    return float(np.mean(vertices[own] @ up) - np.mean(vertices[other] @ up))


def _lip_paths(vertices: F64, faces: I64, labels: I64, a: int, b: int,
               w: float) -> tuple[float, list[int], list[int], list[int], list[int]]:
    """Path length along the mesh edges from vertex a to b; for each of a and b, the vertices of
    its part within NEAR_LIP mouth widths whose path from it is longer than APART_PATH mouth
    widths (the other lip, where the lips are separate surfaces), then the rest (its own lip)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra

    centre = 0.5 * (vertices[a] + vertices[b])
    reach = 2.0 * w
    near = np.flatnonzero(np.linalg.norm(vertices - centre, axis=1) < reach)
    local = np.full(len(vertices), -1, dtype=np.int64)
    local[near] = np.arange(len(near))
    e = polygon_edges(faces)
    e = local[e]
    e = e[(e >= 0).all(axis=1)]
    length = np.linalg.norm(vertices[near[e[:, 0]]] - vertices[near[e[:, 1]]], axis=1)
    g = coo_matrix((length, (e[:, 0], e[:, 1])), shape=(len(near), len(near))).tocsr()
    d = dijkstra(g, directed=False, indices=[local[a], local[b]])
    others: list[list[int]] = []
    owns: list[list[int]] = []
    for row, src in ((d[0], a), (d[1], b)):
        close = np.linalg.norm(vertices[near] - vertices[src], axis=1) < NEAR_LIP * w
        same_part = labels[near] == labels[src]
        far = close & same_part & ~(row <= APART_PATH * w)
        others.append(near[far].tolist())
        owns.append(near[close & same_part & ~far].tolist())
    return float(d[0, local[b]]), others[0], others[1], owns[0], owns[1]
