"""Fuzz the audio loader with a few hundred damaged files made here from short generated sounds.

Each file must load as finite mono float32 within ±MAX_SAMPLE and of a plausible length, or be
refused with one AudioError sentence: no other exception, no crash, no hang. Decoding runs in
child processes, in chunks, so a crash in a C decoder (libsndfile, ffmpeg via Blender's aud)
fails the test naming the file instead of killing pytest. Inside Blender the loader falls back
to aud, so the children import bpy when it is installed. The seed is fixed: a failure reproduces.
"""

from __future__ import annotations

import importlib.util
import io
import json
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from audio_helpers import adts_noise, tone, wav_header

SEED = 20
N_PER_BASE = 30
CHUNKS = 4
CHUNK_TIMEOUT_S = 60

DRIVER = r"""
import json, sys
if sys.argv[1] == "bpy":
    import bpy  # noqa: F401  (makes `aud` importable: the loader's fallback inside Blender)
import numpy as np
from blender_s2l.core.audio import MAX_SAMPLE, audio_duration, load_audio
from blender_s2l.core.errors import AudioError

for path in sys.argv[2:]:
    print("start", path, flush=True)
    for fn in (audio_duration, load_audio):
        rec = {"file": path, "fn": fn.__name__}
        try:
            y = np.asarray(fn(path))
            if fn is load_audio:
                sane = (y.dtype == np.float32 and y.ndim == 1 and y.size >= 1
                        and bool(np.all(np.abs(y) <= MAX_SAMPLE)))  # False for NaN too
            else:
                sane = bool(np.isfinite(y) and y >= 0)
            seconds = y.size / 16000 if fn is load_audio else float(y)
            rec.update(result="ok", sane=sane, seconds=seconds)
        except AudioError as e:
            text = str(e)
            rec.update(result="refused", one_line=bool(text) and "\n" not in text, text=text)
        except BaseException as e:
            rec.update(result="other", error=f"{type(e).__name__}: {e}")
        print(json.dumps(rec), flush=True)
"""


def encode(x: np.ndarray, rate: int, fmt: str, subtype: str) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def bases() -> dict[str, bytes]:
    """Short, valid sounds in every container the loader meets, plus raw AAC frames."""
    mono = tone(440, 0.25, 22050)
    stereo = np.stack([mono, tone(660, 0.25, 22050)], axis=1)
    return {
        ".wav": encode(stereo, 22050, "WAV", "PCM_16"),
        ".f32.wav": encode(tone(300, 0.2, 44100), 44100, "WAV", "FLOAT"),
        ".f64.wav": encode(tone(300, 0.2, 8000).astype(np.float64), 8000, "WAV", "DOUBLE"),
        ".flac": encode(tone(500, 0.25, 48000), 48000, "FLAC", "PCM_24"),
        ".ogg": encode(stereo, 22050, "OGG", "VORBIS"),
        ".mp3": encode(mono, 22050, "MP3", "MPEG_LAYER_III"),
        ".aac": adts_noise(SEED, 0, 1),  # noise in 96 kHz mono frames: aud decodes some
    }


Mutation = Callable[[np.random.Generator, bytes], bytes]


def flip_bits(rng: np.random.Generator, b: bytes) -> bytes:
    out = np.frombuffer(b, dtype=np.uint8).copy()
    at = rng.integers(0, len(out), int(rng.integers(1, 40)))
    out[at] ^= (1 << rng.integers(0, 8, len(at))).astype(np.uint8)
    return out.tobytes()


def truncate(rng: np.random.Generator, b: bytes) -> bytes:
    return b[: int(rng.integers(0, len(b)))]


def damage_header(rng: np.random.Generator, b: bytes) -> bytes:
    out = bytearray(b)
    for i in rng.integers(0, min(64, len(out)), int(rng.integers(1, 8))):
        out[i] = int(rng.integers(0, 256))
    return bytes(out)


def overwrite_block(rng: np.random.Generator, b: bytes) -> bytes:
    at, n = int(rng.integers(0, len(b))), int(rng.integers(1, 512))
    return b[:at] + rng.integers(0, 256, n, dtype=np.uint8).tobytes() + b[at + n :]


def lengths_lie(rng: np.random.Generator, b: bytes) -> bytes:
    """A 32-bit size field (RIFF/data, or any 4 bytes near the start) set to 0 or huge."""
    at = int(rng.integers(0, max(1, min(48, len(b) - 4))))
    value = [b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\xff\xff\xff\x7f"][int(rng.integers(3))]
    return b[:at] + value + b[at + 4 :]


MUTATIONS: list[Mutation] = [flip_bits, truncate, damage_header, overwrite_block, lengths_lie]

SPECIAL = np.array([np.nan, np.inf, -np.inf, 3e38, -3.4e38, 1e30, 2.0**31, 2.0**31 * 4,
                    1e-45, -0.0])


def bad_floats(rng: np.random.Generator) -> tuple[str, bytes]:
    """Valid float WAVs whose samples are partly NaN, inf, near float32's limit or beyond."""
    rate = int(rng.choice([8000, 16000, 22050, 44100, 48000, 96000]))
    channels = int(rng.integers(1, 4))
    dtype, subtype = [(np.float32, "FLOAT"), (np.float64, "DOUBLE")][int(rng.integers(2))]
    x = np.repeat(tone(220, 0.1, rate)[:, None], channels, axis=1).astype(dtype)
    share = [0.001, 0.01, 0.3, 0.6, 1.0][int(rng.integers(5))]
    mask = rng.random(x.shape) < share
    x[mask] = rng.choice(SPECIAL, int(mask.sum()))
    if subtype == "DOUBLE" and rng.random() < 0.5:
        x[rng.random(x.shape) < 0.01] = 1e300  # beyond float32 altogether
    return f"_floats_{subtype}_{rate}_{channels}.wav", encode(x, rate, "WAV", subtype)


def odd_header(rng: np.random.Generator) -> tuple[str, bytes]:
    """Float WAVs whose header claims an extreme rate or channel count."""
    rate = int(rng.choice([0, 1, 999, 1000, 8000, 768000, 768001, 2**31 - 1, 2**32 - 1]))
    channels = int(rng.choice([0, 1, 2, 7, 1024, 1025, 65535]))
    frames = int(rng.integers(0, 400))
    data = rng.standard_normal(frames * max(channels, 1) % 200_000).astype("<f4").tobytes()
    return f"_rate{rate}_ch{channels}.wav", wav_header(rate, channels, frames) + data


def make_files(folder: Path) -> list[Path]:
    rng = np.random.default_rng(SEED)
    files: dict[str, bytes] = {}
    for suffix, data in bases().items():
        files[f"clean{suffix}"] = data
        for i in range(N_PER_BASE):
            mutate = MUTATIONS[i % len(MUTATIONS)]
            files[f"{mutate.__name__}_{i:02d}{suffix}"] = mutate(rng, data)
    for i in range(30):
        name, data = bad_floats(rng)
        files[f"{i:02d}{name}"] = data
    for i in range(30):
        name, data = odd_header(rng)
        files[f"{i:02d}{name}"] = data
    paths = []
    for name, data in files.items():
        (folder / name).write_bytes(data)
        paths.append(folder / name)
    return paths


def run_chunks(chunks: list[list[Path]], mode: str) -> list[dict[str, object]]:
    """All chunks at once (each child pays ~1 s importing bpy); a crash or hang names the file
    the child was on."""
    procs = [subprocess.Popen([sys.executable, "-c", DRIVER, mode, *map(str, paths)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for paths in chunks]
    records: list[dict[str, object]] = []
    try:
        for proc in procs:
            try:
                out, err = proc.communicate(timeout=CHUNK_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
                started = [ln for ln in out.splitlines() if ln.startswith("start")]
                pytest.fail(f"the loader hung on {started[-1] if started else 'its first file'}")
            started = [ln for ln in out.splitlines() if ln.startswith("start")]
            assert proc.returncode == 0, (
                f"the loader crashed (exit {proc.returncode}) on "
                f"{started[-1] if started else 'its first file'}: {err[-1500:]}"
            )
            records += [json.loads(ln) for ln in out.splitlines() if ln.startswith("{")]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return records


def test_damaged_files_load_finite_or_are_refused_in_one_sentence(tmp_path: Path) -> None:
    paths = make_files(tmp_path)
    assert len(paths) >= 250
    mode = "bpy" if importlib.util.find_spec("bpy") is not None else "plain"
    records = run_chunks([paths[k::CHUNKS] for k in range(CHUNKS)], mode)
    assert len(records) == 2 * len(paths)
    other = [r for r in records if r["result"] == "other"]
    assert other == [], other[:5]
    insane = [r for r in records if r["result"] == "ok" and not r["sane"]]
    assert insane == [], insane[:5]
    multi = [r for r in records if r["result"] == "refused" and not r["one_line"]]
    assert multi == [], multi[:5]
    # Sources last 0.25 s: a damaged header may change the rate, never invent minutes of sound.
    long = [r for r in records if r["fn"] == "load_audio" and float(r.get("seconds", 0)) > 60]
    assert long == [], long[:5]
    outcome = {Path(str(r["file"])).name: r["result"] for r in records if r["fn"] == "load_audio"}
    assert all(outcome[f"clean{s}"] == "ok" for s in bases() if s != ".aac")
    # the fuzz reached both ends: damage that still decodes, and damage that is refused
    counts = Counter(outcome.values())
    assert counts["ok"] > 50 and counts["refused"] > 50, counts
    for name, result in outcome.items():
        header = re.fullmatch(r"\d+_rate(\d+)_ch(\d+)\.wav", name)
        if header:
            rate, channels = (int(v) for v in header.groups())
            if not (1000 <= rate <= 768000 and 1 <= channels <= 1024):
                assert result == "refused", name
