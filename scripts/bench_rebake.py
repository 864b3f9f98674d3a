#!/usr/bin/env python3
"""A re-bake (#23: within 1.5 s beyond start-up), this checkout against another, interleaved:
the same line baked again with Mouth Strength changed, its phones and S2L track from the cache.

    .venv/bin/python scripts/bench_rebake.py --repo ../wt-base            # batch and operator
    .venv/bin/python scripts/bench_rebake.py --repo ../wt-base --paths batch --repeats 9

Batch: one line is baked once per checkout into its own cache folder (the first bake, not
timed), then re-baked in fresh processes, the checkouts taking turns, with Blender's own
start-up (import bpy, open the scene, exit) timed between them, so a machine whose speed drifts
(a shared one) drifts for all three alike. "Beyond start-up" is each re-bake less the median
start-up. Operator: bench_line.py's panel script, one Blender per checkout and round, a first
bake and a re-bake a line; the rounds alternate the checkouts. Medians (min-max). Every
process runs in its checkout's folder (`python -m` and `-c` import from the working folder
before PYTHONPATH).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import bench_line  # noqa: E402 (the same scene, lines, batch call and panel script)
from bench_farm import SCENE  # noqa: E402


def span(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--repo", type=Path, required=True, help="the other checkout (before)")
    ap.add_argument("--seconds", type=float, default=60.0, help="the line's length")
    ap.add_argument("--words", choices=("on", "off"), default="on", help="Recognise Words")
    ap.add_argument("--repeats", type=int, default=7, help="re-bakes of each checkout")
    ap.add_argument("--rounds", type=int, default=2, help="operator rounds of each checkout")
    ap.add_argument("--lines", type=int, default=2, help="operator lines a round")
    ap.add_argument("--paths", default="batch,operator")
    args = ap.parse_args(argv)
    repos = {"before": args.repo.resolve(), "after": ROOT}
    words = args.words == "on"
    paths = {p.strip() for p in args.paths.split(",")}
    work = Path(tempfile.mkdtemp(prefix="s2l_rebake_"))
    scene = work / "scene.blend"
    bench_line.REPO = ROOT
    subprocess.run([sys.executable, "-c", SCENE, str(scene), "1"], check=True,
                   env=bench_line.env(), capture_output=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"<!-- {' '.join(sys.argv)}; load average {load:.2f} at the start; "
          f"{os.cpu_count()} cores -->", flush=True)
    wav = bench_line.write_line(work, args.seconds, 1)
    if "batch" in paths:
        start: list[float] = []
        again: dict[str, list[float]] = {name: [] for name in repos}
        for name, repo in repos.items():  # the first bake fills each checkout's cache
            bench_line.REPO = repo
            bench_line.batch(scene, wav, work / f"{name}.blend", work / f"cache_{name}", words,
                             [])
        for _ in range(args.repeats):
            for name, repo in repos.items():
                bench_line.REPO = repo
                start.append(bench_line.timed([sys.executable, "-c", bench_line.START_ONLY,
                                               str(scene)]))
                again[name].append(bench_line.batch(
                    scene, wav, work / f"{name}.blend", work / f"cache_{name}", words,
                    ["--mouth-strength", "0.6"]))
        base = statistics.median(start)
        print(f"Blender's own start-up: {span(start)} s ({len(start)} runs)\n")
        print(f"| batch, {args.seconds:g} s line, words {args.words} | re-bake (s) | "
              "beyond start-up (s) |")
        print("|---|---|---|")
        for name in repos:
            print(f"| {name} ({repos[name].name}) | {span(again[name])} | "
                  f"{span([a - base for a in again[name]])} |", flush=True)
    if "operator" in paths:
        seconds: dict[str, list[float]] = {name: [] for name in repos}
        seed = 100
        for _ in range(args.rounds):
            for name, repo in repos.items():
                bench_line.REPO = repo
                lines = []
                for _ in range(args.lines):
                    seed += 1
                    lines.append((str(bench_line.write_line(work, args.seconds, seed)), words))
                proc = subprocess.run(
                    [sys.executable, "-c", bench_line.PANEL, str(scene),
                     str(work / f"panel_cache_{seed}"), json.dumps(lines)],
                    capture_output=True, text=True, env=bench_line.env(), cwd=repo)
                if proc.returncode != 0:
                    raise SystemExit(f"panel run failed:\n{proc.stdout}\n{proc.stderr}")
                rows = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
                seconds[name] += [r["seconds"] for r in rows if r["rebake"]]
        # First bakes are not shown: the panel script's cache folder does not reach the
        # operator (it bakes into the user's default cache folder), so a line heard by an
        # earlier run is not heard again.
        print(f"\n| operator, {args.seconds:g} s line, words {args.words} | re-bake (s) |")
        print("|---|---|")
        for name in repos:
            print(f"| {name} ({repos[name].name}) | {span(seconds[name])} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
