"""A take of new keys muted in the NLA editor (the track's own toggle, not the panel's) leaves
the face at rest: Blender does not evaluate a muted track at all, so its keys kept the values of
the frame shown last, and the face stayed frozen mid-word. The object's rest track `s2l.(rest)`
holds every take's keys at 0 under its takes, as it does for rig takes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from blender_helpers import bpy, evaluated_co, grid_head, shift_d, submodule, voice_scene
from fake_animator import FakeAnimator
from modal_helpers import pkg_of

REST_TRACK = "s2l.(rest)"


def tracks(key: Any) -> list[str]:
    """The NLA track names of `key`, bottom to top."""
    anim = key.animation_data
    return [t.name for t in anim.nla_tracks] if anim is not None else []


def take_values(key: Any, take: str) -> dict[str, float]:
    return {kb.name: kb.value for kb in key.key_blocks if kb.name.startswith(f"s2l.{take}.")}


def rest_actions() -> list[str]:
    return sorted(a.name for a in bpy.data.actions if a.name.endswith(".(rest)"))


def held(key: Any) -> dict[str, float]:
    """Each key the rest track holds, with the value it holds it at."""
    strip = key.animation_data.nla_tracks[REST_TRACK].strips[0]
    bag = strip.action.layers[0].strips[0].channelbag(strip.action_slot)
    out = {}
    for fc in bag.fcurves:
        name = fc.data_path[len('key_blocks["'):-len('"].value')]
        out[name] = fc.keyframe_points[0].co[1]
    return out


def speaking_frame(obj: Any, rest: np.ndarray) -> int:
    """A frame inside the line where the take moves the face most."""
    frames = range(10, 70, 3)
    moving = max(frames, key=lambda f: float(np.abs(evaluated_co(obj, f) - rest).max()))
    assert np.abs(evaluated_co(obj, moving) - rest).max() > 1e-4
    return moving


def baked_head(tmp_path: Path, *takes: str) -> tuple[Any, Any, np.ndarray]:
    voice_scene(tmp_path)
    obj = grid_head()
    rest = evaluated_co(obj, 1)
    for take in takes:
        assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", take=take) == {
            "FINISHED"}
    return obj, obj.data.shape_keys, rest


def assert_muted_track_rests(obj: Any, key: Any, take: str, rest: np.ndarray,
                             alone: bool = True) -> None:
    """Shown mid-word, then the take's track muted in the NLA editor: the keys go to 0 (and,
    with no other take playing then, the face to rest)."""
    moving = speaking_frame(obj, rest)
    bpy.context.scene.frame_set(moving)
    assert any(v != 0.0 for v in take_values(key, take).values())
    track = key.animation_data.nla_tracks[f"s2l.{take}"]
    track.mute = True
    for f in (moving, moving + 1, 200):
        bpy.context.scene.frame_set(f)
        assert all(v == 0.0 for v in take_values(key, take).values()), f
        assert not alone or np.abs(evaluated_co(obj, f) - rest).max() < 1e-6, f
    track.mute = False
    bpy.context.scene.frame_set(moving)
    assert any(v != 0.0 for v in take_values(key, take).values())


def test_a_take_muted_in_the_nla_editor_leaves_the_face_at_rest(
    fake: FakeAnimator, tmp_path: Path
) -> None:
    obj, key, rest = baked_head(tmp_path, "A")
    assert_muted_track_rests(obj, key, "A", rest)
    assert tracks(key) == [REST_TRACK, "s2l.A"]
    assert held(key) == {name: 0.0 for name in take_values(key, "A")}


def test_two_takes_share_one_rest_track_and_a_rebake_keeps_it(
    fake: FakeAnimator, tmp_path: Path
) -> None:
    obj, key, rest = baked_head(tmp_path, "A", "B")
    both = {**take_values(key, "A"), **take_values(key, "B")}
    assert tracks(key) == [REST_TRACK, "s2l.A", "s2l.B"]
    assert held(key) == {name: 0.0 for name in both}  # the takes' keys, none of the user's
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", take="A", replace=True,
                            mode="PER_FRAME") == {"FINISHED"}
    assert tracks(key) == [REST_TRACK, "s2l.B", "s2l.A"]
    assert rest_actions() == ["s2l.Head.(rest)"]
    assert held(key) == {name: 0.0 for name in {**take_values(key, "A"),
                                                **take_values(key, "B")}}
    assert_muted_track_rests(obj, key, "A", rest, alone=False)  # both takes say the line
    assert_muted_track_rests(obj, key, "B", rest, alone=False)


def test_remove_takes_the_keys_out_of_the_rest_track_and_the_last_removes_it(
    fake: FakeAnimator, tmp_path: Path
) -> None:
    obj, key, _rest = baked_head(tmp_path, "A", "B")
    assert bpy.ops.s2l.remove_take(object_name="Head", take="A") == {"FINISHED"}
    assert tracks(key) == [REST_TRACK, "s2l.B"]
    assert held(key) == {name: 0.0 for name in take_values(key, "B")}
    assert bpy.ops.s2l.remove_take(object_name="Head", take="B") == {"FINISHED"}
    assert obj.data.shape_keys is None  # the Basis the bake made went too
    assert not bpy.data.actions  # no orphan rest action


def test_the_rest_track_holds_no_key_of_the_users(fake: FakeAnimator, tmp_path: Path) -> None:
    """The user's own key, animated on their own NLA track, plays on as before."""
    voice_scene(tmp_path)
    obj = grid_head()
    obj.shape_key_add(name="Basis", from_mix=False)
    smile = obj.shape_key_add(name="Smile", from_mix=False)
    key = obj.data.shape_keys
    smile.value = 0.7
    smile.keyframe_insert("value", frame=1)
    mine = key.animation_data.action
    key.animation_data.action = None
    track = key.animation_data.nla_tracks.new()
    track.name = "MyTrack"
    track.strips.new("mine", 1, mine).extrapolation = "HOLD"
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", take="A") == {"FINISHED"}
    assert tracks(key) == ["MyTrack", REST_TRACK, "s2l.A"]
    assert "Smile" not in held(key)
    key.animation_data.nla_tracks["s2l.A"].mute = True
    bpy.context.scene.frame_set(30)
    assert abs(key.key_blocks["Smile"].value - 0.7) < 1e-6
    assert bpy.ops.s2l.remove_take(object_name="Head", take="A") == {"FINISHED"}
    assert tracks(key) == ["MyTrack"]
    assert [a.name for a in bpy.data.actions] == [mine.name]


def old_rest(key: Any) -> None:
    """The head as a version without rest tracks for takes of new keys left it."""
    old = key.animation_data.nla_tracks[REST_TRACK]
    action = old.strips[0].action
    key.animation_data.nla_tracks.remove(old)
    bpy.data.actions.remove(action)


def test_a_take_baked_without_a_rest_track_gets_one_at_its_next_bake(
    fake: FakeAnimator, tmp_path: Path
) -> None:
    """Files baked before takes of new keys had a rest track: removing the track and its
    action leaves what such a version wrote. Blender adds no track under the old take at the
    bottom of the stack, so the rest track goes over it and leaves it out (holding its keys
    there would silence it) until it is baked again."""
    obj, key, rest = baked_head(tmp_path, "A")
    old_rest(key)
    assert tracks(key) == ["s2l.A"]
    a_before = [evaluated_co(obj, f) for f in (30, 60)]
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", take="B") == {"FINISHED"}
    assert tracks(key) == ["s2l.A", REST_TRACK, "s2l.B"]
    assert held(key) == {name: 0.0 for name in take_values(key, "B")}
    key.animation_data.nla_tracks["s2l.B"].mute = True  # the old take still plays
    for f, before in zip((30, 60), a_before, strict=True):
        assert np.abs(evaluated_co(obj, f) - before).max() < 1e-7, f
    key.animation_data.nla_tracks["s2l.B"].mute = False
    assert_muted_track_rests(obj, key, "B", rest, alone=False)
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", take="A",
                            replace=True) == {"FINISHED"}
    assert tracks(key) == [REST_TRACK, "s2l.B", "s2l.A"]
    assert held(key) == {name: 0.0 for name in {**take_values(key, "A"),
                                                **take_values(key, "B")}}
    assert bpy.ops.s2l.remove_take(object_name="Head", take="B") == {"FINISHED"}
    assert bpy.ops.s2l.remove_take(object_name="Head", take="A") == {"FINISHED"}
    assert obj.data.shape_keys is None and not bpy.data.actions


def test_an_old_take_rebaked_gets_a_rest_track(fake: FakeAnimator, tmp_path: Path) -> None:
    obj, key, rest = baked_head(tmp_path, "A")
    old_rest(key)
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", take="A",
                            replace=True) == {"FINISHED"}
    key = obj.data.shape_keys  # the Basis the bake made went with the take it replaced
    assert tracks(key) == [REST_TRACK, "s2l.A"]
    assert rest_actions() == ["s2l.Head.(rest)"]
    assert_muted_track_rests(obj, key, "A", rest)


def test_undo_of_a_second_take_gives_back_the_rest_track_of_the_first(
    fake: FakeAnimator, tmp_path: Path
) -> None:
    """Operators called from Python push no undo step, so they are pushed as the UI would."""
    voice_scene(tmp_path)
    grid_head()
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", take="A") == {"FINISHED"}
    bpy.ops.ed.undo_push(message="Bake A")
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", take="B") == {"FINISHED"}
    bpy.ops.ed.undo_push(message="Bake B")
    bpy.ops.ed.undo()
    obj = bpy.data.objects["Head"]
    key = obj.data.shape_keys
    assert tracks(key) == [REST_TRACK, "s2l.A"]
    assert held(key) == {name: 0.0 for name in take_values(key, "A")}
    assert sorted(a.name for a in bpy.data.actions) == ["s2l.Head.(rest)", "s2l.Head.A"]
    assert bpy.ops.s2l.remove_take(object_name="Head", take="A") == {"FINISHED"}
    bpy.ops.ed.undo_push(message="Remove A")
    assert not bpy.data.actions
    bpy.ops.ed.undo()
    key = bpy.data.objects["Head"].data.shape_keys
    assert tracks(key) == [REST_TRACK, "s2l.A"]
    assert_muted_track_rests(bpy.data.objects["Head"], key, "A", evaluated_co(
        bpy.data.objects["Head"], 1))


def test_a_copy_of_the_head_gets_its_own_rest_action_before_changing_it(
    fake: FakeAnimator, tmp_path: Path
) -> None:
    """Shift+D makes a copy that plays the same rest action: removing a take on the copy must
    not stop the original holding that take's keys (muted on the original, they froze)."""
    obj, key, rest = baked_head(tmp_path, "A", "B")
    copy = shift_d(obj)
    before = held(key)
    assert bpy.ops.s2l.remove_take(object_name=copy.name, take="A") == {"FINISHED"}
    assert held(key) == before
    assert not any(n.startswith("s2l.A.") for n in held(copy.data.shape_keys))
    copy_strip = copy.data.shape_keys.animation_data.nla_tracks[REST_TRACK].strips[0]
    original_strip = key.animation_data.nla_tracks[REST_TRACK].strips[0]
    assert copy_strip.action != original_strip.action
    assert copy_strip.action_slot is not None
    copy.hide_set(True)
    assert_muted_track_rests(obj, key, "A", rest, alone=False)
    assert bpy.ops.s2l.remove_take(object_name=copy.name, take="B") == {"FINISHED"}
    assert held(key) == before


def test_a_replace_refused_for_another_mesh_keeps_the_take_it_would_replace(
    fake: FakeAnimator, tmp_path: Path
) -> None:
    """A plan that no longer fits the mesh is refused before the take it replaces is removed:
    the user keeps the take, its keys and its rest, not nothing."""
    obj, key, rest = baked_head(tmp_path, "A")
    pkg = pkg_of(fake)
    bake = submodule(pkg, "blender.bake")
    Motion = submodule(pkg, "core.motion").Motion
    compact_plan = submodule(pkg, "core.bake.plans").compact_plan
    n, v = 10, len(obj.data.vertices) + 1
    motion = Motion(np.arange(n) / 30.0, np.zeros((n, 68, 3), np.float32),
                    np.ones((n, 2), np.float32), np.full((2, v, 3), 1e-3, np.float32), 1000.0)
    before = (sorted(kb.name for kb in key.key_blocks), tracks(key), held(key))
    try:
        bake.write_take(obj, compact_plan(motion, np.arange(1.0, n + 1)), "A", "Voice")
    except Exception as e:  # the add-on's BakeError, from the installed copy
        assert "vertices but 'Head' has" in str(e)
    else:
        raise AssertionError("a plan for another mesh was written")
    assert (sorted(kb.name for kb in key.key_blocks), tracks(key), held(key)) == before
    assert_muted_track_rests(obj, key, "A", rest)


def test_a_rest_strip_dragged_away_still_holds_before_itself_after_the_next_bake(
    fake: FakeAnimator, tmp_path: Path
) -> None:
    """The user unlocks the rest track and drags its strip late (Blender then holds it only
    forward): the next bake makes it hold both ways again, so a muted take rests, not 1.0."""
    obj, key, rest = baked_head(tmp_path, "A")
    track = key.animation_data.nla_tracks[REST_TRACK]
    track.lock = False
    strip = track.strips[0]
    strip.extrapolation = "HOLD_FORWARD"
    strip.frame_end_ui = 301
    strip.frame_start_ui = 300
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", take="C") == {"FINISHED"}
    assert strip.extrapolation == "HOLD"
    assert_muted_track_rests(obj, key, "C", rest, alone=False)


@pytest.mark.parametrize("broken_step", ["add_track", "remove_take"])
def test_a_replace_that_fails_part_way_leaves_the_take_it_would_replace(
    fake: FakeAnimator, tmp_path: Path, monkeypatch: Any, broken_step: str
) -> None:
    """The replacement is written under a name of its own and the old take goes only once it is
    whole: a failure while writing it (the track) or while the old take goes leaves the old
    take playing as it did, and nothing of the replacement behind."""
    obj, key, rest = baked_head(tmp_path, "A")
    moving = speaking_frame(obj, rest)
    shown = evaluated_co(obj, moving)
    before = (sorted(kb.name for kb in key.key_blocks), tracks(key), held(key),
              sorted(a.name for a in bpy.data.actions))
    bake = submodule(pkg_of(fake), "blender.bake")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the disk is full")

    with monkeypatch.context() as patched:
        patched.setattr(bake, broken_step, broken)
        try:
            bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", take="A", replace=True)
        except RuntimeError as e:
            assert "the disk is full" in str(e)
        else:
            raise AssertionError("the broken write did not fail")
    after = (sorted(kb.name for kb in key.key_blocks), tracks(key), held(key),
             sorted(a.name for a in bpy.data.actions))
    assert after == before
    assert np.allclose(evaluated_co(obj, moving), shown)
    assert_muted_track_rests(obj, key, "A", rest)
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", take="A",
                            replace=True) == {"FINISHED"}
    assert not any("(new)" in n for n in (*(kb.name for kb in key.key_blocks), *tracks(key),
                                           *(a.name for a in bpy.data.actions)))
    assert sorted(kb.name for kb in key.key_blocks) == before[0]
    assert np.allclose(evaluated_co(obj, moving), shown)
    assert_muted_track_rests(obj, key, "A", rest)
