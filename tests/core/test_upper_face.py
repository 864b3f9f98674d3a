"""Blinks and brows: seeded, plausible statistics, never on the mouth."""

from __future__ import annotations

import numpy as np
import pytest

from blender_s2l.core.errors import WeightsError
from blender_s2l.core.models.upper_face import (
    UPPER_EXPRESSIONS,
    UpperFaceModel,
    sample_upper_face_weights,
)
from blender_s2l.training.checkpoint import load_upper_face, save_checkpoint, upper_face_checkpoint


def _blink_onsets(w: np.ndarray, fps: float) -> np.ndarray:
    b = w > 0.5
    return np.flatnonzero(b[1:] & ~b[:-1]) / fps


def test_deterministic_and_seed_dependent() -> None:
    t = np.arange(0, 60, 1 / 30)
    a = sample_upper_face_weights(t, 7)
    assert a.shape == (len(t), len(UPPER_EXPRESSIONS))
    np.testing.assert_array_equal(a, sample_upper_face_weights(t, 7))
    assert not np.array_equal(a, sample_upper_face_weights(t, 8))
    assert a.min() >= 0 and a.max() <= 1


def test_same_events_at_any_frame_rate() -> None:
    t30 = np.arange(0, 20, 1 / 30)
    t60 = np.arange(0, 20, 1 / 60)
    a = sample_upper_face_weights(t30, 3)
    b = sample_upper_face_weights(t60, 3)
    np.testing.assert_allclose(a, b[::2], atol=1e-6)


def test_blink_statistics() -> None:
    fps = 100.0
    t = np.arange(0, 1800, 1 / fps)  # 30 minutes
    w = sample_upper_face_weights(t, 11, blink_rate_per_min=17.0)
    onsets = _blink_onsets(w[:, 0], fps)
    rate = len(onsets) / 30.0
    assert 13 <= rate <= 22
    gaps = np.diff(onsets)
    assert gaps.min() >= 0.2  # refractory
    assert np.mean(gaps < 0.5) > 0.02  # some double blinks
    closed = w[:, 0] > 0.1
    edges = np.flatnonzero(np.diff(closed.astype(int)))
    durs = (edges[1::2] - edges[0::2]) / fps
    assert 0.08 <= np.median(durs) <= 0.3
    # asymmetric: reopening is slower than closing, on average over all blinks
    rising = np.sum(np.diff(w[:, 0]) > 1e-3)
    falling = np.sum(np.diff(w[:, 0]) < -1e-3)
    assert falling > 1.3 * rising
    assert not np.array_equal(w[:, 0], w[:, 1])  # slight L/R asymmetry


def test_brows_follow_energy_and_can_be_off() -> None:
    t = np.arange(0, 30, 0.01)
    energy = np.zeros_like(t)
    energy[1000:1010] = 1.0
    quiet = sample_upper_face_weights(t, 5, brow_activity=1.0)
    loud = sample_upper_face_weights(t, 5, brow_activity=1.0, energy=energy)
    assert np.array_equal(quiet[:, :2], loud[:, :2])
    off = sample_upper_face_weights(t, 5, brow_activity=0.0, energy=energy)
    assert np.all(off[:, 2:] == 0)


def test_model_never_moves_mouth_or_jaw(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    m = UpperFaceModel(rng.standard_normal((8, 68, 3)))
    m.basis[:, np.r_[0:17, 48:68]] = 0
    path = tmp_path / "upper_face.npz"
    m.save_npz(path)
    m2 = UpperFaceModel.load(path)
    pt = tmp_path / "upper_face.pt"  # the training checkpoint holds the same basis
    save_checkpoint(pt, upper_face_checkpoint(m))
    assert np.array_equal(load_upper_face(pt).basis, m.basis)
    motion = m2.landmark_motion(np.arange(0, 20, 1 / 25), seed=1)
    assert motion.shape == (500, 68, 3)
    assert np.all(motion[:, 48:68] == 0)
    assert np.abs(motion[:, 36:48]).max() > 0


def test_bundled_weights_are_off_the_mouth() -> None:
    m = UpperFaceModel.load()
    assert np.all(m.basis[:, 48:68] == 0) and np.all(m.basis[:, 0:17] == 0)
    blink = m.basis[UPPER_EXPRESSIONS.index("eyeBlink_L")]
    assert blink[[43, 44], 1].max() < -3.0  # subject's left upper lid (+X) comes down
    assert np.abs(blink[[37, 38]]).max() < 0.5  # the other eye stays open


def test_bad_basis_is_rejected() -> None:
    with pytest.raises(WeightsError):
        UpperFaceModel(np.zeros((3, 68, 3)))


def test_bundled_matches_ict(ict_npz) -> None:  # type: ignore[no-untyped-def]
    from blender_s2l.training.ict import load_ict
    from blender_s2l.training.upper_face import build_upper_face_checkpoint

    ck = build_upper_face_checkpoint(load_ict())
    basis = ck.state_dict["basis"].numpy()
    np.testing.assert_allclose(UpperFaceModel.load().basis, basis, atol=1e-6)


def test_unsorted_times_and_bad_energy() -> None:
    t = np.arange(0, 60, 1 / 24)
    e = np.abs(np.sin(t))
    ref = sample_upper_face_weights(t, 9, energy=e)
    p = np.random.default_rng(0).permutation(len(t))
    np.testing.assert_array_equal(sample_upper_face_weights(t[p], 9, energy=e[p]), ref[p])
    with pytest.raises(ValueError):
        sample_upper_face_weights(t, 9, energy=e[:10])
