"""Damaged sound files made inside the tests (never committed), shared by the audio tests."""

from __future__ import annotations

import struct

import numpy as np


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
