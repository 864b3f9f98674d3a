import numpy as np
import pytest
import torch

from blender_s2l.core.errors import Cancelled
from blender_s2l.core.models.inference import (
    rest_response,
    run_s2l,
    sample_at_times,
    smooth_track,
)
from blender_s2l.core.models.s2l import S2L, S2LConfig


@pytest.fixture(scope="module")
def model() -> S2L:
    torch.manual_seed(0)
    return S2L(S2LConfig(channels=16, dilations=[1, 2, 4, 8])).eval()


def test_chunked_equals_single_pass(model: S2L) -> None:
    mel = np.random.default_rng(0).standard_normal((1000, 80)).astype(np.float32)
    whole = run_s2l(model, mel, chunk_frames=10_000).disp
    for chunk in (37, 128, 999):
        assert np.allclose(run_s2l(model, mel, chunk_frames=chunk).disp, whole, atol=1e-5)


def test_progress_and_cancel(model: S2L) -> None:
    mel = np.zeros((300, 80), np.float32)
    seen: list[float] = []
    run_s2l(model, mel, chunk_frames=100, progress=seen.append)
    assert seen == pytest.approx([1 / 3, 2 / 3, 1.0])
    with pytest.raises(Cancelled):
        run_s2l(model, mel, chunk_frames=100, cancel=lambda: True)


def test_rest_response_matches_silent_output(model: S2L) -> None:
    feat = np.full(80, -5.0, np.float32)
    rest = rest_response(model, feat)
    out = run_s2l(model, np.repeat(feat[None], 400, 0)).disp
    assert np.allclose(out[200], rest, atol=1e-5)


def test_sample_at_times_interpolates_linearly() -> None:
    track = np.arange(10, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    got = sample_at_times(track, np.array([0.0, 0.015, 0.09, 5.0]))
    assert np.allclose(got[:, 0], [0.0, 1.5, 9.0, 9.0])


def test_smoothing_keeps_constants_and_reduces_jitter() -> None:
    rng = np.random.default_rng(0)
    noisy = rng.standard_normal((500, 4)).astype(np.float32)
    smooth = smooth_track(noisy, 3.0)
    jitter = np.abs(np.diff(noisy, 2, axis=0)).mean()
    assert np.abs(np.diff(smooth, 2, axis=0)).mean() < 0.2 * jitter
    const = np.ones((50, 2), np.float32)
    assert np.allclose(smooth_track(const, 2.0), const)
    assert smooth_track(noisy, 0.0) is noisy
