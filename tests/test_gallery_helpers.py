"""scripts/gallery.py: the measurements' pure helpers on meshes whose answers are known."""

from __future__ import annotations

import numpy as np
from script_helpers import load_script

gallery = load_script("gallery")


def test_edge_stretch_is_one_for_an_edge_spanning_the_opening() -> None:
    rest = np.array([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    now = rest.copy()
    now[1, 1] += 4.0  # vertex 1 moves 4 up: the edge 0-1 lengthens by the whole opening
    edges = np.array([[0, 1], [0, 2]])
    assert gallery.edge_stretch(rest, now, edges, 4.0) == 1.0
    assert gallery.edge_stretch(rest, now, edges[1:], 4.0) == 0.0
    assert gallery.edge_stretch(rest, now, edges, 0.0) == 0.0


def test_surface_point_returns_barycentric_weights_of_the_closest_point() -> None:
    v = np.array([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [10.0, 10.0, -10.0]])
    tris = np.array([[0, 1, 2], [1, 3, 2]])
    t, w = gallery.surface_point(v, tris, np.array([0.5, 0.5, 3.0]))
    assert t == 0
    np.testing.assert_allclose(w @ v[tris[t]], [0.5, 0.5, 0.0], atol=1e-12)
    np.testing.assert_allclose(w.sum(), 1.0)


def test_below_neck_is_measured_in_eyes_to_chin_distances() -> None:
    from blender_s2l.core.head.landmarks import EYES

    lm = np.zeros((68, 3))
    lm[list(EYES), 1] = 100.0
    lm[8, 1] = 0.0  # eyes-to-chin 100: "below" starts 80 under the chin
    v = np.array([[0.0, -79.0, 0.0], [0.0, -81.0, 0.0], [0.0, 50.0, 0.0]])
    assert gallery.below_neck(v, lm).tolist() == [False, True, False]
