#!/usr/bin/env python3
"""Speed and memory of the core, printed as a markdown table (BENCHMARKS.md).

    .venv/bin/python scripts/benchmark.py [--weights DIR] [--quick]

Uses the bundled weights when present, otherwise randomly initialised models of the same shape
(speed does not depend on the values). Each measurement that must be cold runs in a fresh process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _speech_like(seconds: float, sr: int = 16000, seed: int = 0) -> np.ndarray:
    """Noise bursts shaped like syllables: exercises the models as real speech does."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    env = np.clip(np.sin(2 * np.pi * 3.1 * t), 0, None) ** 2
    carrier = np.sin(2 * np.pi * 140 * t) + 0.3 * rng.standard_normal(t.shape)
    return (0.2 * env * carrier).astype(np.float32)


def _ensure_weights(folder: str | None) -> str:
    from blender_s2l.core.models.load import WEIGHT_KINDS, weights_dir, weights_file

    d = weights_dir(folder)
    if all(weights_file(kind, d).is_file() for kind in WEIGHT_KINDS):
        return str(d)
    from blender_s2l.training.random_weights import write_random_weights

    tmp = tempfile.mkdtemp(prefix="s2l_bench_")
    write_random_weights(Path(tmp), full_size=True)
    print(f"(bundled weights missing: using full-size random models in {tmp})")
    return tmp


def _child(code: str, weights: str, **extra_env: str) -> dict[str, float]:
    env = dict(os.environ, BLENDER_S2L_WEIGHTS=weights, PYTHONPATH=str(ROOT), **extra_env)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True)
    res: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    res["wall_s"] = time.perf_counter() - t0
    return res


COLD = """
import time, json
t0 = time.perf_counter()
import numpy as np
from blender_s2l.core.animate import Animator
from blender_s2l.demo_head.make import make_demo_head
sr = 16000; t = np.arange(10 * sr) / sr
wav = (0.2 * np.clip(np.sin(2*np.pi*3.1*t), 0, None)**2 * np.sin(2*np.pi*140*t)).astype(np.float32)
head = make_demo_head(target_vertices=11000)
anim = Animator.load(device="cpu")
mo = anim.animate(wav, head.vertices, head.faces, head.landmark_vertices, fps=30.0, sample_rate=sr)
_ = mo.dense
print(json.dumps({"cold_s": time.perf_counter() - t0}))
"""

PEAK = """
import json, os, numpy as np
from blender_s2l.core.animate import Animator
from blender_s2l.demo_head.make import make_demo_head
from blender_s2l.core.bake.plans import compact_plan
head = make_demo_head(target_vertices=11000)
anim = Animator.load(device="cpu")
mo = anim.animate(os.environ["S2L_BENCH_WAV"], head.vertices, head.faces, head.landmark_vertices,
                  fps=30.0)
plan = compact_plan(mo, np.arange(mo.n_frames, dtype=float) + 1)
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent across exec.
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(json.dumps({"peak_mb": int(hwm) / 1024, "frames": mo.n_frames, "shapes": plan.n_shapes}))
"""


def _write_long_wav(seconds: float) -> str:
    """A 44.1 kHz stereo file, as a user would bring: the child decodes and resamples it."""
    import soundfile as sf

    path = Path(tempfile.mkdtemp(prefix="s2l_bench_")) / "long.wav"
    sr = 44100
    with sf.SoundFile(path, "w", sr, 2, "PCM_16") as f:
        for start in range(0, int(seconds), 10):
            block = _speech_like(10.0, sr, seed=start)
            f.write(np.stack([block, block], axis=1))
    return str(path)


def _recognise_row() -> tuple[str, str]:
    """Recognise Words on real speech (its speed depends on the words): the shared clips, one
    after another, when ../shared is beside the repo."""
    name = "Recognise Words (pocketsphinx recognise + align), real speech"
    from blender_s2l.core.speech import audio
    from blender_s2l.training.ict import shared_data_dir

    clips = sorted((shared_data_dir() / "speech").rglob("*.wav"))
    try:
        import pocketsphinx  # noqa: F401

        from blender_s2l.core.speech.recognise import recognise_phones
    except ImportError:
        return name, "skipped: pocketsphinx is not installed"
    if not clips:
        return name, "skipped: no real speech in ../shared/data/speech"
    wav = np.concatenate([audio.load_audio(c) for c in clips])
    t0 = time.perf_counter()
    phones = recognise_phones(wav)
    dt = time.perf_counter() - t0
    seconds = len(wav) / audio.SAMPLE_RATE
    return (f"{name}, {len(clips)} clips, {seconds:.0f} s",
            f"{dt / seconds:.2f}x real time ({dt:.1f} s, {len(phones)} phones)")


def _on_off_row(anim: object, wav: np.ndarray, keyword: str, label: str) -> tuple[str, str]:
    """What a correction on the mesh adds to a bake: animate 60 s on the 11k head with it on
    and off (the animate keyword), alternated three times each (the run-to-run spread of this
    VM is of the same order)."""
    from blender_s2l.demo_head.make import make_demo_head

    head = make_demo_head(target_vertices=11000)
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(3):
        for on in (True, False):
            t0 = time.perf_counter()
            anim.animate(wav, head.vertices, head.faces,  # type: ignore[attr-defined]
                         head.landmark_vertices, fps=30.0, sample_rate=16000,
                         **{keyword: on})
            times[on].append(time.perf_counter() - t0)
    on, off = times[True], times[False]
    return (f"{label}: animate 60 s @30 fps, 11k verts, on / off (3 runs each, alternated)",
            f"{min(on):.3f}-{max(on):.3f} s / {min(off):.3f}-{max(off):.3f} s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--weights", default=None)
    ap.add_argument("--quick", action="store_true", help="skip the 10-minute memory run")
    args = ap.parse_args()
    import torch

    weights = _ensure_weights(args.weights)
    from blender_s2l.core.animate import Animator
    from blender_s2l.core.bake.plans import compact_plan
    from blender_s2l.demo_head.make import make_demo_head

    anim = Animator.load(device="cpu", weights_dir=weights)
    rows: list[tuple[str, str]] = []
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__} threads {torch.get_num_threads()}, models run by "
          f"{type(anim.s2l).__name__}/{type(anim.s2d).__name__}")
    for seconds in (10.0, 60.0):
        wav = _speech_like(seconds)
        anim.landmarks(wav, fps=30.0, sample_rate=16000)  # warm
        t0 = time.perf_counter()
        anim.landmarks(wav, fps=30.0, sample_rate=16000)
        dt = time.perf_counter() - t0
        rows.append((f"S2L (audio decode+features+model) {seconds:.0f} s clip",
                     f"{seconds / dt:.0f}x real time ({dt:.3f} s)"))
    wav60 = _speech_like(60.0)
    for n_verts in (5000, 11000, 26000):
        head = make_demo_head(target_vertices=n_verts)
        anim.animate(wav60[:16000], head.vertices, head.faces, head.landmark_vertices,
                     sample_rate=16000)
        for seconds in (10.0, 60.0):
            wav = wav60[: int(seconds * 16000)]
            t0 = time.perf_counter()
            mo = anim.animate(wav, head.vertices, head.faces, head.landmark_vertices, fps=30.0,
                              sample_rate=16000)
            t1 = time.perf_counter()
            _ = mo.dense
            t2 = time.perf_counter()
            plan = compact_plan(mo, np.arange(mo.n_frames, dtype=float) + 1)
            t3 = time.perf_counter()
            rows.append((
                f"S2L+S2D {seconds:.0f} s @30 fps, {head.vertices.shape[0]} verts",
                f"{seconds / (t1 - t0):.0f}x real time ({t1 - t0:.3f} s); dense (T,V,3) "
                f"+{t2 - t1:.3f} s; compact plan {plan.n_shapes} keys, "
                f"{plan.max_error_mm:.3f} mm, +{t3 - t2:.3f} s",
            ))
    rows.append(_on_off_row(anim, wav60, "lip_contact", "lip contact"))
    rows.append(_on_off_row(anim, wav60, "eyelids", "blinks on the mesh's own lids"))
    rows.append(_recognise_row())
    cold = _child(COLD, weights)
    rows.append(("cold start: fresh process, import -> 10 s clip on 11k verts",
                 f"{cold['cold_s']:.2f} s (process wall {cold['wall_s']:.2f} s)"))
    if not args.quick:
        peak = _child(PEAK, weights, S2L_BENCH_WAV=_write_long_wav(600.0))
        rows.append(("peak memory (VmHWM): 10-minute 44.1 kHz stereo wav, 11k verts, "
                     "animate + compact plan",
                     f"{peak['peak_mb']:.0f} MB ({peak['frames']:.0f} frames, "
                     f"{peak['shapes']:.0f} keys)"))
    print("\n| measurement | result |\n|---|---|")
    for name, val in rows:
        print(f"| {name} | {val} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
