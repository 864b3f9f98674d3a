"""Phones of speech whose words nobody typed: recognise them, then align them.

The audio model, trained on TTS voices, confuses /m/ with /n/ and /p b/ with /t d/ on human
speech. pocketsphinx's acoustic model was trained on human speech and its English word model knows
which words exist, so the /p b m/ of the words it hears are the most reliable closures available
without a transcript (measured in reports/stage_selection.md, candidates R and R2). With a
narrowed search it costs a fraction of the audio's length (BENCHMARKS.md), so bakes use it by
default wherever pocketsphinx is installed.

A line is cut into pieces at its quietest moments and each piece is heard on its own: decoded
with the cepstral mean of the piece itself (not whatever the previous piece left in the
decoder), then its words aligned. So a piece's phones do not depend on which pieces came before
or on which process heard it, and the pieces are heard side by side in helper processes
(workers.py), one a core.
"""

from __future__ import annotations

import importlib.util
import threading
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import S2LError
from ..progress import CancelFn, ProgressFn, Task, as_task
from . import audio as audio_io
from .align import align_audio, aligner, join_parts
from .phones import SIL, Phone

CHUNK_S = 20.0  # heard piece by piece: bounded memory, pieces side by side, cancel between them
SEARCH_S = 5.0  # each cut goes to the quietest 10 ms in the last SEARCH_S of a piece
MIN_PIECE_S = 0.05  # shorter pieces hold no word
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
NEEDS_POCKETSPHINX = (
    "Recognising words needs the pocketsphinx package (pip install pocketsphinx); "
    "or give the line's transcript or a phone alignment file."
)


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
    progress: ProgressFn | Task | None = None,
    cancel: CancelFn | None = None,
    processes: int | None = None,
) -> list[Phone]:
    """Phones (seconds, ARPAbet) of the words pocketsphinx hears in 16 kHz mono samples; [] when it
    hears none. A piece whose words cannot be aligned is left out rather than failing the bake.

    processes: how many helper processes may hear pieces at once (None: one a usable core,
    workers.usable_cores; 0: none, all in this process). The phones are the same either way."""
    try:
        import pocketsphinx  # noqa: F401 (the helpers import it too; fail here, in one sentence)
    except ImportError as exc:
        raise S2LError(NEEDS_POCKETSPHINX) from exc
    from . import workers

    task = as_task(progress, cancel)
    task.check()
    rate = audio_io.SAMPLE_RATE
    # The recogniser gets the sound as it is (it normalises its own cepstra); only the gate
    # against invented words looks at the level, relative to the clip's loudest moment.
    quiet = max(_loudest_frame_rms(wav) * 10 ** (-QUIET_DB / 20), 1e-6)
    bounds = [(a, b) for a, b in chunk_bounds(wav, CHUNK_S, SEARCH_S)
              if b - a >= MIN_PIECE_S * rate and _loudest_frame_rms(wav[a:b]) >= quiet]
    heard = workers.hear_pieces([wav[a:b] for a, b in bounds], task, processes)
    parts = [[Phone(p.start + a / rate, p.end + a / rate, p.phone) for p in piece]
             for (a, _), piece in zip(bounds, heard, strict=True)]
    phones = [
        p if _loudest_frame_rms(wav[int(p.start * rate) : int(p.end * rate)]) >= quiet
        else p._replace(phone=SIL)
        for p in join_parts(len(wav) / rate, parts)
    ]
    task(1.0)
    return phones


class Decoders:
    """One process's pocketsphinx decoders, loaded once (each costs about a third of a second)
    and reset before every piece, so a piece is heard as by new ones."""

    def __init__(self) -> None:
        try:
            from pocketsphinx import Decoder
        except ImportError as exc:
            raise S2LError(NEEDS_POCKETSPHINX) from exc
        self.recogniser = Decoder(samprate=audio_io.SAMPLE_RATE, **DECODER_SETTINGS)
        self.aligner = aligner()
        self.lock = threading.Lock()  # one piece at a time through a decoder


@cache
def local_decoders() -> Decoders:
    """This process's decoders, when pieces are heard here (no helper processes)."""
    return Decoders()


def hear_piece(piece: NDArray[np.float32], decoders: Decoders) -> list[Phone]:
    """Phones (seconds from the piece's start) of the words heard in one piece; [] for none, or
    when its words do not fit its audio."""
    pcm = (np.clip(piece, -1.0, 1.0) * 32767).astype(np.int16).tobytes()
    with decoders.lock:
        dec = decoders.recogniser
        dec.reinit_feat()  # the piece's own cepstral mean, nothing left from another piece
        dec.start_utt()
        dec.process_raw(pcm, full_utt=True)
        dec.end_utt()
        hyp = dec.hyp()
        words = hyp.hypstr.strip() if hyp is not None else ""
        if not words:
            return []
        try:
            return align_audio(piece, words, "a piece", decoders.aligner)
        except S2LError:
            return []


def _loudest_frame_rms(x: NDArray[np.float32]) -> float:
    """RMS of the loudest 10 ms in x (of all of x when shorter)."""
    if len(x) == 0:
        return 0.0
    if len(x) < FRAME:
        return float(np.sqrt(np.mean(np.asarray(x, np.float64) ** 2)))
    frames = np.asarray(x[: len(x) // FRAME * FRAME], np.float64).reshape(-1, FRAME)
    return float(np.sqrt(np.mean(frames**2, axis=1).max()))
