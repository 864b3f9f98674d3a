"""Damaged sound files made inside the tests (never committed), shared by the audio tests."""

from __future__ import annotations

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


def aac_without_channels(seed: int = 0, frames: int = 20) -> bytes:
    """ADTS frames that claim channel configuration 0 over noise: libsndfile refuses them,
    ffmpeg opens them, and Blender's aud then reports 0 Hz and 0 channels (the SIGFPE case)."""
    rng = np.random.default_rng(seed)
    out = b""
    for _ in range(frames):
        out += adts_header(0, 0, 107) + rng.integers(0, 256, 100, dtype=np.uint8).tobytes()
    return out


def tone(freq: float, seconds: float, rate: int, amp: float = 0.3) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
