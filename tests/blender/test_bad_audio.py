"""Damaged sound files through the strip path: one clear sentence or a finite bake, never a
crash and never a NaN in a shape key; a refused bake leaves the file as it was."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from audio_helpers import aac_without_channels, tone
from blender_helpers import ROOT, bpy, demo_head_object, grid_head, snapshot, submodule, voice_scene
from fake_animator import FakeAnimator

# Runs in a fresh Blender (bpy) process: before the fix, aud's decoder died with SIGFPE there,
# which would have taken pytest down with it.
STRIP_PATHS = r"""
import os, sys
import bpy
import blender_s2l
from blender_s2l import batch
from blender_s2l.blender import bake, job
from blender_s2l.demo import add_demo_head

weights, tmp, *files = sys.argv[1:]


def state():
    obj = bpy.data.objects["Head"]
    key = obj.data.shape_keys
    return ([k.name for k in key.key_blocks] if key else None, sorted(obj.keys()),
            sorted(a.name for a in bpy.data.actions))


bpy.ops.wm.read_homefile(use_empty=True)
add_demo_head()
scene_file = os.path.join(tmp, "scene.blend")
bpy.ops.wm.save_as_mainfile(filepath=scene_file)
blender_s2l.register()

for path in files:
    name = os.path.basename(path)
    out = os.path.join(tmp, name + ".blend")
    # batch --audio (Recognise Words as the default leaves it: it decodes the sound first)
    rc = batch.main([scene_file, "--object", "Head", "--audio", path, "--out", out,
                     "--device", "CPU", "--weights", weights])
    print(name, "batch rc", rc, "written", os.path.exists(out), flush=True)
    # the panel: a sound strip of that file, then the operator (execute, as in background)...
    bpy.ops.wm.open_mainfile(filepath=scene_file)
    strip = bpy.context.scene.sequence_editor_create().strips.new_sound("Voice", path, 1, 1)
    before = state()
    try:
        bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", mode="PER_FRAME",
                         device="CPU", recognise_words=False, weights_dir=weights)
        print(name, "operator finished", flush=True)
    except RuntimeError as exc:
        text = str(exc).strip()
        print(name, "operator refused", len(text.splitlines()), "line:", text, flush=True)
    print(name, "operator unchanged", state() == before, flush=True)
    # ...and the worker thread the modal bake runs
    params = bake.BakeParams(object_name="Head", strip_name="Voice", device="CPU",
                             recognise_words=False, weights_dir=weights)
    running = job.start(bake.gather(bpy.context, params))
    running.join(120)
    job.release(running)
    print(name, "worker", type(running.error).__name__, running.error, flush=True)
    print(name, "worker unchanged", state() == before, flush=True)
"""


def test_damaged_aac_and_mp3_strips_are_refused_by_batch_panel_and_worker(
    tmp_path: Path, random_weights_dir: Path
) -> None:
    """Regression: a damaged .aac/.mp3 strip killed Blender (SIGFPE, exit 136) in the bake."""
    files = [tmp_path / "damaged.aac", tmp_path / "damaged.mp3"]
    for i, p in enumerate(files):
        p.write_bytes(aac_without_channels(i))
    proc = subprocess.run(
        [sys.executable, "-c", STRIP_PATHS, str(random_weights_dir), str(tmp_path),
         *map(str, files)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, (proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:])
    lines = proc.stdout.splitlines()
    for p in files:
        why = f"The audio file {p.name} has a sample rate of 0 Hz, outside 1000-768000 Hz: " \
              "it is damaged or not a sound file."
        assert f"FAIL job 1: {why}" in lines
        assert f"{p.name} batch rc 1 written False" in lines
        assert f"{p.name} operator refused 1 line: Error: {why}" in lines
        assert f"{p.name} operator unchanged True" in lines
        assert f"{p.name} worker AudioError {why}" in lines
        assert f"{p.name} worker unchanged True" in lines
    assert "Traceback" not in proc.stdout + proc.stderr


def damaged_float_wav(path: Path, rate: int = 44100, seconds: float = 1.2) -> Path:
    """A voice-like float WAV with a few samples near float32's limit (runs of three, whose
    sum overflows in the resampling filter), NaN and inf."""
    t = np.arange(int(seconds * rate)) / rate
    x = tone(180, seconds, rate) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)).astype(np.float32)
    for i, v in enumerate([3e38, -3e38, 3.4e38, np.nan, np.inf, -np.inf, 3e38]):
        at = (i + 1) * len(x) // 9
        x[at : at + 3] = v
    sf.write(path, x, rate, subtype="FLOAT")
    return path


def finite_take(obj: Any) -> tuple[int, float]:
    """Shape keys and keyframe values of the object all finite; (number of keys, max offset)."""
    keys = obj.data.shape_keys.key_blocks
    ref = np.zeros(len(obj.data.vertices) * 3, dtype=np.float32)
    keys[0].data.foreach_get("co", ref)
    moved = 0.0
    for kb in keys[1:]:
        co = np.zeros_like(ref)
        kb.data.foreach_get("co", co)
        assert np.all(np.isfinite(co)), kb.name
        moved = max(moved, float(np.abs(co - ref).max()))
    for fc in bpy.data.actions[0].layers[0].strips[0].channelbags[0].fcurves:
        values = np.zeros(2 * len(fc.keyframe_points), dtype=np.float32)
        fc.keyframe_points.foreach_get("co", values)
        assert np.all(np.isfinite(values)), fc.data_path
    return len(keys) - 1, moved


@pytest.mark.parametrize("mode", ["COMPACT", "PER_FRAME"])
def test_float_wav_with_huge_nan_and_inf_samples_bakes_finite(
    real: ModuleType, random_weights_dir: Path, tmp_path: Path, mode: str
) -> None:
    """Regression: samples near 3e38 overflowed in resampling; PER_FRAME wrote NaN shape keys
    and COMPACT failed with an unexpected LinAlgError. Now the damaged samples are silence."""
    wav = damaged_float_wav(tmp_path / "damaged.wav")
    scene = bpy.context.scene
    scene.render.fps, scene.frame_start, scene.frame_end = 30, 1, 100
    scene.sequence_editor_create().strips.new_sound("Voice", str(wav), 1, 1)
    obj = demo_head_object(real)
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", mode=mode, device="CPU",
                            recognise_words=False,
                            weights_dir=str(random_weights_dir)) == {"FINISHED"}
    n_keys, moved = finite_take(obj)
    assert n_keys >= (36 if mode == "PER_FRAME" else 1)
    assert moved > 0  # the face still moves with the rest of the sound


def nan_motion(fake: FakeAnimator, monkeypatch: pytest.MonkeyPatch, codes: float,
               basis: float) -> None:
    """The fake animator's motion with its codes and basis scaled (NaN or overflowing)."""
    original = fake.animate

    def broken(*a: Any, **k: Any) -> Any:
        mo = original(*a, **k)
        mo.codes = (mo.codes * np.float32(codes)).astype(np.float32)
        mo.basis = (mo.basis * np.float32(basis)).astype(np.float32)
        return mo

    monkeypatch.setattr(fake, "animate", broken)


def refused(match: str, **kw: Any) -> None:
    before = snapshot()
    with pytest.raises(RuntimeError, match=match):
        bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", **kw)
    assert snapshot() == before


@pytest.mark.parametrize("mode", ["COMPACT", "PER_FRAME"])
def test_nan_motion_is_refused_before_planning(
    fake: FakeAnimator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mode: str
) -> None:
    """Whatever goes wrong upstream, NaN motion gets one sentence, not a LinAlgError."""
    voice_scene(tmp_path)
    grid_head()
    nan_motion(fake, monkeypatch, codes=np.nan, basis=1.0)
    refused(r"The bake of strip 'Voice' produced NaN or infinite motion, so nothing was "
            r"written; the sound or the mesh holds invalid values\.", mode=mode)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_overflowing_shape_key_is_never_written(
    fake: FakeAnimator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Finite codes and basis whose product overflows float32: the write guard undoes it."""
    voice_scene(tmp_path)
    grid_head()
    nan_motion(fake, monkeypatch, codes=1e20, basis=1e22)
    refused(r"Shape key 's2l\.Voice\.\d+' would hold NaN or infinite values, so the bake was "
            r"undone", mode="PER_FRAME")


def test_nan_keyframes_are_never_written(
    fake: FakeAnimator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The keyframe values get the same last guard as the shape keys."""
    voice_scene(tmp_path)
    grid_head()
    plans = submodule(sys.modules[fake.errors.__name__.rsplit(".core", 1)[0]], "core.bake.plans")
    original = plans.PLANS["COMPACT"]

    def nan_weights(*a: Any, **k: Any) -> Any:
        plan = original.build(*a, **k)
        plan.weights = np.full_like(plan.weights, np.nan)
        return plan

    monkeypatch.setitem(plans.PLANS, "COMPACT", dataclasses.replace(original, build=nan_weights))
    refused(r"The keyframes of 's2l\.Voice\.0000' would hold NaN or infinite values",
            mode="COMPACT")
