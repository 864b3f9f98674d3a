"""Preset topologies (ICT, demo head) and the landmark resolution order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from blender_s2l.core.errors import LandmarkError
from blender_s2l.core.head.head_mesh import nearest_vertices, resolve_landmarks
from blender_s2l.core.head.presets import ICT_LANDMARKS, match_preset
from blender_s2l.demo_head.make import SIZE_TARGETS, make_demo_head


def test_stored_demo_heads_match_the_generator(tmp_path: Path) -> None:
    """The shipped table is what the generator builds today; if not, run
    `python -c "from blender_s2l.demo_head.make import write_preset_table as w; w()"`."""
    from blender_s2l.core.head import presets

    heads = []
    for level in sorted(SIZE_TARGETS):
        h = make_demo_head(level)
        heads.append((f"demo_head_{h.resolution}", h.vertices, h.faces, h.landmark_vertices))
    presets.write_demo_heads(heads, tmp_path / "demo_heads.json")
    assert (tmp_path / "demo_heads.json").read_text() == presets.DEMO_HEADS.read_text()


@pytest.mark.parametrize("level", [0, 1])
def test_demo_head_is_recognised_at_each_size(level: int) -> None:
    h = make_demo_head(level)
    m = match_preset(h.vertices, h.faces)
    assert m is not None and m.name.startswith("demo_head")
    assert np.array_equal(m.landmark_vertices, h.landmark_vertices)
    # Topology, not shape: a sculpted (moved) head with the same connectivity still matches.
    moved = h.vertices * 2.0 + np.float32(0.3)
    assert match_preset(moved, h.face_array()) is not None
    # Same counts, different connectivity: no match.
    faces = list(h.faces)
    faces[5] = faces[5][::-1]
    assert match_preset(h.vertices, faces) is None


def test_unknown_mesh_has_no_preset() -> None:
    rng = np.random.default_rng(0)
    v = rng.normal(size=(500, 3))
    assert match_preset(v, [[0, 1, 2]]) is None


def test_ict_is_recognised(ict_npz: Path) -> None:
    from blender_s2l.training.ict import load_ict

    ict = load_ict(str(ict_npz))
    assert np.array_equal(np.array(ICT_LANDMARKS), ict.landmarks68)
    for v in (ict.neutral,
              ict.identity(np.random.default_rng(3).standard_normal(100)) * 0.01,
              ict.neutral[:, [0, 2, 1]] * np.array([1.0, -1.0, 1.0])):  # Blender axes
        m = match_preset(v, ict.faces)
        assert m is not None and m.name == "ict_facekit"
        assert np.array_equal(m.landmark_vertices, ict.landmarks68)
    assert match_preset(ict.neutral, ict.faces_tri) is not None
    # Same vertex count but scrambled vertex order: the geometric check refuses it.
    perm = np.random.default_rng(1).permutation(len(ict.neutral))
    assert match_preset(ict.neutral[perm], ict.faces) is None
    assert match_preset(ict.neutral, ict.faces[:-10]) is None


def test_resolve_from_indices_positions_and_presets() -> None:
    h = make_demo_head(0)
    idx = h.landmark_vertices
    pos, ids, src = resolve_landmarks(h.vertices, h.faces, idx)
    assert src == "indices" and ids is not None and np.array_equal(ids, idx)
    assert np.array_equal(pos, h.vertices[idx])
    pos2, ids2, src2 = resolve_landmarks(h.vertices, h.faces, pos.astype(np.float64))
    assert src2 == "positions" and ids2 is None and np.allclose(pos2, pos)
    pos3, ids3, src3 = resolve_landmarks(h.vertices, h.faces, None)
    assert np.array_equal(pos3, pos)
    assert src3.startswith("preset:demo_head") and ids3 is not None
    assert np.array_equal(ids3, idx)
    # Stored by topology: positions slightly off the vertices come back to the same indices.
    assert np.array_equal(nearest_vertices(h.vertices, pos + np.float32(1e-5)), idx)


def test_resolve_rejects_bad_landmarks() -> None:
    h = make_demo_head(0)
    idx = h.landmark_vertices.copy()
    idx[3] = len(h.vertices)
    with pytest.raises(LandmarkError, match="outside the mesh"):
        resolve_landmarks(h.vertices, h.faces, idx)
    with pytest.raises(LandmarkError, match="same vertex"):
        resolve_landmarks(h.vertices, h.faces, np.zeros(68, dtype=np.int64))
    with pytest.raises(LandmarkError, match="whole numbers"):
        resolve_landmarks(h.vertices, h.faces, np.full(68, 0.5))
    with pytest.raises(LandmarkError, match="68 vertex indices"):
        resolve_landmarks(h.vertices, h.faces, np.zeros((10, 3)))
    bad = np.zeros((68, 3))
    bad[0, 0] = np.inf
    with pytest.raises(LandmarkError, match="NaN"):
        resolve_landmarks(h.vertices, h.faces, bad)
    # No landmarks and no preset: one sentence telling the user to fit them.
    v = h.vertices[:-1]
    faces = [f for f in h.faces if max(f) < len(v)]
    with pytest.raises(LandmarkError, match="press Fit"):
        resolve_landmarks(v, faces, None)
