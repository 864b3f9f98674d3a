"""A fused mouth is told from an open one (its note: head_mesh.mouth_note), and its cut runs
along the lip line (mouth_slit.py), on a small grid of the mouth: welded along its lip row, or
with that row doubled (a slit)."""

from __future__ import annotations

import numpy as np
import pytest

from blender_s2l.core.errors import MeshError
from blender_s2l.core.head import mouth_slit as ms
from blender_s2l.core.head.head_mesh import mouth_note
from blender_s2l.core.head.landmarks import canonical_neutral

XS = np.arange(-30.0, 30.01, 2.5)  # canonical mm: the lip row at y = -71
YS = np.arange(-85.0, -56.9, 2.0)
SEAM = int(np.argmin(np.abs(YS + 71.0)))
CORNER_X, COLUMN_X = 22.5, (-10.0, 0.0, 10.0)


def _grid() -> tuple[np.ndarray, list[list[int]], int]:
    nx = len(XS)
    gx, gy = np.meshgrid(XS, YS)
    v = np.stack([gx.ravel(), gy.ravel(), 6.0 - 0.01 * gx.ravel() ** 2], axis=1)
    faces = [[r * nx + c, r * nx + c + 1, (r + 1) * nx + c + 1, (r + 1) * nx + c]
             for r in range(len(YS) - 1) for c in range(nx - 1)]
    return v, faces, nx


def _at(nx: int, x: float) -> int:
    return SEAM * nx + int(np.argmin(np.abs(XS - x)))


def fused_mouth() -> tuple[np.ndarray, list[list[int]], np.ndarray, np.ndarray]:
    """(vertices, faces, landmark positions, landmark vertices): the lips share the lip row."""
    v, faces, nx = _grid()
    pos = canonical_neutral().astype(np.float64)
    idx = np.zeros(68, dtype=np.int64)
    idx[60], idx[64] = _at(nx, -CORNER_X), _at(nx, CORNER_X)
    for (a, b), x in zip(ms.COLUMNS, COLUMN_X, strict=True):
        idx[a] = idx[b] = _at(nx, x)
    pos[60:68] = v[idx[60:68]]
    # The other landmarks each on a speck of surface of its own, away from the mouth.
    specks = [k for k in range(68) if not 60 <= k < 68]
    offsets = np.array([[0.0, 0.0, 0.0], [0.5, 0.0, 0.0], [0.0, 0.5, 0.0]])
    for k in specks:
        idx[k] = len(v)
        faces.append([len(v), len(v) + 1, len(v) + 2])
        v = np.concatenate([v, pos[k] + offsets])
    return v, faces, pos, idx


def slit_mouth() -> tuple[np.ndarray, list[list[int]], np.ndarray, np.ndarray, np.ndarray]:
    """The fused mouth cut open by hand: the lip row's inner vertices doubled, the lower lip's
    polygons on the copies; and `origin` (each vertex's vertex before the cut)."""
    v, faces, pos, idx = fused_mouth()
    nx = len(XS)
    inner = [_at(nx, x) for x in XS if abs(x) < CORNER_X - 1e-9]
    copy = {p: len(v) + k for k, p in enumerate(inner)}
    v2 = np.concatenate([v, v[inner]])
    n_grid = nx * len(YS)
    lower_faces = [f for f in faces if max(f) < n_grid and min(f) // nx < SEAM]  # below (y up)
    faces2 = [[copy.get(c, c) if f in lower_faces else c for c in f] for f in faces]
    idx2 = idx.copy()
    for _, b in ms.COLUMNS:
        idx2[b] = copy[int(idx[b])]
    origin = np.concatenate([np.arange(len(v)), inner])
    return v2, faces2, pos, idx2, origin


def test_fused_mouth_is_found_with_its_cut_along_the_lip_row() -> None:
    v, faces, pos, idx = fused_mouth()
    for given in (idx, None):  # stored vertices, or fitted positions
        mouth = ms.find_mouth(v, faces, pos, given, "Head")
        assert mouth.fused
        assert mouth.path[0] == idx[60] and mouth.path[-1] == idx[64]
        np.testing.assert_allclose(v[mouth.path, 1], -71.0)  # on the lip row, corner to corner
        assert len(mouth.path) == 19 and len(mouth.inner) == 17
        assert [int(mouth.path[c]) for c in mouth.columns] == [int(idx[a]) for a, _ in ms.COLUMNS]
        assert mouth.up @ np.array([0.0, 1.0, 0.0]) > 0.99
    assert mouth_note(v, faces, pos, "Head") == ms.fused_note("Head")
    assert "Cut Mouth" in ms.fused_note("Head") and "'Head'" in ms.fused_note("Head")


def test_open_mouth_is_open() -> None:
    v, faces, pos, idx, _ = slit_mouth()
    assert not ms.find_mouth(v, faces, pos, idx).fused
    assert mouth_note(v, faces, idx, "Head") is None  # indices given as the bake gives them


def test_sides_after_the_cut_put_61_63_up_and_65_67_down() -> None:
    v, faces, pos, idx = fused_mouth()
    mouth = ms.find_mouth(v, faces, pos, idx)
    v2, faces2, _, _, origin = slit_mouth()
    sides = ms.split_sides(v2, faces2, origin, mouth)
    assert np.all(sides.upper < len(v)) and np.all(sides.lower >= len(v))  # copies were lower
    new = ms.cut_landmark_vertices(idx, mouth, sides)
    for a, b in ms.COLUMNS:
        assert new[a] != new[b] and new[a] < len(v) <= new[b]
    moved = ms.cut_landmark_positions(pos, v2, faces2, mouth, sides)
    assert np.all(moved[[61, 62, 63], 1] > -71.0) and np.all(moved[[65, 66, 67], 1] < -71.0)
    assert np.abs(moved[[61, 62, 63, 65, 66, 67], 1] + 71.0).max() < 0.1  # a hair inside
    assert not ms.find_mouth(v2, faces2, moved, None).fused


def test_a_mouth_without_a_path_is_one_sentence() -> None:
    v, faces, pos, idx = fused_mouth()
    nx = len(XS)
    n_grid = nx * len(YS)
    cut = [f for f in faces if min(f) >= n_grid or not any(c % nx == nx // 2 for c in f)]
    with pytest.raises(MeshError, match="No path along the inner lips of 'Head'"):
        ms.find_mouth(v, cut, pos, idx, "Head")
    assert mouth_note(v, cut, pos, "Head") == ms.fused_note("Head")  # still fused


def test_the_bag_lies_behind_the_lips_and_is_open_inside() -> None:
    v, faces, pos, idx = fused_mouth()
    mouth = ms.find_mouth(v, faces, pos, idx)
    inner = mouth.inner
    ring = v[[mouth.path[0], *inner, mouth.path[-1], *inner[::-1]]]
    sign = np.array([0.0, *[1.0] * len(inner), 0.0, *[-1.0] * len(inner)])
    roll, back = ms.mouth_bag(ring, sign, pos)
    front = ms.face_front(pos)
    assert front @ np.array([0.0, 0.0, 1.0]) > 0.99
    depth_roll, depth_back = (ring - roll) @ front, (ring - back) @ front
    width = 2 * CORNER_X
    np.testing.assert_allclose(depth_roll, ms.ROLL * width, rtol=1e-6)
    # the back is narrowed towards the middle, where this curved lip line stands further out
    np.testing.assert_allclose(depth_back - depth_roll, ms.BAG_DEPTH * width, rtol=0.1)
    lift = (back - ring) @ mouth.up
    upper, lower = lift[1:1 + len(inner)], lift[2 + len(inner):]
    assert upper.min() > 0.0 > lower.max()  # open inside: the upper half up, the lower down
    assert abs(lift[0]) < 1e-6 and abs(lift[1 + len(inner)]) < 1e-6  # not at the corners


@pytest.mark.parametrize("level", [0, 1])
def test_the_cut_follows_the_welded_seam_of_the_demo_head(level: int) -> None:
    """The demo head with its slit welded shut: the cut runs on the weld, corner to corner
    (at 11k vertices its seam strays 6 mm from the line through the landmarks)."""
    from blender_s2l.core.head.mesh import padded_faces
    from blender_s2l.demo_head.make import lip_weld, make_demo_head

    h = make_demo_head(level)
    v, pf, lm = h.vertices.astype(np.float64), padded_faces(h.faces), h.landmark_vertices
    weld = lip_weld(h)
    top = np.unique(weld[weld != np.arange(len(v))])
    faces = np.where(pf >= 0, weld[np.maximum(pf, 0)], -1)
    ok = np.array([len(set(r[r >= 0].tolist())) == (r >= 0).sum() for r in faces])
    idx = weld[lm]
    assert mouth_note(v, faces[ok], v[idx], "Head") == ms.fused_note("Head")
    for given in (idx, None):
        mouth = ms.find_mouth(v, faces[ok], v[idx], given)
        assert mouth.fused and set(mouth.path.tolist()) <= set(top.tolist())
        assert len(mouth.inner) >= 9
