"""Sound in, mono float32 at 16 kHz out: decode, mix down, resample, clean, normalise loudness.

Decoding prefers soundfile (wav, flac, ogg, mp3 with libsndfile >= 1.1) and reads in blocks,
mixing and resampling each block on the fly, so memory follows the 16 kHz mono result and not the
source (a 30 min 96 kHz stereo file never sits in memory as float). Inside Blender, `aud` decodes
what soundfile cannot (anything Blender's ffmpeg plays). librosa is only a last, lazy fallback
outside Blender: its import is slow.

Every failure is an AudioError with one sentence; all-silent audio is valid (a still face).

What comes out is always finite and within ±MAX_SAMPLE, whatever the file holds, because every
later step (resampling, loudness, the mel power spectrum, the model) computes in float32 or squares
samples, and one sample near 3e38 turns a whole bake into NaN. The rule: a sample is damaged when
it is NaN, infinite or beyond ±MAX_SAMPLE; damaged samples become silence *before* resampling (so
they cannot smear over their neighbours or overflow the filter), a file with more than half of
them is refused, and the resampled result is checked again. Every header (sample rate, channel
count, length) is checked before anything divides by it or sizes a buffer from it: Blender's
`aud` divides by the channel count and kills Blender (SIGFPE) on a damaged .aac or .mp3 that
reports 0 channels.
"""

from __future__ import annotations

import logging
import math
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import AudioError
from .features import (
    HOP_LENGTH,
    HOP_SECONDS,
    N_MELS,
    SAMPLE_RATE,
    log_mel,
    log_mel_chunks,
    log_mel_range,
    n_frames,
    silence_features,
)

__all__ = [
    "HOP_LENGTH",
    "HOP_SECONDS",
    "MAX_CHANNELS",
    "MAX_RATE",
    "MAX_SAMPLE",
    "MAX_SECONDS",
    "MIN_RATE",
    "N_MELS",
    "SAMPLE_RATE",
    "LoudnessMeter",
    "audio_duration",
    "check_audio_path",
    "load_audio",
    "log_mel",
    "log_mel_chunks",
    "log_mel_range",
    "n_frames",
    "normalise_loudness",
    "resample",
    "silence_features",
    "speech_features",
]

log = logging.getLogger(__name__)

MAX_SECONDS = 30 * 60.0
# Beyond this share of damaged samples the file is garbage rather than a few bad samples.
MAX_NONFINITE_SHARE = 0.5
# No integer PCM scale reaches 2**31, so a float sample beyond it is damage (a flipped exponent
# bit), not sound; below it resampling, loudness and the mel power stay far from float32 overflow.
MAX_SAMPLE = 2.0**31
# Headers outside these are damaged: no speech recording has them (768 kHz is the highest rate
# audio interfaces offer; 1024 channels is libsndfile's own limit).
MIN_RATE = 1000.0
MAX_RATE = 768_000.0
MAX_CHANNELS = 1024
_BLOCK_SECONDS = 10.0
# Samples (frames x channels) per decoded block: bounds memory when a header claims many channels.
_BLOCK_SAMPLES = 1 << 21
# Formats libsndfile reads itself; anything else goes to aud (Blender) or librosa (ffmpeg).
_SOUNDFILE_FORMATS = {
    ".wav": "WAV", ".wave": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".oga": "OGG",
    ".opus": "OGG", ".mp3": "MP3", ".aif": "AIFF", ".aiff": "AIFF", ".au": "AU", ".caf": "CAF",
    ".w64": "W64", ".rf64": "RF64",
}

# Leading bytes (magic, offset, kind) of the containers the decoders here read. ID3 tags front
# mp3 and aac alike, so they say only "some ffmpeg format".
_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"RIFF", 0, "WAV"), (b"RIFX", 0, "WAV"), (b"RF64", 0, "RF64"), (b"BW64", 0, "RF64"),
    (b"riff", 0, "W64"), (b"fLaC", 0, "FLAC"), (b"OggS", 0, "OGG"), (b"FORM", 0, "AIFF"),
    (b".snd", 0, "AU"), (b"dns.", 0, "AU"), (b"caff", 0, "CAF"), (b"ID3", 0, "ID3"),
    (b"ftyp", 4, "MP4"), (b"\x1aE\xdf\xa3", 0, "MATROSKA"), (b"0&\xb2u", 0, "ASF"),
    (b"#!AMR", 0, "AMR"), (b"\x0bw", 0, "AC3"), (b"MAC ", 0, "APE"), (b"wvpk", 0, "WAVPACK"),
)

FloatArray = NDArray[np.floating[Any]]
Source = str | Path | FloatArray


def _soundfile() -> Any:
    try:
        import soundfile
    except (ImportError, OSError):
        return None
    return soundfile


def _aud() -> Any:
    """Blender's audio module; only importable inside Blender (after `import bpy`)."""
    try:
        import aud
    except ImportError:
        return None
    return aud


def _soundfile_reads(sf: Any, suffix: str) -> bool:
    """Whether this libsndfile build reads the format (mp3 needs libsndfile >= 1.1)."""
    fmt = _SOUNDFILE_FORMATS.get(suffix.lower())
    if sf is None or fmt is None:
        return False
    try:
        return fmt in sf.available_formats()
    except Exception:  # an unusual soundfile build: assume it reads its classic formats
        return fmt != "MP3"


def check_audio_path(path: Path) -> None:
    """A path the decoders may open: an existing regular file. A named pipe (FIFO) or a device
    blocks a decoder's open() for ever, and a path too long for the system is an OSError."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise AudioError(f"The audio file {path} does not exist.") from None
    except OSError as exc:  # ENAMETOOLONG, EACCES on a parent folder, ELOOP...
        reason = exc.strerror or type(exc).__name__
        raise AudioError(f"The audio path {str(path)[:80]}... cannot be opened "
                         f"({reason.lower()}).") from None
    if stat.S_ISDIR(mode):
        raise AudioError(f"The audio path {path} is a folder, not a sound file.")
    if not stat.S_ISREG(mode):
        raise AudioError(f"The audio path {path} is not a regular file (a pipe, device or "
                         "socket): give a sound file.")


def sniff_container(path: Path) -> str | None:
    """What the first bytes say the file is (a libsndfile format name, or an ffmpeg-only
    container), or None for content no decoder here knows: such a file is refused at once,
    instead of waiting on librosa's slow ffmpeg fallback to give up on it."""
    try:
        with path.open("rb") as f:
            head = f.read(16)
    except OSError:
        return None
    for magic, offset, kind in _MAGIC:
        if head[offset:offset + len(magic)] == magic:
            return kind
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "AAC" if head[1] & 0x06 == 0 else "MP3"  # ADTS has layer 0; MPEG audio 1-3
    return None


def _check_specs(rate: float, channels: int, what: str) -> None:
    """Refuse an impossible header before any decoder divides by it or sizes a buffer from it
    (aud crashes the whole of Blender on a stream that reports 0 channels)."""
    if not (math.isfinite(rate) and MIN_RATE <= rate <= MAX_RATE):
        raise AudioError(
            f"{what} has a sample rate of {rate:g} Hz, outside {MIN_RATE:g}-{MAX_RATE:g} Hz: "
            "it is damaged or not a sound file."
        )
    if not 1 <= channels <= MAX_CHANNELS:
        raise AudioError(
            f"{what} has {channels} audio channels, outside 1-{MAX_CHANNELS}: "
            "it is damaged or not a sound file."
        )


def _block_frames(rate: float, channels: int) -> int:
    return max(1, min(int(_BLOCK_SECONDS * rate), _BLOCK_SAMPLES // channels))


def _aud_specs(snd: Any) -> tuple[float, int]:
    """Rate and channels of an aud.Sound; reading them is safe, decoding with 0 channels is not."""
    rate, channels = snd.specs[0], snd.specs[1]
    return float(rate), int(channels)


def _check_length(seconds: float, max_seconds: float, what: str) -> None:
    if seconds > max_seconds:
        raise AudioError(
            f"{what} is {seconds / 60:.1f} min long, over the {max_seconds / 60:.1f} min limit "
            "per bake; split it into shorter strips."
        )


def audio_duration(source: Source, sample_rate: int | None = None) -> float:
    """Length in seconds, from the file header where possible (no decoding)."""
    if not isinstance(source, str | Path):
        arr = _samples_first(np.asarray(source))
        rate = _array_rate(sample_rate)
        _check_specs(rate, 1 if arr.ndim == 1 else arr.shape[1], "The audio array")
        return float(arr.shape[0]) / rate
    path = Path(source)
    check_audio_path(path)
    what = f"The audio file {path.name}"
    sf = _soundfile()
    if sf is not None:
        try:
            info = sf.info(str(path))
            _check_specs(float(info.samplerate), int(info.channels), what)
            if info.frames >= 0:
                return float(info.frames) / float(info.samplerate)
        except Exception:  # any reader failure: try the next reader
            pass
    aud = _aud()
    if aud is not None:
        try:
            snd = aud.Sound(str(path))
            rate, channels = _aud_specs(snd)
            _check_specs(rate, channels, what)
            length = float(snd.length)
            if length >= 0:
                return length / rate
        except Exception:
            pass
    # No header to trust: decoding says how long it is, or why it cannot be read.
    return float(load_audio(path, max_seconds=math.inf).shape[0]) / SAMPLE_RATE


# --- resampling ---------------------------------------------------------------------------------


def resample(
    wav: FloatArray, rate: float, target: int = SAMPLE_RATE
) -> NDArray[np.float32]:
    """Band-limited resampling of a mono signal: soxr (high quality), else scipy's polyphase
    filter, else a numpy FFT resampler, so it works in any Python that has numpy."""
    x = np.ascontiguousarray(wav, dtype=np.float32)
    if rate <= 0:
        raise AudioError(f"The audio has an invalid sample rate ({rate} Hz).")
    if rate == target or x.shape[0] == 0:
        return x.copy()
    try:
        import soxr
    except ImportError:
        try:
            return _resample_scipy(x, rate, target)
        except ImportError:
            return _resample_fft(x, rate, target)
    return np.asarray(soxr.resample(x, rate, target, quality="HQ"), dtype=np.float32)


def _resample_scipy(x: NDArray[np.float32], rate: float, target: int) -> NDArray[np.float32]:
    from fractions import Fraction

    from scipy.signal import resample_poly

    frac = Fraction(target, round(rate)).limit_denominator(1000)
    y = resample_poly(x.astype(np.float64), frac.numerator, frac.denominator)
    return np.asarray(y, dtype=np.float32)


def _resample_fft(x: NDArray[np.float32], rate: float, target: int) -> NDArray[np.float32]:
    """Last resort: exact band-limited resampling of the whole clip in the frequency domain
    (zero padding at the end keeps the wrap-around of the periodic FFT off the sound)."""
    n_out = round(x.shape[0] * target / rate)
    pad = round(0.05 * rate)
    spec = np.fft.rfft(np.concatenate([x.astype(np.float64), np.zeros(pad)]))
    n_total = round((x.shape[0] + pad) * target / rate)
    out_bins = n_total // 2 + 1
    if out_bins <= spec.shape[0]:
        spec = spec[:out_bins]
    else:
        spec = np.concatenate([spec, np.zeros(out_bins - spec.shape[0], dtype=spec.dtype)])
    y = np.fft.irfft(spec, n=n_total) * (n_total / (x.shape[0] + pad))
    return np.asarray(y[:n_out], dtype=np.float32)


class _StreamResampler:
    """Feeds blocks through one resampler so block edges leave no seams."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.stream: Any = None
        self.pending: list[NDArray[np.float32]] = []
        if rate != SAMPLE_RATE:
            try:
                import soxr

                self.stream = soxr.ResampleStream(
                    rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ"
                )
            except ImportError:
                self.stream = None

    def push(self, block: NDArray[np.float32], last: bool) -> NDArray[np.float32]:
        if self.rate == SAMPLE_RATE:
            return block
        if self.stream is not None:
            out = self.stream.resample_chunk(block, last=last)
            return np.asarray(out, dtype=np.float32).reshape(-1)
        # Without soxr: gather and resample once at the end (memory then follows the source).
        self.pending.append(block)
        if not last:
            return np.zeros(0, dtype=np.float32)
        return resample(np.concatenate(self.pending), self.rate, SAMPLE_RATE)


# --- cleaning -----------------------------------------------------------------------------------


def _to_mono(block: FloatArray) -> NDArray[np.float32]:
    """(n,) or (n, channels) -> (n,), always a new array: the caller's samples are never edited.
    float64 values beyond float32 quietly become inf here; _silence_damage removes them next."""
    b = np.asarray(block)
    with np.errstate(over="ignore", invalid="ignore"):
        if b.ndim == 1:
            return np.array(b, dtype=np.float32)
        return np.asarray(b.mean(axis=1, dtype=np.float64), dtype=np.float32)


def _silence_damage(x: NDArray[np.float32]) -> int:
    """Zero damaged samples (NaN, inf, beyond ±MAX_SAMPLE) before any filtering, which would
    smear them over their neighbours or overflow; returns how many, for the warning and refusal."""
    bad = ~(np.abs(x) <= MAX_SAMPLE)  # NaN compares False, so it lands in `bad` too
    count = int(bad.sum())
    if count:
        x[bad] = 0.0
    return count


def _finish(
    chunks: list[NDArray[np.float32]], n_in: int, n_bad: int, what: str
) -> NDArray[np.float32]:
    if n_in == 0:
        raise AudioError(f"{what} contains no samples (zero length).")
    if n_bad > MAX_NONFINITE_SHARE * n_in:
        raise AudioError(
            f"{what} is mostly invalid samples ({100.0 * n_bad / n_in:.0f}% NaN, infinite or "
            f"beyond ±{MAX_SAMPLE:.0e})."
        )
    if n_bad:
        log.warning(
            "%s: %d NaN/infinite or out-of-range samples were replaced by silence.", what, n_bad
        )
    out = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    if out.shape[0] == 0:
        out = np.zeros(1, dtype=np.float32)  # shorter than one output sample: one silent sample
    out = np.ascontiguousarray(out, dtype=np.float32)
    # The input was clean, so this only guards against a resampler misbehaving: load_audio's
    # promise (finite, within ±MAX_SAMPLE) must hold whatever happened in between.
    if not np.all(np.isfinite(out)):
        raise AudioError(f"{what} could not be resampled to 16 kHz without invalid samples.")
    np.clip(out, -MAX_SAMPLE, MAX_SAMPLE, out=out)  # a filter's overshoot next to the bound
    return out


def _decode_blocks(
    blocks: Iterator[FloatArray], rate: float, max_seconds: float, what: str
) -> NDArray[np.float32]:
    """Mono, clean, 16 kHz from a stream of (n, channels) blocks, with bounded memory; the
    caller has checked the header (_check_specs)."""
    rs = _StreamResampler(float(rate))
    out: list[NDArray[np.float32]] = []
    n_in = n_bad = 0
    pending: NDArray[np.float32] | None = None
    for block in blocks:
        mono = _to_mono(block)
        if mono.shape[0] == 0:
            continue
        n_in += mono.shape[0]
        _check_length(n_in / rate, max_seconds, what)
        n_bad += _silence_damage(mono)
        # Hold one block back so the last one can be flagged last=True.
        if pending is not None:
            out.append(rs.push(pending, last=False))
        pending = mono
    if pending is not None:
        out.append(rs.push(pending, last=True))
    return _finish(out, n_in, n_bad, what)


def _array_blocks(arr: FloatArray, size: int) -> Iterator[FloatArray]:
    for i in range(0, arr.shape[0], size):
        yield arr[i : i + size]


def _samples_first(arr: NDArray[Any]) -> NDArray[Any]:
    """(samples,) or (samples, channels); a short first axis is taken for channels."""
    if arr.ndim == 2 and 0 < arr.shape[0] < arr.shape[1] and arr.shape[0] <= 16:
        arr = arr.T
    if arr.ndim not in (1, 2):
        raise AudioError(
            f"Audio samples must be (samples,) or (samples, channels); got {arr.shape}."
        )
    return arr


def _array_rate(sample_rate: float | None) -> float:
    """None means 16 kHz; 0 is a wrong rate, not 'the default'."""
    return float(SAMPLE_RATE if sample_rate is None else sample_rate)


def _from_array(
    source: FloatArray, sample_rate: int | None, max_seconds: float
) -> NDArray[np.float32]:
    arr = np.asarray(source)
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise AudioError(f"Audio samples must be real numbers; got dtype {arr.dtype}.")
    arr = _samples_first(arr)
    if np.issubdtype(arr.dtype, np.integer):
        half = float(2 ** (8 * arr.dtype.itemsize - 1))
        offset = half if np.issubdtype(arr.dtype, np.unsignedinteger) else 0.0
        arr = ((arr.astype(np.float64) - offset) / half).astype(np.float32)
    rate = _array_rate(sample_rate)
    what = "The audio array"
    channels = 1 if arr.ndim == 1 else arr.shape[1]
    _check_specs(rate, channels, what)
    _check_length(arr.shape[0] / rate, max_seconds, what)
    if rate == SAMPLE_RATE or arr.shape[0] == 0:
        blocks = _array_blocks(arr, _block_frames(rate, channels))
        return _decode_blocks(blocks, rate, max_seconds, what)
    mono = _to_mono(arr)
    n_bad = _silence_damage(mono)  # before resampling: a damaged sample must not smear
    return _finish([resample(mono, rate)], mono.shape[0], n_bad, what)


# --- file decoders ------------------------------------------------------------------------------


def _decode_soundfile(sf: Any, path: Path, max_seconds: float) -> NDArray[np.float32]:
    what = f"The audio file {path.name}"
    with sf.SoundFile(str(path)) as f:
        rate, channels = float(f.samplerate), int(f.channels)
        _check_specs(rate, channels, what)
        if f.frames > 0:
            _check_length(f.frames / rate, max_seconds, what)
        return _decode_blocks(_read_blocks(f, _block_frames(rate, channels)), rate, max_seconds,
                              what)


def _read_blocks(f: Any, size: int) -> Iterator[FloatArray]:
    """What the decoder really delivers, block by block. Not SoundFile.blocks(): when a damaged
    header promises more frames than the file holds (an mp3 whose Xing header claims 28 min for
    a quarter second), blocks() keeps yielding its reused buffer, so the last block repeats for
    the whole promised length."""
    while True:
        block = f.read(size, dtype="float32", always_2d=True)
        if block.shape[0] == 0:
            return
        yield block


def _decode_aud(aud: Any, path: Path, max_seconds: float) -> NDArray[np.float32]:
    """Decode with Blender's aud; the header is checked *before* data(), which divides by the
    channel count in C (a SIGFPE that kills Blender, no exception to catch)."""
    what = f"The audio file {path.name}"
    snd = aud.Sound(str(path))
    rate, channels = _aud_specs(snd)
    _check_specs(rate, channels, what)
    length = float(snd.length)
    if length > 0:
        _check_length(length / rate, max_seconds, what)
    data = np.asarray(snd.data(), dtype=np.float32)
    if data.ndim != 2 or data.shape[1] != channels:
        raise AudioError(
            f"{what} decoded to samples of shape {data.shape}, not {channels} channels: "
            "it is damaged."
        )
    blocks = _array_blocks(data, _block_frames(rate, channels))
    return _decode_blocks(blocks, rate, max_seconds, what)


def _decode_librosa(path: Path, max_seconds: float) -> NDArray[np.float32]:
    import warnings

    import librosa

    what = f"The audio file {path.name}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its soundfile -> audioread chatter is not for users
        data, rate = librosa.load(str(path), sr=None, mono=False)
    data = np.asarray(data, dtype=np.float32)
    data = data.T if data.ndim == 2 else data
    channels = 1 if data.ndim == 1 else data.shape[1]
    _check_specs(float(rate), channels, what)
    blocks = _array_blocks(data, _block_frames(float(rate), channels))
    return _decode_blocks(blocks, float(rate), max_seconds, what)


def _for_ffmpeg(sf: Any, path: Path) -> bool:
    """Whether librosa (ffmpeg, seconds to start) may succeed where soundfile did not: only a
    container that this libsndfile does not read, never unknown bytes or a damaged wav."""
    kind = sniff_container(path)
    if kind is None:
        return False
    if kind in _SOUNDFILE_FORMATS.values():  # soundfile read it, unless this build cannot
        return not _soundfile_reads(sf, "." + kind.lower())
    return True


def _from_file(path: Path, max_seconds: float) -> NDArray[np.float32]:
    check_audio_path(path)
    reasons: list[str] = []
    sf = _soundfile()
    if sf is not None:
        try:
            return _decode_soundfile(sf, path, max_seconds)
        except AudioError:
            raise
        except Exception as exc:  # libsndfile raises several types
            text = str(exc).strip()
            reasons.append(text.splitlines()[0] if text else type(exc).__name__)
    aud = _aud()
    if aud is not None:
        try:
            return _decode_aud(aud, path, max_seconds)
        except AudioError:
            raise
        except Exception as exc:
            reasons.append(str(exc).strip() or type(exc).__name__)
    elif _for_ffmpeg(sf, path):
        try:
            return _decode_librosa(path, max_seconds)
        except AudioError:
            raise
        except Exception as exc:
            reasons.append(str(exc).strip().splitlines()[0] if str(exc).strip() else "unknown")
    detail = f" ({reasons[0]})" if reasons else ""
    raise AudioError(
        f"The audio file {path} could not be decoded: it is corrupt or not a sound format that "
        f"can be read here{detail}."
    )


# The last file decoded, by what its stat says: a bake reads its line up to three times (the
# phones' cache key, the speech model ahead of the words, the motion), one decode is enough.
# Each bake starts without it (`forget_decoded`), so a file rewritten between bakes on a
# file system with coarse times is never mistaken for the old one.
_LAST_FILE: list[tuple[tuple[Any, ...], NDArray[np.float32]]] = []
_LAST_FILE_LOCK = threading.Lock()


def forget_decoded() -> None:
    """Let the last decoded file go: the next read of any file decodes it."""
    with _LAST_FILE_LOCK:
        _LAST_FILE.clear()


def _file_identity(path: Path, max_seconds: float) -> tuple[Any, ...] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None  # decoding says why
    return (os.path.abspath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns,
            st.st_ctime_ns, max_seconds)


def _from_file_once(path: Path, max_seconds: float) -> NDArray[np.float32]:
    """`_from_file`, or a copy of its last result when the file's stat is unchanged (a file
    rewritten in place changes its mtime and ctime, so it is decoded again)."""
    ident = _file_identity(path, max_seconds)
    with _LAST_FILE_LOCK:
        if ident is not None and _LAST_FILE and _LAST_FILE[0][0] == ident:
            return _LAST_FILE[0][1].copy()
    wav = _from_file(path, max_seconds)
    if ident is not None:
        with _LAST_FILE_LOCK:
            _LAST_FILE[:] = [(ident, wav.copy())]
    return wav


def load_audio(
    source: Source, sample_rate: int | None = None, *, max_seconds: float = MAX_SECONDS
) -> NDArray[np.float32]:
    """Mono float32 at SAMPLE_RATE from a file path or an array.

    For an array, sample_rate is its rate (None means it is already at 16 kHz); (samples,
    channels) and (channels, samples) are both accepted, integer PCM is scaled to [-1, 1]. For a
    file, sample_rate is ignored (the header says). The result is always finite and within
    ±MAX_SAMPLE: damaged samples (NaN, inf, beyond ±MAX_SAMPLE) become silence before resampling
    unless they are most of the sound, which is refused; so is a sample rate outside
    MIN_RATE-MAX_RATE or a channel count outside 1-MAX_CHANNELS.
    """
    if isinstance(source, str | Path):
        return _from_file_once(Path(source), max_seconds)
    return _from_array(np.asarray(source), sample_rate, max_seconds)


# --- loudness -----------------------------------------------------------------------------------

TARGET_DBFS = -20.0  # RMS of active speech after normalisation
_FRAME = 320  # 20 ms frames for the loudness statistics
_ABS_GATE_DB = -70.0  # frames quieter than this are silence whatever the clip
_REL_GATE_DB = -20.0  # ...and so are frames this far below the clip's ungated level
_MAX_GAIN_DB = 50.0
_MIN_GAIN_DB = -40.0
_BIN_DB = 0.05
_LOW_DB, _HIGH_DB = -120.0, 40.0


class LoudnessMeter:
    """Gated speech level (absolute gate, then a gate 20 dB under the level), block by block.

    Frames sit on a global 20 ms grid and only integer counts per 0.05 dB bin are kept, so the
    gain is bit-for-bit the same whether the sound arrives whole or in pieces of any size.
    """

    def __init__(self) -> None:
        self.counts = np.zeros(round((_HIGH_DB - _LOW_DB) / _BIN_DB), dtype=np.int64)
        self._carry = np.zeros(0, dtype=np.float32)

    def update(self, chunk: FloatArray) -> None:
        x = np.asarray(chunk, dtype=np.float32).reshape(-1)
        if self._carry.shape[0]:
            fill = min(_FRAME - self._carry.shape[0], x.shape[0])
            self._carry = np.concatenate([self._carry, x[:fill]])
            x = x[fill:]
            if self._carry.shape[0] < _FRAME:
                return
            self._count(self._carry)
        n = (x.shape[0] // _FRAME) * _FRAME
        self._carry = x[n:].copy()
        step = _FRAME * 4096  # bounded temporaries whatever the chunk length
        for i in range(0, n, step):
            self._count(x[i : min(i + step, n)])

    def _count(self, samples: NDArray[np.float32]) -> None:
        """Histogram whole 20 ms frames (len(samples) is a multiple of _FRAME)."""
        frames = samples.astype(np.float64).reshape(-1, _FRAME)
        frames = frames - frames.mean(axis=1, keepdims=True)  # a DC offset is not loudness
        ms = np.einsum("ij,ij->i", frames, frames) / _FRAME
        db = 10.0 * np.log10(np.maximum(ms, 1e-30))
        idx = np.floor((db - _LOW_DB) / _BIN_DB).astype(np.int64)
        idx = np.minimum(idx[idx >= 0], self.counts.shape[0] - 1)
        self.counts += np.bincount(idx, minlength=self.counts.shape[0])

    def level_dbfs(self) -> float | None:
        """RMS level of active speech in dBFS, or None when there is none (silence)."""
        centres = _LOW_DB + (np.arange(self.counts.shape[0]) + 0.5) * _BIN_DB
        energy = 10.0 ** (centres / 10.0)

        def gated_mean(gate_db: float) -> float | None:
            keep = centres >= gate_db
            total = int(self.counts[keep].sum())
            if total == 0:
                return None
            return float((self.counts[keep] * energy[keep]).sum() / total)

        mean = gated_mean(_ABS_GATE_DB)
        if mean is None:
            return None
        # The relative gate follows the level it defines (a fixed point), so scaling the input
        # shifts every frame and the gate alike: the result does not depend on input gain even
        # when the absolute gate cuts the quiet frames differently.
        level = 10.0 * math.log10(mean)
        for _ in range(100):
            mean = gated_mean(max(_ABS_GATE_DB, level + _REL_GATE_DB))
            if mean is None:
                return None
            new = 10.0 * math.log10(mean)
            if new == level:
                break
            level = new
        return level

    def gain(self, target_dbfs: float = TARGET_DBFS) -> float:
        """Linear gain bringing active speech to target_dbfs; 1.0 for silence."""
        level = self.level_dbfs()
        if level is None:
            return 1.0
        gain_db = min(_MAX_GAIN_DB, max(_MIN_GAIN_DB, target_dbfs - level))
        return float(10.0 ** (gain_db / 20.0))


def normalise_loudness(
    wav: FloatArray, target_dbfs: float = TARGET_DBFS
) -> NDArray[np.float32]:
    """Scale so active speech has RMS target_dbfs; silence stays silence, nothing is clipped."""
    x = np.asarray(wav, dtype=np.float32)
    meter = LoudnessMeter()
    meter.update(x)
    return (x * np.float32(meter.gain(target_dbfs))).astype(np.float32)


def speech_features(
    source: Source, sample_rate: int | None = None, *, max_seconds: float = MAX_SECONDS
) -> NDArray[np.float32]:
    """The model's input: load_audio -> normalise_loudness -> log_mel, (T_a, 80) at 100 Hz."""
    return log_mel(normalise_loudness(load_audio(source, sample_rate, max_seconds=max_seconds)))
