"""Augmentation keeps the timeline (phones stay aligned) and does what its parameters say."""

from __future__ import annotations

import numpy as np
import pytest

from blender_s2l.training.corpus import augment

SR = 16000


def _burst() -> np.ndarray:
    rng = np.random.default_rng(0)
    x = np.zeros(2 * SR, np.float32)
    x[SR // 2: SR // 2 + 1600] = rng.standard_normal(1600).astype(np.float32) * 0.3
    return x


def _lag(x: np.ndarray, y: np.ndarray) -> int:
    a, b = x[4000:24000], y[4000:24000]
    return int(np.argmax(np.correlate(b, a, "full")) - (len(a) - 1))


@pytest.mark.parametrize("fn", [
    lambda x: augment.codec(x, SR, "mp3"),
    lambda x: augment.codec(x, SR, "ogg"),
    lambda x: augment.codec(x, SR, "ulaw"),
    lambda x: augment.through_rate(x, SR, 8000),
    lambda x: augment.band_limit(x, SR, 300, 3400),
    lambda x: augment.eq_tilt(x, SR, [6.0, -3.0, 4.0]),
    lambda x: augment.reverb(x, SR, np.random.default_rng(1), 0.6, 0.7),
], ids=["mp3", "ogg", "ulaw", "through8k", "telephone", "eq", "reverb"])
def test_no_time_shift(fn) -> None:  # type: ignore[no-untyped-def]
    x = _burst()
    y = fn(x)
    assert y.shape == x.shape and y.dtype == np.float32
    assert _lag(x, y) == 0


def test_noise_snr_is_as_requested() -> None:
    rng = np.random.default_rng(2)
    x = (np.sin(np.arange(SR) * 0.05) * 0.3).astype(np.float32)
    for kind in ("white", "pink"):
        y = augment.add_noise(x, rng, kind, 10.0)
        snr = 10 * np.log10(np.mean(x**2) / np.mean((y - x) ** 2))
        assert snr == pytest.approx(10.0, abs=0.1)
    babble = [np.random.default_rng(3).standard_normal(SR // 3).astype(np.float32)]
    y = augment.add_noise(x, rng, "babble", 20.0, babble)
    assert 10 * np.log10(np.mean(x**2) / np.mean((y - x) ** 2)) == pytest.approx(20.0, abs=0.1)


def test_speed_perturb_scales_duration() -> None:
    x = _burst()
    y = augment.speed_perturb(x, SR, 1.08)
    assert len(y) == pytest.approx(len(x) / 1.08, abs=2)
    onset_x = np.argmax(np.abs(x) > 0.05) / SR
    onset_y = np.argmax(np.abs(y) > 0.05) / SR
    assert onset_y == pytest.approx(onset_x / 1.08, abs=0.002)


def test_recipes_are_seeded_and_varied() -> None:
    a = [augment.sample_params(np.random.default_rng([4, i])) for i in range(200)]
    b = [augment.sample_params(np.random.default_rng([4, i])) for i in range(200)]
    assert a == b
    keys = {k for p in a for k in p}
    assert {"reverb", "noise", "band", "eq_db", "through_sr", "codec", "clean"} <= keys
    assert 0.05 < np.mean([p.get("clean", False) for p in a]) < 0.3
    out = augment.apply(_burst(), SR, a[0], np.random.default_rng(0))
    assert np.abs(out).max() <= 1.0
