#!/usr/bin/env python3
"""A line's wait as a user meets it (#23 item 3): first bake and re-bake, Recognise Words and
audio only, 10 s and 60 s lines, in batch (a whole process) and from the operator (the panel's
path, in a running Blender), and the cache's size per minute of audio.

    .venv/bin/python scripts/bench_line.py            # ~6 min on an idle 2-core machine
    .venv/bin/python scripts/bench_line.py --runs 1 --lengths 5  # smoke test

Run it on an idle machine. Each run bakes a sound no earlier run baked (the speech with a faint
dither of its own, so its cache key is new) into an empty cache folder: the first bake pays for
everything; the re-bake is the same line again with Mouth Strength changed, which the cache
serves. Blender's own start-up (a process that imports bpy, opens the scene and exits) is
measured alongside, so the batch rows can be read as "beyond start-up". The speech is the real
clips in ../shared/data/speech and, when fetched, cache/real_speech (read at run time, never
copied into the repository), joined and repeated to the length asked for.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_farm import SCENE  # noqa: E402 (the same demo-head scene as the farm numbers)

START_ONLY = r"""
import sys, bpy
bpy.ops.wm.open_mainfile(filepath=sys.argv[1])
"""

# The panel's path: the operator in a running Blender (background: it runs synchronously, as
# the modal one runs the same job on its worker thread). Prints one line per bake.
PANEL = r"""
import json, sys, time
import bpy
import blender_s2l
blender_s2l.register()
scene_path, cache_dir, lines = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
bpy.ops.wm.open_mainfile(filepath=scene_path)
prefs = bpy.context.preferences.addons
from blender_s2l.blender.prefs import get_prefs
get_prefs(bpy.context).cache_dir = cache_dir
scene = bpy.context.scene
ed = scene.sequence_editor_create()
for i, (wav, words) in enumerate(lines):
    strip = ed.strips.new_sound(f"Voice{i}", wav, 1 + 2000 * i, 1)
    scene.frame_end = max(scene.frame_end, strip.frame_final_end + 10)
    for rebake, strength in ((False, 1.0), (True, 0.6)):
        t0 = time.perf_counter()
        res = bpy.ops.s2l.bake(object_name="Head", strip_name=strip.name, strip_scene=scene.name,
                               take=f"take{i}", replace=True, mouth_strength=strength,
                               recognise_words=words)
        dt = time.perf_counter() - t0
        assert res == {"FINISHED"}, res
        print(json.dumps({"line": i, "rebake": rebake, "seconds": dt}), flush=True)
"""


REPO = ROOT  # the checkout whose extension is measured (--repo)


def env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO))


def speech(seconds: float, rate: int = 16000) -> np.ndarray[Any, Any]:
    """Real speech joined and repeated to `seconds`."""
    import math

    import soundfile as sf
    from scipy.signal import resample_poly

    from blender_s2l.training.ict import shared_data_dir

    clips = sorted((shared_data_dir() / "speech").glob("*/*.wav"))
    clips += sorted((ROOT / "cache" / "real_speech").glob("*/*.wav"))
    if not clips:
        raise SystemExit("no real speech: ../shared/data/speech is missing")
    parts = []
    for clip in clips:
        x, sr = sf.read(str(clip), dtype="float32", always_2d=True)
        g = math.gcd(int(sr), rate)
        parts.append(resample_poly(x.mean(axis=1), rate // g, int(sr) // g).astype(np.float32))
    pool = np.concatenate(parts)
    n = int(seconds * rate)
    return np.tile(pool, n // len(pool) + 1)[:n]


def write_line(folder: Path, seconds: float, seed: int) -> Path:
    import soundfile as sf

    x = speech(seconds) + np.random.default_rng(seed).normal(0, 1e-4, int(seconds * 16000))
    path = folder / f"line_{seconds:g}s_{seed}.wav"
    sf.write(str(path), x.astype(np.float32), 16000)
    return path


def timed(cmd: list[str]) -> float:
    """Seconds a command takes, run in the measured checkout: `python -m` and `-c` put the
    working folder first on sys.path, before PYTHONPATH, so from another checkout they would
    import that one's extension."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env(), cwd=REPO)
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout}\n"
                         f"{proc.stderr}")
    return took


def batch(scene: Path, wav: Path, out: Path, cache: Path, words: bool,
          extra: list[str]) -> float:
    return timed([sys.executable, "-m", "blender_s2l.batch", str(scene), "--object", "Head",
                  "--audio", str(wav), "--out", str(out), "--cache-dir", str(cache),
                  "--recognise-words" if words else "--no-recognise-words", *extra])


def span(values: list[float]) -> str:
    return (f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"
            if len(values) > 1 else f"{values[0]:.2f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="paired runs of each row")
    ap.add_argument("--lengths", default="10,60", help="line lengths in seconds")
    ap.add_argument("--paths", default="batch,operator", help="batch, operator or both")
    ap.add_argument("--words", default="on,off", help="Recognise Words: on, off or both")
    ap.add_argument("--repo", type=Path, default=ROOT,
                    help="measure the extension of another checkout (e.g. an older commit's "
                         "worktree) with this script and scene")
    args = ap.parse_args(argv)
    global REPO
    REPO = args.repo.resolve()
    paths = {x.strip() for x in args.paths.split(",")}
    choices = [w.strip() == "on" for w in args.words.split(",") if w.strip()]
    lengths = [float(x) for x in args.lengths.split(",") if x.strip()]
    work = Path(tempfile.mkdtemp(prefix="s2l_line_"))
    scene = work / "scene.blend"
    subprocess.run([sys.executable, "-c", SCENE, str(scene), "1"], check=True, env=env(),
                   capture_output=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"<!-- {' '.join(sys.argv)}; extension of {REPO}; load average {load:.2f} at the "
          f"start; {os.cpu_count()} cores -->", flush=True)
    start = [timed([sys.executable, "-c", START_ONLY, str(scene)]) for _ in range(args.runs)]
    print(f"Blender's own start-up (import bpy, open the scene, exit): {span(start)} s\n")
    print("| path | line | Recognise Words | first bake (s) | re-bake, Mouth Strength 0.6 (s) | "
          "re-bake beyond start-up (s) |")
    print("|---|---|---|---|---|---|", flush=True)
    sizes: list[float] = []
    seed = 0
    for seconds in lengths if "batch" in paths else []:
        for words in choices:
            first, again = [], []
            for _ in range(args.runs):
                seed += 1
                wav = write_line(work, seconds, seed)
                cache = work / f"cache_{seed}"
                first.append(batch(scene, wav, work / "out.blend", cache, words, []))
                again.append(batch(scene, wav, work / "out.blend", cache, words,
                                   ["--mouth-strength", "0.6"]))
                if words:
                    size = sum(p.stat().st_size for p in cache.glob("*") if p.is_file())
                    sizes.append(size / 2**20 / (seconds / 60))
            beyond = [a - statistics.median(start) for a in again]
            print(f"| batch (whole process) | {seconds:g} s | {'on' if words else 'off'} | "
                  f"{span(first)} | {span(again)} | {span(beyond)} |", flush=True)
    import json

    for seconds in lengths if "operator" in paths else []:
        for words in choices:
            lines = []
            for _ in range(args.runs):
                seed += 1
                lines.append((str(write_line(work, seconds, seed)), words))
            proc = subprocess.run(
                [sys.executable, "-c", PANEL, str(scene), str(work / f"panel_cache_{seed}"),
                 json.dumps(lines)], capture_output=True, text=True, env=env(), cwd=REPO)
            if proc.returncode != 0:
                raise SystemExit(f"panel run failed:\n{proc.stdout}\n{proc.stderr}")
            rows = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
            first = [r["seconds"] for r in rows if not r["rebake"]]
            again = [r["seconds"] for r in rows if r["rebake"]]
            print(f"| operator in a running Blender | {seconds:g} s | "
                  f"{'on' if words else 'off'} | {span(first)} | {span(again)} | - |",
                  flush=True)
    if sizes:
        print(f"\nCache on disk with Recognise Words: {span(sizes)} MB per minute of audio.")
    print("Each cell: median (min-max) of the runs; first bakes of the operator after the "
          "first in its Blender have the models loaded already.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
