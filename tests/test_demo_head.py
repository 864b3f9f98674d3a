"""The generated demo head: proportions, topology, lip seam, sizes, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from blender_s2l.core.errors import MeshError
from blender_s2l.core.head.landmarks import canonical_neutral, to_canonical
from blender_s2l.core.head.mesh import triangulate, unique_edges
from blender_s2l.demo_head.make import DemoHead, make_demo_head


@pytest.fixture(scope="module")
def head() -> DemoHead:
    return make_demo_head(0)


def _canonical(h: DemoHead) -> np.ndarray:
    sim = to_canonical(h.vertices[h.landmark_vertices])
    return sim.apply(h.vertices)


def test_landmarks_fit_the_canonical_template(head: DemoHead) -> None:
    lm = head.vertices[head.landmark_vertices]
    sim = to_canonical(lm)
    err = np.linalg.norm(sim.apply(lm) - canonical_neutral(), axis=1)
    # Object space is metres, Z up, facing -Y: the fit must undo a 1000x scale and a rotation.
    assert sim.scale == pytest.approx(1000.0, rel=0.02)
    assert np.allclose(sim.rotation @ np.array([0.0, -1.0, 0.0]), [0.0, 0.0, 1.0], atol=0.02)
    assert err.mean() < 1.0 and err.max() < 2.5, (err.mean(), err.max())
    assert len(set(head.landmark_vertices.tolist())) == 68


def test_sizes() -> None:
    # Build time is measured by scripts/benchmark.py, never asserted in a test.
    for level, target in ((0, 5_000), (1, 11_000), (2, 26_000)):
        h = make_demo_head(level)
        assert abs(len(h.vertices) - target) < 0.05 * target
    assert abs(len(make_demo_head(target_vertices=8_000).vertices) - 8_000) < 400
    with pytest.raises(MeshError):
        make_demo_head(7)


def test_faces_are_sound(head: DemoHead) -> None:
    v = head.vertices.astype(np.float64)
    sizes = {len(f) for f in head.faces}
    assert sizes == {3, 4}
    assert sum(len(f) == 4 for f in head.faces) > 0.9 * len(head.faces)
    tri = triangulate(head.faces)
    area = 0.5 * np.linalg.norm(np.cross(v[tri[:, 1]] - v[tri[:, 0]], v[tri[:, 2]] - v[tri[:, 0]]),
                                axis=1)
    assert area.min() > 1e-9  # m^2: no collapsed triangle anywhere
    # Every polygon edge is shared by at most two faces; the only open edges are the lip slit.
    poly_edges = np.sort(np.concatenate(
        [np.stack([f, np.roll(f, -1)], 1) for f in map(np.asarray, head.faces)]), axis=1)
    _, counts = np.unique(poly_edges, axis=0, return_counts=True)
    assert counts.max() == 2
    open_edges = np.unique(poly_edges, axis=0)[counts == 1]
    open_verts = np.unique(open_edges)
    lips = np.concatenate([head.parts["lip_upper"], head.parts["lip_lower"],
                           head.landmark_vertices[[48, 54]]])
    assert np.isin(open_verts, lips).all()
    # Outward orientation: the closed skin has positive signed volume.
    skin_tris = tri[np.isin(tri, head.parts["skin"]).all(axis=1)]
    vol = np.einsum("ij,ij->i", v[skin_tris[:, 0]],
                    np.cross(v[skin_tris[:, 1]], v[skin_tris[:, 2]])).sum() / 6.0
    assert vol > 0.001  # m^3: a head of a few litres


def test_lips_are_separate_sheets(head: DemoHead) -> None:
    up, low = head.parts["lip_upper"], head.parts["lip_lower"]
    assert len(up) > 20 and len(low) > 20 and not set(up) & set(low)
    e = unique_edges(head.faces)
    crossing = np.isin(e[:, 0], up) & np.isin(e[:, 1], low) | (
        np.isin(e[:, 0], low) & np.isin(e[:, 1], up))
    assert not crossing.any()
    lm = head.landmark_vertices
    assert np.isin(lm[60:65], up).all() and np.isin(lm[65:68], low).all()
    can = _canonical(head)
    # Upper and lower inner lip midpoints are close in space (closed mouth, ~1 mm slit).
    gap = np.linalg.norm(can[lm[62]] - can[lm[66]])
    assert 0.2 < gap < 2.0, gap
    # Mouth corners are the slit ends: each touches both lips.
    for corner in lm[[48, 54]]:
        nb = np.concatenate([e[e[:, 0] == corner, 1], e[e[:, 1] == corner, 0]])
        assert np.isin(nb, up).any() and np.isin(nb, low).any()


def test_eyes_and_mouth_cavity_are_separate_parts(head: DemoHead) -> None:
    e = unique_edges(head.faces)
    skin = set(head.parts["skin"].tolist())
    for name in ("eye_left", "eye_right", "mouth_cavity"):
        part = head.parts[name]
        touches = np.isin(e, part)
        assert not (touches.any(axis=1) & ~touches.all(axis=1)).any()  # no edge leaves the part
        assert not skin & set(part.tolist())
    can = _canonical(head)
    left = can[head.parts["eye_left"]].mean(axis=0)
    assert left[0] > 20.0  # +X is the subject's left in canonical space


def test_deterministic() -> None:
    a, b = make_demo_head(0), make_demo_head(0)
    assert np.array_equal(a.vertices, b.vertices)
    assert a.faces == b.faces
    assert np.array_equal(a.landmark_vertices, b.landmark_vertices)
