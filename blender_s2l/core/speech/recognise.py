"""Phones of speech whose words nobody typed: recognise them, then align them.

The audio model, trained on TTS voices, confuses /m/ with /n/ and /p b/ with /t d/ on human
speech. pocketsphinx's acoustic model was trained on human speech and its English word model knows
which words exist, so the /p b m/ of the words it hears are the most reliable closures available
without a transcript (measured in reports/stage_selection.md, candidates R and R2). With a
narrowed search it costs a fraction of the audio's length (BENCHMARKS.md), so bakes use it by
default wherever pocketsphinx is installed.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import Cancelled, S2LError
from ..progress import CANCELLED, CancelFn, ProgressFn
from . import audio as audio_io
from .align import align_audio_segments
from .phones import SIL, Phone

CHUNK_S = 20.0  # recognised piece by piece: bounded memory, and progress and cancel between pieces
SEARCH_S = 5.0  # each cut goes to the quietest 10 ms in the last SEARCH_S of a piece
BLOCK_S = 0.5  # audio fed to the decoder between two looks at cancel
FRAME = audio_io.HOP_LENGTH
# Stretches whose loudest 10 ms is this far under the clip's loudest hold no speech: pocketsphinx
# hears words even in digital silence, and a word it invents in a pause would shut the lips there.
QUIET_DB = 50.0
# A narrower search than pocketsphinx's defaults and no second or lattice pass: several times
# faster, the same bilabials within the noise of the count (reports/stage_selection.md, R2).
DECODER_SETTINGS: dict[str, Any] = {
    "beam": 1e-40,
    "pbeam": 1e-40,
    "wbeam": 1e-24,
    "maxhmmpf": 5000,
    "fwdflat": False,
    "bestpath": False,
}


@cache
def pocketsphinx_available() -> bool:
    """Transcript alignment and Recognise Words need it; the lean extension zip lacks it."""
    return importlib.util.find_spec("pocketsphinx") is not None


def chunk_bounds(
    wav: NDArray[np.float32], chunk_s: float = CHUNK_S, search_s: float = SEARCH_S
) -> list[tuple[int, int]]:
    """(start, stop) samples covering wav in pieces of at most chunk_s, cut where it is quietest
    so that a cut rarely falls inside a word."""
    rate = audio_io.SAMPLE_RATE
    n = len(wav)
    size, search = int(chunk_s * rate), int(min(search_s, chunk_s / 2) * rate)
    bounds: list[tuple[int, int]] = []
    start = 0
    while n - start > size:
        lo, hi = start + size - search, start + size
        frames = wav[lo:hi][: (hi - lo) // FRAME * FRAME].reshape(-1, FRAME)
        cut = lo + int(np.argmin(np.mean(frames.astype(np.float64) ** 2, axis=1))) * FRAME
        bounds.append((start, cut))
        start = cut
    if n > start:
        bounds.append((start, n))
    return bounds


def recognise_phones(
    wav: NDArray[np.float32],
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> list[Phone]:
    """Phones (seconds, ARPAbet) of the words pocketsphinx hears in 16 kHz mono samples; [] when it
    hears none. A piece whose words cannot be aligned is left out rather than failing the bake."""
    try:
        from pocketsphinx import Decoder
    except ImportError as exc:
        raise S2LError(
            "Recognising words needs the pocketsphinx package (pip install pocketsphinx); "
            "or give the line's transcript or a phone alignment file."
        ) from exc
    rate = audio_io.SAMPLE_RATE
    decoder = Decoder(samprate=rate, **DECODER_SETTINGS)
    # The recogniser gets the sound as it is (it normalises its own cepstra); only the gate
    # against invented words looks at the level, relative to the clip's loudest moment.
    quiet = max(_loudest_frame_rms(wav) * 10 ** (-QUIET_DB / 20), 1e-6)
    bounds = chunk_bounds(wav, CHUNK_S)
    segments: list[tuple[float, float, str]] = []
    for i, (a, b) in enumerate(bounds):
        if cancel is not None and cancel():
            raise Cancelled(CANCELLED)

        def within(f: float, i: int = i) -> None:
            if progress is not None:
                progress(0.7 * (i + f) / len(bounds))

        loud = _loudest_frame_rms(wav[a:b]) >= quiet
        hyp = _decode(decoder, wav[a:b], cancel, within) if loud else None
        if hyp is not None and hyp.hypstr.strip():
            segments.append((a / rate, b / rate, hyp.hypstr))
        within(1.0)
    phones = align_audio_segments(wav, segments, pad_s=0.0, skip_unaligned=True)
    phones = [
        p if _loudest_frame_rms(wav[int(p.start * rate) : int(p.end * rate)]) >= quiet
        else p._replace(phone=SIL)
        for p in phones
    ]
    if progress is not None:
        progress(1.0)
    return phones


def _decode(
    decoder: Any, piece: NDArray[np.float32], cancel: CancelFn | None, progress: ProgressFn
) -> Any:
    """The decoder's hypothesis for one piece, fed in BLOCK_S blocks so that Esc is heard within
    a fraction of a second and the bar moves during a line of one piece (on development speech,
    the same closures as one whole-piece call)."""
    pcm = (np.clip(piece, -1.0, 1.0) * 32767).astype(np.int16).tobytes()
    step = int(BLOCK_S * audio_io.SAMPLE_RATE) * 2  # bytes of 16-bit samples
    decoder.start_utt()
    for k in range(0, len(pcm), step):
        if cancel is not None and cancel():
            decoder.end_utt()
            raise Cancelled(CANCELLED)
        decoder.process_raw(pcm[k : k + step])
        progress(min(1.0, (k + step) / len(pcm)))
    decoder.end_utt()
    return decoder.hyp()


def _loudest_frame_rms(x: NDArray[np.float32]) -> float:
    """RMS of the loudest 10 ms in x (of all of x when shorter)."""
    if len(x) == 0:
        return 0.0
    if len(x) < FRAME:
        return float(np.sqrt(np.mean(np.asarray(x, np.float64) ** 2)))
    frames = np.asarray(x[: len(x) // FRAME * FRAME], np.float64).reshape(-1, FRAME)
    return float(np.sqrt(np.mean(frames**2, axis=1).max()))
