"""Seeded audio augmentation so S2L learns speech, not one clean TTS channel.

Everything here keeps the timeline: only `speed_perturb` changes timing, and it returns the
factor so phone times are rescaled with it.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import soundfile as sf
import soxr
from numpy.typing import NDArray
from scipy import signal

TARGET_SR = 16000
F32 = NDArray[np.float32]


def speed_perturb(audio: F32, sr: int, factor: float) -> F32:
    """Play `factor` times faster (pitch and tempo together); times scale by 1/factor."""
    if abs(factor - 1.0) < 1e-6:
        return audio
    return np.asarray(soxr.resample(audio, sr * factor, sr, quality="HQ"), dtype=np.float32)


def _rms(x: F32) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)) + 1e-12))


def _pink(n: int, rng: np.random.Generator) -> F32:
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    return np.asarray(np.fft.irfft(spec / np.sqrt(f), n), dtype=np.float32)


def add_noise(audio: F32, rng: np.random.Generator, kind: str, snr_db: float,
              babble: list[F32] | None = None) -> F32:
    n = len(audio)
    if kind == "babble" and babble:
        noise = np.zeros(n, dtype=np.float32)
        for src in babble:
            if len(src) == 0:
                continue
            start = int(rng.integers(0, max(1, len(src))))
            noise += np.resize(np.roll(src, -start), n).astype(np.float32)
    elif kind == "pink":
        noise = _pink(n, rng)
    else:
        noise = rng.standard_normal(n).astype(np.float32)
    scale = _rms(audio) / (_rms(noise) * 10 ** (snr_db / 20))
    return np.asarray(audio + scale * noise, dtype=np.float32)


def reverb(audio: F32, sr: int, rng: np.random.Generator, rt60: float, wet: float) -> F32:
    """Convolve with a synthetic room: direct path + exponentially decaying noise tail."""
    n = int(rt60 * sr)
    t = np.arange(n) / sr
    ir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    ir[: int(0.003 * sr)] = 0.0  # early reflections start a few ms after the direct sound
    ir *= wet / (np.sqrt(np.sum(ir**2)) + 1e-9)
    ir[0] = 1.0
    out = signal.fftconvolve(audio, ir)[: len(audio)]
    return np.asarray(out * (_rms(audio) / _rms(out.astype(np.float32))), dtype=np.float32)


def band_limit(audio: F32, sr: int, low: float, high: float) -> F32:
    high = min(high, 0.45 * sr)
    sos = signal.butter(4, [low, high], btype="bandpass", fs=sr, output="sos")
    return np.asarray(signal.sosfiltfilt(sos, audio), dtype=np.float32)


def eq_tilt(audio: F32, sr: int, gains_db: list[float]) -> F32:
    """Crude 3-band EQ (low / mid / high shelves) by splitting with Butterworth filters."""
    lo = signal.sosfiltfilt(signal.butter(2, 400, "lowpass", fs=sr, output="sos"), audio)
    hi = signal.sosfiltfilt(signal.butter(2, 3000, "highpass", fs=sr, output="sos"), audio)
    mid = audio - lo - hi
    g = [10 ** (x / 20) for x in gains_db]
    return np.asarray(g[0] * lo + g[1] * mid + g[2] * hi, dtype=np.float32)


def through_rate(audio: F32, sr: int, mid_sr: int) -> F32:
    down = soxr.resample(audio, sr, mid_sr, quality="MQ")
    return np.asarray(soxr.resample(down, mid_sr, sr, quality="MQ")[: len(audio)],
                      dtype=np.float32)


def codec(audio: F32, sr: int, fmt: str) -> F32:
    """Round trip through a lossy codec in memory: MP3, Ogg Vorbis, or 8 kHz mu-law telephony."""
    if fmt == "ulaw":
        narrow = np.asarray(soxr.resample(audio, sr, 8000, quality="MQ"), dtype=np.float32)
        back = codec(narrow, 8000, "_ulaw8k")
        out8 = np.asarray(soxr.resample(back, 8000, sr, quality="MQ"), dtype=np.float32)
        return np.pad(out8, (0, max(0, len(audio) - len(out8))))[: len(audio)]
    buf = io.BytesIO()
    if fmt == "_ulaw8k":
        sf.write(buf, audio, sr, format="WAV", subtype="ULAW")
    elif fmt == "mp3":
        sf.write(buf, audio, sr, format="MP3", subtype="MPEG_LAYER_III")
    else:
        sf.write(buf, audio, sr, format="OGG", subtype="VORBIS")
    buf.seek(0)
    out, _ = sf.read(buf, dtype="float32")
    out = np.asarray(out, dtype=np.float32).reshape(-1)
    if len(out) >= len(audio):
        return out[: len(audio)]
    return np.pad(out, (0, len(audio) - len(out)))


def sample_params(rng: np.random.Generator) -> dict[str, Any]:
    """Draw one augmentation recipe; ~15% of utterances stay clean."""
    p: dict[str, Any] = {"speed": float(rng.uniform(0.92, 1.08)) if rng.random() < 0.5 else 1.0}
    if rng.random() < 0.15:
        p["clean"] = True
        p["gain_db"] = float(rng.uniform(-6, 3))
        return p
    if rng.random() < 0.4:
        p["reverb"] = {"rt60": float(rng.uniform(0.15, 0.8)), "wet": float(rng.uniform(0.2, 0.8))}
    if rng.random() < 0.6:
        p["noise"] = {"kind": str(rng.choice(["white", "pink", "babble"])),
                      "snr_db": float(rng.uniform(5, 35))}
    r = rng.random()
    if r < 0.15:
        p["band"] = [300.0, 3400.0]  # telephone
    elif r < 0.35:
        p["band"] = [float(rng.uniform(50, 250)), float(rng.uniform(3500, 7800))]
    if rng.random() < 0.3:
        p["eq_db"] = [float(x) for x in rng.uniform(-8, 8, 3)]
    if rng.random() < 0.3:
        p["through_sr"] = int(rng.choice([8000, 11025, 22050, 44100]))
    if rng.random() < 0.2:
        p["codec"] = str(rng.choice(["mp3", "ogg", "ulaw"]))
    p["gain_db"] = float(rng.uniform(-20, 3))
    return p


def apply(audio: F32, sr: int, params: dict[str, Any], rng: np.random.Generator,
          babble: list[F32] | None = None) -> F32:
    """Apply a recipe from sample_params (except speed, done before the motion is made)."""
    x = np.asarray(audio, dtype=np.float32)
    if "reverb" in params:
        x = reverb(x, sr, rng, params["reverb"]["rt60"], params["reverb"]["wet"])
    if "noise" in params:
        x = add_noise(x, rng, params["noise"]["kind"], params["noise"]["snr_db"], babble)
    if "band" in params:
        x = band_limit(x, sr, params["band"][0], params["band"][1])
    if "eq_db" in params:
        x = eq_tilt(x, sr, params["eq_db"])
    if "through_sr" in params:
        x = through_rate(x, sr, params["through_sr"])
    peak = float(np.max(np.abs(x))) + 1e-9
    x = x * (0.7 / peak) * 10 ** (params.get("gain_db", 0.0) / 20)
    if "codec" in params:
        x = codec(x, sr, params["codec"])
    return np.clip(x, -1.0, 1.0).astype(np.float32)
