"""The compact plan is the plan it was before its speed-up (issue 23: a re-bake within 1.5 s):
the same number of shapes, the same weights bit for bit, shapes and the reported error within
float rounding. The reference below is the earlier code as it was (an explicit Q from the
QR, and every frame's residual at every vertex in the exact check); the heads are the demo head
and the ICT head, each baked by the real models, plus synthetic motions with the cases a head
rarely shows (a zero field, tight tolerances, a cap on the shapes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from rebake_helpers import demo_head, ict_head, times_of, voice

from blender_s2l.core.animate import Animator
from blender_s2l.core.bake.plans import CompactPlan, check_frames, compact_plan
from blender_s2l.core.motion import Motion

CHUNK = 256
PROBES = 48


def _ref_error(u: Any, s: Any, vt: Any, k: int, mm: float, rows: Any = None) -> float:
    if k >= s.shape[0]:
        return 0.0
    tail = (vt[k:] * s[k:, None]).astype(np.float32)
    uk = u[:, k:] if rows is None else u[rows, k:]
    worst = 0.0
    for start in range(0, uk.shape[0], CHUNK):
        chunk = uk[start : start + CHUNK].astype(np.float32)
        resid = (chunk @ tail).reshape(chunk.shape[0], -1, 3)
        worst = max(worst, float(np.sqrt(np.einsum("tvc,tvc->tv", resid, resid).max())))
    return worst * mm


def _ref_probes(u: Any, s: Any, k: int) -> Any:
    energy = ((u[:, k:] * s[k:]) ** 2).sum(axis=1)
    n = u.shape[0]
    top = np.argsort(energy)[-PROBES:]
    grid = np.arange(0, n, max(1, n // PROBES))
    return np.unique(np.concatenate([top, grid])).astype(np.int64)


def reference_compact_plan(motion: Motion, frames: Any, tolerance_mm: float = 0.1,
                           max_shapes: int = 64) -> CompactPlan:
    f = check_frames(motion, frames)
    codes = motion.codes.astype(np.float64)
    basis = motion.basis.reshape(motion.basis.shape[0], -1).astype(np.float64)
    q, r = np.linalg.qr(basis.T)
    u, s, wt = np.linalg.svd(codes @ r.T, full_matrices=False)
    vt = wt @ q.T
    keep = s > s[0] * 1e-9 if s.size and s[0] > 0 else np.zeros_like(s, dtype=bool)
    u, s, vt = u[:, keep], s[keep], vt[keep]
    mm = motion.mm_per_unit
    limit = min(len(s), max_shapes)
    lo, hi = 0, limit
    while lo < hi:
        mid = (lo + hi) // 2
        if _ref_error(u, s, vt, mid, mm, _ref_probes(u, s, mid)) <= tolerance_mm:
            hi = mid
        else:
            lo = mid + 1
    k = lo
    err = _ref_error(u, s, vt, k, mm)
    while err > tolerance_mm and k < limit:
        k = min(limit, k + max(1, k // 8))
        err = _ref_error(u, s, vt, k, mm)
    k = max(k, 1) if len(s) else 0
    peak = np.abs(u[:, :k]).max(axis=0) if k else np.zeros(0)
    peak = np.where(peak > 0, peak, 1.0)
    weights = (u[:, :k] / peak).astype(np.float32)
    shapes = (vt[:k] * (s[:k] * peak)[:, None]).reshape(k, motion.n_vertices, 3)
    return CompactPlan(f, motion, err, shapes.astype(np.float32), weights)


def assert_same_plan(motion: Motion, **choices: Any) -> CompactPlan:
    frames = np.arange(motion.n_frames) + 1.0
    new = compact_plan(motion, frames, **choices)
    old = reference_compact_plan(motion, frames, **choices)
    assert new.n_shapes == old.n_shapes
    np.testing.assert_array_equal(new.weights, old.weights)
    scale = max(float(np.abs(old.shapes).max()), 1e-30) if old.n_shapes else 1.0
    np.testing.assert_allclose(new.shapes, old.shapes, rtol=0, atol=1e-6 * scale)
    assert new.max_error_mm == pytest.approx(old.max_error_mm, rel=1e-5, abs=1e-9)
    return new


def _synthetic(t: int, v: int, j: int, seed: int, zero_field: bool = False) -> Motion:
    rng = np.random.default_rng(seed)
    time = np.linspace(0, 4 * np.pi, t)
    codes = np.stack([np.sin(time * (1 + i * 0.37) + i) * (0.8**i) for i in range(j)], axis=1)
    basis = rng.standard_normal((j, v, 3)) * 0.3
    basis[:, : v // 3] *= 1e-3  # a still back of the head, as on a real mesh
    if zero_field:
        basis[j // 2] = 0.0
    return Motion(np.arange(t) / 30.0, np.zeros((t, 68, 3), np.float32),
                  codes.astype(np.float32), basis.astype(np.float32), mm_per_unit=10.0)


@pytest.mark.parametrize(("t", "v", "j", "seed", "zero", "choices"), [
    (120, 500, 24, 0, False, {}),
    (700, 900, 40, 1, True, {}),
    (300, 2000, 30, 2, False, {"tolerance_mm": 0.01}),
    (300, 2000, 30, 3, False, {"max_shapes": 5}),
    (50, 300, 12, 4, False, {"tolerance_mm": 5.0}),
])
def test_synthetic_motions_plan_as_before(t: int, v: int, j: int, seed: int, zero: bool,
                                          choices: dict[str, Any]) -> None:
    assert_same_plan(_synthetic(t, v, j, seed, zero), **choices)


def test_the_demo_head_plans_as_before(anim: Animator, tmp_path: Path) -> None:
    v, faces, lm = demo_head()
    mo = anim.animate(voice(tmp_path / "line.wav", 4.0), v, faces, lm,
                      frame_times=times_of(4.0), mouth_strength=0.6)
    plan = assert_same_plan(mo)
    assert plan.n_shapes > 5  # a real motion, not a trivial one
    assert_same_plan(mo, tolerance_mm=0.03)


def test_the_ict_head_plans_as_before(anim: Animator, tmp_path: Path) -> None:
    head = ict_head()
    if head is None:
        pytest.skip("needs the ICT FaceKit pack in ../shared/data")
    v, faces, lm = head
    mo = anim.animate(voice(tmp_path / "line.wav", 3.0), v, faces, lm,
                      frame_times=times_of(3.0))
    assert_same_plan(mo)


def _dense_max_error(plan: CompactPlan) -> float:
    recon = np.einsum("tk,kvc->tvc", plan.weights, plan.shapes)
    err: NDArray[np.float64] = np.linalg.norm(recon - plan.motion.dense, axis=-1)
    return float(err.max()) * plan.motion.mm_per_unit


def test_the_error_reported_is_the_largest_of_every_frame_and_vertex() -> None:
    """The pruned check against the plain one: every vertex of every frame, formed whole."""
    mo = _synthetic(200, 1500, 30, 5)
    plan = compact_plan(mo, np.arange(mo.n_frames) + 1.0)
    assert plan.max_error_mm == pytest.approx(_dense_max_error(plan), rel=1e-3)
