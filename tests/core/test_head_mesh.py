"""A mesh's facts found once (core/head/head_mesh.py): a bake that reads them from the kept
HeadMesh is the bake that finds them afresh, bit for bit, and a mesh changed in any way never
meets an earlier mesh's facts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rebake_helpers import assert_same_bake, demo_head, ict_head, motion_arrays, times_of, voice

from blender_s2l.core.animate import Animator
from blender_s2l.core.errors import S2LError
from blender_s2l.core.head import head_mesh as hm
from blender_s2l.core.head.eyelids import Eye, Eyelids
from blender_s2l.core.head.head_mesh import resolve_landmarks
from blender_s2l.core.head.inner_parts import InnerParts
from blender_s2l.core.head.landmarks import to_canonical
from blender_s2l.core.head.lip_contact import LipContact
from blender_s2l.core.head.mesh_features import mesh_features, on_face_mask

pytestmark = pytest.mark.usefixtures("cold_meshes")


def _heads() -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = [("demo", demo_head())]
    ict = ict_head()
    if ict is not None:
        out.append(("ict", ict))
    return out


def _bake(anim: Animator, wav: Path, head: Any, **choices: Any) -> dict[str, Any]:
    v, faces, lm = head
    mo = anim.animate(wav, v, faces, lm, frame_times=times_of(2.0), **choices)
    return {**motion_arrays(mo), "notes": mo.notes, "source": mo.landmark_source}


@pytest.mark.parametrize("name", ["demo", "ict"])
def test_a_kept_mesh_bakes_as_a_fresh_one(anim: Animator, tmp_path: Path, name: str) -> None:
    heads = dict(_heads())
    if name not in heads:
        pytest.skip("needs the ICT FaceKit pack in ../shared/data")
    wav = voice(tmp_path / "line.wav", 2.0)
    first = _bake(anim, wav, heads[name])
    kept = hm.head_mesh(*heads[name])
    again = _bake(anim, wav, heads[name], mouth_strength=1.0)
    assert hm.head_mesh(*heads[name]) is kept  # the re-bake read the kept facts
    assert_same_bake(first, again)
    hm.forget_meshes()
    assert_same_bake(first, _bake(anim, wav, heads[name]))


@pytest.mark.parametrize("name", ["demo", "ict"])
def test_shared_facts_are_what_each_step_found_for_itself(name: str) -> None:
    """Each step as it ran before the HeadMesh (its own graph, parts and surface points)."""
    heads = dict(_heads())
    if name not in heads:
        pytest.skip("needs the ICT FaceKit pack in ../shared/data")
    v, faces, lm = heads[name]
    pos, idx, _ = resolve_landmarks(v, faces, lm)
    sim = to_canonical(pos)
    vc, lc = sim.apply(v), sim.apply(pos)
    feats = mesh_features(vc, faces, lc, idx)
    on_face = on_face_mask(feats)
    head = hm.head_mesh(v, faces, lm)
    np.testing.assert_array_equal(head.features, feats)
    lips = LipContact.of_mesh(vc, faces, lc, idx, on_face)
    shared = head.lip_contact()
    assert isinstance(lips, LipContact) and isinstance(shared, LipContact)
    for field in ("fields", "landmark_fields", "neutral_gap", "reference", "solve"):
        np.testing.assert_array_equal(getattr(shared, field), getattr(lips, field), field)
    lids, shared_lids = Eyelids.of_mesh(vc, faces, lc, idx, on_face), head.eyelids()
    assert [type(e) for e in lids.eyes] == [type(e) for e in shared_lids.eyes]
    assert any(isinstance(e, Eye) for e in lids.eyes)
    np.testing.assert_array_equal(shared_lids.fields, lids.fields)
    for a, b in zip(lids.eyes, shared_lids.eyes, strict=True):
        if isinstance(a, Eye) and isinstance(b, Eye):
            assert (a.follow != b.follow).nnz == 0
    assert lids.points is not None and shared_lids.points is not None
    np.testing.assert_array_equal(shared_lids.points.weights, lids.points.weights)
    jaw = Animator.load("cpu").jaw
    if jaw is not None:
        parts, shared_parts = InnerParts.of_mesh(vc, faces, lc, on_face, jaw), \
            head.inner_parts(jaw)
        np.testing.assert_array_equal(shared_parts.still, parts.still)
        np.testing.assert_array_equal(shared_parts.jaw, parts.jaw)
        np.testing.assert_array_equal(shared_parts.jaw_fields, parts.jaw_fields)


def test_a_changed_mesh_never_reads_the_old_ones_facts(anim: Animator, tmp_path: Path) -> None:
    v, faces, lm = demo_head()
    wav = voice(tmp_path / "line.wav", 2.0)
    _bake(anim, wav, (v, faces, lm))
    old = hm.head_mesh(v, faces, lm)
    moved = v.copy()
    moved[lm[57]] += (0.0, 0.0, -0.002)  # the lower lip's middle, 2 mm down in Blender's metres
    changed = [(moved, faces, lm), (v, faces[::-1].copy(), lm),
               (v, faces, np.roll(lm, 1)), (v, faces, v[lm])]
    for mesh in changed:
        assert hm.head_mesh(*mesh) is not old
    baked = _bake(anim, wav, (moved, faces, lm))
    hm.forget_meshes()
    assert_same_bake(baked, _bake(anim, wav, (moved, faces, lm)))
    # Copies of the same arrays are the same mesh.
    hm.forget_meshes()
    kept = hm.head_mesh(v, faces, lm)
    assert hm.head_mesh(v.copy(), faces.copy(), lm.copy()) is kept


def test_kept_facts_cannot_be_changed_by_a_caller() -> None:
    head = hm.head_mesh(*demo_head())
    for array in (head.vertices, head.vertices_c, head.landmarks_c, head.features,
                  head.labels):
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 0


def test_only_a_few_meshes_are_kept_and_bad_landmarks_keep_none() -> None:
    v, faces, lm = demo_head()
    made = [hm.head_mesh(v + 0.001 * k, faces, lm) for k in range(hm.KEEP_MESHES + 1)]
    assert len(hm._MESHES) == hm.KEEP_MESHES
    assert hm.head_mesh(v, faces, lm) is not made[0]  # the oldest was let go
    assert hm.head_mesh(v + 0.001 * hm.KEEP_MESHES, faces, lm) is made[-1]
    hm.forget_meshes()
    with pytest.raises(S2LError):
        hm.head_mesh(v, faces, np.full(68, len(v) + 5))
    assert not hm._MESHES


def test_the_basis_is_kept_per_model() -> None:
    head = hm.head_mesh(*demo_head())

    class Model:
        def __init__(self, scale: float) -> None:
            self.scale, self.calls = scale, 0

        def mesh_basis(self, feats: Any) -> Any:
            self.calls += 1
            return np.full((2, len(feats), 3), self.scale, np.float32)

    a, b = Model(1.0), Model(2.0)
    assert head.s2d_basis(a)[0, 0, 0] == 1.0 and head.s2d_basis(b)[0, 0, 0] == 2.0
    assert head.s2d_basis(a)[0, 0, 0] == 1.0
    assert (a.calls, b.calls) == (1, 1)
