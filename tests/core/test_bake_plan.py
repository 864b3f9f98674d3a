import numpy as np
import pytest

from blender_s2l.core.bake.plans import compact_plan, per_frame_plan
from blender_s2l.core.errors import BakeError
from blender_s2l.core.motion import Motion


def _motion(t: int = 120, v: int = 500, j: int = 24, seed: int = 0) -> Motion:
    """Realistic-ish: a few strong smooth components and many weak ones, in mesh units (cm)."""
    rng = np.random.default_rng(seed)
    time = np.linspace(0, 4 * np.pi, t)
    codes = np.stack(
        [np.sin(time * (1 + i * 0.37) + i) * (0.8**i) for i in range(j)], axis=1
    ).astype(np.float32)
    basis = (rng.standard_normal((j, v, 3)) * 0.3).astype(np.float32)  # up to ~1 cm
    return Motion(
        frame_times=np.arange(t) / 30.0,
        landmarks=np.zeros((t, 68, 3), np.float32),
        codes=codes,
        basis=basis,
        mm_per_unit=10.0,
    )


def test_compact_plan_meets_tolerance_with_fewer_shapes() -> None:
    mo = _motion()
    frames = np.arange(mo.n_frames) + 5.0
    plan = compact_plan(mo, frames, tolerance_mm=0.1)
    assert plan.mode == "COMPACT"
    assert 1 <= plan.n_shapes < 24
    recon = np.einsum("tk,kvc->tvc", plan.weights, plan.shapes)
    err_mm = np.linalg.norm(recon - mo.dense, axis=-1).max() * mo.mm_per_unit
    assert err_mm <= 0.1 + 1e-6
    assert plan.max_error_mm == pytest.approx(err_mm, rel=1e-3, abs=1e-6)
    # One shape fewer would break the tolerance: K is the smallest.
    smaller = compact_plan(mo, frames, tolerance_mm=0.1, max_shapes=plan.n_shapes - 1)
    assert smaller.max_error_mm > 0.1


def test_compact_weights_fit_sliders_and_neutral_outside() -> None:
    mo = _motion()
    plan = compact_plan(mo, np.arange(mo.n_frames) + 1.0)
    assert plan.weights is not None
    for k in range(plan.n_shapes):
        lo, hi = plan.slider_range(k)
        frames, values = plan.fcurve(k)
        assert lo <= values.min() and values.max() <= hi
        assert values[0] == 0 and values[-1] == 0
        assert frames[0] == 0.0 and frames[-1] == mo.n_frames + 1
        assert len(frames) == mo.n_frames + 2


def test_per_frame_plan_is_exact() -> None:
    mo = _motion(t=10)
    plan = per_frame_plan(mo, np.arange(10) + 100.0)
    assert plan.n_shapes == 10 and plan.max_error_mm == 0.0
    assert np.allclose(plan.shape_offsets(3), mo.dense[3], atol=1e-6)
    frames, values = plan.fcurve(3)
    assert list(frames) == [102.0, 103.0, 104.0] and list(values) == [0.0, 1.0, 0.0]


def test_frames_must_match_motion() -> None:
    mo = _motion(t=10)
    with pytest.raises(BakeError):
        per_frame_plan(mo, np.arange(9))
    with pytest.raises(BakeError):
        compact_plan(mo, np.zeros(10))


def test_still_motion_gives_empty_plan_error_zero() -> None:
    mo = _motion(t=10)
    mo.codes[:] = 0
    plan = compact_plan(mo, np.arange(10.0))
    assert plan.max_error_mm == 0.0
    assert plan.n_shapes == 0  # silence bakes no shape keys at all


def test_large_bake_note_only_for_huge_per_frame_bakes() -> None:
    from blender_s2l.core.bake.plans import LARGE_BAKE_BYTES, large_bake_note

    assert large_bake_note("COMPACT", 18000, 50000) is None
    assert large_bake_note("PER_FRAME", 300, 11000) is None  # 10 s: 38 MB
    note = large_bake_note("PER_FRAME", 18000, 11043)  # 10 minutes at 30 fps
    assert note is not None and "18000 shape keys" in note and "2,275 MB" in note
    frames = LARGE_BAKE_BYTES // (12 * 1000) + 1
    assert large_bake_note("PER_FRAME", frames, 1000) is not None
    assert large_bake_note("PER_FRAME", frames - 2, 1000) is None
