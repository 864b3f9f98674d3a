"""Audio front end: decoding, bad input, resampling, loudness and log-mel features."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from audio_helpers import aac_without_channels, tone, wav_header

from blender_s2l.core.errors import AudioError
from blender_s2l.core.speech import audio
from blender_s2l.core.speech.audio import (
    SAMPLE_RATE,
    LoudnessMeter,
    audio_duration,
    load_audio,
    log_mel,
    log_mel_chunks,
    log_mel_range,
    normalise_loudness,
)
from blender_s2l.core.speech.features import N_MELS, mel_filterbank, n_frames, silence_features


def speechlike(seconds: float = 2.0, rate: int = SAMPLE_RATE, seed: int = 0) -> np.ndarray:
    """Bursts of harmonic 'syllables' separated by silence, with a faint noise floor."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 120.0 + 20.0 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = np.clip(np.sin(2 * np.pi * 2.0 * t), 0.0, None) ** 2
    return (0.2 * voiced * envelope + 1e-4 * rng.standard_normal(t.shape)).astype(np.float32)


def dominant_hz(wav: np.ndarray, rate: int = SAMPLE_RATE) -> float:
    spec = np.abs(np.fft.rfft(wav * np.hanning(len(wav))))
    return float(np.argmax(spec) * rate / len(wav))


# --- bad input ----------------------------------------------------------------------------------


def test_missing_file_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="does not exist"):
        load_audio(tmp_path / "nope.wav")
    with pytest.raises(AudioError, match="does not exist"):
        audio_duration(tmp_path / "nope.wav")


def test_folder_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="folder"):
        load_audio(tmp_path)


@pytest.mark.parametrize("suffix", [".wav", ".mp3", ".flac", ".xyz"])
def test_corrupt_bytes_are_rejected(tmp_path: Path, suffix: str) -> None:
    p = tmp_path / f"corrupt{suffix}"
    p.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(AudioError, match="could not be decoded") as info:
        load_audio(p)
    assert "\n" not in str(info.value)


def test_truncated_header_is_rejected(tmp_path: Path) -> None:
    p = tmp_path / "good.wav"
    sf.write(p, tone(440, 0.5, 16000), 16000)
    bad = tmp_path / "cut.wav"
    bad.write_bytes(p.read_bytes()[:20])
    with pytest.raises(AudioError, match="could not be decoded"):
        load_audio(bad)


def test_zero_length_file_and_array(tmp_path: Path) -> None:
    p = tmp_path / "empty.wav"
    sf.write(p, np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match="zero length"):
        load_audio(p)
    with pytest.raises(AudioError, match="zero length"):
        load_audio(np.zeros(0, dtype=np.float32))


def test_all_silent_audio_is_valid(tmp_path: Path) -> None:
    p = tmp_path / "silence.wav"
    sf.write(p, np.zeros(16000, dtype=np.float32), 16000)
    wav = load_audio(p)
    assert wav.shape == (16000,) and not wav.any()
    assert not normalise_loudness(wav).any()  # no gain blow-up on silence
    feats = log_mel(normalise_loudness(wav))
    assert np.array_equal(feats, np.tile(silence_features(), (feats.shape[0], 1)))


def test_nan_and_inf_samples_become_silence(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    x = tone(300, 1.0, 16000)
    x[100:110] = np.nan
    x[5000] = np.inf
    x[6000] = -np.inf
    with caplog.at_level("WARNING"):
        y = load_audio(x.copy(), 16000)
    assert np.all(np.isfinite(y))
    assert not y[100:110].any() and y[5000] == 0.0
    assert "12 NaN/infinite" in caplog.text
    p = tmp_path / "nan.wav"
    sf.write(p, x, 16000, subtype="FLOAT")
    assert np.all(np.isfinite(load_audio(p)))
    # resampled path: NaN must not smear over the neighbours
    z = load_audio(np.repeat(x, 3), 48000)
    assert np.all(np.isfinite(z))


def test_mostly_nonfinite_is_rejected() -> None:
    x = np.full(16000, np.nan, dtype=np.float32)
    x[:100] = 0.1
    with pytest.raises(AudioError, match="mostly invalid"):
        load_audio(x, 16000)


def test_caller_array_is_not_modified() -> None:
    x = tone(300, 0.2, 16000)
    x[3] = np.nan
    load_audio(x, 16000)
    assert np.isnan(x[3])


def test_duration_limit_from_header_before_decoding(tmp_path: Path) -> None:
    p = tmp_path / "long.wav"
    sf.write(p, np.zeros(8000 * 30, dtype=np.int16), 8000, subtype="PCM_16")
    assert audio_duration(p) == pytest.approx(30.0)
    with pytest.raises(AudioError, match=r"0\.5 min long, over the 0\.2 min limit.*split"):
        load_audio(p, max_seconds=12.0)
    with pytest.raises(AudioError, match="limit"):
        load_audio(np.zeros(16000 * 20, dtype=np.float32), max_seconds=10.0)
    assert load_audio(p, max_seconds=31.0).shape == (16000 * 30,)


# --- formats, rates, channels -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "subtype", "tol"),
    [("WAV", "PCM_16", 1e-3), ("FLAC", "PCM_24", 1e-4), ("OGG", "VORBIS", 0.05),
     ("MP3", "MPEG_LAYER_III", 0.05)],
)
def test_format_round_trip(tmp_path: Path, fmt: str, subtype: str, tol: float) -> None:
    x = tone(440, 1.0, 44100, amp=0.5)
    p = tmp_path / f"tone.{fmt.lower()}"
    sf.write(p, x, 44100, format=fmt, subtype=subtype)
    y = load_audio(p)
    assert audio_duration(p) == pytest.approx(1.0, abs=0.06)  # mp3 adds encoder padding
    assert abs(len(y) - SAMPLE_RATE) < 0.06 * SAMPLE_RATE
    assert dominant_hz(y) == pytest.approx(440, abs=2)
    ref = tone(440, 1.0, SAMPLE_RATE, amp=0.5)
    rms = float(np.sqrt(np.mean(y[2000:14000] ** 2)))
    assert rms == pytest.approx(float(np.sqrt(np.mean(ref**2))), rel=0.1)
    if fmt in ("WAV", "FLAC"):  # lossless and no codec delay: sample-exact waveform
        assert np.max(np.abs(y[500:-500] - ref[500:-500])) < tol + 2e-3


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000, 96000])
def test_any_rate_is_resampled_to_16k(tmp_path: Path, rate: int) -> None:
    x = tone(1000, 1.5, rate)
    p = tmp_path / f"r{rate}.wav"
    sf.write(p, x, rate, subtype="PCM_16")
    for y in (load_audio(p), load_audio(x, rate)):
        assert len(y) == pytest.approx(1.5 * SAMPLE_RATE, abs=2)
        assert dominant_hz(y) == pytest.approx(1000, abs=2)
        mid = y[2000:-2000]
        assert float(np.sqrt(np.mean(mid**2))) == pytest.approx(0.3 / np.sqrt(2), rel=0.01)


def test_content_above_8k_is_removed_when_downsampling() -> None:
    y = load_audio(tone(12000, 1.0, 48000), 48000)
    assert float(np.sqrt(np.mean(y[1000:-1000] ** 2))) < 1e-3


def test_streamed_file_decode_matches_one_shot(tmp_path: Path) -> None:
    """The file path resamples block by block; no seams at block edges."""
    rng = np.random.default_rng(3)
    x = (0.1 * rng.standard_normal(44100 * 25)).astype(np.float32)
    p = tmp_path / "long.wav"
    sf.write(p, x, 44100, subtype="FLOAT")
    streamed = load_audio(p)
    whole = load_audio(x, 44100)
    n = min(len(streamed), len(whole))
    assert abs(len(streamed) - len(whole)) <= 2
    err = np.abs(streamed[1000 : n - 1000] - whole[1000 : n - 1000])
    assert float(err.max()) < 1e-3


def test_stereo_and_multichannel_are_mixed(tmp_path: Path) -> None:
    left = tone(300, 1.0, 16000)
    right = tone(700, 1.0, 16000)
    stereo = np.stack([left, right], axis=1)
    p = tmp_path / "st.wav"
    sf.write(p, stereo, 16000, subtype="FLOAT")
    expected = 0.5 * (left + right)
    np.testing.assert_allclose(load_audio(p), expected, atol=1e-6)
    np.testing.assert_allclose(load_audio(stereo, 16000), expected, atol=1e-6)
    np.testing.assert_allclose(load_audio(stereo.T, 16000), expected, atol=1e-6)
    six = np.tile(left[:, None], (1, 6))
    p6 = tmp_path / "six.wav"
    sf.write(p6, six, 16000, subtype="FLOAT")
    np.testing.assert_allclose(load_audio(p6), left, atol=1e-6)


def test_integer_arrays_are_scaled() -> None:
    x = (tone(300, 0.5, 16000) * 32767).astype(np.int16)
    y = load_audio(x, 16000)
    assert y.dtype == np.float32
    assert float(np.abs(y).max()) == pytest.approx(0.3, abs=1e-3)


def test_aud_decoder_inside_blender(tmp_path: Path) -> None:
    """Blender's `aud` (importable after `import bpy`) decodes; run in a fresh process."""
    if importlib.util.find_spec("bpy") is None:
        pytest.skip("needs the bpy module")
    p = tmp_path / "t.wav"
    sf.write(p, np.stack([tone(500, 1.0, 44100)] * 2, axis=1), 44100, subtype="PCM_16")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF0000WAVEjunk" * 10)
    code = (
        "import sys\n"
        "sys.modules['soundfile'] = None  # as in a Blender without the soundfile wheel\n"
        "import bpy, numpy as np\n"
        "from blender_s2l.core.speech.audio import load_audio\n"
        "from blender_s2l.core.errors import AudioError\n"
        f"y = load_audio({str(p)!r})\n"
        "try:\n"
        f"    load_audio({str(bad)!r})\n"
        "except AudioError as e:\n"
        "    print('refused:', e)\n"
        "print(len(y), float(np.sqrt(np.mean(y[2000:-2000]**2))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "refused: The audio file" in out.stdout and "could not be decoded" in out.stdout
    n, rms = out.stdout.split()[-2:]
    assert abs(int(n) - 16000) <= 2
    assert float(rms) == pytest.approx(0.3 / np.sqrt(2), rel=0.02)


def test_damaged_aac_and_mp3_inside_blender_are_refused_not_fatal(tmp_path: Path) -> None:
    """Regression: an AAC stream that aud reports as 0 Hz / 0 channels (named .aac or .mp3)
    killed Blender with SIGFPE in aud's data(); run in a fresh process so a crash is caught."""
    if importlib.util.find_spec("bpy") is None:
        pytest.skip("needs the bpy module")
    rng = np.random.default_rng(4)
    good = tmp_path / "good.mp3"
    sf.write(good, tone(440, 1.0, 44100), 44100, format="MP3")
    mp3 = good.read_bytes()
    flipped = bytearray(mp3)
    for i in rng.integers(0, len(flipped), 40):
        flipped[i] ^= 0xFF
    files = {
        "damaged.aac": aac_without_channels(0),
        "damaged.mp3": aac_without_channels(1),
        "noise.mp3": rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "noise.aac": rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "truncated.mp3": mp3[: len(mp3) // 3],
        "flipped.mp3": bytes(flipped),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    code = (
        "import sys\n"
        "import bpy, aud, numpy as np\n"
        "from blender_s2l.core.speech.audio import audio_duration, load_audio\n"
        "from blender_s2l.core.errors import AudioError\n"
        "for p in sys.argv[1:]:\n"
        "    name = p.rsplit('/', 1)[-1]\n"
        "    try:\n"
        "        print(name, 'specs', *aud.Sound(p).specs, flush=True)\n"
        "    except Exception:\n"
        "        print(name, 'specs unreadable', flush=True)\n"
        "    for fn in (load_audio, audio_duration):\n"
        "        try:\n"
        "            y = np.atleast_1d(fn(p))\n"
        "            print(name, 'ok', bool(np.all(np.isfinite(y))), flush=True)\n"
        "        except AudioError as e:\n"
        "            print(name, 'refused', e, flush=True)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *(str(tmp_path / n) for n in files)],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, (out.returncode, out.stdout[-2000:], out.stderr[-2000:])
    lines = out.stdout.splitlines()
    for name in ("damaged.aac", "damaged.mp3"):  # the dangerous header really was reached...
        assert f"{name} specs 0.0 0" in lines
        refusals = [ln for ln in lines if ln.startswith(f"{name} refused")]
        assert len(refusals) == 2, lines  # ...and both calls say why in one sentence
        assert all("has a sample rate of 0 Hz" in ln and "damaged" in ln for ln in refusals)
    for name in files:
        results = [ln for ln in lines if ln.startswith((f"{name} ok", f"{name} refused"))]
        assert len(results) == 2, (name, lines)
        assert f"{name} ok False" not in lines  # whatever decodes is finite


def aud_stub(rate: float, channels: int, calls: list[str]) -> object:
    """An `aud` module whose Sound reports the given header and records whether data() ran."""

    class Sound:
        def __init__(self, path: str) -> None:
            self.specs = (rate, channels)
            self.length = 0

        def data(self) -> np.ndarray:
            calls.append("data")
            return np.zeros((0, max(channels, 1)), dtype=np.float32)

    return type("aud", (), {"Sound": Sound})


@pytest.mark.parametrize(("rate", "channels"), [(0.0, 0), (44100.0, 0), (0.0, 2), (-1.0, 1),
                                                (float("nan"), 1), (44100.0, 5000)])
def test_aud_header_is_checked_before_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rate: float, channels: int
) -> None:
    """aud's data() must never run on a header it would divide by zero with."""
    p = tmp_path / "x.aac"
    p.write_bytes(aac_without_channels())
    calls: list[str] = []
    monkeypatch.setattr(audio, "_aud", lambda: aud_stub(rate, channels, calls))
    with pytest.raises(AudioError, match=r"has (a sample rate of|\d+ audio channels).*damaged"):
        load_audio(p)
    with pytest.raises(AudioError):
        audio_duration(p)
    assert calls == []


DAMAGE = {1000: 3e38, 1100: 3e38, 2500: -3e38, 4000: np.nan, 5000: np.inf, 6000: -np.inf,
          7000: 1e30, 8000: -(2.0**32)}


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 48000, 96000])
def test_huge_nan_and_inf_float_samples_become_silence(
    tmp_path: Path, rate: int, caplog: pytest.LogCaptureFixture
) -> None:
    """Regression: a float WAV with samples near 3e38 overflowed in resampling and load_audio
    returned inf/NaN. Damaged samples are silenced before resampling, so the result equals the
    same file with zeros in their place, bit for bit, and is finite."""
    x = tone(300, 1.0, rate)
    damaged, zeroed = x.copy(), x.copy()
    for i, v in DAMAGE.items():
        damaged[i * rate // 16000], zeroed[i * rate // 16000] = v, 0.0
    for name, data in (("damaged.wav", damaged), ("zeroed.wav", zeroed)):
        sf.write(tmp_path / name, data, rate, subtype="FLOAT")
    with caplog.at_level("WARNING"):
        y = load_audio(tmp_path / "damaged.wav")
        from_array = load_audio(damaged, rate)
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(from_array))
    assert np.abs(y).max() < 1.0 and np.abs(from_array).max() < 1.0
    assert np.array_equal(y, load_audio(tmp_path / "zeroed.wav"))
    assert np.array_equal(from_array, load_audio(zeroed, rate))
    assert caplog.text.count(f"{len(DAMAGE)} NaN/infinite or out-of-range samples") == 2
    # the features downstream stay finite too
    assert np.all(np.isfinite(log_mel(normalise_loudness(y))))


def test_sample_bound_and_float64_beyond_float32() -> None:
    x = np.zeros(1600, dtype=np.float64)
    x[10], x[11], x[12], x[13] = 2.0**31, -(2.0**31), 2.0**31 * 1.01, 1e300
    y = load_audio(x, 16000)
    assert y[10] == 2.0**31 and y[11] == -(2.0**31)  # the bound itself is kept
    assert y[12] == 0.0 and y[13] == 0.0
    assert np.abs(y).max() <= audio.MAX_SAMPLE


def test_mostly_huge_samples_are_refused(tmp_path: Path) -> None:
    x = np.full(16000, 3e38, dtype=np.float32)
    x[:4000] = 0.1
    p = tmp_path / "huge.wav"
    sf.write(p, x, 44100, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"mostly invalid samples \(75% NaN, infinite or beyond"):
        load_audio(p)


def test_resampled_result_is_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Belt and braces: even a resampler that misbehaves cannot pass NaN or overflow on."""
    p = tmp_path / "r.wav"
    sf.write(p, tone(300, 0.5, 44100), 44100, subtype="FLOAT")
    original = audio._StreamResampler.push

    def nan_push(self: object, block: np.ndarray, last: bool) -> np.ndarray:
        out = original(self, block, last)  # type: ignore[arg-type]
        return np.full_like(out, np.nan)

    monkeypatch.setattr(audio._StreamResampler, "push", nan_push)
    with pytest.raises(AudioError, match="could not be resampled to 16 kHz without invalid"):
        load_audio(p)
    monkeypatch.setattr(audio, "resample", lambda x, rate: np.full(8000, 1e12, np.float32))
    assert np.all(load_audio(tone(300, 0.5, 44100), 44100) == audio.MAX_SAMPLE)  # clipped


def test_length_promised_by_a_damaged_header_is_not_invented(tmp_path: Path) -> None:
    """Regression (found by the fuzz test): an mp3 whose Xing header claims 5 min for a quarter
    second decoded as 5 min, the last block repeated over and over (SoundFile.blocks() yields
    its reused buffer when reads come back short)."""
    p = tmp_path / "lies.mp3"
    sf.write(p, tone(440, 0.25, 22050), 22050, format="MP3")
    data = bytearray(p.read_bytes())
    xing = data.find(b"Xing")
    assert xing >= 0 and data[xing + 7] & 1  # the header carries a frame count...
    data[xing + 8 : xing + 12] = (5 * 60 * 22050 // 576).to_bytes(4, "big")
    p.write_bytes(bytes(data))
    assert sf.info(p).duration > 290  # ...which libsndfile believes
    y = load_audio(p)
    assert len(y) < 0.4 * SAMPLE_RATE
    assert dominant_hz(y) == pytest.approx(440, abs=10)


@pytest.mark.parametrize("rate", [1, 100, 999, 768001, 2_000_000_000])
def test_sample_rate_outside_the_sane_range_is_refused(tmp_path: Path, rate: int) -> None:
    p = tmp_path / "odd.wav"
    p.write_bytes(wav_header(rate, 1, 1600) + np.zeros(1600, np.float32).tobytes())
    assert sf.info(p).samplerate == rate  # libsndfile itself accepts the header
    with pytest.raises(AudioError, match=re.escape(f"sample rate of {rate:g} Hz, outside 1000-")):
        load_audio(p)
    with pytest.raises(AudioError, match="sample rate"):
        audio_duration(p)
    with pytest.raises(AudioError, match="sample rate"):
        load_audio(np.zeros(1600, np.float32), rate)


def test_many_channels_decode_in_bounded_blocks(tmp_path: Path) -> None:
    """A header may claim up to libsndfile's 1024 channels; blocks stay ~2M samples."""
    p = tmp_path / "many.wav"
    x = np.tile(tone(300, 0.5, 16000)[:, None], (1, 1024))
    p.write_bytes(wav_header(16000, 1024, x.shape[0]) + x.astype("<f4").tobytes())
    np.testing.assert_allclose(load_audio(p), x[:, 0], atol=1e-6)
    assert audio._block_frames(768000.0, 1024) * 1024 <= 1 << 21


@pytest.mark.parametrize(
    ("arr", "rate", "match"),
    [(np.zeros(1600), 0, "sample rate of 0 Hz"), (np.zeros(1600), -16000, "sample rate"),
     (np.zeros(1600), float("nan"), "sample rate of nan"),
     (np.zeros((1600, 0)), 16000, "has 0 audio channels"),
     (np.zeros((20, 2000)), 16000, "has 2000 audio channels"),
     (np.zeros((0, 2)), 16000, "zero length")],
)
def test_array_rate_and_channels_are_checked(arr: np.ndarray, rate: float, match: str) -> None:
    """sample_rate=0 used to be taken for 'the default 16 kHz'; None still is."""
    with pytest.raises(AudioError, match=match):
        load_audio(arr, rate)  # type: ignore[arg-type]
    assert load_audio(np.zeros(1600), None).shape == (1600,)


# --- loudness -----------------------------------------------------------------------------------


def test_loudness_invariant_to_input_gain() -> None:
    x = speechlike(3.0)
    ref = normalise_loudness(x)
    for gain in (0.05, 0.2, 3.0, 8.0):  # speech from -45 to -1 dBFS
        y = normalise_loudness(x * np.float32(gain))
        np.testing.assert_allclose(y, ref, rtol=2e-3, atol=1e-6)


def test_loudness_ignores_a_dc_offset() -> None:
    x = speechlike(3.0)
    meter, shifted = LoudnessMeter(), LoudnessMeter()
    meter.update(x)
    shifted.update(x + np.float32(0.3))
    assert shifted.gain() == pytest.approx(meter.gain(), rel=0.01)
    assert np.array_equal(normalise_loudness(np.full(16000, 0.3, dtype=np.float32)),
                          np.full(16000, 0.3, dtype=np.float32))


def test_loudness_reaches_target_on_active_speech() -> None:
    x = speechlike(3.0) * np.float32(0.05)
    y = normalise_loudness(x)
    frames = y[: len(y) // 320 * 320].reshape(-1, 320)
    db = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-30)
    active = db > db.max() - 20
    level = 10 * np.log10(np.mean(10 ** (db[active] / 10)))
    assert level == pytest.approx(audio.TARGET_DBFS, abs=0.5)
    # the pauses stay far below the speech
    assert float(np.sqrt(np.mean(y[:50] ** 2))) < 10 ** (-45 / 20)


def test_loudness_streamed_equals_whole() -> None:
    x = speechlike(4.0, seed=5)
    whole = LoudnessMeter()
    whole.update(x)
    streamed = LoudnessMeter()
    rng = np.random.default_rng(0)
    cuts = np.sort(rng.integers(0, len(x), 17))
    for piece in np.split(x, cuts):
        streamed.update(piece)
    assert np.array_equal(whole.counts, streamed.counts)
    assert whole.gain() == streamed.gain()
    g = np.float32(streamed.gain())
    applied = np.concatenate([p * g for p in np.split(x, cuts)])
    assert np.array_equal(applied, normalise_loudness(x))


def test_loudness_gain_is_bounded_on_near_silence() -> None:
    x = (1e-6 * np.random.default_rng(2).standard_normal(32000)).astype(np.float32)
    assert np.array_equal(normalise_loudness(x), x)  # below the absolute gate: untouched
    y = normalise_loudness(x * np.float32(100.0))
    assert float(np.abs(y).max()) < 1.0


# --- features -----------------------------------------------------------------------------------


def test_log_mel_shape_and_frame_centres() -> None:
    for n in (1, 159, 160, 161, 16000, 16001):
        assert log_mel(np.zeros(n, dtype=np.float32)).shape == (n // 160 + 1, N_MELS)
        assert n_frames(n) == n // 160 + 1
    # an impulse at sample 1600 lies in the 400-sample windows of frames 9, 10 and 11 only
    x = np.zeros(4000, dtype=np.float32)
    x[1600] = 1.0
    energy = log_mel(x).max(axis=1)
    lit = np.flatnonzero(energy > np.log(1e-9))
    assert lit.tolist() == [9, 10, 11]


def test_log_mel_puts_a_tone_in_the_right_band() -> None:
    fb = mel_filterbank()
    for hz in (250.0, 1000.0, 4000.0):
        feats = log_mel(tone(hz, 0.5, SAMPLE_RATE))
        band = int(np.argmax(feats[10:-10].mean(axis=0)))
        fft_bin = round(hz * 512 / SAMPLE_RATE)
        assert band in np.flatnonzero(fb[fft_bin] > 0).tolist()


def test_filterbank_matches_librosa_slaney() -> None:
    librosa = pytest.importorskip("librosa")
    ref = librosa.filters.mel(sr=16000, n_fft=512, n_mels=80, fmin=0.0, fmax=8000.0)
    np.testing.assert_allclose(mel_filterbank().T, ref, atol=1e-7)
    assert np.all(mel_filterbank().sum(axis=0) > 0)  # no empty filter


def test_chunked_and_ranged_features_equal_full() -> None:
    rng = np.random.default_rng(7)
    x = (0.1 * rng.standard_normal(16000 * 50 + 37)).astype(np.float32)  # > 2 feature blocks
    full = log_mel(x)
    assert full.shape == (n_frames(len(x)), N_MELS)
    for start, stop in [(0, 10), (2040, 2060), (4095, 4097), (1000, 5001), (4990, 10**6)]:
        assert np.array_equal(log_mel_range(x, start, stop), full[start:stop])
    for chunk, overlap in [(3000, 0), (1000, 250), (700, 699), (1, 0)]:
        rebuilt = np.full_like(full, np.nan)
        for first, part in log_mel_chunks(x, chunk, overlap):
            assert part.shape[0] <= chunk
            if not np.isnan(rebuilt[first]).all():
                assert np.array_equal(rebuilt[first : first + overlap], part[:overlap])
            rebuilt[first : first + len(part)] = part
        assert np.array_equal(rebuilt, full)


def test_real_clips_decode(speech_dir: Path) -> None:
    clip = speech_dir / "codetalker" / "man.wav"  # 44.1 kHz stereo, 12.693 s
    wav = load_audio(clip)
    assert audio_duration(clip) == pytest.approx(559776 / 44100)
    assert len(wav) == pytest.approx(559776 / 44100 * SAMPLE_RATE, abs=2)
    feats = log_mel(normalise_loudness(wav))
    assert feats.shape == (len(wav) // 160 + 1, N_MELS)
    assert np.all(np.isfinite(feats))
    # speech energy varies a lot over time; silence floor is not the whole clip
    loud = feats.max(axis=1)
    assert np.percentile(loud, 90) - np.percentile(loud, 10) > 5.0


@pytest.mark.parametrize("missing", [["soxr"], ["soxr", "scipy", "scipy.signal"]])
def test_resampling_without_soxr_or_scipy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, missing: list[str]
) -> None:
    """Blender's Python may lack soxr and scipy: scipy, then numpy's FFT, take over."""
    for name in missing:
        monkeypatch.setitem(sys.modules, name, None)  # makes `import name` fail
    x = tone(1000, 1.5, 44100)
    p = tmp_path / "r.wav"
    sf.write(p, x, 44100, subtype="FLOAT")
    ref = tone(1000, 1.5, SAMPLE_RATE)
    for y in (load_audio(p), load_audio(x, 44100)):
        assert len(y) == pytest.approx(len(ref), abs=2)
        np.testing.assert_allclose(y[800:-800], ref[800 : len(y) - 800], atol=2e-3)
    # and nothing above the new Nyquist survives
    hi = load_audio(tone(12000, 1.0, 48000), 48000)
    assert float(np.sqrt(np.mean(hi[1000:-1000] ** 2))) < 1e-3


def test_mp3_goes_to_the_fallback_when_libsndfile_lacks_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With an old libsndfile (no MP3), an .mp3 is handed to the next decoder, not refused."""
    p = tmp_path / "t.mp3"
    sf.write(p, tone(440, 0.5, 16000), 16000, format="MP3")
    formats = {k: v for k, v in sf.available_formats().items() if k != "MP3"}
    monkeypatch.setattr(sf, "available_formats", lambda: formats)
    assert not audio._soundfile_reads(sf, ".mp3") and audio._soundfile_reads(sf, ".WAV")
    tried: list[Path] = []

    def fake_librosa(path: Path, max_seconds: float) -> np.ndarray:
        tried.append(path)
        return tone(440, 0.5, 16000)

    def refuse(*args: object, **kwargs: object) -> np.ndarray:
        raise RuntimeError("Format not recognised.")

    monkeypatch.setattr(audio, "_decode_soundfile", refuse)
    monkeypatch.setattr(audio, "_aud", lambda: None)  # outside Blender
    monkeypatch.setattr(audio, "_decode_librosa", fake_librosa)
    assert len(load_audio(p)) == 8000 and tried == [p]


def test_speech_features_chain_is_gain_invariant(tmp_path: Path) -> None:
    x = speechlike(2.0, seed=9)
    p = tmp_path / "s.flac"
    sf.write(p, x, SAMPLE_RATE, subtype="PCM_24")
    feats = audio.speech_features(str(p))
    assert np.array_equal(feats, log_mel(normalise_loudness(load_audio(p))))
    quiet = audio.speech_features(x * np.float32(0.1), SAMPLE_RATE)
    loud = audio.speech_features(x, SAMPLE_RATE)
    speech = loud.max(axis=1) > np.log(1e-4)  # compare where there is signal, not the floor
    assert np.abs(quiet[speech] - loud[speech]).max() < 0.01
    assert audio_duration(x, SAMPLE_RATE) == pytest.approx(2.0)
    assert audio_duration(np.zeros((2, 4800)), 48000) == pytest.approx(0.1)
