"""Cut Mouth (issue 18.1) in real Blender: a demo head whose lip slit is welded shut is found
fused, at Fit and in a bake's notes; the cut opens it along the lip line, carries UVs, shape keys
and vertex groups to the new vertices, puts 61-63 on the upper lip and 65-67 on the lower, is one
undo step, and is refused in one sentence (nothing changed) where it cannot or need not run."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from blender_helpers import bpy, grid_head, mesh_co, submodule, voice_scene
from fake_animator import FakeAnimator

UPPER, LOWER = (61, 62, 63), (67, 66, 65)


def _pkg(fake: FakeAnimator) -> ModuleType:
    return sys.modules[fake.errors.__name__.rsplit(".core", 1)[0]]


def welded_demo_head() -> tuple[np.ndarray, list[list[int]], np.ndarray]:
    """(vertices, faces, landmark vertices) of the demo head with its slit welded: each lower
    lip edge vertex merged into the nearest upper one, unused vertices dropped. Facing inner-lip
    landmarks may now share a vertex (61/67, 62/66, 63/65)."""
    make = importlib.import_module("blender_s2l.demo_head.make")
    fitting = importlib.import_module("blender_s2l.core.head.fitting")
    mesh_mod = importlib.import_module("blender_s2l.core.head.mesh")
    h = make.make_demo_head(0)
    v = h.vertices.astype(np.float64)
    pf = mesh_mod.padded_faces(h.faces)
    lm = h.landmark_vertices
    centre = 0.5 * (v[lm[54]] + v[lm[48]])
    slit = min(fitting._boundary_loops(pf), key=lambda lp: np.linalg.norm(v[lp].mean(0) - centre))
    upper = set(h.parts["lip_upper"].tolist())
    top = np.array([i for i in slit if i in upper])
    target = np.arange(len(v))
    for i in slit:
        if i not in upper:
            target[i] = top[np.argmin(np.linalg.norm(v[top] - v[i], axis=1))]
    faces = []
    for row in pf:
        poly = [int(c) for c in dict.fromkeys(target[row[row >= 0]].tolist())]
        if len(poly) >= 3:
            faces.append(poly)
    used = np.unique(np.concatenate([np.array(f) for f in faces]))
    remap = np.full(len(v), -1)
    remap[used] = np.arange(len(used))
    return v[used], [[int(remap[c]) for c in f] for f in faces], remap[target[lm]]


def fused_head(pkg: ModuleType, fitted: bool = True) -> tuple[Any, np.ndarray]:
    """The welded head as object 'Head' with a UV map, a shape key and a vertex group that are
    functions of each vertex's position (so a copy must equal its original), and its landmarks
    stored as Fit stores them (positions) or, with 65-67 moved a row down the chin, as vertices."""
    verts, faces, lm = welded_demo_head()
    mesh = bpy.data.meshes.new("Head")
    mesh.from_pydata(verts.tolist(), [], faces)
    obj = bpy.data.objects.new("Head", mesh)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    uv = mesh.uv_layers.new(name="UVMap")
    corner = np.zeros(len(mesh.loops), dtype=np.int32)
    mesh.loops.foreach_get("vertex_index", corner)
    uv.data.foreach_set("uv", verts[corner][:, [0, 2]].astype(np.float32).ravel())
    obj.shape_key_add(name="Basis")
    smile = obj.shape_key_add(name="Smile")
    smile.data.foreach_set("co", (verts + smile_offset(verts)).astype(np.float32).ravel())
    group = obj.vertex_groups.new(name="Jaw")
    for i, w in enumerate(jaw_weight(verts).tolist()):
        group.add([i], w, "REPLACE")
    storage = submodule(pkg, "blender.storage")
    if fitted:
        storage.store_fitted_landmarks(obj, verts[lm])
    else:  # a vertex set is 68 distinct vertices: 65-67 a row below the seam, the outer
        # mouth corners a vertex further out than the inner ones
        edges = np.zeros(2 * len(mesh.edges), dtype=np.int32)
        mesh.edges.foreach_get("vertices", edges)
        edges = edges.reshape(-1, 2)

        def neighbour(k: int, score: np.ndarray) -> int:
            around = np.concatenate([edges[edges[:, 0] == lm[k], 1],
                                     edges[edges[:, 1] == lm[k], 0]])
            return int(around[np.argmax(score[around])])

        for k in LOWER:
            lm[k] = neighbour(k, -verts[:, 2])
        for k, sign in ((48, -1.0), (54, 1.0)):
            if lm[k] in lm[60:68]:
                lm[k] = neighbour(k, sign * verts[:, 0])
        storage.store_landmarks(obj, lm)
    return obj, lm


def smile_offset(co: np.ndarray) -> np.ndarray:
    return np.stack([0.1 * co[:, 2], np.zeros(len(co)), 0.2 * co[:, 0]], axis=1)


def jaw_weight(co: np.ndarray) -> np.ndarray:
    return np.clip(0.5 + 10.0 * co[:, 0], 0.0, 1.0)


def boundary_edges(obj: Any) -> int:
    """How many edges have one polygon (an open mouth without a bag has its lips' borders)."""
    count: dict[tuple[int, int], int] = {}
    for p in obj.data.polygons:
        for e in p.edge_keys:
            count[e] = count.get(e, 0) + 1
    return sum(1 for n in count.values() if n == 1)


def faces_of(obj: Any) -> list[set[int]]:
    return [set(p.vertices) for p in obj.data.polygons]


def side(obj: Any, vertex: int) -> float:
    """How far up (object +Z) the polygons around a vertex lie from it."""
    co = mesh_co(obj)
    around = [p for p in obj.data.polygons if vertex in p.vertices]
    return float(np.mean([co[list(p.vertices)].mean(0)[2] - co[vertex, 2] for p in around]))


def lip_vertices(pkg: ModuleType, obj: Any) -> np.ndarray:
    """A vertex for each landmark as the bake reads them (the polygon a position lies on)."""
    mouth = submodule(pkg, "blender.mouth")
    mouth_slit = submodule(pkg, "core.head.mouth_slit")
    storage = submodule(pkg, "blender.storage")
    stored = storage.stored_landmarks(obj)
    if stored.ndim == 1:
        return np.asarray(stored)
    verts, faces = mouth._neutral_and_faces(obj)
    return np.asarray(mouth_slit.landmark_vertices(verts, faces, stored, None))


def test_cut_mouth_opens_a_fused_head_and_carries_its_data(fake: FakeAnimator,
                                                            tmp_path: Path) -> None:
    pkg = _pkg(fake)
    mouth = submodule(pkg, "blender.mouth")
    mouth_slit = submodule(pkg, "core.head.mouth_slit")
    obj, _ = fused_head(pkg)
    assert mouth.mouth_warning(obj) == mouth_slit.fused_note("Head")
    found, _, _ = mouth.read_mouth(obj)
    n_before, path = len(obj.data.vertices), found.path
    # A bake before the cut says so in the take's notes.
    voice_scene(tmp_path)
    assert bpy.ops.s2l.bake(object_name="Head", take="before") == {"FINISHED"}
    notes = submodule(pkg, "blender.storage").read_takes(obj)["before"].notes
    assert mouth_slit.fused_note("Head") in notes
    bpy.ops.s2l.remove_take(object_name="Head", take="before")

    open_edges = boundary_edges(obj)
    assert bpy.ops.s2l.cut_mouth(object_name="Head", bag=False) == {"FINISHED"}
    co = mesh_co(obj)
    assert len(co) == n_before + len(path) - 2  # one copy per inner vertex; corners shared
    assert boundary_edges(obj) == open_edges + 2 * (len(path) - 1)  # both lips' borders
    new = np.arange(n_before, len(co))
    assert np.allclose(co[new], co[path[1:-1]])
    # UVs, the shape key and the vertex group are their originals' at the new vertices.
    corner = np.zeros(len(obj.data.loops), dtype=np.int32)
    obj.data.loops.foreach_get("vertex_index", corner)
    uv = np.zeros(2 * len(corner), dtype=np.float32)
    obj.data.uv_layers["UVMap"].data.foreach_get("uv", uv)
    assert np.isin(new, corner).all()
    np.testing.assert_allclose(uv.reshape(-1, 2), co[corner][:, [0, 2]], atol=1e-6)
    smile = np.zeros(3 * len(co), dtype=np.float32)
    obj.data.shape_keys.key_blocks["Smile"].data.foreach_get("co", smile)
    np.testing.assert_allclose(smile.reshape(-1, 3) - co, smile_offset(co), atol=1e-6)
    jaw = obj.vertex_groups["Jaw"].index
    weights = np.array([next(g.weight for g in v.groups if g.group == jaw)
                        for v in obj.data.vertices])
    np.testing.assert_allclose(weights, jaw_weight(co), atol=1e-6)
    # Landmarks: each column's upper point on the upper lip, its lower one on the lower lip.
    lm = lip_vertices(pkg, obj)
    for a, b in zip(UPPER, LOWER, strict=True):
        assert lm[a] != lm[b]
        assert side(obj, int(lm[a])) > 0.0 > side(obj, int(lm[b]))
        assert not any({int(lm[a]), int(lm[b])} <= f for f in faces_of(obj))  # no sheet
    assert mouth.mouth_warning(obj) is None
    # A bake after the cut: no fused note, and the lips part (no polygon joins them).
    assert bpy.ops.s2l.bake(object_name="Head", take="after") == {"FINISHED"}
    notes = submodule(pkg, "blender.storage").read_takes(obj)["after"].notes
    assert mouth_slit.fused_note("Head") not in notes
    # Cutting again: already open, nothing changed.
    before = mesh_co(obj).copy()
    assert bpy.ops.s2l.cut_mouth(object_name="Head") == {"CANCELLED"}
    assert mouth.cut_mouth(obj).message == "The mouth of 'Head' is already open; nothing was " \
        "changed."
    np.testing.assert_array_equal(mesh_co(obj), before)


def test_cut_mouth_moves_stored_vertices_and_key_points_and_undoes(fake: FakeAnimator) -> None:
    pkg = _pkg(fake)
    storage = submodule(pkg, "blender.storage")
    obj, lm = fused_head(pkg, fitted=False)
    storage.write_keypoints(obj, {62: int(lm[62]), 66: int(lm[66]), 30: int(lm[30])})
    bpy.ops.ed.undo_push(message="before cut")
    n_before, open_edges = len(obj.data.vertices), boundary_edges(obj)
    path = submodule(pkg, "blender.mouth").read_mouth(obj)[0].path
    inner = len(path) - 2
    assert bpy.ops.s2l.cut_mouth(object_name="Head") == {"FINISHED"}  # with the roll and bag
    bpy.ops.ed.undo_push(message="Cut Mouth")
    obj = bpy.data.objects["Head"]
    after = storage.stored_landmarks(obj)
    ring = 2 * inner + 2  # the opening's border: both lips' copies and the two corners
    assert len(obj.data.vertices) == n_before + inner + 2 * ring  # a roll ring, a bag ring
    assert boundary_edges(obj) == open_edges  # the bag closes the opening: not see-through
    slots = [m.name if m else "" for m in obj.data.materials]
    assert slots == ["", "s2l.mouth_bag"]
    bag_faces = [p for p in obj.data.polygons if p.material_index == 1]
    assert len(bag_faces) == ring + 1 and max(len(p.vertices) for p in bag_faces) == ring
    # Each new vertex moves in the shape key as the border vertex it grew from.
    co = mesh_co(obj)
    smile = np.zeros(3 * len(co), dtype=np.float32)
    obj.data.shape_keys.key_blocks["Smile"].data.foreach_get("co", smile)
    delta = smile.reshape(-1, 3) - co
    grown = delta[n_before + inner:]
    border = delta[np.r_[path, n_before:n_before + inner]]
    assert np.abs(grown[:, None] - border[None]).sum(-1).min(axis=1).max() < 1e-6
    for a, b in zip(UPPER, LOWER, strict=True):
        assert side(obj, int(after[a])) > 0.0 > side(obj, int(after[b]))
    keep = [k for k in range(68) if k not in UPPER + LOWER]
    np.testing.assert_array_equal(after[keep], lm[keep])
    kp = storage.read_keypoints(obj)
    assert kp == {62: int(after[62]), 66: int(after[66]), 30: int(lm[30])}
    assert bpy.ops.s2l.cut_mouth(object_name="Head") == {"CANCELLED"}  # the bag keeps it open
    assert len(obj.data.vertices) == n_before + inner + 2 * ring
    bpy.ops.ed.undo()
    obj = bpy.data.objects["Head"]
    assert len(obj.data.vertices) == n_before and len(obj.data.materials) == 0
    np.testing.assert_array_equal(storage.stored_landmarks(obj), lm)


def test_cut_mouth_refuses_in_one_sentence_and_changes_nothing(fake: FakeAnimator,
                                                                 tmp_path: Path) -> None:
    pkg = _pkg(fake)
    grid_head("Plain")
    with pytest.raises(RuntimeError, match="has no landmarks yet"):
        bpy.ops.s2l.cut_mouth(object_name="Plain")
    obj, _ = fused_head(pkg)
    n = len(obj.data.vertices)
    bpy.ops.object.mode_set(mode="EDIT")
    with pytest.raises(RuntimeError, match="is in Edit Mode; switch to Object Mode"):
        bpy.ops.s2l.cut_mouth(object_name="Head")
    bpy.ops.object.mode_set(mode="OBJECT")
    assert len(obj.data.vertices) == n
    # The lips cannot be joined corner to corner: a gash across the mouth's middle.
    mouth = submodule(pkg, "blender.mouth")
    found, _, _ = mouth.read_mouth(obj)
    middle = int(found.path[len(found.path) // 2])
    import bmesh

    bm = bmesh.new()
    bm.from_mesh(obj.data)
    bm.verts.ensure_lookup_table()
    bmesh.ops.delete(bm, geom=list(bm.verts[middle].link_faces), context="FACES_ONLY")
    bm.to_mesh(obj.data)
    bm.free()
    with pytest.raises(RuntimeError, match="are open in places and joined in others"):
        bpy.ops.s2l.cut_mouth(object_name="Head")
    assert len(obj.data.vertices) == n
    # No way round at all: the head cut in two down its middle.
    bm = bmesh.new()
    bm.from_mesh(obj.data)
    strip = [f for f in bm.faces if abs(f.calc_center_median().x) < 0.003]
    bmesh.ops.delete(bm, geom=strip, context="FACES_ONLY")
    bm.to_mesh(obj.data)
    bm.free()
    with pytest.raises(RuntimeError, match="No path along the inner lips of 'Head'"):
        bpy.ops.s2l.cut_mouth(object_name="Head")
    assert len(obj.data.vertices) == n
    # A mesh two objects share.
    twin = bpy.data.objects.new("Twin", obj.data)
    bpy.context.scene.collection.objects.link(twin)
    with pytest.raises(RuntimeError, match="is shared by 2 users; make it single-user"):
        bpy.ops.s2l.cut_mouth(object_name="Head")
    # Linked from a library.
    path = tmp_path / "lib.blend"
    bpy.ops.wm.read_homefile(use_empty=True)
    fused_head(pkg)
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    bpy.ops.wm.read_homefile(use_empty=True)
    with bpy.data.libraries.load(str(path), link=True) as (_src, dst):
        dst.objects = ["Head"]
    bpy.context.scene.collection.objects.link(dst.objects[0])
    with pytest.raises(RuntimeError, match="linked library data"):
        bpy.ops.s2l.cut_mouth(object_name="Head")


def test_batch_cut_mouth(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    import blender_s2l
    from blender_s2l import batch
    from blender_s2l.core.bake import pipeline as checkout_pipeline
    from blender_s2l.core.head.mouth_slit import fused_note

    bpy.ops.wm.read_homefile(use_empty=True)
    anim = FakeAnimator(blender_s2l)
    monkeypatch.setattr(checkout_pipeline, "load_animator", lambda *a: anim)
    obj, _ = fused_head(blender_s2l)
    n = len(obj.data.vertices)
    voice_scene(tmp_path)
    scene = tmp_path / "scene.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(scene))
    args = [str(scene), "--object", "Head", "--strip", "Voice"]
    assert batch.main([*args, "--out", str(tmp_path / "plain.blend")]) == 0
    out = capsys.readouterr().out
    assert fused_note("Head") in out  # the ok line's notes
    assert batch.main([*args, "--out", str(tmp_path / "cut.blend"), "--cut-mouth"]) == 0
    out = capsys.readouterr().out
    assert "note: job 1: Cut the mouth of 'Head' open" in out and fused_note("Head") not in out
    assert anim.calls[-1]["n_vertices"] > n
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "cut.blend"))
    assert len(bpy.data.objects["Head"].data.vertices) > n
    assert batch.main([str(tmp_path / "cut.blend"), "--object", "Head", "--strip", "Voice",
                       "--out", str(tmp_path / "again.blend"), "--cut-mouth", "--replace"]) == 0
    assert "is already open; nothing was changed" in capsys.readouterr().out


def test_fit_on_a_fused_head_says_so(fake: FakeAnimator, capfd: pytest.CaptureFixture[str]) -> None:
    pkg = _pkg(fake)
    obj, lm = fused_head(pkg)
    storage = submodule(pkg, "blender.storage")
    obj.data.pop(storage.LANDMARK_POS_PROP)
    for k in (36, 45, 30, 48, 54, 8, 62, 66):  # 62 and 66: one vertex of the welded lips
        bpy.ops.s2l.assign_keypoint(object_name="Head", point=str(k), vertex=int(lm[k]))
    capfd.readouterr()
    assert bpy.ops.s2l.fit_landmarks(object_name="Head") == {"FINISHED"}
    said = capfd.readouterr()
    note = submodule(pkg, "core.head.mouth_slit").fused_note("Head")
    assert note in said.out + said.err
