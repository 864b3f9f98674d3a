"""Rig Shape Keys with a jaw bone (issue 17): the bake keys the bone from the fitted jaw motion
in a take of the armature's own, and the shape keys make what the bone's skinning leaves.

The installed extension with its bundled models bakes a line with a phones file onto the demo
head with ARKit-named keys of its mouth (`jaw_rig`), skinned to the jaw bone of an armature (or
not); everything is read where the animator sees it: the evaluated mesh and the armature's NLA.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from blender_helpers import bpy, demo_head_object, evaluated_co, mesh_co, snapshot, submodule
from lip_helpers import PHONES
from rig_helpers import add_key, tracks
from test_lip_contact_blender import START, line_scene

UPPER, LOWER = [61, 62, 63], [67, 66, 65]
FPS = 30


@pytest.fixture
def bundled(installed: ModuleType) -> ModuleType:
    submodule(installed, "core.bake.pipeline").forget_animators()
    bpy.ops.wm.read_homefile(use_empty=True)
    return installed


def landmarks(pkg: ModuleType, head: Any) -> np.ndarray:
    return np.asarray(submodule(pkg, "blender.storage").stored_landmarks(head), dtype=np.int64)


def _bump(co: np.ndarray, centre: np.ndarray, radius: float) -> np.ndarray:
    return np.exp(-((co - centre) ** 2).sum(axis=1) / radius**2)


def jaw_rig(pkg: ModuleType, skin: bool = True) -> tuple[Any, Any, np.ndarray]:
    """Head (the demo head) with ARKit keys of the mouth, on the armature Rig: a root bone
    and a jaw bone from the jaw's hinge (level with the cheeks, behind the mouth) to the chin;
    with skin, the head's Armature modifier and groups `jaw` (the lower lip and chin) and
    `root` (the rest)."""
    head = demo_head_object(pkg)
    co = mesh_co(head)
    lm = landmarks(pkg, head)
    hinge = 0.5 * (co[lm[3]] + co[lm[13]])
    hinge[0] = 0.0
    # the lower lip and chin ride the jaw, the upper lip not: from the lips' meeting line down,
    # fully within 3 mm; fading out towards the hinge and past the mouth's corners
    mouth = 0.5 * (co[lm[62]] + co[lm[66]])
    below = np.clip((mouth[2] - co[:, 2]) / 0.003, 0.0, 1.0)
    front = np.clip((hinge[1] - co[:, 1]) / (hinge[1] - mouth[1]), 0.0, 1.0)
    half = 0.5 * abs(co[lm[54], 0] - co[lm[48], 0])
    inside = np.clip((2.0 * half - np.abs(co[:, 0])) / half, 0.0, 1.0)
    weight = below * front * inside
    turn = np.radians(12.0)  # jawOpen: the jaw's region turned down about the hinge
    r = np.array([[1, 0, 0], [0, np.cos(turn), -np.sin(turn)], [0, np.sin(turn), np.cos(turn)]])
    if (r @ (co[lm[8]] - hinge))[2] > (co[lm[8]] - hinge)[2]:
        r = r.T  # the chin goes down
    lips = {"L": co[lm[54]] * 0.4 + co[lm[66]] * 0.6, "R": co[lm[48]] * 0.4 + co[lm[66]] * 0.6}
    up = np.array([0.0, 0.0, 1.0])
    offsets = {
        "jawOpen": weight[:, None] * ((co - hinge) @ r.T + hinge - co),
        "mouthClose": (_bump(co, co[lm[66]], 0.014) * below)[:, None] * 0.008 * up,
        "mouthFunnel": _bump(co, mouth, 0.015)[:, None] * np.array([0.0, -0.004, 0.0]),
        "mouthSmileLeft": _bump(co, co[lm[54]], 0.012)[:, None] * np.array([0.004, 0, 0.004]),
        "mouthSmileRight": _bump(co, co[lm[48]], 0.012)[:, None] * np.array([-0.004, 0, 0.004]),
        "mouthLowerDownLeft": (_bump(co, lips["L"], 0.01) * below)[:, None] * -0.004 * up,
        "mouthLowerDownRight": (_bump(co, lips["R"], 0.01) * below)[:, None] * -0.004 * up,
        "mouthUpperUpLeft": (_bump(co, lips["L"] + 0.002 * up, 0.01) * (1 - below))[:, None]
        * 0.003 * up,
        "mouthUpperUpRight": (_bump(co, lips["R"] + 0.002 * up, 0.01) * (1 - below))[:, None]
        * 0.003 * up,
    }
    for name, off in offsets.items():
        add_key(head, name, off)
    data = bpy.data.armatures.new("Rig")
    rig = bpy.data.objects.new("Rig", data)
    bpy.context.scene.collection.objects.link(rig)
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode="EDIT")
    root = data.edit_bones.new("root")
    root.head, root.tail = hinge + np.array([0, 0.05, -0.1]), hinge + np.array([0, 0.05, 0.0])
    jaw = data.edit_bones.new("jaw")
    jaw.head, jaw.tail = hinge, co[lm[8]]
    jaw.parent = root
    bpy.ops.object.mode_set(mode="OBJECT")
    head.parent = rig
    if skin:
        g_jaw, g_root = head.vertex_groups.new(name="jaw"), head.vertex_groups.new(name="root")
        for i, w in enumerate(weight):
            if w > 0:
                g_jaw.add([i], float(w), "REPLACE")
            if w < 1:
                g_root.add([i], float(1.0 - w), "REPLACE")
        mod = head.modifiers.new("Armature", "ARMATURE")
        mod.object = rig
    bpy.context.view_layer.objects.active = head
    return head, rig, lm


def capture_plans(pkg: ModuleType, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    plans = submodule(pkg, "core.bake.plans")
    made: list[Any] = []
    real = plans.PLANS["RIG"]
    monkeypatch.setitem(plans.PLANS, "RIG", dataclasses.replace(
        real, build=lambda m, i: made.append(real.build(m, i)) or made[-1]))
    return made


def bake(phones: Path, **kw: Any) -> Any:
    kw.setdefault("object_name", "Head")
    kw.setdefault("take", "A")
    return bpy.ops.s2l.bake(strip_name="Line", mode="RIG", device="CPU",
                            phones_file=str(phones), recognise_words=False, **kw)


def phone_frames(kind: tuple[str, ...]) -> list[list[int]]:
    """The scene frames inside each phone of the kinds given."""
    out = []
    for s, e, ph in PHONES:
        if ph in kind:
            out.append([f for f in range(START, START + 60) if s <= (f - START) / FPS < e])
    return out


def rotation_angle(r: np.ndarray) -> float:
    """The angle (radians) of a rotation matrix."""
    return float(np.arccos(np.clip((np.trace(r) - 1.0) / 2.0, -1.0, 1.0)))


def gap_mm(co: np.ndarray, lm: np.ndarray) -> float:
    return float((co[lm[UPPER], 2] - co[lm[LOWER], 2]).mean() * 1000.0)


def face_error_mm(head: Any, plan: Any, lm: np.ndarray, frames: list[int]) -> tuple[float, float]:
    """(mean over the face, mean over the lower lip and chin) of the evaluated rig mesh's
    distance from the dense bake (rest + the motion), mm."""
    rest = mesh_co(head)
    mouth, chin = rest[lm[66]], rest[lm[8]]
    face = rest[:, 1] < rest[lm[30], 1] + 0.03  # the front of the head
    lower = face & (rest[:, 2] < mouth[2] + 0.003) & (rest[:, 2] > chin[2] - 0.01) & (
        np.abs(rest[:, 0]) < np.abs(rest[lm[48], 0] - rest[lm[54], 0]))
    errors_face, errors_lower = [], []
    for f in frames:
        t = int(np.flatnonzero(plan.frames == f)[0])
        dist = np.linalg.norm(evaluated_co(head, f) - rest - plan.motion.dense_frame(t), axis=1)
        errors_face.append(dist[face].mean())
        errors_lower.append(dist[lower].mean())
    return float(np.mean(errors_face)) * 1000.0, float(np.mean(errors_lower)) * 1000.0


def test_the_jaw_bone_is_keyed_in_a_take_and_the_mouth_opens_once(
    bundled: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, phones = line_scene(tmp_path)
    head, rig, lm = jaw_rig(bundled)
    # the user's own action on the armature: the root's location and the jaw's scale
    rig.pose.bones["root"].keyframe_insert("location", frame=1)
    rig.pose.bones["jaw"].keyframe_insert("scale", frame=1)
    user_action = rig.animation_data.action
    user_curves = sorted((fc.data_path, fc.array_index) for layer in user_action.layers
                         for strip in layer.strips for bag in strip.channelbags
                         for fc in bag.fcurves)
    plans = capture_plans(bundled, monkeypatch)
    rest_gap = gap_mm(evaluated_co(head, 1), lm)
    assert bake(phones) == {"FINISHED"}
    plan = plans[-1]
    storage = submodule(bundled, "blender.storage")
    rec, r_rec = storage.read_takes(head)["A"], storage.read_takes(rig)["A"]
    assert r_rec.bones == ["jaw"] and r_rec.group and r_rec.group == rec.group
    assert r_rec.action == "s2l.Rig.A" and r_rec.animated == []
    assert [t.name for t in rig.animation_data.nla_tracks] == ["s2l.(rest)", "s2l.A"]
    assert rig.animation_data.action == user_action  # still the user's, untouched
    paths = {fc.data_path for layer in bpy.data.actions["s2l.Rig.A"].layers
             for strip in layer.strips for bag in strip.channelbags for fc in bag.fcurves}
    assert 'pose.bones["jaw"].rotation_quaternion' in paths
    assert all(p.startswith('pose.bones["jaw"].') for p in paths)
    # the mouth opens on the vowels the dense motion opens, and shuts on every /p b m/
    rest = mesh_co(head)
    opened = 0
    for frames in phone_frames(("AA", "AE", "IY", "AH")):
        dense = max(gap_mm(rest + plan.motion.dense_frame(int(np.flatnonzero(
            plan.frames == f)[0])), lm) for f in frames)
        rigged = max(gap_mm(evaluated_co(head, f), lm) for f in frames)
        if dense > rest_gap + 2.0:
            assert rigged > rest_gap + 0.25 * (dense - rest_gap), frames
            opened += 1
    assert opened >= 2  # the vowels the dense motion opens by 2 mm or more (/aa/ and /iy/)
    for frames in phone_frames(("P", "B", "M")):
        assert min(gap_mm(evaluated_co(head, f), lm) for f in frames) <= 0.5, frames
    # the bone turns the jaw down (the chin goes down) ...
    track = plan.jaw
    angles = [rotation_angle(track.rotation[t]) for t in range(len(plan.frames))]
    t = int(np.argmax(angles))
    assert angles[t] > np.radians(1.0)
    chin = rest[lm[8]]
    assert (track.mesh[t, :3, :3] @ chin + track.mesh[t, :3, 3])[2] < chin[2] - 0.001
    # ... and the evaluated mesh is the plan's: the keys, then the bone through the skin
    f = int(plan.frames[t])
    skin = submodule(bundled, "blender.rig").skin_share(head, rig, "jaw")[0]
    keyed = rest.copy()
    key = head.data.shape_keys
    for name in rec.animated:
        kb = key.key_blocks[name]
        co = np.zeros(len(kb.data) * 3)
        kb.data.foreach_get("co", co)
        keyed += plan.weights[t, plan.key_names.index(name)] * (co.reshape(-1, 3) - rest)
    a = track.mesh[t]
    want = keyed + skin[:, None] * (keyed @ a[:3, :3].T + a[:3, 3] - keyed)
    assert np.abs(evaluated_co(head, f) - want).max() < 1e-6
    bpy.context.scene.frame_set(f)
    assert rig.pose.bones["jaw"].rotation_quaternion.angle == pytest.approx(angles[t], abs=1e-4)
    err_face, err_lower = face_error_mm(head, plan, lm, [f for f in plan.frames.astype(int)
                                                         if (f - START) % 3 == 0])
    print(f"\nrig vs dense, skinned jaw: face {err_face:.3f} mm, lower lip and chin "
          f"{err_lower:.3f} mm (mean), max error {plan.max_error_mm:.2f} mm")
    assert err_face < 0.5 and err_lower < 1.0
    # re-bake replaces exactly the take; removing it leaves the user's action as it was
    assert bake(phones, replace=True, mouth_strength=0.5) == {"FINISHED"}
    assert [t.name for t in rig.animation_data.nla_tracks] == ["s2l.(rest)", "s2l.A"]
    assert sorted(a.name for a in bpy.data.actions if a.name.startswith("s2l.Rig")) == [
        "s2l.Rig.(rest)", "s2l.Rig.A"]
    assert bpy.ops.s2l.remove_take(object_name="Head", take="A") == {"FINISHED"}
    assert storage.read_takes(rig) == {} and storage.read_takes(head) == {}
    assert list(rig.animation_data.nla_tracks) == []
    assert not [a.name for a in bpy.data.actions if a.name.startswith("s2l.Rig")]
    assert rig.animation_data.action == user_action
    assert sorted((fc.data_path, fc.array_index) for layer in user_action.layers
                  for strip in layer.strips for bag in strip.channelbags
                  for fc in bag.fcurves) == user_curves
    assert tracks(head) == []
    assert np.abs(evaluated_co(head, START + 10) - mesh_co(head)).max() < 1e-7


@pytest.mark.parametrize(("mode", "prop", "n"), [("ZXY", "rotation_euler", 3),
                                                 ("AXIS_ANGLE", "rotation_axis_angle", 4)])
def test_a_head_not_skinned_to_the_bone_keys_it_and_the_keys_make_the_whole_motion(
    bundled: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str, prop: str,
    n: int,
) -> None:
    _, phones = line_scene(tmp_path)
    head, rig, lm = jaw_rig(bundled, skin=False)
    rig.pose.bones["jaw"].rotation_mode = mode  # keyed in the bone's own rotation mode
    plans = capture_plans(bundled, monkeypatch)
    assert bake(phones) == {"FINISHED"}
    plan = plans[-1]
    storage = submodule(bundled, "blender.storage")
    assert storage.read_takes(rig)["A"].bones == ["jaw"]
    paths = {(fc.data_path, fc.array_index) for layer in bpy.data.actions["s2l.Rig.A"].layers
             for strip in layer.strips for bag in strip.channelbags for fc in bag.fcurves}
    assert {(f'pose.bones["jaw"].{prop}', i) for i in range(n)} <= paths
    assert {p.split(".")[-1] for p, _ in paths} <= {prop, "location"}
    for t in (len(plan.frames) // 3, len(plan.frames) // 2):  # the pose is the track's
        bpy.context.scene.frame_set(int(plan.frames[t]))
        basis = np.array(rig.pose.bones["jaw"].matrix_basis)
        assert np.abs(basis[:3, :3] - plan.jaw.rotation[t]).max() < 1e-5
        assert np.abs(basis[:3, 3] - plan.jaw.location[t]).max() < 1e-7
    assert any("is not skinned to the jaw bone 'jaw'" in n for n in
               storage.read_takes(head)["A"].notes)
    f = int(plan.frames[len(plan.frames) // 2])
    # the bone moves, the mesh does not follow it: the keys alone are the mesh
    bpy.context.scene.frame_set(f)
    key = head.data.shape_keys
    rest = mesh_co(head)
    want = rest.copy()
    t = int(np.flatnonzero(plan.frames == f)[0])
    for k, name in enumerate(plan.key_names):
        kb = key.key_blocks[name]
        co = np.zeros(len(kb.data) * 3)
        kb.data.foreach_get("co", co)
        want += plan.weights[t, k] * (co.reshape(-1, 3) - rest)
    assert np.abs(evaluated_co(head, f) - want).max() < 1e-6
    if mode == "ZXY":
        err_face, err_lower = face_error_mm(
            head, plan, lm, [f for f in plan.frames.astype(int) if (f - START) % 3 == 0])
        print(f"\nrig vs dense, jaw bone not skinned: face {err_face:.3f} mm, lower lip and "
              f"chin {err_lower:.3f} mm (mean)")


def test_pose_mode_and_a_linked_armature_are_refused_and_nothing_changes(
    bundled: ModuleType, tmp_path: Path,
) -> None:
    _, phones = line_scene(tmp_path)
    _, rig, _ = jaw_rig(bundled)
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode="POSE")
    before = snapshot()
    try:
        with pytest.raises(RuntimeError, match="The armature 'Rig' is in Pose Mode; switch to "
                                               "Object Mode"):
            bake(phones)
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
    assert snapshot() == before and rig.animation_data is None
    library = tmp_path / "rig.blend"
    bpy.data.libraries.write(str(library), {rig})
    with bpy.data.libraries.load(str(library), link=True) as (_, linked):
        linked.objects = ["Rig"]
    head = bpy.data.objects["Head"]
    linked_rig = linked.objects[0]
    bpy.context.scene.collection.objects.link(linked_rig)
    head.parent = linked_rig
    head.modifiers["Armature"].object = linked_rig
    bpy.context.view_layer.objects.active = head
    before = snapshot()
    with pytest.raises(RuntimeError, match="is linked from a library, so its jaw bone cannot be "
                                           "keyed"):
        bake(phones)
    assert snapshot() == before and linked_rig.animation_data is None


def test_mute_and_undo(bundled: ModuleType, tmp_path: Path) -> None:
    """The armature's track mutes on its own (the panel's toggle beside the head's take);
    one undo step takes the whole rig take away, bone included."""
    _, phones = line_scene(tmp_path)
    head, rig, _ = jaw_rig(bundled)
    before = snapshot()
    bpy.ops.ed.undo_push(message="before bake")
    assert bake(phones) == {"FINISHED"}
    bpy.ops.ed.undo_push(message="Bake Lip Sync")
    track = rig.animation_data.nla_tracks["s2l.A"]
    f = START + 9  # inside the first /m/, where the jaw is open
    bpy.context.scene.frame_set(f)
    assert rig.pose.bones["jaw"].rotation_quaternion.angle > np.radians(0.5)
    opened = evaluated_co(head, f)
    track.mute = True
    muted = evaluated_co(head, f)
    assert np.allclose(rig.pose.bones["jaw"].matrix_basis, np.eye(4), atol=1e-7)  # rest
    assert np.abs(muted - opened).max() > 1e-4  # the bone's share is gone from the mesh
    track.mute = False
    bpy.ops.ed.undo()
    rig = bpy.data.objects["Rig"]
    assert snapshot() == before
    assert rig.animation_data is None or not rig.animation_data.nla_tracks
    assert "s2l.Rig.A" not in bpy.data.actions


def test_remove_gives_back_the_jaw_pose_the_user_set_by_hand(
    bundled: ModuleType, tmp_path: Path
) -> None:
    """A jaw posed by hand (not keyed) is held at rest while a take keys it and posed as it was
    again when the take is removed (Remove used to leave it at rest)."""
    _, phones = line_scene(tmp_path)
    _, rig, _ = jaw_rig(bundled)
    jaw = rig.pose.bones["jaw"]
    jaw.rotation_quaternion = (0.995, 0.0998, 0.0, 0.0)
    jaw.location = (0.0, 0.001, 0.0)
    posed = np.array(jaw.matrix_basis)
    assert bake(phones) == {"FINISHED"}
    assert bake(phones, take="B") == {"FINISHED"}
    bpy.context.scene.frame_set(1)  # before both takes: the rest track plays
    assert np.allclose(jaw.matrix_basis, np.eye(4), atol=1e-7)
    assert bpy.ops.s2l.remove_take(object_name="Head", take="A") == {"FINISHED"}
    assert bpy.ops.s2l.remove_take(object_name="Head", take="B") == {"FINISHED"}
    assert np.allclose(rig.pose.bones["jaw"].matrix_basis, posed, atol=1e-6)


def test_a_pose_a_take_played_is_not_noted_as_the_users(
    bundled: ModuleType, tmp_path: Path
) -> None:
    """A rest action from before the poses were noted: the next bake, shown inside a take with
    the jaw open, must not note that open jaw as the user's, or Remove would leave it open."""
    _, phones = line_scene(tmp_path)
    _, rig, _ = jaw_rig(bundled)
    assert bake(phones) == {"FINISHED"}
    rest = rig.animation_data.nla_tracks["s2l.(rest)"].strips[0].action
    del rest[submodule(bundled, "blender.rig").BEFORE_PROP]
    bpy.context.scene.frame_set(START + 9)  # inside the first /m/, where the jaw is open
    assert rig.pose.bones["jaw"].rotation_quaternion.angle > np.radians(0.5)
    assert bake(phones, take="B") == {"FINISHED"}
    assert bpy.ops.s2l.remove_take(object_name="Head", take="A") == {"FINISHED"}
    assert bpy.ops.s2l.remove_take(object_name="Head", take="B") == {"FINISHED"}
    assert np.allclose(rig.pose.bones["jaw"].matrix_basis, np.eye(4), atol=1e-7)


def test_a_failure_on_the_armature_rolls_back_every_object(
    bundled: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bake that fails while keying the bone leaves the head, the armature and the take it
    was replacing as they were."""
    _, phones = line_scene(tmp_path)
    head, rig, _ = jaw_rig(bundled)
    assert bake(phones) == {"FINISHED"}
    storage = submodule(bundled, "blender.storage")

    def state() -> dict[str, Any]:
        return {**snapshot(), "rig tracks": [t.name for t in rig.animation_data.nla_tracks],
                "head tracks": tracks(head), "rig take": storage.read_takes(rig),
                "pose": [tuple(rig.pose.bones["jaw"].rotation_quaternion)]}

    before = state()
    pkg_rig = submodule(bundled, "blender.rig")
    original = pkg_rig.key_bone_take

    def fail(armature: Any, *a: Any) -> None:
        original(armature, *a)
        raise submodule(bundled, "core.errors").BakeError("Simulated failure.")

    monkeypatch.setattr(pkg_rig, "key_bone_take", fail)
    with pytest.raises(RuntimeError, match="Simulated failure"):
        bake(phones, replace=True)
    assert state() == before
    with pytest.raises(RuntimeError, match="Simulated failure"):
        bake(phones, take="B")
    assert state() == before


# --- glTF: the jaw bone leaves Blender with the take's morph weights --------------------------
def quaternion_matrix(w: float, x: float, y: float, z: float) -> np.ndarray:
    """The rotation of a quaternion, normalised first (as Blender poses a bone)."""
    n = np.sqrt(w * w + x * x + y * y + z * z)
    w, x, y, z = w / n, x / n, y / n, z / n
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def test_a_rig_take_exports_to_gltf_as_one_animation_of_bone_and_weights(
    bundled: ModuleType, tmp_path: Path,
) -> None:
    """Blender's glTF exporter, Animation > Mode: NLA Tracks, merges the tracks of one name on
    every object into one animation: the take `s2l.A` carries the jaw node's rotation (and
    translation) and the head's morph weights over the same frames; the rest tracks become one
    more animation, `s2l.(rest)`, holding the rest pose. Read back from the .gltf and .bin."""
    from test_rig_export_blender import gltf_accessor

    _, phones = line_scene(tmp_path)
    head, rig, _ = jaw_rig(bundled)
    assert bake(phones) == {"FINISHED"}
    storage = submodule(bundled, "blender.storage")
    h_rec, r_rec = storage.read_takes(head)["A"], storage.read_takes(rig)["A"]
    out = tmp_path / "rig.gltf"
    assert bpy.ops.export_scene.gltf(
        filepath=str(out), export_format="GLTF_SEPARATE", use_selection=False,
        export_animations=True, export_animation_mode="NLA_TRACKS", export_morph=True,
        export_morph_animation=True, export_force_sampling=True,
    ) == {"FINISHED"}
    doc = json.loads(out.read_text())
    nodes = {n.get("name"): i for i, n in enumerate(doc["nodes"])}
    jaw, head_node = nodes["jaw"], nodes["Head"]
    assert sorted(a["name"] for a in doc["animations"]) == ["s2l.(rest)", "s2l.A"]
    anim = next(a for a in doc["animations"] if a["name"] == "s2l.A")
    channels = {(c["target"]["node"], c["target"]["path"]): anim["samplers"][c["sampler"]]
                for c in anim["channels"]}
    fps = bpy.context.scene.render.fps / bpy.context.scene.render.fps_base

    def sampled(node: int, path: str) -> tuple[np.ndarray, np.ndarray]:
        sampler = channels[node, path]
        times = gltf_accessor(out, doc, sampler["input"])[:, 0].astype(np.float64)
        return times * fps, gltf_accessor(out, doc, sampler["output"]).astype(np.float64)

    frames, rotation = sampled(jaw, "rotation")  # quaternions x, y, z, w
    t_frames, translation = sampled(jaw, "translation")
    w_frames, weights = sampled(head_node, "weights")
    # the take's frames, every one, for the bone and the weights alike
    want = np.arange(r_rec.frame_start, r_rec.frame_end + 1, dtype=np.float64)
    np.testing.assert_allclose(frames, want, atol=1e-3)
    np.testing.assert_allclose(t_frames, want, atol=1e-3)
    np.testing.assert_allclose(w_frames, np.arange(h_rec.frame_start, h_rec.frame_end + 1),
                               atol=1e-3)
    # the jaw's node transform is its rest offset from the root bone times the keyed pose, in
    # the root bone's frame (glTF's +Y up turns the armature, not a bone's frame in its parent)
    bones = rig.data.bones
    rest = np.linalg.inv(np.array(bones["root"].matrix_local)) @ np.array(
        bones["jaw"].matrix_local)
    curves = {(fc.data_path.rsplit(".", 1)[1], fc.array_index): fc
              for layer in bpy.data.actions[r_rec.action].layers for strip in layer.strips
              for bag in strip.channelbags for fc in bag.fcurves}
    turned = 0
    for k, f in enumerate(np.round(frames)):
        q = [curves["rotation_quaternion", i].evaluate(f) for i in range(4)]
        pose = np.eye(4)
        pose[:3, :3] = quaternion_matrix(*q)
        pose[:3, 3] = [curves["location", i].evaluate(f) if ("location", i) in curves else 0.0
                       for i in range(3)]
        local = rest @ pose
        x, y, z, w = rotation[k]
        got = quaternion_matrix(w, x, y, z)
        assert np.abs(got - local[:3, :3]).max() < 2e-5, f
        assert np.abs(translation[k] - local[:3, 3]).max() < 1e-6, f
        turned += rotation_angle(pose[:3, :3]) > np.radians(0.5)
    assert turned >= 5  # the take opens the jaw on several frames, not only rest
    # ... and what Blender poses at those frames is the same keyed pose
    for k in (len(frames) // 3, len(frames) // 2):
        bpy.context.scene.frame_set(round(frames[k]))
        local = rest @ np.array(rig.pose.bones["jaw"].matrix_basis)
        x, y, z, w = rotation[k]
        assert np.abs(quaternion_matrix(w, x, y, z) - local[:3, :3]).max() < 2e-5
    # the morph weights of the same animation are the head's take, frame by frame
    targets = doc["meshes"][doc["nodes"][head_node]["mesh"]]["extras"]["targetNames"]
    weights = weights.reshape(len(w_frames), len(targets))
    key_curves = {fc.data_path.split('"')[1]: fc
                  for layer in bpy.data.actions[h_rec.action].layers for strip in layer.strips
                  for bag in strip.channelbags for fc in bag.fcurves}
    assert sorted(key_curves) == sorted(h_rec.animated) and h_rec.animated
    for name, fc in key_curves.items():
        np.testing.assert_allclose(weights[:, targets.index(name)],
                                   [fc.evaluate(float(f)) for f in np.round(w_frames)],
                                   atol=1e-5, err_msg=name)
    # the rest animation holds the jaw at its rest pose and every key at rest
    rest_anim = next(a for a in doc["animations"] if a["name"] == "s2l.(rest)")
    for c in rest_anim["channels"]:
        values = gltf_accessor(out, doc, rest_anim["samplers"][c["sampler"]]["output"])
        if c["target"] == {"node": jaw, "path": "rotation"}:
            x, y, z, w = values[0]
            np.testing.assert_allclose(quaternion_matrix(w, x, y, z),
                                       rest[:3, :3], atol=2e-6)
        if c["target"] == {"node": head_node, "path": "weights"}:
            assert np.abs(values).max() == 0.0


def users_jaw_track(rig: Any, track: str, action: str = "") -> tuple[Any, int]:
    """The user's own NLA track rotating the jaw 0.3 rad (Euler X) over frames late to late+50,
    well after the line; (the jaw bone, late)."""
    bone = rig.pose.bones["jaw"]
    bone.rotation_mode = "XYZ"
    bone.rotation_euler = (0.3, 0.0, 0.0)
    late = START + 400
    bone.keyframe_insert("rotation_euler", frame=late)
    bone.keyframe_insert("rotation_euler", frame=late + 50)
    theirs = rig.animation_data.action
    if action:
        theirs.name = action
    rig.animation_data.action = None
    new = rig.animation_data.nla_tracks.new()
    new.name = track
    new.strips.new("jaw", late, theirs)
    bone.rotation_euler = (0.0, 0.0, 0.0)
    return bone, late


def test_the_users_own_nla_animation_of_the_jaw_plays_outside_the_take(
    bundled: ModuleType, tmp_path: Path
) -> None:
    """A track of the user's rotating the jaw after the line: the rest track held the bone at
    rest over it on every frame, silencing it. Channels the user's tracks animate are left to
    them; the others (here the bone's location) still rest where no take plays."""
    _, phones = line_scene(tmp_path)
    _head, rig, _ = jaw_rig(bundled)
    bone, late = users_jaw_track(rig, "UserJaw")
    assert bake(phones) == {"FINISHED"}
    assert [t.name for t in rig.animation_data.nla_tracks] == ["UserJaw", "s2l.(rest)", "s2l.A"]
    bpy.context.scene.frame_set(late + 25)
    assert tuple(bone.rotation_euler) == pytest.approx((0.3, 0.0, 0.0))
    rest = rig.animation_data.nla_tracks["s2l.(rest)"].strips[0].action
    held = {fc.data_path.rsplit(".", 1)[-1] for layer in rest.layers for strip in layer.strips
            for bag in strip.channelbags for fc in bag.fcurves}
    assert held == {"location"}


def rest_channels_held(rig: Any) -> list[tuple[str, list[str]]]:
    """Each rest track of the armature with the bone properties its action holds."""
    return [(t.name, sorted({fc.data_path.rsplit(".", 1)[-1] for layer in s.action.layers
                             for st in layer.strips for bag in st.channelbags
                             for fc in bag.fcurves}))
            for t in rig.animation_data.nla_tracks for s in t.strips
            if s.action is not None and s.action.get("s2l_rest")]


def test_a_user_strip_on_a_takes_track_does_not_take_the_rest_hold_away(
    bundled: ModuleType, tmp_path: Path
) -> None:
    """Its F-curves were read with the take's own jaw channels as the user's, and the rest
    track went."""
    _, phones = line_scene(tmp_path)
    _head, rig, _ = jaw_rig(bundled)
    assert bake(phones) == {"FINISHED"}
    root = rig.pose.bones["root"]
    root.keyframe_insert("location", frame=START + 300)
    mine = rig.animation_data.action
    rig.animation_data.action = None
    track = rig.animation_data.nla_tracks["s2l.A"]
    track.lock = False
    track.strips.new("mine", START + 300, mine)
    assert bake(phones, take="B") == {"FINISHED"}
    assert rest_channels_held(rig) == [("s2l.(rest)", ["location", "rotation_quaternion"])]


def test_rest_tracks_do_not_pile_up_when_the_rest_actions_name_is_taken(
    bundled: ModuleType, tmp_path: Path
) -> None:
    """Blender named the rest action '....(rest).001', it was no longer recognised, and each
    bake added a rest track that Remove never took away."""
    _, phones = line_scene(tmp_path)
    _head, rig, _ = jaw_rig(bundled)
    bpy.data.actions.new("s2l.Rig.(rest)").use_fake_user = True
    assert bake(phones) == {"FINISHED"}
    assert bake(phones, take="B") == {"FINISHED"}
    assert [t.name for t in rig.animation_data.nla_tracks] == ["s2l.(rest)", "s2l.A", "s2l.B"]
    assert bpy.ops.s2l.remove_take(object_name="Head", take="A") == {"FINISHED"}
    assert bpy.ops.s2l.remove_take(object_name="Head", take="B") == {"FINISHED"}
    assert not rig.animation_data or not len(rig.animation_data.nla_tracks)


def test_a_users_action_named_like_ours_on_their_track_still_plays(
    bundled: ModuleType, tmp_path: Path
) -> None:
    _, phones = line_scene(tmp_path)
    _head, rig, _ = jaw_rig(bundled)
    bone, late = users_jaw_track(rig, "Mine", action="s2l.Rig.A.001")  # a take's, tweaked
    assert bake(phones) == {"FINISHED"}
    bpy.context.scene.frame_set(late + 25)
    assert tuple(bone.rotation_euler) == pytest.approx((0.3, 0.0, 0.0))
