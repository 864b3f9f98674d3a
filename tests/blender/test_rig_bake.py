"""Rig Shape Keys (issue 17): a bake keys the character's own shape keys and adds none.

The installed extension, a fake animator whose motion is three of the head's own keys, the real
recogniser, and mostly a plain least-squares solve in place of core/rig/solve.py, whose weights
the tests can predict: they hold the Blender side (what is read, what is keyed where, what
removing, replacing and undoing do), not the solve; one bake goes through the real solve.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from blender_helpers import bpy, evaluated_co, mesh_co, snapshot, submodule, voice_scene
from fake_animator import FakeAnimator
from rig_helpers import (
    HEAD_KEYS,
    TEETH_KEYS,
    TEETH_OWN,
    USER_KEY,
    key_values,
    keyed_paths,
    lstsq_solve,
    motion_of_keys,
    path_key,
    rigged_head,
    tracks,
)


@pytest.fixture
def solved(installed: ModuleType, fake: FakeAnimator,
           monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The plans the stand-in solve made, newest last."""
    return lstsq_solve(installed, monkeypatch)


def offsets(obj: Any) -> dict[str, np.ndarray]:
    key = obj.data.shape_keys
    rest = mesh_co(obj)
    out = {}
    for kb in key.key_blocks:
        co = np.zeros(len(kb.data) * 3)
        kb.data.foreach_get("co", co)
        out[kb.name] = co.reshape(-1, 3) - rest
    return out


def expected(obj: Any, plan: Any, frame: int, keyed: list[str]) -> np.ndarray:
    """rest + sum of w_k delta_k over the keys the take keys (the others sit at 0)."""
    t = int(np.flatnonzero(plan.frames == frame)[0])
    deltas = offsets(obj)
    out = mesh_co(obj).copy()
    for name in keyed:
        out += plan.weights[t, plan.key_names.index(name)] * deltas[name]
    return out


def bake(**kw: Any) -> Any:
    kw.setdefault("object_name", "Head")
    kw.setdefault("strip_name", "Voice")
    kw.setdefault("mode", "RIG")
    return bpy.ops.s2l.bake(**kw)


def full_state() -> dict[str, Any]:
    """snapshot() plus every object's keys (values, ranges, shapes) and NLA tracks."""
    out = snapshot()
    for obj in bpy.data.objects:
        if obj.type == "MESH" and obj.data.shape_keys is not None:
            out[f"{obj.name} keys"] = key_values(obj)
            out[f"{obj.name} tracks"] = tracks(obj)
    return out


@pytest.fixture
def keyed_rig(installed: ModuleType, fake: FakeAnimator, solved: list[Any], tmp_path: Path,
              monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """The common scene: a voice strip, the rigged head with its Teeth, motion made of keys."""
    voice_scene(tmp_path)
    head, teeth = rigged_head(installed)
    motion_of_keys(monkeypatch, head)
    return head, teeth


def test_rig_bake_keys_only_the_heads_own_keys_and_the_teeth_follow(
    installed: ModuleType, fake: FakeAnimator, solved: list[Any], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, strip = voice_scene(tmp_path)
    head, teeth = rigged_head(installed)
    motion_of_keys(monkeypatch, head)
    names_before = {o: [k.name for k in o.data.shape_keys.key_blocks] for o in (head, teeth)}
    user_before = key_values(head)[USER_KEY], key_values(teeth)[TEETH_OWN]
    assert bake(take="A") == {"FINISHED"}
    plan = solved[-1]
    assert set(plan.key_names) == set(HEAD_KEYS)
    for o in (head, teeth):  # no key added, none removed, in the same order
        assert [k.name for k in o.data.shape_keys.key_blocks] == names_before[o]
    storage = submodule(installed, "blender.storage")
    rec, t_rec = storage.read_takes(head)["A"], storage.read_takes(teeth)["A"]
    assert rec.mode == "RIG" and rec.keys == [] and t_rec.keys == []
    assert rec.group and rec.group == t_rec.group
    # only keys the solve moved are keyed: jawOpen and mouthSmileLeft (mouthFunnel is clipped)
    assert rec.animated == ["jawOpen", "mouthSmileLeft"]
    assert t_rec.animated == ["jawOpen"]
    action = bpy.data.actions[rec.action]
    assert [path_key(p) for p in keyed_paths(action)] == rec.animated
    assert [path_key(p) for p in keyed_paths(bpy.data.actions[t_rec.action])] == ["jawOpen"]
    assert rec.action == "s2l.Head.A" and t_rec.action == "s2l.Teeth.A"
    assert tracks(head) == ["s2l.(rest)", "s2l.A"] and tracks(teeth) == ["s2l.(rest)", "s2l.A"]
    first, last = strip.frame_final_start, strip.frame_final_end - 1
    for f in (first, first + 7, (first + last) // 2, last):
        want = expected(head, plan, f, rec.animated)
        assert np.abs(evaluated_co(head, f) - want).max() < 1e-6, f
        want_teeth = expected(teeth, plan, f, ["jawOpen"])  # the head's weights, exactly
        assert np.abs(evaluated_co(teeth, f) - want_teeth).max() < 1e-6, f
    for f in (first - 1, first - 9, last + 1, last + 30):  # at rest outside the take
        assert np.abs(evaluated_co(head, f) - mesh_co(head)).max() < 1e-7, f
        assert np.abs(evaluated_co(teeth, f) - mesh_co(teeth)).max() < 1e-7, f
    # the user's own keys: their value, range and shape as they were, and never keyed
    assert (key_values(head)[USER_KEY], key_values(teeth)[TEETH_OWN]) == user_before
    assert all(USER_KEY not in p for a in bpy.data.actions for p in keyed_paths(a))


def test_the_real_solve_is_keyed_as_planned(
    installed: ModuleType, fake: FakeAnimator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """core/rig/solve.py's plan, whatever its weights: only set keys it moved are keyed, the
    evaluated meshes are rest + sum w_k delta_k, no key is added."""
    import dataclasses

    plans = submodule(installed, "core.bake.plans")
    made: list[Any] = []
    real = plans.PLANS["RIG"]
    monkeypatch.setitem(plans.PLANS, "RIG", dataclasses.replace(
        real, build=lambda m, i: made.append(real.build(m, i)) or made[-1]))
    _, strip = voice_scene(tmp_path)
    head, teeth = rigged_head(installed)
    motion_of_keys(monkeypatch, head)
    names_before = [k.name for k in head.data.shape_keys.key_blocks]
    assert bake(take="A") == {"FINISHED"}
    (plan,) = made
    assert [k.name for k in head.data.shape_keys.key_blocks] == names_before
    storage = submodule(installed, "blender.storage")
    rec, t_rec = storage.read_takes(head)["A"], storage.read_takes(teeth)["A"]
    assert rec.animated and set(rec.animated) <= set(HEAD_KEYS)
    assert t_rec.animated == [n for n in rec.animated if n in TEETH_KEYS]
    lo, hi = plan.weights.min(axis=0), plan.weights.max(axis=0)
    moved = {n for k, n in enumerate(plan.key_names) if max(hi[k] - plan.rest[k],
                                                            plan.rest[k] - lo[k]) > 1e-6}
    assert set(rec.animated) == moved
    for f in (strip.frame_final_start + 3, strip.frame_final_end - 4):
        assert np.abs(evaluated_co(head, f) - expected(head, plan, f, rec.animated)).max() < 1e-6
        assert np.abs(evaluated_co(teeth, f)
                      - expected(teeth, plan, f, t_rec.animated)).max() < 1e-6


def test_remove_take_leaves_every_key_and_removes_it_from_every_object(
    installed: ModuleType, keyed_rig: tuple[Any, Any],
) -> None:
    head, teeth = keyed_rig
    before = full_state()
    assert bake(take="A") == {"FINISHED"}
    assert bake(take="B", mode="COMPACT") == {"FINISHED"}  # a take of new keys beside it
    assert bpy.ops.s2l.remove_take(object_name="Teeth", take="A") == {"FINISHED"}  # a member
    storage = submodule(installed, "blender.storage")
    assert list(storage.read_takes(head)) == ["B"] and storage.read_takes(teeth) == {}
    # the rest track stays for the take of new keys, holding its keys (no longer the rig's)
    assert tracks(head) == ["s2l.(rest)", "s2l.B"] and tracks(teeth) == []
    rest = head.data.shape_keys.animation_data.nla_tracks["s2l.(rest)"].strips[0].action
    assert {fc.data_path.split('"')[1] for fc in rest.layers[0].strips[0].channelbags[0].fcurves
            } == set(storage.read_takes(head)["B"].keys)
    assert bpy.ops.s2l.remove_take(object_name="Head", take="B") == {"FINISHED"}
    assert full_state() == before


def test_remove_gives_back_the_dials_the_user_set_by_hand(
    installed: ModuleType, keyed_rig: tuple[Any, Any],
) -> None:
    """A value set on the character's own key (not keyed) is held at rest while a take plays
    it, and given back when the last take that keys it goes (it was reset to 0)."""
    head, teeth = keyed_rig
    for obj in (head, teeth):
        for i, kb in enumerate(obj.data.shape_keys.key_blocks[1:]):
            kb.value = 0.1 + 0.05 * i
    before = full_state()
    assert bake(take="A") == {"FINISHED"}
    assert bake(take="B") == {"FINISHED"}
    animated = submodule(installed, "blender.storage").read_takes(head)["A"].animated
    assert animated
    bpy.context.scene.frame_set(200)  # after both takes: the rest track plays
    assert all(head.data.shape_keys.key_blocks[n].value == 0.0 for n in animated)
    assert bpy.ops.s2l.remove_take(object_name="Head", take="A") == {"FINISHED"}
    assert bpy.ops.s2l.remove_take(object_name="Head", take="B") == {"FINISHED"}
    assert full_state() == before


def test_a_value_a_take_played_is_not_noted_as_the_users(
    installed: ModuleType, keyed_rig: tuple[Any, Any],
) -> None:
    """A file whose take has no rest track under it (baked before rest tracks, or the user
    deleted it): outside the take Blender's NLA gives its keys 1.0. The next bake must not
    take that for the user's value, or Remove would leave the mouth open."""
    head, _ = keyed_rig
    key = head.data.shape_keys
    assert bake(take="A") == {"FINISHED"}
    rest = key.animation_data.nla_tracks["s2l.(rest)"]
    action = rest.strips[0].action
    key.animation_data.nla_tracks.remove(rest)
    bpy.data.actions.remove(action)
    animated = submodule(installed, "blender.storage").read_takes(head)["A"].animated
    bpy.context.scene.frame_set(200)  # after the take: nothing holds its keys
    assert all(key.key_blocks[n].value == 1.0 for n in animated)
    assert bake(take="C") == {"FINISHED"}
    assert bpy.ops.s2l.remove_take(object_name="Head", take="A") == {"FINISHED"}
    assert bpy.ops.s2l.remove_take(object_name="Head", take="C") == {"FINISHED"}
    assert all(key.key_blocks[n].value == 0.0 for n in animated)


def test_replace_and_a_second_take_at_another_time(
    installed: ModuleType, fake: FakeAnimator, solved: list[Any], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scene, strip = voice_scene(tmp_path)
    second = scene.sequence_editor.strips.new_sound("Later", strip.sound.filepath, 2, 120)
    head, teeth = rigged_head(installed)
    motion_of_keys(monkeypatch, head)
    assert bake(take="A") == {"FINISHED"}
    with pytest.raises(RuntimeError, match="already has a take named 'A'"):
        bake(take="A")
    assert bake(take="A", replace=True, mouth_strength=0.5) == {"FINISHED"}
    a = solved[-1]
    assert bake(take="B", strip_name="Later") == {"FINISHED"}
    b = solved[-1]
    assert tracks(head) == ["s2l.(rest)", "s2l.A", "s2l.B"]
    assert tracks(teeth) == ["s2l.(rest)", "s2l.A", "s2l.B"]
    assert sorted(x.name for x in bpy.data.actions) == [
        "s2l.Head.(rest)", "s2l.Head.A", "s2l.Head.B", "s2l.Teeth.(rest)", "s2l.Teeth.A",
        "s2l.Teeth.B"]
    keyed = submodule(installed, "blender.storage").read_takes(head)["A"].animated
    # each take plays in its own frames: B (on top) does not hide A, nor A B
    for plan, f in ((a, strip.frame_final_start + 11), (b, second.frame_final_start + 11)):
        assert np.abs(evaluated_co(head, f) - expected(head, plan, f, keyed)).max() < 1e-6
    assert np.abs(evaluated_co(head, 100) - mesh_co(head)).max() < 1e-7  # between them


def test_undo_restores_everything(
    installed: ModuleType, keyed_rig: tuple[Any, Any],
) -> None:
    before = full_state()
    bpy.ops.ed.undo_push(message="before bake")
    assert bake(take="A") == {"FINISHED"}
    bpy.ops.ed.undo_push(message="Bake Lip Sync")
    assert full_state() != before
    bpy.ops.ed.undo()
    assert full_state() == before


def test_a_failure_on_the_teeth_rolls_back_every_object_and_keeps_the_replaced_take(
    installed: ModuleType, keyed_rig: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert bake(take="A") == {"FINISHED"}
    before = full_state()
    rig = submodule(installed, "blender.rig")
    original = rig.key_take

    def fail_on_teeth(obj: Any, *a: Any) -> None:
        original(obj, *a)
        if obj.name == "Teeth":
            raise submodule(installed, "core.errors").BakeError("Simulated failure.")

    monkeypatch.setattr(rig, "key_take", fail_on_teeth)
    with pytest.raises(RuntimeError, match="Simulated failure"):
        bake(take="A", replace=True)
    assert full_state() == before
    with pytest.raises(RuntimeError, match="Simulated failure"):
        bake(take="C")
    assert full_state() == before


def test_slider_ranges_bound_the_weights_and_the_rest(
    installed: ModuleType, fake: FakeAnimator, solved: list[Any], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, strip = voice_scene(tmp_path)
    head, _ = rigged_head(installed, teeth=False)
    motion_of_keys(monkeypatch, head)
    key = head.data.shape_keys
    key.key_blocks["jawOpen"].slider_min = -0.5  # the solve may key it below 0
    key.key_blocks["mouthSmileLeft"].slider_min = 0.2  # rest is 0.2, not 0
    key.key_blocks["mouthSmileLeft"].slider_max = 0.6
    pkg_bake = submodule(installed, "blender.bake")
    snap = pkg_bake.gather(bpy.context, pkg_bake.BakeParams(object_name="Head", mode="RIG",
                                                            take="A"))
    target = snap.inputs.rig
    snap.audio.cleanup()
    i, j = target.key_names.index("jawOpen"), target.key_names.index("mouthSmileLeft")
    assert target.ranges[i].tolist() == [-0.5, 1.0]
    assert target.ranges[j].tolist() == pytest.approx([0.2, 0.6])
    assert bake(take="A") == {"FINISHED"}
    plan = solved[-1]
    assert plan.weights[:, i].min() < -0.4 and plan.weights[:, j].max() == pytest.approx(0.6)
    keyed = submodule(installed, "blender.storage").read_takes(head)["A"].animated
    f = int(plan.frames[np.argmin(plan.weights[:, i])])
    assert np.abs(evaluated_co(head, f) - expected(head, plan, f, keyed)).max() < 1e-6
    smile = key.key_blocks["mouthSmileLeft"]
    bpy.context.scene.frame_set(strip.frame_final_start - 20)
    assert smile.value == pytest.approx(0.2)  # held at its rest outside the take


def test_driven_keys_are_left_out_with_a_note(
    installed: ModuleType, keyed_rig: tuple[Any, Any], solved: list[Any],
) -> None:
    head, teeth = keyed_rig
    head.data.shape_keys.key_blocks["mouthSmileLeft"].driver_add("value")
    teeth.data.shape_keys.key_blocks["jawOpen"].driver_add("value")
    assert bake(take="A") == {"FINISHED"}
    assert "mouthSmileLeft" not in solved[-1].key_names
    storage = submodule(installed, "blender.storage")
    rec = storage.read_takes(head)["A"]
    assert "jawOpen" in rec.animated and "mouthSmileLeft" not in rec.animated
    assert "The take leaves out 'mouthSmileLeft' of 'Head': a driver sets it." in rec.notes
    assert any(n.startswith("The take leaves out 'jawOpen' of 'Teeth'") for n in rec.notes)
    assert storage.read_takes(teeth) == {}  # its only moved key follows its driver


def test_the_rig_map_table_names_a_key_the_recogniser_does_not_know(
    installed: ModuleType, fake: FakeAnimator, solved: list[Any], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    voice_scene(tmp_path)
    head, _ = rigged_head(installed, teeth=False)
    head.data.shape_keys.key_blocks["jawOpen"].name = "MouthWide_custom"
    with pytest.raises(RuntimeError, match="jawOpen"):
        bake(take="A")
    assert bpy.ops.s2l.rig_map_add(object_name="Head") == {"FINISHED"}
    row = head.s2l_rig.rows[0]
    row.rig_name, row.key_name = "jawOpen", "MouthWide_custom"
    assert bake(take="A") == {"FINISHED"}
    plan = solved[-1]
    assert "MouthWide_custom" in plan.key_names
    pkg_bake = submodule(installed, "blender.bake")
    snap = pkg_bake.gather(bpy.context, pkg_bake.BakeParams(object_name="Head", mode="RIG",
                                                            take="B"))
    snap.audio.cleanup()
    target = snap.inputs.rig
    assert target.canonical[target.key_names.index("MouthWide_custom")] == "jawOpen"
    assert bpy.ops.s2l.rig_map_remove(object_name="Head") == {"FINISHED"}
    assert len(head.s2l_rig.rows) == 0


def test_armature_siblings_and_the_jaw_bone_are_found(
    installed: ModuleType, fake: FakeAnimator, solved: list[Any], tmp_path: Path,
) -> None:
    voice_scene(tmp_path)
    rigged_head(installed, armature=True)
    pkg_bake = submodule(installed, "blender.bake")
    snap = pkg_bake.gather(bpy.context, pkg_bake.BakeParams(object_name="Head", mode="RIG"))
    snap.audio.cleanup()
    target = snap.inputs.rig
    assert target.others == {"Teeth": list(TEETH_KEYS)}
    assert target.jaw_bone == "Rig/jaw"
    head = bpy.data.objects["Head"]
    head.s2l_rig.jaw_bone = "root"
    snap = pkg_bake.gather(bpy.context, pkg_bake.BakeParams(object_name="Head", mode="RIG"))
    snap.audio.cleanup()
    assert snap.inputs.rig.jaw_bone == "Rig/root"


# -- bad input: one sentence each, nothing changed -------------------------------------------------
def refused(match: str, **kw: Any) -> None:
    before = full_state()
    with pytest.raises(RuntimeError, match=match):
        bake(**kw)
    assert full_state() == before


def test_a_head_without_shape_keys(installed: ModuleType, fake: FakeAnimator,
                                   solved: list[Any], tmp_path: Path) -> None:
    voice_scene(tmp_path)
    submodule(installed, "blender.bake")
    from blender_helpers import grid_head

    grid_head()
    refused("'Head' has no shape keys; Rig Shape Keys keys the character's own ARKit, viseme or "
            "VRM shape keys")


def test_a_bake_that_moves_no_key(installed: ModuleType, fake: FakeAnimator,
                                  solved: list[Any], keyed_rig: tuple[Any, Any]) -> None:
    """Mouth Strength 0: the same sentence as the other modes, before anything is written."""
    refused("The bake moved nothing on 'Head' ", mouth_strength=0.0, upper_face=False)


def test_a_head_without_rig_keys(installed: ModuleType, fake: FakeAnimator, solved: list[Any],
                                 tmp_path: Path) -> None:
    voice_scene(tmp_path)
    rigged_head(installed, keys=(), teeth=False)
    refused("No ARKit, viseme or VRM shape keys were found on 'Head'")


def test_part_of_a_set(installed: ModuleType, fake: FakeAnimator, solved: list[Any],
                       tmp_path: Path) -> None:
    voice_scene(tmp_path)
    rigged_head(installed, keys=("mouthClose", "mouthFunnel", "mouthSmileLeft"), teeth=False)
    refused("'Head' has 3 ARKit shape keys but no jawOpen")


def test_visemes_without_aa_and_pp(installed: ModuleType, fake: FakeAnimator,
                                  solved: list[Any], tmp_path: Path) -> None:
    from rig_helpers import add_key

    voice_scene(tmp_path)
    head, _ = rigged_head(installed, keys=(), teeth=False)
    for k, name in enumerate(("viseme_sil", "viseme_E", "viseme_I", "viseme_O", "viseme_U")):
        add_key(head, name, np.full((len(head.data.vertices), 3), 0.001 * (k + 1)))
    refused("'Head' has 5 Oculus viseme shape keys but no viseme_aa and viseme_PP")


def test_every_key_driven(installed: ModuleType, fake: FakeAnimator, solved: list[Any],
                          tmp_path: Path) -> None:
    voice_scene(tmp_path)
    head, _ = rigged_head(installed, teeth=False)
    for name in HEAD_KEYS:
        head.data.shape_keys.key_blocks[name].driver_add("value")
    refused("Every ARKit, viseme or VRM shape key of 'Head' follows a driver or is muted")


def test_an_armature_in_pose_mode(installed: ModuleType, fake: FakeAnimator, solved: list[Any],
                                  tmp_path: Path) -> None:
    voice_scene(tmp_path)
    rigged_head(installed, armature=True)
    rig = bpy.data.objects["Rig"]
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode="POSE")
    try:
        refused("The armature 'Rig' is in Pose Mode; switch to Object Mode")
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")


def test_shape_keys_linked_from_a_library(installed: ModuleType, fake: FakeAnimator,
                                          solved: list[Any], tmp_path: Path) -> None:
    voice_scene(tmp_path)
    rigged_head(installed)
    library = tmp_path / "character.blend"
    bpy.data.libraries.write(str(library), {bpy.data.objects["Teeth"].data,
                                            bpy.data.objects["Head"]})
    teeth = bpy.data.objects["Teeth"]
    with bpy.data.libraries.load(str(library), link=True) as (_, linked):
        linked.meshes = [teeth.data.name]
    old = teeth.data
    teeth.data = linked.meshes[0]  # a local Teeth object, its mesh and keys from the library
    bpy.data.meshes.remove(old)
    assert teeth.data.shape_keys.library is not None
    refused("'Teeth' uses linked library data")
    head = bpy.data.objects["Head"]
    bpy.data.objects.remove(head)
    with bpy.data.libraries.load(str(library), link=True) as (_, linked):
        linked.objects = ["Head"]
    bpy.context.scene.collection.objects.link(linked.objects[0])
    refused("'Head' uses linked library data")


def test_a_take_name_used_by_another_bake_on_the_teeth(
    installed: ModuleType, keyed_rig: tuple[Any, Any],
) -> None:
    assert bake(object_name="Teeth", take="A", mode="COMPACT") == {"FINISHED"}
    refused("'Teeth' already has a take named 'A' from another bake", take="A")
    refused("'Teeth' already has a take named 'A' from another bake", take="A", replace=True)
    assert bake(take="R") == {"FINISHED"}
    # nor may a bake of the teeth alone replace its part of the rig take
    refused("The take 'R' of 'Teeth' was baked onto the rig together with 'Head'",
            object_name="Teeth", take="R", mode="COMPACT", replace=True)


def test_an_object_removed_or_posed_during_the_bake(
    installed: ModuleType, fake: FakeAnimator, solved: list[Any], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker's result is written only if every object it was meant for is still there."""
    voice_scene(tmp_path)
    head, _ = rigged_head(installed, armature=True)
    motion_of_keys(monkeypatch, head)
    head.data.shape_keys.key_blocks["mouthClose"].mute = True
    pkg_bake = submodule(installed, "blender.bake")
    pipeline = submodule(installed, "core.bake.pipeline")
    snap = pkg_bake.gather(bpy.context, pkg_bake.BakeParams(object_name="Head", mode="RIG"))
    assert "mouthClose" not in snap.inputs.rig.key_names
    assert "The take leaves out 'mouthClose' of 'Head': it is muted." in snap.inputs.rig.notes
    plan = pipeline.infer(snap.inputs)
    snap.audio.cleanup()
    rig = bpy.data.objects["Rig"]
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode="POSE")
    before = full_state()
    with pytest.raises(Exception, match="The armature 'Rig' is in Pose Mode"):
        pkg_bake.finish(snap, plan)
    assert full_state() == before
    bpy.ops.object.mode_set(mode="OBJECT")
    bpy.data.objects.remove(bpy.data.objects["Teeth"])
    before = full_state()
    with pytest.raises(Exception, match="The object 'Teeth' was removed during the bake"):
        pkg_bake.finish(snap, plan)
    assert full_state() == before


def test_the_users_own_animation_of_the_same_keys_is_kept_and_named(
    installed: ModuleType, fake: FakeAnimator, solved: list[Any], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    voice_scene(tmp_path)
    head, _ = rigged_head(installed, teeth=False)
    motion_of_keys(monkeypatch, head)
    key = head.data.shape_keys
    smile = key.key_blocks["mouthSmileLeft"]
    smile.keyframe_insert("value", frame=1)
    pushed = key.animation_data.action
    track = key.animation_data.nla_tracks.new()
    track.name = "Mine"
    track.strips.new("Mine", 1, pushed)
    key.animation_data.action = None
    key.key_blocks["jawOpen"].keyframe_insert("value", frame=5)
    active = key.animation_data.action
    paths_before = keyed_paths(active), keyed_paths(pushed)
    assert bake(take="A") == {"FINISHED"}
    notes = submodule(installed, "blender.storage").read_takes(head)["A"].notes
    assert (f"'jawOpen' of 'Head' is also keyed in its shape keys' action '{active.name}', "
            "which plays over the take.") in notes
    assert ("'mouthSmileLeft' of 'Head' is also keyed on the NLA track 'Mine', which the "
            "take's track 's2l.(rest)' plays over.") in notes
    assert key.animation_data.action == active
    assert (keyed_paths(active), keyed_paths(pushed)) == paths_before
    assert tracks(head) == ["Mine", "s2l.(rest)", "s2l.A"]
