"""Time of the RIG mode's solve (issue 17 target: 60 s at 30 fps, 53 keys, 16k vertices, < 1 s).

    .venv/bin/python scripts/bench_rig_solve.py [--seconds 60] [--fps 30] [--vertices 16000]

The head is the ICT FaceKit mean head (../shared/data) cut to its first `--vertices` vertices
(face, scalp and neck, mouth socket, eye sockets, part of the gums), its 53 expressions the
rig, in centimetres. The motion is what S2D hands over, J = 80 codes: the rig's keys seen
through a random rotation, weighted by smooth curves in 0..1 on about a third of them, plus 27
smooth fields (~0.5 mm) the rig cannot make, and closures (a shut lip every second or so).
Inference is excluded; rig_plan (landmarks, face and lip regions, the solve, the error probe)
is timed whole, and the solve alone (wall and CPU seconds), printed as a table row with the
BLAS thread setting. The solve keeps its many small products and norms on one OpenBLAS thread
itself, so numpy's default threads and OPENBLAS_NUM_THREADS=1 should time alike; only the
vertex sums (one large product per chunk) use the threads.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from blender_s2l.core.bake.pipeline import BakeInputs
from blender_s2l.core.bake.settings import BakeSettings
from blender_s2l.core.motion import Motion
from blender_s2l.core.rig.solve import face_regions, rig_plan, solve
from blender_s2l.core.rig.target import RigTarget
from blender_s2l.training.ict import ict_path, load_ict


def smooth_noise(rng: np.random.Generator, n: int, width: int) -> np.ndarray:
    """(n,) smooth random signal: white noise under a Gaussian window `width` frames wide."""
    kernel = np.exp(-0.5 * (np.arange(-3 * width, 3 * width + 1) / width) ** 2)
    return np.convolve(rng.standard_normal(n + len(kernel)), kernel / kernel.sum(),
                       mode="same")[len(kernel) // 2: len(kernel) // 2 + n]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--vertices", type=int, default=16000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if not ict_path().is_file():
        print(f"needs the ICT FaceKit pack at {ict_path()}")
        return 1
    ict = load_ict()
    v = min(args.vertices, ict.neutral.shape[0])
    verts = ict.neutral[:v].astype(np.float64)
    faces = ict.faces[np.all(ict.faces < v, axis=1)].astype(np.int64)
    keys = ict.expression_deltas[:, :v] / 10.0  # mesh units: cm, as the pack
    k = keys.shape[0]
    rng = np.random.default_rng(0)
    n = round(args.seconds * args.fps)
    j_rig, j_free = 53, 27
    # What the rig can make, seen through a random rotation of its keys (so the codes are no
    # weights): a few keys at a time, smooth, within 0..1 ...
    rot = np.linalg.qr(rng.standard_normal((k, k)))[0]
    active = rng.random(k) < 0.3
    truth = np.stack([np.clip(smooth_noise(rng, n, 4) * 4, 0, 1) * a for a in active], axis=1)
    # ... plus smooth fields it cannot make (bumps of ~0.5 mm).
    bumps = []
    for _ in range(j_free):
        centre = verts[rng.integers(v)]
        fall = np.exp(-np.sum((verts - centre) ** 2, axis=1) / (2 * 1.5**2))
        bumps.append(fall[:, None] * rng.standard_normal(3) * 0.05)
    basis = np.concatenate([np.einsum("jk,kvc->jvc", rot.T, keys), np.stack(bumps)])
    codes = np.concatenate([truth @ rot, np.stack([smooth_noise(rng, n, 4) for _ in
                                                   range(j_free)], axis=1)], axis=1)
    closure = (smooth_noise(rng, n, 3) > 0.25).astype(np.float32)
    times = np.arange(n) / args.fps
    motion = Motion(times, np.zeros((n, 68, 3), np.float32), codes.astype(np.float32),
                    basis.astype(np.float32), mm_per_unit=10.0, closure=closure)
    rig = RigTarget("ARKIT", list(ict.expression_names), list(ict.expression_names),
                    keys.astype(np.float32), np.tile([0.0, 1.0], (k, 1)))
    inputs = BakeInputs(BakeSettings(mode="RIG"), "", verts, faces, np.arange(n) + 1,
                        times, landmarks68=ict.landmarks68.astype(np.int64), rig=rig)
    print(f"{n} frames, {k} keys, {v} vertices, J = {j_rig + j_free}")
    regions = face_regions(verts, verts[ict.landmarks68], ict.landmarks68)
    plan_s, solve_s, cpu_s = [], [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        plan = rig_plan(motion, inputs)
        plan_s.append(time.perf_counter() - t0)
        t0, c0 = time.perf_counter(), time.process_time()
        result = solve(motion, keys, rig.ranges, regions=regions)
        solve_s.append(time.perf_counter() - t0)
        cpu_s.append(time.process_time() - c0)
    used = int(np.any(plan.weights != plan.rest, axis=0).sum())
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    print(f"{result.iterations} ADMM passes; {used} of {k} keys used; face RMS error max "
          f"{result.fit_rms_mm.max():.3f} mm, worst vertex {plan.max_error_mm:.2f} mm")
    print("| BLAS threads | `rig_plan` whole: median (min) | solve alone: median (min) "
          "| solve CPU (min) |")
    print("|---|---|---|---|")
    print(f"| {threads} | {np.median(plan_s):.3f} s ({min(plan_s):.3f}) | "
          f"{np.median(solve_s):.3f} s ({min(solve_s):.3f}) | {min(cpu_s):.3f} s |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
