"""Fit refuses key points that are not where their names say, one sentence each; right picks on
every head (demo, ICT, the head panel) pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from blender_s2l.core.errors import LandmarkError
from blender_s2l.core.head.fitting import fit_landmarks
from blender_s2l.core.head.keypoints import OPTIONAL, REQUIRED
from blender_s2l.core.head.mesh import padded_faces
from blender_s2l.demo_head.make import DemoHead, lip_weld, make_demo_head

ALL_KP = REQUIRED + OPTIONAL


@pytest.fixture(scope="module")
def head() -> DemoHead:
    return make_demo_head(0)


def _kp(h: DemoHead) -> dict[int, int]:
    return {k: int(h.landmark_vertices[k]) for k in ALL_KP}


def _lip_vertex(h: DemoHead, part: str, near: np.ndarray) -> int:
    ids = h.parts[part]
    return int(ids[np.argmin(np.linalg.norm(h.vertices[ids] - near, axis=1))])


def _welded(h: DemoHead) -> tuple[np.ndarray, np.ndarray]:
    """The demo head with its mouth slit closed: each lower-edge vertex merged into the nearest
    upper-edge one (faces renumbered, collapsed ones dropped)."""
    v = h.vertices.astype(np.float64)
    pf = padded_faces(h.faces)
    target = lip_weld(h)
    f = np.where(pf >= 0, target[np.where(pf >= 0, pf, 0)], -1)
    tris = [[c for c in dict.fromkeys(row.tolist()) if c >= 0] for row in f]
    faces = [t + [-1] * (4 - len(t)) for t in tris if len(t) >= 3]
    return v, np.array(faces)


def test_right_picks_pass(head: DemoHead) -> None:
    fit_landmarks(head.vertices, head.faces, _kp(head))
    fit_landmarks(head.vertices, head.faces, {k: int(head.landmark_vertices[k]) for k in REQUIRED})


def test_welded_lips_may_share_inner_lip_vertex(head: DemoHead) -> None:
    v, faces = _welded(head)
    kp = _kp(head)
    kp[66] = kp[62]  # on the seam: 62 is an upper-edge vertex, kept by the weld
    fit = fit_landmarks(v, faces, kp)
    assert np.allclose(fit[62], fit[66])


def _refused(h: DemoHead, match: str, **picks: int) -> None:
    kp = {**_kp(h), **{int(k[1:]): i for k, i in picks.items()}}
    with pytest.raises(LandmarkError, match=match):
        fit_landmarks(h.vertices, h.faces, kp)


def test_inner_lips_on_one_lip(head: DemoHead) -> None:
    lm, v = head.landmark_vertices, head.vertices
    up = np.array([0.0, 0.0, 1.0])  # the demo head is +Z up, metres
    both_upper = r"both on the upper lip"
    _refused(head, both_upper, k66=int(lm[62]))  # one vertex, on a mouth that opens
    _refused(head, both_upper, k66=_lip_vertex(head, "lip_upper", v[lm[62]] + 0.003 * up))
    _refused(head, both_upper, k66=_lip_vertex(head, "lip_upper", v[lm[62]] + 0.001 * up))
    _refused(head, r"both on the lower lip", k62=int(lm[66]),
             k66=_lip_vertex(head, "lip_lower", v[lm[66]] - 0.003 * up))
    _refused(head, r"both on the lower lip", k62=_lip_vertex(head, "lip_lower", v[lm[66]]
                                                             - 0.001 * up))


def test_inner_lips_swapped_or_off_the_mouth(head: DemoHead) -> None:
    lm = head.landmark_vertices
    _refused(head, r"swapped", k62=int(lm[66]), k66=int(lm[62]))
    _refused(head, r"upper inner lip midpoint \(62\) is not between the mouth corners",
             k62=int(lm[3]))
    _refused(head, r"lower inner lip midpoint \(66\) is not between the mouth corners",
             k66=int(lm[7]))


def test_eye_corners(head: DemoHead) -> None:
    lm = head.landmark_vertices
    _refused(head, r"right inner eye corner \(39\) is not on the subject's right side",
             k39=int(lm[42]), k42=int(lm[39]))
    _refused(head, r"not between the outer eye corners", k36=int(lm[39]), k39=int(lm[36]))
    _refused(head, r"left inner eye corner \(42\) is not level", k42=int(lm[22]))


def test_nose_mouth_chin(head: DemoHead) -> None:
    lm = head.landmark_vertices
    _refused(head, r"chin \(8\) is not below the mouth", k8=int(lm[51]))
    _refused(head, r"right mouth corner \(48\) is not on the subject's right side",
             k48=int(lm[54]), k54=int(lm[48]))
    _refused(head, r"nose tip \(30\) is not between the eyes and the mouth", k30=int(lm[27]))


def test_degenerate_picks_still_refused(head: DemoHead) -> None:
    kp = _kp(head)
    with pytest.raises(LandmarkError, match="same vertex"):
        fit_landmarks(head.vertices, head.faces, {**kp, 39: kp[36]})
    with pytest.raises(LandmarkError, match="same vertex"):
        fit_landmarks(head.vertices, head.faces, {**kp, 62: kp[48]})
    twin = np.vstack([head.vertices, head.vertices[kp[48]]])  # an unwelded copy of vertex 48
    with pytest.raises(LandmarkError, match="are on one spot"):
        fit_landmarks(twin, head.faces, {**kp, 54: len(head.vertices)})


def test_ict_right_and_wrong_picks(ict_npz: Path) -> None:
    from blender_s2l.training.ict import load_ict

    ict = load_ict(str(ict_npz))
    lm = ict.landmarks68
    v = ict.neutral.astype(np.float64)
    kp = {k: int(lm[k]) for k in ALL_KP}
    fit_landmarks(v, ict.faces, kp)
    with pytest.raises(LandmarkError, match="both on the upper lip"):
        fit_landmarks(v, ict.faces, {**kp, 66: kp[62]})
    with pytest.raises(LandmarkError, match="swapped"):
        fit_landmarks(v, ict.faces, {**kp, 62: kp[66], 66: kp[62]})


def test_no_false_alarm_on_the_head_panel(ict_npz: Path) -> None:
    from blender_s2l.training.head_panel import head_panel
    from blender_s2l.training.ict import load_ict

    checked = 0
    for h in head_panel(load_ict(str(ict_npz))):
        lm = np.asarray(h.landmarks68)
        if lm.ndim != 1:
            continue  # surface points, not vertices: nothing to pick
        fit_landmarks(h.vertices, h.faces, {k: int(lm[k]) for k in ALL_KP})
        checked += 1
    assert checked >= 10
