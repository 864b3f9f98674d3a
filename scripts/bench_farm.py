#!/usr/bin/env python3
"""Farm numbers for BENCHMARKS.md (#21 item 4): lines per hour of batch.py tasks, what a task's
start-up costs, how rows per task amortise it, and the wall time of 10,000 lines on N workers.

    .venv/bin/python scripts/bench_farm.py     # the full run: ~5 min on an idle 2-core machine
    .venv/bin/python scripts/bench_farm.py --lines 4 --seconds 2 --rows-per-task 2  # smoke test

Run it on an idle machine: it measures throughput, so anything else running skews it. Each task
is one process, as a farm worker runs one (`blender -b --python batch.py -- --jobs M --rows A-B
--summary S.jsonl ...`; here the bpy module runs batch.py), with OMP_NUM_THREADS=1 (one process
per core), a fresh cache folder per configuration and lines whose sounds all differ, so no line
is served from the cache. The lines are cut from the real speech clips in ../shared/data/speech
(read at run time, never copied into the repository), or made of speech-like noise when those
are absent; they are baked onto the demo head with the batch defaults (Recognise Words on where
pocketsphinx is installed; --no-recognise-words turns it off).

Measured: one task of all the lines (where its time goes: the process outside the lines, the
first line's extra, a later line, and within a later line the bake itself, `bake.run_sync`, against
the rest: opening the scene, adding the sound, saving and reading back the .blend, the skip check
and the summary); lines per hour for 1 and 2 parallel workers; tasks of other row counts.
Modelled from those: how rows per task amortise the start-up, and the wall time of --total lines
on N workers (one core each, as the 1-worker run measured it; the 2-worker row shows what sharing
this machine's memory and caches costs).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BATCH_PY = ROOT / "blender_s2l" / "batch.py"

# A task: batch.main() in a process of its own, timing the bake and the file work inside it.
CHILD = r"""
import json, os, sys, time
started = time.perf_counter()
from blender_s2l import batch
from blender_s2l.blender import bake, batch_job
phases = {"bake": [], "open": [], "save": []}
def timed(module, name, key):
    inner = getattr(module, name)
    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            phases[key].append(time.perf_counter() - t0)
    setattr(module, name, wrapper)
timed(bake, "run_sync", "bake")
timed(batch_job, "open_scene", "open")
timed(batch_job, "save_verified", "save")
imports = time.perf_counter() - started
code = batch.main()
with open(os.environ["S2L_BENCH_PHASES"], "w") as fh:
    json.dump({"imports": imports, "phases": phases}, fh)
sys.exit(code)
"""

SCENE = r"""
import sys
import bpy
from blender_s2l.demo import add_demo_head
bpy.ops.wm.read_homefile(use_empty=True)
obj = add_demo_head("Head", int(sys.argv[2]))
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[1])
print(len(obj.data.vertices))
"""


@dataclass
class Task:
    """One finished task: its rows, wall time, per-line records and timed phases."""

    rows: tuple[int, int]
    wall: float
    records: list[dict[str, Any]]
    phases: dict[str, list[float]] = field(default_factory=dict)
    imports: float = 0.0


def child_env() -> dict[str, str]:
    return dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
                MKL_NUM_THREADS="1", PYTHONPATH=str(ROOT))


def speech_pool(rate: int) -> tuple[np.ndarray[Any, Any], str]:
    """Real speech from ../shared/data/speech at `rate`, joined; or speech-like noise."""
    from blender_s2l.training.ict import shared_data_dir

    folder = shared_data_dir() / "speech"
    clips = sorted(folder.glob("*/*.wav")) if folder.is_dir() else []
    if not clips:
        rng = np.random.default_rng(0)
        t = np.arange(60 * rate) / rate
        env = np.clip(np.sin(2 * np.pi * 3.1 * t), 0, None) ** 2
        noise = np.sin(2 * np.pi * 140 * t) + 0.3 * rng.standard_normal(t.shape)
        return (0.2 * env * noise).astype(np.float32), "speech-like noise (no ../shared/data)"
    import soundfile as sf
    from scipy.signal import resample_poly

    parts = []
    for clip in clips:
        x, sr = sf.read(str(clip), dtype="float32", always_2d=True)
        mono = x.mean(axis=1)
        g = math.gcd(int(sr), rate)
        parts.append(resample_poly(mono, rate // g, int(sr) // g).astype(np.float32))
    pool = np.concatenate(parts)
    names = ", ".join(f"{c.parent.name}/{c.name}" for c in clips)
    return pool, f"real speech cut from {names} ({len(pool) / rate:.1f} s in all)"


def write_lines(folder: Path, count: int, seconds: float) -> tuple[list[Path], str]:
    """count distinct lines of `seconds` each: windows of the pool at different offsets, each
    with its own faint dither, so that no two decode to the same samples (the cache key)."""
    import soundfile as sf

    rate = 16000
    pool, source = speech_pool(rate)
    n = int(seconds * rate)
    if n > len(pool):
        raise SystemExit(f"--seconds {seconds} is longer than the speech there is "
                         f"({len(pool) / rate:.1f} s)")
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        start = int((i * 2.3 * rate) % (len(pool) - n + 1))
        dither = np.random.default_rng(i).normal(0, 1e-4, n).astype(np.float32)
        path = folder / f"line_{i + 2:04d}.wav"
        sf.write(str(path), pool[start:start + n] + dither, rate)
        paths.append(path)
    return paths, source


def manifest(folder: Path, audio: list[Path]) -> Path:
    """One configuration's manifest (its own outputs); data lines 2..len(audio)+1."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "jobs.csv"
    path.write_text("object,audio,out\n" + "".join(
        f"Head,{a},out/{a.stem}.blend\n" for a in audio))
    return path


def run_task(jobs: Path, rows: tuple[int, int], scene: Path, flags: list[str]) -> Task:
    """One task as a farm runs it (batch.py --rows A-B --summary), timed from outside."""
    summary = jobs.parent / "summaries" / f"rows_{rows[0]}-{rows[1]}.jsonl"
    phases_file = jobs.parent / f"phases_{rows[0]}-{rows[1]}.json"
    env = child_env() | {"S2L_BENCH_PHASES": str(phases_file)}
    cmd = [sys.executable, "-c", CHILD, "--", str(scene), "--jobs", str(jobs),
           "--rows", f"{rows[0]}-{rows[1]}", "--summary", str(summary), *flags]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=jobs.parent)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"task {rows} failed (exit {proc.returncode}):\n{proc.stdout}\n"
                         f"{proc.stderr}")
    records = [json.loads(ln) for ln in summary.read_text().splitlines()]
    if [r["status"] for r in records] != ["ok"] * (rows[1] - rows[0] + 1):
        raise SystemExit(f"task {rows} did not bake every line:\n{proc.stdout}")
    timing = json.loads(phases_file.read_text())
    return Task(rows, wall, records, timing["phases"], timing["imports"])


def chunks(count: int, per_task: int) -> list[tuple[int, int]]:
    """The rows of each task, as the job type cuts them (data lines 2..count+1)."""
    last = count + 1
    return [(a, min(a + per_task - 1, last)) for a in range(2, last + 1, per_task)]


def run_farm(name: str, work: Path, audio: list[Path], scene: Path, flags: list[str],
             per_task: int, workers: int) -> tuple[float, list[Task]]:
    """Every line in tasks of per_task rows, `workers` tasks at a time; the wall time."""
    folder = work / name
    jobs = manifest(folder, audio)
    cache = ["--cache-dir", str(folder / "cache")]
    todo: queue.Queue[tuple[int, int]] = queue.Queue()
    for span in chunks(len(audio), per_task):
        todo.put(span)
    done: list[Task] = []
    errors: list[BaseException] = []

    def worker() -> None:
        while True:
            try:
                span = todo.get_nowait()
            except queue.Empty:
                return
            try:
                done.append(run_task(jobs, span, scene, flags + cache))
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)
                return

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return wall, sorted(done, key=lambda t: t.rows)


@dataclass
class Profile:
    """Where one task's time goes (seconds)."""

    outside: float  # the process outside its lines: interpreter, bpy, imports, manifest, exit
    first_extra: float  # the first line's extra over a later line (model loading, lazy imports)
    line: float  # a later line, whole (median)
    bake: float  # of which the bake itself, bake.run_sync (median)
    open: float  # of which opening the scene (median)
    save: float  # of which saving and reading back the .blend (median)
    imports: float  # the interpreter and the imports before batch.main

    @property
    def startup(self) -> float:
        return self.outside + self.first_extra

    def task(self, rows: int) -> float:
        return self.startup + rows * self.line


def profile_of(task: Task) -> Profile:
    seconds = [float(r["seconds"]) for r in task.records]
    later = seconds[1:] or seconds
    bakes = task.phases["bake"][1:] or task.phases["bake"]
    line = statistics.median(later)
    return Profile(
        outside=task.wall - sum(seconds), first_extra=max(0.0, seconds[0] - line), line=line,
        bake=statistics.median(bakes), open=statistics.median(task.phases["open"][1:]
                                                              or task.phases["open"]),
        save=statistics.median(task.phases["save"][1:] or task.phases["save"]),
        imports=task.imports)


def hms(seconds: float) -> str:
    h, rest = divmod(round(seconds), 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                cpu = ln.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{cpu}, {os.cpu_count()} cores, load average {load:.2f} at the start"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--lines", type=int, default=20, help="lines baked per configuration")
    ap.add_argument("--seconds", type=float, default=8.0, help="length of each line")
    ap.add_argument("--rows-per-task", type=int, default=5,
                    help="rows per task of the 1- and 2-worker throughput runs")
    ap.add_argument("--workers", default="1,2", help="parallel workers to measure")
    ap.add_argument("--also-rows", default="1",
                    help="more rows-per-task values measured with 1 worker ('' for none)")
    ap.add_argument("--model-rows", default="1,5,20,50", help="rows per task in the model")
    ap.add_argument("--project-workers", default="1,2,8,32,100")
    ap.add_argument("--total", type=int, default=10_000, help="lines in the projection")
    ap.add_argument("--recognise-words", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--head-subdivisions", type=int, default=1, help="demo head size (1: 11k)")
    ap.add_argument("--keep", default="", help="work in this folder and keep it")
    args = ap.parse_args(argv)
    if args.lines < 2:
        ap.error("--lines must be at least 2 (a later line is measured against the first)")

    from blender_s2l.core.speech import recognise

    flags = ["--no-recognise-words"]
    words = "off"
    if args.recognise_words:
        flags, words = (["--recognise-words"], "on") if recognise.pocketsphinx_available() \
            else (["--no-recognise-words"], "off (pocketsphinx is not installed)")
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="s2l_farm_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        return report(args, work, flags, words)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def report(args: argparse.Namespace, work: Path, flags: list[str], words: str) -> int:
    print(f"<!-- {' '.join(sys.argv)} -->")
    print(f"Machine: {machine()}; Python {platform.python_version()}; each task one process "
          "with OMP_NUM_THREADS=1.", flush=True)
    scene = work / "scene.blend"
    made = subprocess.run([sys.executable, "-c", SCENE, str(scene),
                           str(args.head_subdivisions)], capture_output=True, text=True,
                          env=child_env(), check=True)
    vertices = made.stdout.strip().splitlines()[-1]
    audio, source = write_lines(work / "audio", args.lines, args.seconds)
    print(f"Lines: {args.lines} of {args.seconds:g} s, {source}; the demo head "
          f"({vertices} vertices), COMPACT, Recognise Words {words}.\n", flush=True)

    # One task of every line: where a task's time goes.
    wall, (whole,) = run_farm("profile", work, audio, scene, flags, args.lines, 1)
    p = profile_of(whole)
    overhead = p.line / p.bake - 1
    print("| one task of all the lines | seconds |\n|---|---|")
    print(f"| task wall time ({args.lines} lines) | {wall:.1f} |")
    print(f"| process outside its lines (interpreter, bpy, imports, manifest, exit) | "
          f"{p.outside:.2f} |")
    print(f"| first line's extra over a later one (model loading, lazy imports) | "
          f"{p.first_extra:.2f} |")
    print(f"| **start-up cost per task** (the two above) | **{p.startup:.2f}** |")
    print(f"| a later line, whole (median) | {p.line:.2f} |")
    print(f"| of which the bake itself (`bake.run_sync`: gather, infer, key) | {p.bake:.2f} |")
    print(f"| of which opening the scene / saving and reading back the .blend | "
          f"{p.open:.2f} / {p.save:.2f} |")
    verdict = "within" if overhead <= 0.20 else "ABOVE"
    print(f"| **per-line overhead after the first line** (line / bake - 1) | "
          f"**{overhead:.0%}** ({verdict} the 20 % target) |\n", flush=True)

    # Throughput: 1 and 2 workers at one rows-per-task, and other row counts on 1 worker.
    runs: list[tuple[int, int, float]] = [(1, args.lines, wall)]
    wanted = [(int(w), args.rows_per_task) for w in args.workers.split(",") if w.strip()]
    wanted += [(1, int(r)) for r in args.also_rows.split(",") if r.strip()]
    for workers, per_task in wanted:
        if (workers, per_task) in [(w, r) for w, r, _ in runs]:
            continue
        name = f"w{workers}_r{per_task}"
        took, _ = run_farm(name, work, audio, scene, flags, per_task, workers)
        runs.append((workers, per_task, took))
    single = {r: t for w, r, t in runs if w == 1}
    print("| workers | rows per task | tasks | wall (s) | lines per hour | modelled wall (s) |")
    print("|---|---|---|---|---|---|")
    for workers, per_task, took in sorted(runs):
        tasks = chunks(args.lines, per_task)
        rounds = math.ceil(len(tasks) / workers)
        model = rounds * p.task(per_task) if workers == 1 else float("nan")
        print(f"| {workers} | {per_task} | {len(tasks)} | {took:.1f} | "
              f"{args.lines / took * 3600:,.0f} | {model:.1f} |")
    two = [t for w, r, t in runs if w == 2 and r == args.rows_per_task]
    if two and args.rows_per_task in single:
        speedup = single[args.rows_per_task] / two[0]
        print(f"\n2 workers on this machine: {speedup:.2f}x the lines per hour of 1 "
              f"({speedup / 2:.0%} of two independent cores).")
    print("\nModelled wall = tasks one worker runs x (start-up + rows x a later line), from the "
          "one-task profile; lines per hour include each task's start-up.\n")

    # Amortisation and the projection.
    model_rows = [int(r) for r in args.model_rows.split(",") if r.strip()]
    print("| rows per task | task (s) | per line (s) | start-up share | "
          "lines per hour per worker |")
    print("|---|---|---|---|---|")
    for r in model_rows:
        t = p.task(r)
        print(f"| {r} | {t:.1f} | {t / r:.2f} | {p.startup / t:.0%} | {3600 * r / t:,.0f} |")
    print("\n| workers | " + " | ".join(f"{args.total:,} lines, {r} rows/task" for r in model_rows)
          + " |")
    print("|---|" + "---|" * len(model_rows))
    for n in (int(w) for w in args.project_workers.split(",") if w.strip()):
        cells = []
        for r in model_rows:
            tasks = math.ceil(args.total / r)
            cells.append(hms(math.ceil(tasks / n) * p.task(r) + p.outside))
        print(f"| {n} | " + " | ".join(cells) + " |")
    print(f"\nProjected wall time (h:mm:ss) = ceil(tasks / workers) x task time + one merge task "
          f"(~{p.outside:.1f} s), each worker a core of its own as the 1-worker run measured; "
          "workers sharing a machine add its contention (the 2-worker line above).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
