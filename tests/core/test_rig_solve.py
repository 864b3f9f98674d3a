"""The rig solve (core/rig/solve.py): exactness, bounds, smoothness, sparsity, the lips' seal,
hostile input, the RIG plan, and the ICT head's own 53 expressions as a rig."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from rig_solve_reference import reference_admm

import blender_s2l.core.rig.solve as solve_module
from blender_s2l.core.bake.pipeline import BakeInputs
from blender_s2l.core.bake.plans import PLANS, RigPlan, plan_for
from blender_s2l.core.bake.settings import BakeSettings
from blender_s2l.core.errors import BakeError
from blender_s2l.core.motion import Motion
from blender_s2l.core.rig.solve import (
    FaceRegions,
    RigSolve,
    face_regions,
    rig_plan,
    solve,
    solve_weights,
)
from blender_s2l.core.rig.target import RigTarget
from blender_s2l.demo_head.make import SIZE_TARGETS, build_canonical, resolution_for

F64 = NDArray[np.float64]
CM = 10.0  # the test heads are in centimetres: the solve must work in the mesh's own units
PAIRS = ((61, 67), (62, 66), (63, 65))


@dataclass(frozen=True)
class Head:
    vertices: F64  # (V, 3) cm
    faces: Any
    landmarks: NDArray[np.int64]  # (68,) vertex indices
    names: list[str]
    keys: NDArray[np.float32]  # (K, V, 3) cm

    def index(self, name: str) -> int:
        return self.names.index(name)


@cache
def demo_head() -> Head:
    """The demo head with ten smooth keys shaped like a small ARKit rig (made here, from its
    landmarks, so the solve is not tested against anything it computes itself)."""
    v_mm, faces, lm, _ = build_canonical(resolution_for(SIZE_TARGETS[0]))
    v = np.asarray(v_mm, dtype=np.float64)
    p = v[lm]

    def bump(centre: F64, width: float) -> F64:
        out: F64 = np.exp(-0.5 * np.sum((v - centre) ** 2, axis=1) / width**2)[:, None]
        return out

    seam = (p[62, 1] + p[66, 1]) / 2
    below = np.clip((seam - v[:, 1]) / 3.0, 0, 1) * np.clip(1 - (p[8, 1] - 20 - v[:, 1]).clip(0)
                                                            / 20, 0, 1) * (v[:, 2] > -40)
    lower = (v[:, 1] < seam)[:, None]
    upper = (v[:, 1] >= seam)[:, None]
    keys = {
        "jawOpen": below[:, None] * [0, -8.0, -3.0],
        "mouthClose": bump((p[57] + p[66]) / 2, 7) * [0, 6.0, 1.0] * lower,
        "mouthSmileLeft": bump(p[54], 8) * [3, 3.0, -1],
        "mouthSmileRight": bump(p[48], 8) * [-3, 3.0, -1],
        "mouthPucker": bump((p[62] + p[66]) / 2, 12) * [0, 0, 4.0],
        "mouthUpperUpLeft": bump(p[51], 7) * [0, 3.0, 0.5] * upper,
        "browInnerUp": (bump(p[21], 10) + bump(p[22], 10)) * [0, 4.0, 0],
        "eyeBlinkLeft": bump(p[44], 6) * [0, -5.0, 0],
        "eyeBlinkRight": bump(p[37], 6) * [0, -5.0, 0],
        "cheekPuff": (bump((p[3] + p[48]) / 2, 12) + bump((p[13] + p[54]) / 2, 12)) * [0, 0, 3.0],
    }
    stack = np.stack([keys[n] for n in keys]) / CM
    return Head(v / CM, faces, np.asarray(lm, np.int64), list(keys), stack.astype(np.float32))


@cache
def demo_regions() -> FaceRegions:
    h = demo_head()
    return face_regions(h.vertices, h.vertices[h.landmarks], h.landmarks)


def smooth(rng: np.random.Generator, n: int, width: float = 5.0) -> F64:
    """(n,) smooth random curve in [0, 1]."""
    kernel = np.exp(-0.5 * (np.arange(-4 * width, 4 * width + 1) / width) ** 2)
    x = np.convolve(rng.standard_normal(n + len(kernel)), kernel, mode="same")
    x = x[len(kernel) // 2: len(kernel) // 2 + n]
    out: F64 = (x - x.min()) / max(np.ptp(x), 1e-9)
    return out


def motion_of(keys: NDArray[np.floating[Any]], weights: F64, extra: F64 | None = None,
              extra_codes: F64 | None = None, closure: F64 | None = None,
              seed: int = 0) -> Motion:
    """A low-rank motion whose dense part is weights @ keys (+ extra fields the rig cannot
    make), its basis a random rotation of the keys so the codes are no weights."""
    k = len(keys)
    t = len(weights)
    rot = np.linalg.qr(np.random.default_rng(seed).standard_normal((k, k)))[0]
    basis = np.einsum("jk,kvc->jvc", rot.T, keys)
    codes = weights @ rot
    if extra is not None and extra_codes is not None:
        basis = np.concatenate([basis, extra])
        codes = np.concatenate([codes, extra_codes], axis=1)
    return Motion(np.arange(t) / 30.0, np.zeros((t, 68, 3), np.float32),
                  codes.astype(np.float32), basis.astype(np.float32), mm_per_unit=CM,
                  closure=None if closure is None else closure.astype(np.float32))


def bumps(head: Head, rng: np.random.Generator, n: int, size_mm: float, near: range,
          width_mm: float = 6.0) -> F64:
    """(n, V, 3) smooth fields no key makes, near the landmarks `near`, ~size_mm big."""
    v = head.vertices
    out = []
    for _ in range(n):
        c = v[head.landmarks[rng.integers(near.start, near.stop)]] + rng.normal(0, 0.4, 3)
        fall = np.exp(-0.5 * np.sum((v - c) ** 2, axis=1) / (width_mm / CM) ** 2)
        out.append(fall[:, None] * rng.normal(0, size_mm / CM, 3))
    return np.stack(out)


def unit_ranges(k: int) -> F64:
    return np.tile([0.0, 1.0], (k, 1))


def lip_gap_mm(head: Head, disp: NDArray[np.floating[Any]]) -> float:
    """The smallest vertical gap between the facing inner-lip landmarks, mm (< 0: pressed)."""
    p = head.vertices + disp
    lm = head.landmarks
    return min(float(p[lm[a], 1] - p[lm[b], 1]) for a, b in PAIRS) * CM


# -- exactness, bounds, smoothness, sparsity ----------------------------------------------------

def test_a_mixture_of_the_keys_is_recovered_and_unused_keys_stay_at_rest() -> None:
    h = demo_head()
    rng = np.random.default_rng(1)
    t, k = 90, len(h.names)
    truth = np.zeros((t, k))
    for name in ("jawOpen", "mouthSmileLeft", "browInnerUp"):
        truth[:, h.index(name)] = smooth(rng, t) * 0.9
    ranges = unit_ranges(k)
    ranges[h.index("mouthPucker")] = (-1.0, 1.0)  # a key that may go negative
    truth[:, h.index("mouthPucker")] = -0.6 * smooth(rng, t)
    mo = motion_of(h.keys, truth)
    used = np.abs(truth).max(axis=0) > 0
    exact = solve(mo, h.keys, ranges, regions=demo_regions(), smoothness=0.0)
    assert np.abs(exact.weights - truth).max() < 1e-3
    assert np.all(exact.weights[:, ~used] == 0.0)  # exactly at rest, not merely small
    assert exact.fit_rms_mm.max() < 1e-3
    # The defaults (a little smoothness) stay within a few thousandths.
    default = solve_weights(mo, h.keys, ranges, regions=demo_regions())
    assert np.abs(default - truth).max() < 3e-3
    assert np.all(default[:, ~used] == 0.0)


def test_weights_stay_within_each_keys_range() -> None:
    h = demo_head()
    t, k = 30, len(h.names)
    truth = np.zeros((t, k))
    truth[:, h.index("jawOpen")] = np.linspace(0, 1.8, t)  # past the slider's 1
    truth[:, h.index("mouthSmileLeft")] = -0.5  # below its 0
    truth[:, h.index("browInnerUp")] = 0.5
    ranges = unit_ranges(k)
    ranges[h.index("browInnerUp")] = (0.2, 0.4)  # rest is 0.2 (0 clipped into the range)
    ranges[h.index("eyeBlinkLeft")] = (0.3, 0.3)  # a fixed key
    result = solve(motion_of(h.keys, truth), h.keys, ranges, regions=demo_regions())
    w = result.weights
    lo, hi = ranges.T.astype(np.float32)  # Blender's sliders are float32
    assert np.all(w >= lo) and np.all(w <= hi)
    inner = ranges[:, 0] < ranges[:, 1]
    assert np.all(w[:, inner] >= ranges[inner, 0]) and np.all(w[:, inner] <= ranges[inner, 1])
    assert w[-1, h.index("jawOpen")] == pytest.approx(1.0, abs=1e-6)
    assert np.abs(w[:, h.index("mouthSmileLeft")]).max() < 1e-6
    assert np.allclose(w[:, h.index("browInnerUp")], 0.4, atol=1e-4)
    assert np.all(w[:, h.index("eyeBlinkLeft")] == np.float32(0.3))
    assert result.rest[h.index("browInnerUp")] == np.float32(0.2)
    assert result.rest[h.index("eyeBlinkLeft")] == np.float32(0.3)


def test_smoothness_calms_keys_the_motion_cannot_tell_apart() -> None:
    """Two nearly equal keys and a motion with a little per-frame noise they cannot make:
    without the temporal term the split between them jitters from frame to frame."""
    h = demo_head()
    rng = np.random.default_rng(3)
    t = 120
    jaw = h.keys[h.index("jawOpen")]
    twin = jaw + bumps(h, rng, 1, 0.05, range(48, 68))[0]  # jawOpen and a near copy of it
    keys = np.stack([jaw, twin, h.keys[h.index("mouthSmileLeft")]]).astype(np.float32)
    truth = np.stack([0.6 * smooth(rng, t), np.zeros(t), 0.5 * smooth(rng, t)], axis=1)
    noise = bumps(h, rng, 8, 0.3, range(48, 68))
    mo = motion_of(keys, truth, noise, rng.standard_normal((t, 8)) * 0.3)

    def jerk(w: NDArray[np.float32]) -> float:  # of the split between the twins
        return float(np.abs(np.diff(w[:, 0] - w[:, 1], 2)).mean())

    rough = solve_weights(mo, keys, unit_ranges(3), regions=demo_regions(), smoothness=0.0,
                          sparsity=0.0)
    calm = solve_weights(mo, keys, unit_ranges(3), regions=demo_regions(), smoothness=0.05,
                         sparsity=0.0)
    assert jerk(rough) > 1e-3
    assert jerk(calm) < 0.1 * jerk(rough)
    for w in (rough, calm):  # either way the pair makes the jaw it must make
        assert np.abs(w[:, 0] + w[:, 1] - truth[:, 0]).max() < 0.01


def test_sparsity_leaves_keys_the_motion_does_not_need_at_rest() -> None:
    h = demo_head()
    rng = np.random.default_rng(3)
    t, k = 60, len(h.names)
    truth = np.zeros((t, k))
    truth[:, h.index("jawOpen")] = smooth(rng, t)
    truth[:, h.index("eyeBlinkLeft")] = smooth(rng, t)
    extra = bumps(h, rng, 6, 0.3, range(17, 68))  # what no key makes (0.3 mm)
    mo = motion_of(h.keys, truth, extra, rng.standard_normal((t, 6)))
    sparse = solve_weights(mo, h.keys, unit_ranges(k), regions=demo_regions())
    dense = solve_weights(mo, h.keys, unit_ranges(k), regions=demo_regions(), sparsity=0.0)
    needed = [h.index("jawOpen"), h.index("eyeBlinkLeft")]
    unneeded = np.setdiff1d(np.arange(k), needed)
    assert np.all(sparse[:, unneeded] == 0.0)
    assert np.count_nonzero(np.abs(dense[:, unneeded]).max(axis=0) > 1e-3) >= 3
    assert np.abs(sparse[:, needed] - truth[:, needed]).max() < 0.05


# -- the lips -----------------------------------------------------------------------------------

def test_a_shut_frame_stays_shut_on_the_rig() -> None:
    """jawOpen with mouthClose shuts the lips; fields the rig cannot make near the mouth pull
    a plain fit open, and the closure's seal keeps the solved lips as shut as the motion's."""
    h = demo_head()
    t, k = 20, len(h.names)
    truth = np.zeros((t, k))
    truth[:, h.index("jawOpen")] = 0.6
    truth[:, h.index("mouthClose")] = np.linspace(0.0, 0.6, t)
    closure = np.linspace(0.0, 1.0, t)
    opened = []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        extra = bumps(h, rng, 6, 1.0, range(48, 68))
        mo = motion_of(h.keys, truth, extra, np.ones((t, 6)), closure, seed)
        shut = solve_weights(mo, h.keys, unit_ranges(k), regions=demo_regions())
        plain = solve_weights(mo, h.keys, unit_ranges(k), regions=demo_regions(),
                              lip_gain=0.0, seal_gain=0.0)
        dense_gap = lip_gap_mm(h, mo.dense_frame(t - 1))
        assert dense_gap < 0.0  # the motion presses the lips together
        assert lip_gap_mm(h, np.einsum("k,kvc->vc", shut[-1], h.keys)) <= dense_gap + 0.02
        opened.append(lip_gap_mm(h, np.einsum("k,kvc->vc", plain[-1], h.keys)) - dense_gap)
    assert max(opened) > 1.0  # without the seal the rig's lips part


def test_face_regions_find_the_lips_and_leave_out_the_neck() -> None:
    h = demo_head()
    r = demo_regions()
    v = h.vertices
    lm = h.landmarks
    assert r.face.shape == r.lips.shape == (len(v),)
    assert np.all(r.face[lm[:68]] > 0.99) and r.face[np.argmin(v[:, 1])] == 0.0
    assert np.all(r.lips[lm[48:68]] > 0.99)
    assert np.all(r.lips[lm[17:27]] == 0.0) and np.all(r.lips[lm[36:48]] == 0.0)  # brows, eyes
    assert r.seal.tolist() == [lm[[61, 62, 63]].tolist(), lm[[67, 66, 65]].tolist()]
    by_position = face_regions(v, v[lm])  # positions: the nearest vertices
    assert by_position.seal.tolist() == r.seal.tolist()


# -- hostile input ------------------------------------------------------------------------------

def test_bad_rigs_are_one_sentence() -> None:
    h = demo_head()
    k = len(h.names)
    mo = motion_of(h.keys, np.zeros((4, k)))
    bad_keys = h.keys.copy()
    bad_keys[2, 5, 1] = np.nan
    cases: list[tuple[Any, Any, dict[str, Any], str]] = [
        (bad_keys, unit_ranges(k), {"key_names": h.names},
         "'mouthSmileLeft' has NaN or infinite offsets"),
        (h.keys, np.where(np.eye(k, 2) > 0, np.inf, unit_ranges(k)), {},
         "'key 0' has NaN or infinite slider ranges"),
        (h.keys, unit_ranges(k)[:, ::-1], {}, "minimum above its maximum"),
        (h.keys[:, :10], unit_ranges(k), {}, "one offset per vertex"),
        (h.keys[:0], np.zeros((0, 2)), {}, "no shape keys"),
        (h.keys, unit_ranges(k)[:3], {}, "a slider range for each"),
        (h.keys, unit_ranges(k), {"key_names": ["jawOpen"] * k}, "'jawOpen' twice"),
        (h.keys, unit_ranges(k), {"key_names": h.names[:3]}, "names 3 keys but holds"),
        (np.zeros_like(h.keys), unit_ranges(k), {}, "None of the rig's shape keys moves"),
        (h.keys, unit_ranges(k), {"smoothness": -1.0}, "must be 0 or more"),
        (h.keys, unit_ranges(k), {"sparsity": float("nan")}, "must be 0 or more"),
    ]
    for keys, ranges, options, words in cases:
        with pytest.raises(BakeError, match=words) as info:
            solve(mo, keys, ranges, **options)
        assert str(info.value).endswith(".")
    nan_motion = motion_of(h.keys, np.full((4, k), np.nan))
    with pytest.raises(BakeError, match="NaN or infinite values"):
        solve(nan_motion, h.keys, unit_ranges(k))


def test_quiet_duplicate_and_idle_input_stays_finite() -> None:
    h = demo_head()
    rng = np.random.default_rng(4)
    t = 40
    jaw = h.keys[h.index("jawOpen")]
    keys = np.stack([jaw, jaw, np.zeros_like(jaw), h.keys[h.index("eyeBlinkLeft")]])
    truth = np.stack([0.8 * smooth(rng, t), np.zeros(t), np.zeros(t), 0.5 * smooth(rng, t)], 1)
    mo = motion_of(h.keys[[0, 7]], truth[:, [0, 3]])
    mo.closure = np.full(t, np.nan, np.float32)  # unknown closure: no seal, still a solve
    result = solve(mo, keys, unit_ranges(4), regions=demo_regions(), key_names=list("abcd"))
    w = result.weights
    assert np.all(np.isfinite(w)) and np.all((w >= 0) & (w <= 1))
    assert np.all(w[:, 2] == 0.0)  # the key that moves nothing stays at rest ...
    assert result.notes == ["The shape key 'c' moves nothing on the face, so it stays at rest."]
    assert np.abs(w[:, 0] + w[:, 1] - truth[:, 0]).max() < 2e-3  # ... twins share the jaw
    assert np.abs(w[:, 3] - truth[:, 3]).max() < 2e-3
    # No motion at all: every key at rest. One frame: a solve all the same.
    still = solve(motion_of(keys, np.zeros((5, 4))), keys, unit_ranges(4))
    assert np.all(still.weights == 0.0) and still.iterations == 0
    one = solve_weights(motion_of(h.keys, truth[:1, [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]]), h.keys,
                        unit_ranges(len(h.names)), regions=demo_regions())
    assert one.shape == (1, len(h.names)) and np.all(np.isfinite(one))


def test_uneven_frame_times_solve() -> None:
    h = demo_head()
    rng = np.random.default_rng(5)
    t, k = 50, len(h.names)
    truth = np.zeros((t, k))
    truth[:, h.index("jawOpen")] = smooth(rng, t)
    mo = motion_of(h.keys, truth)
    mo.frame_times = np.cumsum(rng.uniform(0.01, 0.06, t))
    w = solve_weights(mo, h.keys, unit_ranges(k), regions=demo_regions())
    assert np.abs(w - truth).max() < 3e-3


# -- the RIG plan -------------------------------------------------------------------------------

def inputs_for(head: Head, t: int, rig: RigTarget | None, landmarks: Any = None) -> BakeInputs:
    return BakeInputs(
        settings=BakeSettings(mode="RIG"), audio_path="line.wav", vertices=head.vertices,
        faces=head.faces, frames=np.arange(t, dtype=np.int64) + 10,
        times=np.arange(t) / 30.0, rig=rig,
        landmarks68=head.landmarks if landmarks is None else landmarks)


def test_rig_mode_is_registered() -> None:
    rig = PLANS["RIG"]
    assert (rig.id, rig.label, rig.description) == (
        "RIG", "Rig Shape Keys", "Key the character's own shape keys (ARKit, visemes, VRM)")
    assert plan_for("RIG").build is rig_plan
    assert RigPlan.writes == "RIG_KEYS"


def test_rig_plan_keys_the_rigs_own_keys() -> None:
    h = demo_head()
    rng = np.random.default_rng(6)
    t, k = 45, len(h.names)
    truth = np.zeros((t, k))
    truth[:, h.index("jawOpen")] = smooth(rng, t)
    truth[:, h.index("mouthSmileRight")] = 0.5 * smooth(rng, t)
    mo = motion_of(h.keys, truth, closure=np.zeros(t))
    ranges = unit_ranges(k)
    ranges[h.index("cheekPuff")] = (0.1, 1.0)
    rig = RigTarget("ARKIT", [f"CC_{n}" for n in h.names], list(h.names), h.keys, ranges,
                    notes=["'Extra' is no ARKit shape, so it is left out."])
    plan = rig_plan(mo, inputs_for(h, t, rig))
    assert isinstance(plan, RigPlan) and plan.mode == "RIG" and plan.writes == "RIG_KEYS"
    assert plan.key_names == rig.key_names and plan.canonical == h.names
    assert plan.rig_set == "ARKIT" and plan.n_shapes == k
    assert plan.notes[0] == rig.notes[0]
    assert plan.weights.shape == (t, k) and plan.weights.dtype == np.float32
    assert np.abs(plan.weights - truth - (np.arange(k) == h.index("cheekPuff")) * 0.1).max() \
        < 3e-3
    assert plan.rest[h.index("cheekPuff")] == np.float32(0.1) and plan.rest[0] == 0
    # What the rig cannot make: cheekPuff rests at 0.1, the motion at 0.
    floor = 0.1 * np.linalg.norm(h.keys[h.index("cheekPuff")], axis=1).max() * CM
    assert plan.max_error_mm == pytest.approx(floor, rel=0.1)
    frames, values = plan.fcurve(h.index("cheekPuff"))
    assert frames[0] == 9 and frames[-1] == 10 + t and len(frames) == t + 2
    assert values[0] == values[-1] == np.float32(0.1)  # at rest outside the take
    with pytest.raises(TypeError):
        plan.shape_offsets(0)
    # Landmarks given as positions (a fitted set) give the same plan.
    by_position = rig_plan(mo, inputs_for(h, t, rig, h.vertices[h.landmarks]))
    assert np.allclose(by_position.weights, plan.weights, atol=1e-5)


def test_rig_plan_refuses_a_bake_without_a_rig() -> None:
    h = demo_head()
    mo = motion_of(h.keys, np.zeros((5, len(h.names))))
    with pytest.raises(BakeError, match="needs the character's own shape keys"):
        rig_plan(mo, inputs_for(h, 5, None))
    rig = RigTarget("ARKIT", ["a", "a", *h.names[2:]], list(h.names), h.keys,
                    unit_ranges(len(h.names)))
    with pytest.raises(BakeError, match="'a' twice"):
        rig_plan(mo, inputs_for(h, 5, rig))
    with pytest.raises(BakeError, match="Expected 5 frame numbers"):
        rig_plan(mo, inputs_for(h, 6, rig))


def test_result_type() -> None:
    h = demo_head()
    r = solve(motion_of(h.keys, np.zeros((3, len(h.names)))), h.keys, unit_ranges(len(h.names)))
    assert isinstance(r, RigSolve) and r.fit_rms_mm.shape == (3,)


# -- the ICT head's own rig ---------------------------------------------------------------------

def test_ict_expressions_as_the_rig(ict_npz: Path) -> None:
    """The ICT mean head with its 53 expressions as the rig; a motion that is a random sparse
    mixture of them is recovered, through the whole RIG plan."""
    from blender_s2l.training.ict import load_ict

    ict = load_ict(str(ict_npz))
    head = Head(ict.neutral.astype(np.float64) / CM, ict.faces.astype(np.int64),
                ict.landmarks68.astype(np.int64), list(ict.expression_names),
                (ict.expression_deltas / CM).astype(np.float32))
    rng = np.random.default_rng(7)
    t, k = 60, len(head.names)
    truth = np.zeros((t, k))
    chosen = rng.choice(k, 6, replace=False)
    for i in chosen:
        truth[:, i] = rng.uniform(0.3, 1.0) * smooth(rng, t, 6.0)
    closure = (np.arange(t) % 20 > 14).astype(np.float64)
    mo = motion_of(head.keys, truth, closure=closure)
    rig = RigTarget("ARKIT", head.names, head.names, head.keys, unit_ranges(k))
    plan = rig_plan(mo, inputs_for(head, t, rig))
    assert np.abs(plan.weights - truth).max() < 3e-3
    assert np.all(plan.weights[:, np.setdiff1d(np.arange(k), chosen)] == 0.0)
    exact = solve_weights(mo, head.keys, unit_ranges(k), smoothness=0.0,
                          regions=face_regions(head.vertices, head.vertices[head.landmarks],
                                               head.landmarks))
    assert np.abs(exact - truth).max() < 1e-3


# -- the faster passes against the reference ----------------------------------------------------

def with_reference(monkeypatch: pytest.MonkeyPatch, motion: Motion, keys: NDArray[Any],
                   ranges: F64, **options: Any) -> RigSolve:
    """`solve` with the ADMM as it was before it was made faster (tests/rig_solve_reference)."""
    with monkeypatch.context() as m:
        m.setattr(solve_module, "_admm", reference_admm)
        return solve(motion, keys, ranges, **options)


def reference_case() -> tuple[Motion, F64]:
    """150 frames of the demo head: keys resting at their minimum, inside their range and at
    their maximum, closures, uneven frame times, and fields no key makes."""
    h = demo_head()
    rng = np.random.default_rng(11)
    t, k = 150, len(h.names)
    truth = np.zeros((t, k))
    for name in ("jawOpen", "mouthClose", "mouthSmileLeft", "browInnerUp"):
        truth[:, h.index(name)] = smooth(rng, t) * 0.8
    truth[:, h.index("mouthPucker")] = 0.6 * smooth(rng, t) - 0.3  # rests inside (-1, 1)
    truth[:, h.index("cheekPuff")] = -0.4 * smooth(rng, t)  # rests at its maximum, 0
    ranges = unit_ranges(k)
    ranges[h.index("mouthPucker")] = (-1.0, 1.0)
    ranges[h.index("cheekPuff")] = (-1.0, 0.0)
    extra = bumps(h, rng, 6, 0.3, range(17, 68))
    closure = (smooth(rng, t, 3.0) > 0.6).astype(np.float64)
    mo = motion_of(h.keys, truth, extra, rng.standard_normal((t, 6)), closure)
    mo.frame_times = np.cumsum(rng.uniform(0.02, 0.05, t))
    return mo, ranges


def test_the_passes_are_the_reference_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Folded factors, row-blocked products and pieced norms change the rounding, not the
    passes: in float64 the weights match the reference to 1e-9 in as many passes. Tiny row
    blocks and dot pieces, so that every block boundary is crossed."""
    h = demo_head()
    mo, ranges = reference_case()
    monkeypatch.setattr(solve_module, "ONE_THREAD_MACS", 7 * 10 * 10)
    monkeypatch.setattr(solve_module, "ONE_THREAD_DOT", 100)
    monkeypatch.setattr(solve_module, "_single_enough", lambda p, tolerance: False)
    cases: list[dict[str, Any]] = [{}, {"sparsity": 0.0}, {"smoothness": 0.0}]
    for options in cases:
        fast = solve(mo, h.keys, ranges, regions=demo_regions(), **options)
        slow = with_reference(monkeypatch, mo, h.keys, ranges, regions=demo_regions(),
                              **options)
        assert fast.iterations == slow.iterations
        assert np.abs(fast.weights - slow.weights).max() < 1e-9
        assert np.array_equal(fast.weights == fast.rest, slow.weights == slow.rest)
        assert np.allclose(fast.fit_rms_mm, slow.fit_rms_mm, rtol=0, atol=1e-9)


def test_float32_passes_keep_the_reference_solve(monkeypatch: pytest.MonkeyPatch) -> None:
    """Passes in float32 (where `_single_enough`): the same keys stay exactly at rest and the
    weights match the float64 reference's to 1e-4, well inside the refit's own distance to
    the exact optimum (some 1e-3)."""
    h = demo_head()
    mo, ranges = reference_case()
    single: list[bool] = []
    real = solve_module._single_enough

    def spy(p: Any, tolerance: float) -> bool:
        single.append(real(p, tolerance))
        return single[-1]

    monkeypatch.setattr(solve_module, "_single_enough", spy)
    fast = solve(mo, h.keys, ranges, regions=demo_regions())
    assert single and all(single)
    slow = with_reference(monkeypatch, mo, h.keys, ranges, regions=demo_regions())
    assert np.array_equal(np.all(fast.weights == fast.rest, axis=0),
                          np.all(slow.weights == slow.rest, axis=0))
    assert np.abs(fast.weights - slow.weights).max() < 1e-4
    assert np.abs(fast.fit_rms_mm - slow.fit_rms_mm).max() < 1e-4


def test_the_ict_rig_solve_matches_the_reference(monkeypatch: pytest.MonkeyPatch,
                                                 ict_npz: Path) -> None:
    """The benchmark's case, shorter: the ICT head's 53 expressions (condition number about
    2000) seen through a random rotation, fields they cannot make, closures; the passes in
    float32 where `_single_enough`. Tolerances as in the demo head's case (the benchmark's
    1,800 frames: 1.5e-5 apart)."""
    from blender_s2l.training.ict import load_ict

    ict = load_ict(str(ict_npz))
    keys = (ict.expression_deltas / CM).astype(np.float32)
    v = ict.neutral.astype(np.float64) / CM
    rng = np.random.default_rng(0)
    t, k = 300, len(keys)
    truth = np.zeros((t, k))
    for i in rng.choice(k, 12, replace=False):
        truth[:, i] = smooth(rng, t, 4.0)
    lm = ict.landmarks68.astype(np.int64)
    extra = np.stack([np.exp(-np.sum((v - v[lm[i]]) ** 2, axis=1) / (2 * 0.15**2))[:, None]
                      * rng.standard_normal(3) * 0.05 for i in rng.choice(68, 8)])
    closure = (smooth(rng, t, 3.0) > 0.6).astype(np.float64)
    mo = motion_of(keys, truth, extra, rng.standard_normal((t, 8)), closure)
    regions = face_regions(v, v[lm], lm)
    fast = solve(mo, keys, unit_ranges(k), regions=regions)
    slow = with_reference(monkeypatch, mo, keys, unit_ranges(k), regions=regions)
    assert np.array_equal(np.all(fast.weights == 0, axis=0), np.all(slow.weights == 0, axis=0))
    assert np.abs(fast.weights - slow.weights).max() < 1e-4
    assert np.abs(fast.fit_rms_mm - slow.fit_rms_mm).max() < 1e-4
