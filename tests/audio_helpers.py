"""Damaged sound files made at run time (never committed): one place for the sources and the
mutations, so the audio tests, the suite's fuzz test and the release fuzz
(scripts/fuzz_release.py) damage files the same way and a fix found by one is checked by all."""

from __future__ import annotations

import io
import struct
from collections.abc import Callable

import numpy as np
import soundfile as sf


def adts_header(rate_index: int, channels: int, frame_length: int) -> bytes:
    """The 7-byte header of one ADTS (raw AAC) frame, without CRC."""
    bits = (
        (0xFFF << 44)  # syncword
        | (1 << 40)  # MPEG-4, layer 0, protection absent
        | (1 << 38)  # AAC LC
        | (rate_index << 34)
        | (channels << 30)
        | (frame_length << 13)
        | (0x7FF << 2)  # buffer fullness: variable rate
    )
    return bits.to_bytes(7, "big")


def adts_noise(seed: int, rate_index: int, channels: int, frames: int = 20) -> bytes:
    """ADTS frames with the given header fields over a noise payload."""
    rng = np.random.default_rng(seed)
    out = b""
    for _ in range(frames):
        payload = rng.integers(0, 256, 100, dtype=np.uint8).tobytes()
        out += adts_header(rate_index, channels, 7 + len(payload)) + payload
    return out


def aac_without_channels(seed: int = 0) -> bytes:
    """ADTS frames that claim channel configuration 0: libsndfile refuses them, ffmpeg opens
    them, and Blender's aud then reports 0 Hz and 0 channels (the SIGFPE case)."""
    return adts_noise(seed, 0, 0)


def tone(freq: float, seconds: float, rate: int, amp: float = 0.3) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def wav_header(rate: int, channels: int, n_frames: int) -> bytes:
    """A float32 WAV header with any rate and channel count (soundfile refuses to write some)."""
    block = 4 * channels
    fmt = struct.pack("<IHHIIHH", 16, 3, channels, rate & 0xFFFFFFFF,
                      (rate * block) & 0xFFFFFFFF, block & 0xFFFF, 32)
    size = (n_frames * block) & 0xFFFFFFFF
    return (b"RIFF" + struct.pack("<I", (36 + size) & 0xFFFFFFFF) + b"WAVEfmt " + fmt + b"data"
            + struct.pack("<I", size))


def encode(x: np.ndarray, rate: int, fmt: str, subtype: str) -> bytes:
    """Sound bytes in memory (the fuzzers mutate bytes, so no source file is ever written), the
    same bytes on every run: libsndfile stamps float WAVs with the time and gives each Ogg
    stream a random serial number, so without this a seed would not rebuild a damaged file."""
    buf = io.BytesIO()
    sf.write(buf, x, rate, format=fmt, subtype=subtype)
    return _fixed_ogg_serial(_fixed_peak_time(buf.getvalue()))


def _fixed_peak_time(data: bytes) -> bytes:
    """A WAV's PEAK chunk with its time stamp (bytes 12-15 of the chunk) set to zero."""
    at = data.find(b"PEAK", 12)
    if data[:4] != b"RIFF" or at < 0 or at + 16 > len(data):
        return data
    return data[: at + 12] + bytes(4) + data[at + 16 :]


def _ogg_crc_table() -> list[int]:
    table = []
    for i in range(256):
        c = i << 24
        for _ in range(8):
            c = ((c << 1) ^ 0x04C11DB7) if c & 0x80000000 else c << 1
        table.append(c & 0xFFFFFFFF)
    return table


_OGG_CRC = _ogg_crc_table()


def _ogg_crc(page: bytes) -> int:
    """Ogg's page checksum: CRC-32 with polynomial 0x04C11DB7, not reflected, starting at 0."""
    c = 0
    for byte in page:
        c = ((c << 8) & 0xFFFFFFFF) ^ _OGG_CRC[(c >> 24) ^ byte]
    return c


def _fixed_ogg_serial(data: bytes, serial: int = 1) -> bytes:
    """Every Ogg page given the same stream serial number, its checksum computed again."""
    out = bytearray(data)
    at = 0
    while at + 27 <= len(out) and out[at : at + 4] == b"OggS":
        n_segments = out[at + 26]
        size = 27 + n_segments + sum(out[at + 27 : at + 27 + n_segments])
        out[at + 14 : at + 18] = serial.to_bytes(4, "little")
        out[at + 22 : at + 26] = bytes(4)
        out[at + 22 : at + 26] = _ogg_crc(bytes(out[at : at + size])).to_bytes(4, "little")
        at += size
    return bytes(out)


def bases(seed: int) -> dict[str, bytes]:
    """Short, valid sounds in every container the loader meets, plus raw AAC frames (whose
    noise payload depends on the seed)."""
    mono = tone(440, 0.25, 22050)
    stereo = np.stack([mono, tone(660, 0.25, 22050)], axis=1)
    return {
        ".wav": encode(stereo, 22050, "WAV", "PCM_16"),
        ".f32.wav": encode(tone(300, 0.2, 44100), 44100, "WAV", "FLOAT"),
        ".f64.wav": encode(tone(300, 0.2, 8000).astype(np.float64), 8000, "WAV", "DOUBLE"),
        ".flac": encode(tone(500, 0.25, 48000), 48000, "FLAC", "PCM_24"),
        ".ogg": encode(stereo, 22050, "OGG", "VORBIS"),
        ".mp3": encode(mono, 22050, "MP3", "MPEG_LAYER_III"),
        ".aac": adts_noise(seed, 0, 1),  # noise in 96 kHz mono frames: aud decodes some
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
