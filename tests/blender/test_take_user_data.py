"""What a take may and may not touch of the user's own data when it is baked, replaced and
removed: their NLA tracks (even one named like a take's), their active shape key; and the take
names Bake All gives strips whatever their script."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from blender_helpers import (
    bpy,
    evaluated_co,
    grid_head,
    recorded_alignments,
    shift_d,
    submodule,
    voice_scene,
    write_wav,
)
from fake_animator import FakeAnimator
from rig_helpers import lstsq_solve, motion_of_keys, rigged_head


def nla(key: Any) -> list[tuple[str, list[str | None]]]:
    """Each NLA track of `key` with the actions its strips play, bottom to top."""
    anim = key.animation_data
    return [(t.name, [s.action.name if s.action else None for s in t.strips])
            for t in anim.nla_tracks] if anim is not None else []


# The rest track every take plays over (it holds the takes' keys at 0 where none plays).
REST = ("s2l.(rest)", ["s2l.Head.(rest)"])


def users_track(key: Any, name: str) -> Any:
    """A track of the user's called `name`, with a strip of their own action on it."""
    anim = key.animation_data or key.animation_data_create()
    track = anim.nla_tracks.new()
    track.name = name
    track.strips.new("mine", 1, bpy.data.actions.new("UserNLA"))
    return track


def test_a_users_track_named_like_the_take_survives_bake_replace_and_remove(
    fake: FakeAnimator, tmp_path: Path
) -> None:
    voice_scene(tmp_path)
    obj = grid_head()
    obj.shape_key_add(name="Basis", from_mix=False)
    key = obj.data.shape_keys
    users_track(key, "s2l.Voice")
    mine = ("s2l.Voice", ["UserNLA"])

    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice") == {"FINISHED"}
    assert nla(key) == [mine, REST, ("s2l.Voice.001", ["s2l.Head.Voice"])]  # a name of its own
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", replace=True) == {"FINISHED"}
    assert nla(key) == [mine, REST, ("s2l.Voice.001", ["s2l.Head.Voice"])]
    assert bpy.ops.s2l.remove_take(object_name="Head", take="Voice") == {"FINISHED"}
    assert nla(key) == [mine]
    assert [a.name for a in bpy.data.actions] == ["UserNLA"]


def test_a_users_track_sharing_the_takes_name_is_never_taken_for_it(
    fake: FakeAnimator, tmp_path: Path
) -> None:
    """The user names a track of theirs like the take's after the bake (or an older version
    left two tracks of one name): Blender keeps both names, and the take still finds its own."""
    voice_scene(tmp_path)
    obj = grid_head()
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice") == {"FINISHED"}
    key = obj.data.shape_keys
    ours = key.animation_data.nla_tracks["s2l.Voice"]
    users_track(key, "s2l.Voice")
    key.animation_data.nla_tracks.remove(ours)  # the user's now comes first...
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", take="Other") == {"FINISHED"}
    assert bpy.ops.s2l.remove_take(object_name="Head", take="Other") == {"FINISHED"}
    assert bpy.ops.s2l.remove_take(object_name="Head", take="Voice") == {"FINISHED"}
    assert nla(key) == [("s2l.Voice", ["UserNLA"])]  # ...and is left alone all the same

    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice") == {"FINISHED"}
    new = [t for t in key.animation_data.nla_tracks
           if t.strips[0].action.name == "s2l.Head.Voice"]
    assert len(new) == 1
    new[0].name = "s2l.Voice"  # two tracks of one name, the user's first
    assert [t.name for t in key.animation_data.nla_tracks] == [
        "s2l.Voice", "s2l.(rest)", "s2l.Voice"]
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", replace=True) == {"FINISHED"}
    assert bpy.ops.s2l.remove_take(object_name="Head", take="Voice") == {"FINISHED"}
    assert nla(key) == [("s2l.Voice", ["UserNLA"])]


@pytest.fixture
def rigged(installed: ModuleType, fake: FakeAnimator, monkeypatch: pytest.MonkeyPatch,
           tmp_path: Path) -> tuple[Any, Any]:
    """The rig tests' character (head and its shape keys), with a fast solve and a voice."""
    lstsq_solve(installed, monkeypatch)
    voice_scene(tmp_path)
    head, _teeth = rigged_head(installed)
    motion_of_keys(monkeypatch, head)
    return head, head.data.shape_keys


def test_a_rig_take_leaves_a_users_track_named_like_it(
    installed: ModuleType, rigged: tuple[Any, Any]
) -> None:
    head, key = rigged
    users_track(key, "s2l.A")
    users_track(key, "s2l.A (new)")  # the name a replacing take's track has for a moment
    theirs = nla(key)

    def bake(**kw: Any) -> Any:
        return bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", mode="RIG", take="A",
                                **kw)

    assert bake() == {"FINISHED"}
    assert bake(replace=True) == {"FINISHED"}
    record = submodule(installed, "blender.storage").read_takes(head)["A"]
    assert (record.track, nla(key)[-1]) == ("s2l.A.001", ("s2l.A.001", [record.action]))
    assert [t for t in nla(key) if t[0] != "s2l.(rest)" and t != nla(key)[-1]] == theirs
    assert bpy.ops.s2l.remove_take(object_name="Head", take="A") == {"FINISHED"}
    assert nla(key) == theirs


def active(obj: Any) -> tuple[int, str]:
    return obj.active_shape_key_index, obj.active_shape_key.name


def test_replace_and_remove_keep_the_users_active_shape_key(
    fake: FakeAnimator, tmp_path: Path
) -> None:
    """Blender keeps the active key by index and resets it when a key goes: with Shape Key Lock
    on, the viewport would show Basis instead of the user's key."""
    voice_scene(tmp_path)
    obj = grid_head()
    for name in ("Basis", "Smile", "Brow"):
        obj.shape_key_add(name=name, from_mix=False)
    obj.active_shape_key_index = 2
    obj.show_only_shape_key = True
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice") == {"FINISHED"}
    assert active(obj) == (2, "Brow")
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", replace=True) == {"FINISHED"}
    assert active(obj) == (2, "Brow")
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", take="B") == {"FINISHED"}
    assert bpy.ops.s2l.remove_take(object_name="Head", take="Voice") == {"FINISHED"}
    assert active(obj) == (2, "Brow")
    assert obj.show_only_shape_key


def test_an_active_key_of_the_take_stays_active_or_gives_way_to_the_key_above(
    fake: FakeAnimator, tmp_path: Path
) -> None:
    voice_scene(tmp_path)
    obj = grid_head()
    for name in ("Basis", "Smile", "Brow"):
        obj.shape_key_add(name=name, from_mix=False)
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice") == {"FINISHED"}
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", take="B") == {"FINISHED"}
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", take="C") == {"FINISHED"}
    select(obj, "s2l.B.0001")
    assert bpy.ops.s2l.remove_take(object_name="Head", take="B") == {"FINISHED"}
    assert active(obj)[1] == "s2l.Voice.0002"  # the nearest key above that is still there
    select(obj, "s2l.Voice.0001")
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", replace=True) == {"FINISHED"}
    assert active(obj)[1] == "s2l.Voice.0001"  # the replacing take's key of that name
    assert bpy.ops.s2l.remove_take(object_name="Head", take="Voice") == {"FINISHED"}
    assert active(obj)[1] == "s2l.C.0002"  # replaced, the take's keys went to the bottom
    assert bpy.ops.s2l.remove_take(object_name="Head", take="C") == {"FINISHED"}
    assert active(obj) == (2, "Brow")


def select(obj: Any, key_name: str) -> None:
    obj.active_shape_key_index = obj.data.shape_keys.key_blocks.find(key_name)


def lines(tmp_path: Path, character: str, *names: str) -> None:
    """A mesh `character` and a one-second sound strip a name, each on its own channel."""
    scene = bpy.context.scene
    scene.render.fps, scene.frame_start, scene.frame_end = 30, 1, 250
    ed = scene.sequence_editor_create()
    for i, name in enumerate(names):
        wav = write_wav(tmp_path / f"line{i}.wav", 1.0)
        ed.strips.new_sound(name, str(wav), i + 1, 10 + 50 * i)
    grid_head(character)


def takes_of(installed: ModuleType, name: str) -> dict[str, Any]:
    return dict(submodule(installed, "blender.storage").read_takes(bpy.data.objects[name]))


def test_bake_all_keeps_every_line_whatever_the_script_of_its_name(
    installed: ModuleType, fake: FakeAnimator, tmp_path: Path
) -> None:
    lines(tmp_path, "Анна", "Анна.привет", "Анна.пока", "Анна.voix été")
    for replace in (False, True):  # the second run replaces each line's take
        assert bpy.ops.s2l.bake_all(replace=replace) == {"FINISHED"}
        takes = takes_of(installed, "Анна")
        assert list(takes) == ["Анна_привет", "Анна_пока", "Анна_voix_été"]
        assert [r.strip for r in takes.values()] == ["Анна.привет", "Анна.пока", "Анна.voix été"]
    key = bpy.data.objects["Анна"].data.shape_keys
    assert "s2l.Анна_привет.0000" in key.key_blocks
    assert sorted(t.name for t in key.animation_data.nla_tracks) == [
        "s2l.(rest)", "s2l.Анна_voix_été", "s2l.Анна_пока", "s2l.Анна_привет"]


def test_strips_whose_names_give_one_take_name_each_get_their_own_take(
    installed: ModuleType, fake: FakeAnimator, tmp_path: Path
) -> None:
    long = "Анна." + "я" * 24  # 57 bytes: a take name holds 48
    lines(tmp_path, "Анна", "Анна.a b", "Анна.a_b", "Анна.a.b", long + "ю", long + "ы")
    for replace in (False, True):
        assert bpy.ops.s2l.bake_all(replace=replace) == {"FINISHED"}
        takes = takes_of(installed, "Анна")
        cut = "Анна_" + "я" * 19  # 48 bytes, cut between letters
        assert list(takes) == ["Анна_a_b", "Анна_a_b_2", "Анна_a_b_3", cut, cut[:-1] + "_2"]
    names = [kb.name for kb in bpy.data.objects["Анна"].data.shape_keys.key_blocks]
    assert f"s2l.{cut}.0002" in names  # whole: within Blender's 63 bytes
    assert len(names) == 1 + 5 * 3


def test_a_take_under_the_name_older_versions_gave_is_replaced_and_removed(
    installed: ModuleType, fake: FakeAnimator, tmp_path: Path
) -> None:
    """A .blend baked when take names kept only Latin letters: 'Анна.voix été' gave 'voix_t'.
    Bake All with Replace replaces that take instead of adding one that plays over it."""
    lines(tmp_path, "Анна", "Анна.voix été")
    assert bpy.ops.s2l.bake(object_name="Анна", strip_name="Анна.voix été",
                            take="voix_t") == {"FINISHED"}
    assert bpy.ops.s2l.bake_all(replace=True) == {"FINISHED"}
    assert list(takes_of(installed, "Анна")) == ["voix_t"]
    # ... and so does a single bake named after its strip
    assert bpy.ops.s2l.bake(object_name="Анна", strip_name="Анна.voix été",
                            replace=True) == {"FINISHED"}
    assert list(takes_of(installed, "Анна")) == ["voix_t"]
    assert bpy.ops.s2l.remove_take(object_name="Анна", take="voix_t") == {"FINISHED"}
    assert takes_of(installed, "Анна") == {}
    assert bpy.data.objects["Анна"].data.shape_keys is None


def test_a_typed_take_name_may_use_any_script_within_blenders_length(
    fake: FakeAnimator, tmp_path: Path
) -> None:
    voice_scene(tmp_path)
    grid_head()
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", take="привет_1") == {
        "FINISHED"}
    with pytest.raises(RuntimeError, match="too long"):
        bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", take="я" * 25)
    with pytest.raises(RuntimeError, match="may only use letters"):
        bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", take="при вет")


def test_a_user_strip_put_on_the_takes_track_stays_and_the_takes_strip_goes(
    fake: FakeAnimator, tmp_path: Path
) -> None:
    """The user adds a strip of theirs to the take's track: the track is no longer wholly the
    take's, so Replace and Remove take out only the take's strip, never leaving a strip that
    plays the removed action."""
    voice_scene(tmp_path)
    obj = grid_head()
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice") == {"FINISHED"}
    key = obj.data.shape_keys
    track = key.animation_data.nla_tracks["s2l.Voice"]
    track.lock = False
    track.strips.new("mine", 400, bpy.data.actions.new("UserNLA"))
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", replace=True) == {"FINISHED"}
    # the replacement is written before the old take goes, so the rest track stays where it
    # was, under every track of the head
    assert nla(key) == [REST, ("s2l.Voice", ["UserNLA"]), ("s2l.Voice.001", ["s2l.Head.Voice"])]
    assert bpy.ops.s2l.remove_take(object_name="Head", take="Voice") == {"FINISHED"}
    assert nla(key) == [("s2l.Voice", ["UserNLA"])]


def test_a_users_track_named_like_the_rest_track_is_left_alone(rigged: tuple[Any, Any]) -> None:
    _head, key = rigged
    users_track(key, "s2l.(rest)")
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", mode="RIG",
                            take="A") == {"FINISHED"}
    assert ("s2l.(rest)", ["UserNLA"]) in nla(key)
    assert bpy.ops.s2l.remove_take(object_name="Head", take="A") == {"FINISHED"}
    assert nla(key) == [("s2l.(rest)", ["UserNLA"])]
    assert len(bpy.data.actions["UserNLA"].layers) == 0  # nothing keyed into the user's action


def test_a_soloed_user_track_sharing_the_takes_name_is_reported(
    installed: ModuleType, fake: FakeAnimator, tmp_path: Path
) -> None:
    """The user makes a track of the take's name after the bake and solos it: the take's own
    track is told apart by what it plays, not by its name."""
    voice_scene(tmp_path)
    obj = grid_head()
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice") == {"FINISHED"}
    users_track(obj.data.shape_keys, "s2l.Voice").is_solo = True
    notes = submodule(installed, "blender.bake").play_notes(obj, "Voice")
    assert notes == ["The take 'Voice' will not play as it is: the NLA track 's2l.Voice' of the "
                     "shape keys of 'Head' is soloed, so it alone plays; unsolo it."]


def test_the_panels_transcript_file_lies_beside_the_blend(
    installed: ModuleType, fake: FakeAnimator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`@words.txt` typed in the panel's Transcript field was aligned as those words."""
    heard = recorded_alignments(monkeypatch, submodule(installed, "core.speech.line_align"),
                                submodule(installed, "core.speech.phones").Phone)
    voice_scene(tmp_path)
    grid_head()
    with pytest.raises(RuntimeError, match=r"relative to the \.blend, which is not saved yet"):
        bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", transcript="@words.txt")
    with pytest.raises(RuntimeError, match=r"relative to the \.blend, which is not saved yet"):
        bpy.ops.s2l.bake_all(transcript="@words.txt")
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "shot.blend"))
    (tmp_path / "words.txt").write_text("Mm, maybe.", encoding="utf-8")
    monkeypatch.chdir(tmp_path.parent)
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice",
                            transcript="@words.txt") == {"FINISHED"}
    assert heard == ["Mm, maybe."]
    with pytest.raises(RuntimeError, match=r"nowhere\.txt does not exist"):
        bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", take="B",
                         transcript="@nowhere.txt")


@pytest.mark.parametrize("how", ["remove", "replace"])
def test_a_copy_of_the_head_shares_the_takes_action_and_never_deletes_it(
    fake: FakeAnimator, tmp_path: Path, how: str
) -> None:
    """Shift+D gives the copy its own shape keys but the same take action: removing or
    replacing the copy's take deleted the action, and the original's lip-sync with it."""
    voice_scene(tmp_path)
    original = grid_head()
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice") == {"FINISHED"}
    copy = shift_d(original)
    if how == "remove":
        assert bpy.ops.s2l.remove_take(object_name=copy.name, take="Voice") == {"FINISHED"}
    else:
        assert bpy.ops.s2l.bake(object_name=copy.name, strip_name="Voice",
                                replace=True) == {"FINISHED"}
    assert nla(original.data.shape_keys) == [REST, ("s2l.Voice", ["s2l.Head.Voice"])]


def test_a_take_switched_off_leaves_the_face_at_rest_on_every_frame(
    fake: FakeAnimator, tmp_path: Path
) -> None:
    """The panel's toggle muted the track and the take's keys kept the values of the frame
    shown then: the face stayed 8 mm off its neutral on the whole timeline."""
    voice_scene(tmp_path)
    obj = grid_head()
    rest = evaluated_co(obj, 1)
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice") == {"FINISHED"}
    frames = range(1, 60, 3)
    moving = max(frames, key=lambda f: float(np.abs(evaluated_co(obj, f) - rest).max()))
    assert np.abs(evaluated_co(obj, moving) - rest).max() > 1e-4
    bpy.context.scene.frame_set(moving)
    assert bpy.ops.s2l.mute_take(object_name="Head", take="Voice") == {"FINISHED"}
    for f in (moving, moving + 30, 200):
        assert np.abs(evaluated_co(obj, f) - rest).max() < 1e-6
    assert bpy.ops.s2l.mute_take(object_name="Head", take="Voice") == {"FINISHED"}  # back on
    assert np.abs(evaluated_co(obj, moving) - rest).max() > 1e-4
