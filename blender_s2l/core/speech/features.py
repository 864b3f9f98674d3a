"""Log-mel features of 16 kHz mono speech: 25 ms Hann window, 10 ms hop, 80 mel bins 0-8 kHz.

Frame i is centred on sample i * HOP_LENGTH (time i * 10 ms), with zeros beyond the ends of the
sound, so a clip of n samples gives n // HOP_LENGTH + 1 frames and feature time is exact.

Frames are always computed in fixed blocks aligned to a global grid (BLOCK_FRAMES). A range or a
chunk therefore runs exactly the same arithmetic as the whole clip and is bit-for-bit equal to it,
while memory stays bounded by one block whatever the clip length. Pure numpy; no librosa (its
slow import would lengthen cold start).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.floating[Any]]

SAMPLE_RATE = 16000
HOP_SECONDS = 0.01
HOP_LENGTH = 160  # samples per 10 ms
WIN_LENGTH = 400  # 25 ms
N_FFT = 512
N_MELS = 80
F_MIN = 0.0
F_MAX = 8000.0
# Floor of the mel power before the log: ~100 dB below full-scale speech, so digital silence
# maps to one constant vector (see silence_features) instead of -inf.
LOG_FLOOR = 1e-10
BLOCK_FRAMES = 2048


def n_frames(n_samples: int) -> int:
    """Number of feature frames for a clip of n_samples (frame i at i * 10 ms)."""
    return int(n_samples) // HOP_LENGTH + 1


def _hz_to_mel(f: NDArray[np.float64]) -> NDArray[np.float64]:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above (as the Auditory Toolbox)."""
    f = np.asarray(f, dtype=np.float64)
    lin = f / (200.0 / 3.0)
    log_step = np.log(6.4) / 27.0
    mel = np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-9) / 1000.0) / log_step, lin)
    return np.asarray(mel, dtype=np.float64)


def _mel_to_hz(m: NDArray[np.float64]) -> NDArray[np.float64]:
    m = np.asarray(m, dtype=np.float64)
    log_step = np.log(6.4) / 27.0
    hz = np.where(m >= 15.0, 1000.0 * np.exp(log_step * (m - 15.0)), m * (200.0 / 3.0))
    return np.asarray(hz, dtype=np.float64)


@cache
def mel_filterbank() -> NDArray[np.float64]:
    """(N_FFT // 2 + 1, N_MELS) triangular filters, each normalised to unit area.

    Slaney's scale (not HTK's) keeps the lowest of 80 filters wider than one FFT bin at
    N_FFT = 512, so no filter is empty; unit area makes a band's value a power density.
    """
    fft_freqs = np.arange(N_FFT // 2 + 1, dtype=np.float64) * SAMPLE_RATE / N_FFT
    edges = _mel_to_hz(
        np.linspace(_hz_to_mel(np.array(F_MIN)), _hz_to_mel(np.array(F_MAX)), N_MELS + 2)
    )
    lo, centre, hi = edges[:-2], edges[1:-1], edges[2:]
    f = fft_freqs[:, None]
    rising = (f - lo) / (centre - lo)
    falling = (hi - f) / (hi - centre)
    tri = np.maximum(0.0, np.minimum(rising, falling))
    tri *= 2.0 / (hi - lo)
    tri.setflags(write=False)
    return tri


@cache
def _window() -> NDArray[np.float64]:
    """Periodic Hann window; the FFT zero-pads it to N_FFT (only the phase depends on where)."""
    n = np.arange(WIN_LENGTH, dtype=np.float64)
    w: NDArray[np.float64] = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / WIN_LENGTH)
    w.setflags(write=False)
    return w


def silence_features() -> NDArray[np.float32]:
    """The (N_MELS,) feature vector of digital silence (every band at the floor)."""
    return np.full(N_MELS, np.log(LOG_FLOOR), dtype=np.float32)


def _frames_block(wav: NDArray[np.float32], first: int, stop: int) -> NDArray[np.float32]:
    """Log-mel of frames [first, stop) of the whole clip `wav` (zeros beyond its ends)."""
    half = WIN_LENGTH // 2
    lo = first * HOP_LENGTH - half
    hi = (stop - 1) * HOP_LENGTH + half
    seg = np.zeros(hi - lo, dtype=np.float64)
    a, b = max(lo, 0), min(hi, wav.shape[0])
    if b > a:
        seg[a - lo : b - lo] = wav[a:b]
    frames = np.lib.stride_tricks.sliding_window_view(seg, WIN_LENGTH)[::HOP_LENGTH]
    # numpy's FFT, not scipy's: scipy.fft is faster per block, but on lines of ordinary length
    # its import costs more than it saves, and cold start matters more (BENCHMARKS.md).
    spec = np.fft.rfft(frames * _window(), n=N_FFT, axis=1)
    power = spec.real**2 + spec.imag**2
    mel = power @ mel_filterbank()
    out: NDArray[np.float32] = np.log(np.maximum(mel, LOG_FLOOR)).astype(np.float32)
    return out


def _as_wav(wav: FloatArray) -> NDArray[np.float32]:
    w = np.asarray(wav, dtype=np.float32)
    if w.ndim != 1:
        raise ValueError(f"Features need a mono (samples,) signal; got shape {w.shape}.")
    return w


def _block(w: NDArray[np.float32], b: int) -> NDArray[np.float32]:
    b0 = b * BLOCK_FRAMES
    return _frames_block(w, b0, min(b0 + BLOCK_FRAMES, n_frames(w.shape[0])))


def _gather(
    w: NDArray[np.float32], start: int, stop: int, cache: dict[int, NDArray[np.float32]]
) -> NDArray[np.float32]:
    """Frames [start, stop) copied out of the aligned blocks (computed once, kept in cache)."""
    out = np.empty((stop - start, N_MELS), dtype=np.float32)
    for b in range(start // BLOCK_FRAMES, (stop - 1) // BLOCK_FRAMES + 1):
        if b not in cache:
            cache[b] = _block(w, b)
        b0 = b * BLOCK_FRAMES
        s, e = max(start, b0), min(stop, b0 + cache[b].shape[0])
        out[s - start : e - start] = cache[b][s - b0 : e - b0]
    return out


def log_mel_range(
    wav: FloatArray, start_frame: int, stop_frame: int
) -> NDArray[np.float32]:
    """Frames [start_frame, stop_frame) of log_mel(wav), computing only the blocks they need."""
    w = _as_wav(wav)
    start = max(0, int(start_frame))
    stop = min(n_frames(w.shape[0]), int(stop_frame))
    if stop <= start:
        return np.zeros((0, N_MELS), dtype=np.float32)
    return _gather(w, start, stop, {})


def log_mel(wav: FloatArray) -> NDArray[np.float32]:
    """(n_samples // 160 + 1, 80) float32 log-mel features of a 16 kHz mono signal."""
    w = _as_wav(wav)
    return log_mel_range(w, 0, n_frames(w.shape[0]))


def log_mel_chunks(
    wav: FloatArray, chunk_frames: int, overlap_frames: int = 0
) -> Iterator[tuple[int, NDArray[np.float32]]]:
    """Yield (first_frame, features) chunks of chunk_frames frames, each overlapping the next by
    overlap_frames; their union equals log_mel(wav) exactly. Memory: the chunk plus two blocks."""
    if chunk_frames <= 0 or not 0 <= overlap_frames < chunk_frames:
        raise ValueError("Need chunk_frames > 0 and 0 <= overlap_frames < chunk_frames.")
    w = _as_wav(wav)
    total = n_frames(w.shape[0])
    step = chunk_frames - overlap_frames
    cache: dict[int, NDArray[np.float32]] = {}
    start = 0
    while True:
        stop = min(start + chunk_frames, total)
        for old in [b for b in cache if (b + 1) * BLOCK_FRAMES <= start]:
            del cache[old]
        yield start, _gather(w, start, stop, cache)
        if stop >= total:
            return
        start += step


def s2l_input(wav: FloatArray, n_acoustic: int = 0) -> NDArray[np.float32]:
    """S2L's input frames for loudness-normalised samples: log-mel, then (for a model that was
    trained on them) n_acoustic log phone posteriors of pocketsphinx's acoustic model on the same
    frame grid. One function, so training (training/s2l/data.py) and every bake feed the network
    the same thing."""
    mel = log_mel(wav)
    if not n_acoustic:
        return mel
    from . import acoustic

    return np.concatenate([mel, acoustic.s2l_channels(_as_wav(wav), len(mel))], axis=1)


@cache
def silence_input(n_acoustic: int = 0) -> NDArray[np.float32]:
    """(N_MELS + n_acoustic,) S2L input frame of digital silence (what the rest response is)."""
    if not n_acoustic:
        return silence_features()
    frames = s2l_input(np.zeros(SAMPLE_RATE, dtype=np.float32), n_acoustic)
    out: NDArray[np.float32] = frames[len(frames) // 2].copy()
    out.setflags(write=False)
    return out
