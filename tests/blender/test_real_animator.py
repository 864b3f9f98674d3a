"""The installed extension with the real Animator (small random weights) on the demo head.

The evaluated mesh at a frame must equal neutral + mo.dense for that frame's audio time, with
mo computed by a direct Animator call at the same times (compact within its 0.1 mm tolerance).
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from blender_helpers import (
    bpy,
    demo_head_object,
    evaluated_co,
    expected_time,
    mesh_co,
    snapshot,
    submodule,
    voice_scene,
)


@pytest.mark.parametrize("mode", ["COMPACT", "PER_FRAME"])
def test_real_bake_matches_direct_inference(
    real: ModuleType, random_weights_dir: Path, tmp_path: Path, mode: str
) -> None:
    scene, strip = voice_scene(tmp_path, seconds=1.5, start=5, fps=30, fps_base=1.001)
    obj = demo_head_object(real)
    rest = mesh_co(obj)
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", mode=mode, device="CPU",
                            seed=3, recognise_words=False,
                            weights_dir=str(random_weights_dir)) == {"FINISHED"}
    frames = np.arange(strip.frame_final_start, strip.frame_final_end)
    times = np.array([expected_time(int(f), strip, scene) for f in frames])
    anim = submodule(real, "core.animate").Animator.load("cpu", random_weights_dir)
    faces = submodule(real, "blender.bake").mesh_faces(obj.data)
    landmarks = submodule(real, "blender.storage").stored_landmarks(obj)
    mo = anim.animate(str(tmp_path / "voice.wav"), rest, faces, landmarks68=landmarks, seed=3,
                      frame_times=times)
    tol = 1e-6 if mode == "PER_FRAME" else 0.1 / mo.mm_per_unit + 1e-6
    moved = 0.0
    for i in (0, len(frames) // 3, len(frames) - 1):
        got = evaluated_co(obj, int(frames[i]))
        assert np.abs(got - (rest + mo.dense[i])).max() < tol
        moved = max(moved, float(np.abs(got - rest).max()))
    assert moved > 0  # random weights still move the face


def test_cuda_without_a_gpu_and_missing_weights_are_refused(
    real: ModuleType, random_weights_dir: Path, tmp_path: Path
) -> None:
    import torch

    voice_scene(tmp_path)
    demo_head_object(real)
    before = snapshot()
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA was requested but this machine has no"):
            bpy.ops.s2l.bake(object_name="Head", device="CUDA",
                             weights_dir=str(random_weights_dir))
        assert snapshot() == before
    empty = tmp_path / "no_weights"
    empty.mkdir()
    with pytest.raises(RuntimeError, match="weights are missing"):
        bpy.ops.s2l.bake(object_name="Head", device="CPU", weights_dir=str(empty))
    assert snapshot() == before


def test_recognise_words_bakes_the_heard_key_poses_in_blender(
    real: ModuleType, random_weights_dir: Path, speech_dir: Path, tmp_path: Path
) -> None:
    """Recognise Words end to end in Blender on a real voice (ARCTIC a0009 as the strip): the
    bake equals direct inference with the phones pocketsphinx hears, and those shut the lips."""
    pytest.importorskip("pocketsphinx")
    wav = speech_dir / "cmu_arctic" / "arctic_a0009.wav"
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    strip = scene.sequence_editor_create().strips.new_sound("Voice", str(wav), 1, 1)
    obj = demo_head_object(real)
    rest = mesh_co(obj)
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", mode="PER_FRAME",
                            device="CPU",  # Recognise Words is on by default
                            weights_dir=str(random_weights_dir)) == {"FINISHED"}
    # heard in a helper process that imported the installed copy, not in Blender's process
    helpers = submodule(real, "core.speech.workers")._POOL.helpers
    assert helpers and all(h.alive() for h in helpers)
    core = submodule(real, "core.animate")
    heard = submodule(real, "core.speech.recognise").recognise_phones(
        submodule(real, "core.speech.audio").load_audio(wav))
    assert sum(p.phone in ("P", "B", "M") for p in heard) >= 2  # "sharply", "table"
    frames = np.arange(strip.frame_final_start, strip.frame_final_end)
    times = np.array([expected_time(int(f), strip, scene) for f in frames])
    anim = core.Animator.load("cpu", random_weights_dir)
    faces = submodule(real, "blender.bake").mesh_faces(obj.data)
    landmarks = submodule(real, "blender.storage").stored_landmarks(obj)
    mo = anim.animate(str(wav), rest, faces, landmarks68=landmarks, frame_times=times,
                      phones=heard)
    plain = anim.animate(str(wav), rest, faces, landmarks68=landmarks, frame_times=times)
    assert not np.allclose(mo.dense, plain.dense)  # the key poses changed the mouth
    for i in (0, len(frames) // 2, len(frames) - 1):
        assert np.abs(evaluated_co(obj, int(frames[i])) - (rest + mo.dense[i])).max() < 1e-6
