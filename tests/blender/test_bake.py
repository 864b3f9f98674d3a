"""The bake operator of the installed extension, driven by a fake animator of known motion."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from blender_helpers import (
    bpy,
    evaluated_co,
    expected_time,
    grid_head,
    mesh_co,
    snapshot,
    submodule,
    voice_scene,
    write_wav,
)
from fake_animator import FakeAnimator, dense_at


@pytest.mark.parametrize("mode", ["COMPACT", "PER_FRAME"])
def test_evaluated_mesh_follows_the_motion(fake: FakeAnimator, tmp_path: Path, mode: str) -> None:
    scene, strip = voice_scene(tmp_path)
    obj = grid_head()
    rest = mesh_co(obj)
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", mode=mode) == {"FINISHED"}
    first, last = strip.frame_final_start, strip.frame_final_end - 1
    tol = 1e-6 if mode == "PER_FRAME" else 2e-6
    for f in (first, first + 1, (first + last) // 2, last):
        want = rest + dense_at(np.array([expected_time(f, strip, scene)]), len(rest))[0]
        assert np.abs(evaluated_co(obj, f) - want).max() < tol, f
    for f in (first - 1, first - 5, last + 1, last + 20):  # neutral outside the strip
        assert np.abs(evaluated_co(obj, f) - rest).max() < 1e-7, f
    keys = obj.data.shape_keys.key_blocks
    n_frames = last - first + 1
    ours = [k for k in keys if k.name.startswith("s2l.Voice.")]
    assert len(ours) == (n_frames if mode == "PER_FRAME" else 3)
    action = bpy.data.actions["s2l.Head.Voice"]
    assert action.slots[0].target_id_type == "KEY"


def test_2997_fps_trimmed_moved_strip_stays_in_sync(fake: FakeAnimator, tmp_path: Path) -> None:
    scene, strip = voice_scene(tmp_path, seconds=3.0, start=20, fps=30, fps_base=1.001)
    strip.frame_offset_start, strip.frame_offset_end = 7, 5
    strip.frame_start = 41  # move it; trims move with it
    strip.sound_offset = 0.05
    obj = grid_head()
    rest = mesh_co(obj)
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", mode="PER_FRAME") == {
        "FINISHED"
    }
    first, last = strip.frame_final_start, strip.frame_final_end - 1
    assert first == 48
    times = fake.calls[-1]["times"]
    assert times[0] == pytest.approx((48 - 41) * 1.001 / 30 - 0.05, abs=1e-6)
    for f in (first, first + 33, last):
        want = rest + dense_at(np.array([expected_time(f, strip, scene)]), len(rest))[0]
        assert np.abs(evaluated_co(obj, f) - want).max() < 1e-6, f
    assert np.abs(evaluated_co(obj, first - 1) - rest).max() < 1e-7


def test_rebake_replaces_only_its_take_and_user_data_is_untouched(
    fake: FakeAnimator, tmp_path: Path
) -> None:
    scene, strip = voice_scene(tmp_path)
    obj = grid_head()
    obj.shape_key_add(name="Basis", from_mix=False)
    smile = obj.shape_key_add(name="Smile", from_mix=False)
    co = np.zeros(len(smile.data) * 3, np.float32)
    smile.data.foreach_get("co", co)
    co[2::3] += 0.01
    smile.data.foreach_set("co", co)
    smile.value = 0.0
    smile.keyframe_insert("value", frame=1)
    smile.value = 1.0
    smile.keyframe_insert("value", frame=40)
    user_action = obj.data.shape_keys.animation_data.action
    user_keys = [tuple(k.co) for k in user_action.layers[0].strips[0].channelbags[0]
                 .fcurves[0].keyframe_points]

    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", take="A") == {"FINISHED"}
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", take="B",
                            mode="PER_FRAME") == {"FINISHED"}
    key = obj.data.shape_keys
    b_before = {k.name: np.array([d.co[:] for d in k.data]) for k in key.key_blocks
                if k.name.startswith("s2l.B.")}
    with pytest.raises(RuntimeError, match="already has a take named 'A'"):
        bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", take="A")
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", take="A", replace=True,
                            mouth_strength=2.0, lip_closure=0.5,
                            closure_sensitivity=0.8) == {"FINISHED"}
    assert fake.calls[-1]["mouth_strength"] == 2.0
    assert fake.calls[-1]["lip_closure"] == 0.5
    assert abs(fake.calls[-1]["closure_sensitivity"] - 0.8) < 1e-6
    names = [k.name for k in key.key_blocks]
    assert names[:2] == ["Basis", "Smile"]
    assert len([n for n in names if n.startswith("s2l.A.")]) == 3
    b_after = {k.name: np.array([d.co[:] for d in k.data]) for k in key.key_blocks
               if k.name.startswith("s2l.B.")}
    assert b_before.keys() == b_after.keys()
    assert all(np.array_equal(b_before[n], b_after[n]) for n in b_before)
    assert key.animation_data.action == user_action
    fc = user_action.layers[0].strips[0].channelbags[0].fcurves[0]
    assert [tuple(k.co) for k in fc.keyframe_points] == user_keys
    # one rest track, under both takes, holds their keys at 0 where neither plays
    assert sorted(a.name for a in bpy.data.actions) == sorted(
        [user_action.name, "s2l.Head.(rest)", "s2l.Head.A", "s2l.Head.B"]
    )
    assert [t.name for t in key.animation_data.nla_tracks] == ["s2l.(rest)", "s2l.B", "s2l.A"]
    # the user's key still animates, on top of both takes
    rest = mesh_co(obj)
    f = 40
    t = np.array([expected_time(f, strip, scene)])
    want = rest + 0.01 * np.array([0, 0, 1]) + dense_at(t, len(rest), 2.0)[0] + dense_at(
        t, len(rest))[0]
    assert np.abs(evaluated_co(obj, f) - want).max() < 1e-5

    assert bpy.ops.s2l.remove_take(object_name="Head", take="A") == {"FINISHED"}
    assert bpy.ops.s2l.remove_take(object_name="Head", take="B") == {"FINISHED"}
    assert [k.name for k in key.key_blocks] == ["Basis", "Smile"]
    assert sorted(a.name for a in bpy.data.actions) == [user_action.name]
    assert not key.animation_data.nla_tracks
    assert "s2l_takes" not in obj


def test_remove_take_restores_a_mesh_without_shape_keys(fake: FakeAnimator, tmp_path: Path) -> None:
    voice_scene(tmp_path)
    obj = grid_head()
    before = snapshot()
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice") == {"FINISHED"}
    assert obj.data.shape_keys is not None
    assert bpy.ops.s2l.remove_take(object_name="Head", take="Voice") == {"FINISHED"}
    assert obj.data.shape_keys is None
    assert snapshot() == before


def test_undo_restores_the_mesh(fake: FakeAnimator, tmp_path: Path) -> None:
    """One undo step takes the whole bake back.

    Operators called from Python never push their own undo step (Blender's rule: only the
    outermost operator run from the UI does), so the steps are pushed here as the UI would.
    """
    voice_scene(tmp_path)
    grid_head()
    before = snapshot()
    bpy.ops.ed.undo_push(message="before bake")
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice") == {"FINISHED"}
    bpy.ops.ed.undo_push(message="Bake Lip Sync")
    assert snapshot() != before
    bpy.ops.ed.undo()
    assert snapshot() == before
    assert bpy.data.objects["Head"].data.shape_keys is None


def test_save_and_reload_keep_the_bake(fake: FakeAnimator, tmp_path: Path) -> None:
    _scene, strip = voice_scene(tmp_path)
    obj = grid_head()
    rest = mesh_co(obj)
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice") == {"FINISHED"}
    f = strip.frame_final_start + 17
    baked = evaluated_co(obj, f)
    path = tmp_path / "baked.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.wm.open_mainfile(filepath=str(path))
    obj = bpy.data.objects["Head"]
    assert np.abs(evaluated_co(obj, f) - baked).max() < 1e-7
    assert np.abs(baked - rest).max() > 1e-4  # the bake really moved the mesh
    takes = submodule(fake_pkg(fake), "blender.storage").read_takes(obj)
    assert list(takes) == ["Voice"]


def fake_pkg(fake: FakeAnimator) -> ModuleType:
    import sys

    return sys.modules[fake.motion_cls.__module__.rsplit(".core.", 1)[0]]


def test_cancel_leaves_nothing(fake: FakeAnimator, tmp_path: Path) -> None:
    voice_scene(tmp_path)
    grid_head()
    pkg = fake_pkg(fake)
    bake, job = submodule(pkg, "blender.bake"), submodule(pkg, "blender.job")
    before = snapshot()
    fake.block.set()
    running = job.start(bake.gather(bpy.context, bake.BakeParams(object_name="Head")))
    assert fake.started.wait(10)
    with pytest.raises(RuntimeError, match="already running"):
        bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", take="other")
    running.cancel()
    job.release(running)
    assert running.done and running.plan is None
    assert type(running.error).__name__ == "Cancelled"
    assert snapshot() == before
    fake.block.clear()
    assert bpy.ops.s2l.bake(object_name="Head") == {"FINISHED"}  # runs again afterwards


def test_worker_job_result_is_written_on_the_main_thread(
    fake: FakeAnimator, tmp_path: Path
) -> None:
    scene, strip = voice_scene(tmp_path)
    obj = grid_head()
    rest = mesh_co(obj)
    pkg = fake_pkg(fake)
    bake, job = submodule(pkg, "blender.bake"), submodule(pkg, "blender.job")
    running = job.start(bake.gather(bpy.context, bake.BakeParams(object_name="Head",
                                                                 mode="PER_FRAME")))
    running.join(30)
    assert running.error is None and running.progress == 1.0
    bake.finish(running.snap, running.plan)
    job.release(running)
    f = strip.frame_final_start + 5
    want = rest + dense_at(np.array([expected_time(f, strip, scene)]), len(rest))[0]
    assert np.abs(evaluated_co(obj, f) - want).max() < 1e-6


def test_packed_sound_is_baked_from_a_temporary_copy(fake: FakeAnimator, tmp_path: Path) -> None:
    _, strip = voice_scene(tmp_path)
    grid_head()
    strip.sound.pack()
    (tmp_path / "voice.wav").unlink()
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice") == {"FINISHED"}
    used = Path(fake.calls[-1]["audio"])
    assert used.name.startswith("s2l_packed_") and not used.exists()


def test_stored_landmarks_are_passed_to_the_core(fake: FakeAnimator, tmp_path: Path) -> None:
    voice_scene(tmp_path)
    obj = grid_head()
    storage = submodule(fake_pkg(fake), "blender.storage")
    idx = np.arange(68) * 2
    storage.store_landmarks(obj, idx)
    np.testing.assert_array_equal(storage.stored_landmarks(obj), idx)
    assert bpy.ops.s2l.bake(object_name="Head") == {"FINISHED"}
    np.testing.assert_array_equal(fake.calls[-1]["landmarks68"], idx)


def test_strip_in_the_workspace_sequencer_scene(fake: FakeAnimator, tmp_path: Path) -> None:
    """The sequencer may live in another scene, the workspace's sequencer scene (new in 5.0)."""
    workspace = bpy.context.workspace
    assert workspace is not None
    main = bpy.context.scene
    main.frame_start, main.frame_end = 1, 250
    edit = bpy.data.scenes.new("Edit")
    edit.render.fps, edit.render.fps_base = main.render.fps, main.render.fps_base
    wav = write_wav(tmp_path / "voice.wav", 1.0)
    edit.sequence_editor_create().strips.new_sound("Voice", str(wav), 1, 10)
    grid_head()
    workspace.sequencer_scene = edit
    try:
        strips = submodule(fake_pkg(fake), "blender.strips").sound_strips(bpy.context)
        assert [(sc.name, s.name) for sc, s in strips] == [("Edit", "Voice")]
        assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice") == {"FINISHED"}
        assert fake.calls[-1]["times"][0] == pytest.approx(0.0)
        edit.render.fps = 25
        with pytest.raises(RuntimeError, match="give them the same frame rate"):
            bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", take="other")
    finally:
        workspace.sequencer_scene = None


def test_default_bake_without_pocketsphinx_uses_the_audio_alone_and_warns(
    installed: ModuleType, fake: FakeAnimator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Recognise Words is on by default; the lean zip has no pocketsphinx, and there a bake must
    still finish (audio alone) and say why its p/b/m may be missed."""
    recognise = submodule(installed, "core.speech.recognise")
    monkeypatch.setattr(recognise, "pocketsphinx_available", lambda: False)
    voice_scene(tmp_path)
    grid_head()
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice") == {"FINISHED"}
    assert fake.calls[-1]["phones"] is None
    assert "Recognise Words skipped: pocketsphinx is not installed" in capfd.readouterr().out
    heard = [recognise.Phone(0.0, 0.2, "B")]
    monkeypatch.setattr(recognise, "pocketsphinx_available", lambda: True)
    monkeypatch.setattr(recognise, "recognise_phones", lambda wav, progress, cancel: heard)
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", replace=True) == {"FINISHED"}
    assert fake.calls[-1]["phones"] == heard
    assert "Recognise Words skipped" not in capfd.readouterr().out



def _inferred(fake: FakeAnimator, tmp_path: Path) -> tuple[Any, ModuleType, Any, Any]:
    """A bake whose worker has finished but whose take is not written yet."""
    voice_scene(tmp_path)
    obj = grid_head()
    pkg = fake_pkg(fake)
    bake, job = submodule(pkg, "blender.bake"), submodule(pkg, "blender.job")
    running = job.start(bake.gather(bpy.context, bake.BakeParams(object_name="Head")))
    running.join(30)
    job.release(running)
    return obj, pkg, bake, running


def test_an_object_renamed_during_the_bake_still_gets_its_take(
    fake: FakeAnimator, tmp_path: Path
) -> None:
    obj, pkg, bake, running = _inferred(fake, tmp_path)
    obj.name = "Anna"
    record = bake.finish(running.snap, running.plan)
    assert record.take in submodule(pkg, "blender.storage").read_takes(bpy.data.objects["Anna"])


def test_a_mesh_edited_during_the_bake_is_refused_unchanged(
    fake: FakeAnimator, tmp_path: Path
) -> None:
    """Same vertex count, one vertex moved: the motion no longer fits; nothing is written."""
    obj, _, bake, running = _inferred(fake, tmp_path)
    obj.data.vertices[3].co.x += 0.01
    before = snapshot()
    with pytest.raises(Exception, match="was edited during the bake"):
        bake.finish(running.snap, running.plan)
    assert snapshot() == before


def test_operator_paths_are_made_absolute_against_the_blend(
    installed: ModuleType, tmp_path: Path
) -> None:
    """A `//` path typed into the operator (a phones file or a weights folder) means beside the
    .blend, as everywhere in Blender; the bake must not read it against the working folder."""
    from types import SimpleNamespace

    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "scene.blend"))
    given = SimpleNamespace(
        object_name="Head", strip_name="", strip_scene="", phones_file="//line.lab",
        weights_dir="//weights", properties=SimpleNamespace(is_property_set=lambda name: True))
    params = submodule(installed, "blender.operators").params_from(given, bpy.context)
    assert Path(params.phones_file) == tmp_path / "line.lab"
    assert Path(params.weights_dir) == tmp_path / "weights"
