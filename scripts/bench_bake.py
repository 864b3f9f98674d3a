"""Bake speed and .blend size per mode vs a naive keyframe_insert baseline (issue 4 targets).

    .venv/bin/python scripts/bench_bake.py [--seconds 60] [--fps 30] [--subdivisions 1]

Inference is excluded: the motion is a synthetic low-rank Motion of the demo head's size
(J codes, like S2D's output), so only plan building + writing Blender data is timed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def head(name: str) -> Any:
    import bpy

    from blender_s2l.demo_head.make import make_demo_head

    h = make_demo_head(ARGS.subdivisions)
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(h.vertices.astype(float).tolist(), [], [list(f) for f in h.faces])
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    return obj


def saved_mb(path: Path) -> float:
    import bpy

    bpy.ops.wm.save_as_mainfile(filepath=str(path), compress=False)
    return path.stat().st_size / 1e6


def naive(obj: Any, plan: Any) -> None:
    """What a straightforward add-on does: one keyframe_insert per key, per-vertex co writes."""
    obj.shape_key_add(name="Basis", from_mix=False)
    ref = obj.data.shape_keys.reference_key
    base = np.array([v.co[:] for v in ref.data])
    for k in range(plan.n_shapes):
        kb = obj.shape_key_add(name=f"naive.{k:04d}", from_mix=False)
        off = base + plan.shape_offsets(k)
        for i, d in enumerate(kb.data):
            d.co = off[i]
        frames, values = plan.fcurve(k)
        for f, v in zip(frames, values, strict=True):
            kb.value = float(v)
            kb.keyframe_insert("value", frame=float(f))


def main() -> None:
    import bpy
    import torch

    from blender_s2l.blender import bake
    from blender_s2l.core.bake.plans import compact_plan, per_frame_plan
    from blender_s2l.core.motion import Motion

    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp())
    n = round(ARGS.seconds * ARGS.fps)
    for mode in ARGS.modes.split(","):
        for how in ARGS.ways.split(","):
            bpy.ops.wm.read_homefile(use_empty=True)
            obj = head("Head")
            v = len(obj.data.vertices)
            rng = np.random.default_rng(0)
            t = np.arange(n) / ARGS.fps
            codes = np.stack([np.sin(2 * np.pi * (0.5 + j) * t + j) for j in range(ARGS.codes)], 1)
            mo = Motion(t, np.zeros((n, 68, 3), np.float32), codes.astype(np.float32),
                        (1e-3 * rng.normal(size=(ARGS.codes, v, 3))).astype(np.float32), 1000.0)
            frames = np.arange(1, n + 1, dtype=np.float64)
            t0 = time.perf_counter()
            plan = compact_plan(mo, frames) if mode == "COMPACT" else per_frame_plan(mo, frames)
            t1 = time.perf_counter()
            if how == "foreach_set":
                bake.write_take(obj, plan, "bench", "Voice")
            else:
                naive(obj, plan)
            t2 = time.perf_counter()
            size = saved_mb(tmp / f"{mode}_{how}.blend")
            print(f"{mode:9s} {how:15s} V={v} shapes={plan.n_shapes} plan={t1 - t0:.2f}s "
                  f"write={t2 - t1:.2f}s blend={size:.1f}MB", flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--subdivisions", type=int, default=1)
    ap.add_argument("--codes", type=int, default=32)
    ap.add_argument("--modes", default="COMPACT,PER_FRAME")
    ap.add_argument("--ways", default="foreach_set,keyframe_insert")
    ARGS = ap.parse_args()
    main()
