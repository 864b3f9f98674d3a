"""Key points -> Fit on the user's head, in the panel's operators and in batch --keypoints."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from blender_helpers import bpy, mesh_co, submodule, voice_scene
from fake_animator import FakeAnimator

KEYS = (36, 45, 30, 48, 54, 8, 39, 42, 62, 66)


def head_without_landmarks(pkg: ModuleType) -> tuple[Any, Any]:
    head = importlib.import_module("blender_s2l.demo_head.make").make_demo_head(0)
    mesh = bpy.data.meshes.new("Head")
    mesh.from_pydata(head.vertices.astype(float).tolist(), [], [list(f) for f in head.faces])
    obj = bpy.data.objects.new("Head", mesh)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    return obj, head


def test_mark_key_points_then_fit(fake: FakeAnimator, tmp_path: Path) -> None:
    pkg = sys.modules[fake.errors.__name__.rsplit(".core", 1)[0]]
    obj, head = head_without_landmarks(pkg)
    storage = submodule(pkg, "blender.storage")
    assert storage.stored_landmarks(obj) is None
    with pytest.raises(RuntimeError, match="Mark these key points first: right outer eye"):
        bpy.ops.s2l.fit_landmarks(object_name="Head")
    for k in KEYS:
        v = int(head.landmark_vertices[k])
        assert bpy.ops.s2l.assign_keypoint(object_name="Head", point=str(k), vertex=v) == {
            "FINISHED"
        }
    assert storage.read_keypoints(obj) == {k: int(head.landmark_vertices[k]) for k in KEYS}
    assert bpy.ops.s2l.fit_landmarks(object_name="Head") == {"FINISHED"}
    fitted = storage.stored_landmarks(obj)
    truth = mesh_co(obj)[head.landmark_vertices]
    assert fitted.shape == (68, 3)
    assert np.abs(fitted - truth).max() < 0.003  # metres: within 3 mm on the demo head
    voice_scene(tmp_path)
    assert bpy.ops.s2l.bake(object_name="Head") == {"FINISHED"}
    np.testing.assert_allclose(fake.calls[-1]["landmarks68"], fitted)
    # the fit goes stale when the mesh changes: moved (Edit Mode, Apply Scale, Origin to
    # Geometry: the count stays), which baked with landmarks off the lips without a word ...
    basis = obj.data.shape_keys.reference_key  # the rest shape Fit and the bake read
    co = np.zeros(len(obj.data.vertices) * 3, dtype=np.float32)
    basis.data.foreach_get("co", co)
    basis.data.foreach_set("co", co + np.float32(0.002))
    with pytest.raises(RuntimeError, match="has changed since its landmarks were fitted"):
        bpy.ops.s2l.bake(object_name="Head", take="again")
    assert bpy.ops.s2l.fit_landmarks(object_name="Head") == {"FINISHED"}
    assert bpy.ops.s2l.bake(object_name="Head", take="again") == {"FINISHED"}
    # ... or vertices added or deleted, which renumber them: the key points too
    obj.data.vertices.add(1)
    with pytest.raises(RuntimeError, match="has changed since its landmarks were fitted"):
        bpy.ops.s2l.bake(object_name="Head", take="third")
    with pytest.raises(RuntimeError, match=r"were marked when its mesh had \d+ vertices"):
        bpy.ops.s2l.fit_landmarks(object_name="Head")
    # re-marking one of them drops the others, rather than letting Fit follow them
    assert bpy.ops.s2l.assign_keypoint(object_name="Head", point="30",
                                       vertex=int(head.landmark_vertices[30])) == {"FINISHED"}
    assert storage.read_keypoints(obj) == {30: int(head.landmark_vertices[30])}
    with pytest.raises(RuntimeError, match="Mark these key points first"):
        bpy.ops.s2l.fit_landmarks(object_name="Head")
    assert bpy.ops.s2l.clear_landmarks(object_name="Head") == {"FINISHED"}
    assert storage.read_keypoints(obj) == {}


def test_assign_the_selected_vertex_in_edit_mode(fake: FakeAnimator) -> None:
    import bmesh

    pkg = sys.modules[fake.errors.__name__.rsplit(".core", 1)[0]]
    obj, _ = head_without_landmarks(pkg)
    bpy.ops.object.mode_set(mode="EDIT")
    bm = bmesh.from_edit_mesh(obj.data)
    bm.verts.ensure_lookup_table()
    for v in bm.verts:
        v.select = False
    with pytest.raises(RuntimeError, match="Select exactly one vertex"):
        bpy.ops.s2l.assign_keypoint(point="30")
    bm.verts[123].select = True
    bmesh.update_edit_mesh(obj.data)
    assert bpy.ops.s2l.assign_keypoint(point="30") == {"FINISHED"}
    bpy.ops.object.mode_set(mode="OBJECT")
    assert submodule(pkg, "blender.storage").read_keypoints(obj) == {30: 123}


def test_batch_keypoints_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import blender_s2l
    from blender_s2l import batch
    from blender_s2l.core.bake import pipeline as checkout_pipeline

    bpy.ops.wm.read_homefile(use_empty=True)
    anim = FakeAnimator(blender_s2l)
    monkeypatch.setattr(checkout_pipeline, "load_animator", lambda *a: anim)
    _, head = head_without_landmarks(blender_s2l)
    voice_scene(tmp_path)
    scene = tmp_path / "scene.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(scene))
    kp = tmp_path / "kp.json"
    kp.write_text(json.dumps({str(k): int(head.landmark_vertices[k]) for k in KEYS}))
    out = tmp_path / "out.blend"
    assert batch.main([str(scene), "--object", "Head", "--strip", "Voice", "--out", str(out),
                       "--keypoints", str(kp)]) == 0
    assert anim.calls[-1]["landmarks68"].shape == (68, 3)
    bad = tmp_path / "bad.json"
    bad.write_text('{"36": 1}')
    assert batch.main([str(scene), "--object", "Head", "--strip", "Voice", "--out",
                       str(tmp_path / "x.blend"), "--keypoints", str(bad)]) == 1


def test_fit_shows_landmarks_and_single_ones_can_be_adjusted(fake: FakeAnimator) -> None:
    pkg = sys.modules[fake.errors.__name__.rsplit(".core", 1)[0]]
    obj, head = head_without_landmarks(pkg)
    storage = submodule(pkg, "blender.storage")
    with pytest.raises(RuntimeError, match="Fit the landmarks first"):
        bpy.ops.s2l.adjust_landmark(object_name="Head", index=48, vertex=0)
    for k in KEYS:
        bpy.ops.s2l.assign_keypoint(object_name="Head", point=str(k),
                                    vertex=int(head.landmark_vertices[k]))
    assert bpy.ops.s2l.fit_landmarks(object_name="Head") == {"FINISHED"}
    group = obj.vertex_groups.get("s2l.landmarks")
    assert group is not None
    members = {v.index for v in obj.data.vertices if any(g.group == group.index for g in v.groups)}
    near = set(submodule(pkg, "core.head.head_mesh").nearest_vertices(
        mesh_co(obj), storage.stored_landmarks(obj)).tolist())
    assert members == near and 60 <= len(members) <= 68  # inner-lip pairs may share a vertex
    before = storage.stored_landmarks(obj).copy()
    target = int(head.landmark_vertices[57]) + 1
    assert bpy.ops.s2l.adjust_landmark(object_name="Head", index=57, vertex=target) == {
        "FINISHED"
    }
    after = storage.stored_landmarks(obj)
    np.testing.assert_allclose(after[57], mesh_co(obj)[target], atol=1e-6)
    np.testing.assert_allclose(np.delete(after, 57, 0), np.delete(before, 57, 0))
    with pytest.raises(RuntimeError, match="is not in 'Head'"):
        bpy.ops.s2l.adjust_landmark(object_name="Head", index=57, vertex=10**7)
    assert bpy.ops.s2l.clear_landmarks(object_name="Head") == {"FINISHED"}
    assert obj.vertex_groups.get("s2l.landmarks") is None


WRONG_LIPS = "are both on the upper lip"


def test_fit_refuses_a_wrong_pick_and_changes_nothing(fake: FakeAnimator) -> None:
    pkg = sys.modules[fake.errors.__name__.rsplit(".core", 1)[0]]
    obj, head = head_without_landmarks(pkg)
    storage = submodule(pkg, "blender.storage")
    for k in KEYS:
        bpy.ops.s2l.assign_keypoint(object_name="Head", point=str(k),
                                    vertex=int(head.landmark_vertices[k]))
    assert bpy.ops.s2l.fit_landmarks(object_name="Head") == {"FINISHED"}
    before = storage.stored_landmarks(obj).copy()
    group_before = sorted(v.index for v in obj.data.vertices if v.groups)
    # 66 on 62's vertex: both inner-lip midpoints on the upper lip of a mouth that opens
    bpy.ops.s2l.assign_keypoint(object_name="Head", point="66",
                                vertex=int(head.landmark_vertices[62]))
    with pytest.raises(RuntimeError, match=WRONG_LIPS):
        bpy.ops.s2l.fit_landmarks(object_name="Head")
    np.testing.assert_array_equal(storage.stored_landmarks(obj), before)
    assert sorted(v.index for v in obj.data.vertices if v.groups) == group_before


def test_batch_keypoints_wrong_pick_is_a_fail_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import blender_s2l
    from blender_s2l import batch
    from blender_s2l.core.bake import pipeline as checkout_pipeline

    bpy.ops.wm.read_homefile(use_empty=True)
    anim = FakeAnimator(blender_s2l)
    monkeypatch.setattr(checkout_pipeline, "load_animator", lambda *a: anim)
    _, head = head_without_landmarks(blender_s2l)
    voice_scene(tmp_path)
    scene = tmp_path / "scene.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(scene))
    picks = {str(k): int(head.landmark_vertices[k]) for k in KEYS}
    picks["66"] = picks["62"]
    kp = tmp_path / "kp.json"
    kp.write_text(json.dumps(picks))
    out = tmp_path / "out.blend"
    assert batch.main([str(scene), "--object", "Head", "--strip", "Voice", "--out", str(out),
                       "--keypoints", str(kp)]) == 1
    fails = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("FAIL")]
    assert len(fails) == 1 and WRONG_LIPS in fails[0], fails
    assert not out.exists() and not anim.calls


def test_single_landmarks_of_a_stored_vertex_set_can_be_adjusted(fake: FakeAnimator) -> None:
    """A head with 68 landmark vertices stored (a recognised topology, or after Cut Mouth on
    one) was told to "Fit the landmarks first", with no key points to Fit from."""
    pkg = sys.modules[fake.errors.__name__.rsplit(".core", 1)[0]]
    obj, head = head_without_landmarks(pkg)
    storage = submodule(pkg, "blender.storage")
    storage.store_landmarks(obj, head.landmark_vertices)
    target = int(head.landmark_vertices[57]) + 1
    assert bpy.ops.s2l.adjust_landmark(object_name="Head", index=57, vertex=target) == {
        "FINISHED"}
    after = storage.stored_landmarks(obj)
    assert after[57] == target
    assert np.array_equal(np.delete(after, 57), np.delete(head.landmark_vertices, 57))
    taken = int(head.landmark_vertices[8])
    with pytest.raises(RuntimeError, match="is already landmark 8"):
        bpy.ops.s2l.adjust_landmark(object_name="Head", index=57, vertex=taken)


def test_fit_on_a_negatively_scaled_head_names_the_scale(fake: FakeAnimator) -> None:
    """Key points marked by what the viewport shows on a head mirrored by a scale of -1 were
    refused as "mirrored: left and right are swapped", with nothing said of the scale."""
    pkg = sys.modules[fake.errors.__name__.rsplit(".core", 1)[0]]
    obj, head = head_without_landmarks(pkg)
    obj.scale.x = -1.0
    bpy.context.view_layer.update()
    swap = {36: 45, 45: 36, 39: 42, 42: 39, 48: 54, 54: 48}  # what the mirrored view shows
    for k in KEYS:
        bpy.ops.s2l.assign_keypoint(object_name="Head", point=str(k),
                                    vertex=int(head.landmark_vertices[swap.get(k, k)]))
    with pytest.raises(RuntimeError, match=r"has a negative scale.*apply the negative scale"):
        bpy.ops.s2l.fit_landmarks(object_name="Head")
