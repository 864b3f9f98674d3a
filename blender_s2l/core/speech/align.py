"""Forced phone alignment of speech to its transcript with pocketsphinx (US-English model).

Two users: key poses at bake time (a line's script gives exact /p b m/ closures) and the
real-speech evaluation (more labelled clips than the one ARCTIC sentence). pocketsphinx is an
optional dependency: without it this raises a one-sentence error.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import S2LError
from . import audio as audio_io
from .phones import ARPABET, SIL, Phone, normalise_phone
from .transcript import read_transcript_file, spoken_words


def align_phones(wav_path: str | Path, transcript: str) -> list[Phone]:
    """Phones of the transcript with their times in the audio (10 ms resolution)."""
    wav_path = Path(wav_path)
    return align_audio(audio_io.load_audio(wav_path), transcript, wav_path.name)


def align_segments(
    wav_path: str | Path, segments: Sequence[tuple[float, float, str]], pad_s: float = 0.15
) -> list[Phone]:
    """Phones of a clip transcribed in timed segments (a conversation's utterances, a poem's
    lines), each aligned on its own stretch of audio; between segments is SIL.

    One long transcript lets a single misheard word drag every later phone; segment by segment
    an error stays inside its segment."""
    wav_path = Path(wav_path)
    out = align_audio_segments(audio_io.load_audio(wav_path), segments, wav_path.name, pad_s)
    if not out:
        raise S2LError(f"pocketsphinx found no phones in {wav_path.name}.")
    return out


def align_audio_segments(
    wav: NDArray[np.float32],
    segments: Sequence[tuple[float, float, str]],
    name: str = "the audio",
    pad_s: float = 0.15,
    skip_unaligned: bool = False,
) -> list[Phone]:
    """align_segments on 16 kHz samples; [] when no segment has phones. skip_unaligned leaves a
    segment whose words do not fit its audio out (as silence) instead of failing.

    Each segment reaches pad_s beyond its times (a transcriber's times are approximate), but its
    speech never runs over another's: back, the padding starts no earlier than the end of the
    speech aligned in the segment before; forward, a segment whose speech comes out running past
    the start of the next segment with words (pocketsphinx stretching its last phone over that
    segment's first words, which the padding reached) is aligned again on its audio up to that
    start (never short of its own end). Where it cannot be aligned so cut (its last word does
    run past the next one's start), the first alignment stays."""
    rate = audio_io.SAMPLE_RATE
    duration = len(wav) / rate
    rows = sorted(segments)
    starts = [start for start, _, text in rows if text.split()]
    parts: list[list[Phone]] = []
    decoder: Any = None
    last_end = 0.0  # a segment's padding never reaches back over the speech before it
    for start, end, text in rows:
        lo = max(0.0, start - pad_s, last_end)
        hi = min(duration, end + pad_s)
        if hi - lo < 0.05 or not text.split():
            continue
        limit = next_row_start(start, end, starts)
        cut = hi if limit is None else min(hi, limit)
        try:
            decoder = aligner() if decoder is None else decoder
            speech = _speech_in(wav, lo, hi, text, name, decoder)
        except S2LError:
            if skip_unaligned:
                continue
            raise
        if speech and speech[-1].end > cut + 1e-6 and cut - lo >= 0.05:
            with contextlib.suppress(S2LError):
                speech = _speech_in(wav, lo, cut, text, name, decoder)
        if speech:
            parts.append(speech)
            last_end = speech[-1].end
    return join_parts(duration, parts)


def next_row_start(start: float, end: float, starts: Sequence[float]) -> float | None:
    """How far the speech of a timed row from start to end may run: the start of the next row
    with words (`starts`), never short of the row's own end; None for the last row. A row's
    padding may reach that row's first words, and pocketsphinx then stretches the row's last
    sound over them: the truth labels (here) and the bake (line_align) both stop it there."""
    later = [s for s in starts if s > start]
    return max(end, min(later)) if later else None


def _speech_in(wav: NDArray[np.float32], lo: float, hi: float, text: str, name: str,
               decoder: Any) -> list[Phone]:
    """The phones of text aligned on the audio from lo to hi s, silences dropped, in clip time."""
    rate = audio_io.SAMPLE_RATE
    part = align_audio(wav[int(lo * rate) : int(hi * rate)], text, f"{name} at {lo:.2f} s",
                       decoder)
    return [Phone(p.start + lo, p.end + lo, p.phone) for p in part if p.phone != SIL]


def join_parts(duration: float, parts: Sequence[Sequence[Phone]]) -> list[Phone]:
    """Phones of pieces aligned on their own (clip times, in order) as one track of the clip:
    their silences dropped, SIL between and around them; [] when no piece has a phone."""
    out: list[Phone] = []
    for speech in parts:
        speech = [p for p in speech if p.phone != SIL]
        if not speech:
            continue
        gap_start = out[-1].end if out else 0.0
        if speech[0].start > gap_start:
            out.append(Phone(gap_start, speech[0].start, SIL))
        out.extend(speech)
    if out and out[-1].end < duration:
        out.append(Phone(out[-1].end, duration, SIL))
    return out


def align_audio(wav: NDArray[np.float32], transcript: str, name: str = "the audio",
                decoder: Any = None) -> list[Phone]:
    """Phones of the transcript in 16 kHz mono samples, all or nothing (a transcript that does
    not fit raises; line_align.align_line degrades instead); words missing from pocketsphinx's
    dictionary (names, archaic forms) get festival's letter-to-sound pronunciation.

    decoder: one from `aligner()` to use again (loading one costs a third of a second); its
    features are reset first, so the result is the same as with a new one."""
    words = transcript_words(transcript)
    if not words:
        raise S2LError("The transcript is empty.")
    dec = aligner() if decoder is None else decoder
    known = word_pronunciations(words, dec)
    guessed = pronunciations([w for w in dict.fromkeys(words) if w not in known])
    add_words(dec, list({**known, **guessed}.items()))
    return align_words(wav, words, name, dec)


def word_pronunciations(words: Sequence[str], decoder: Any) -> dict[str, str]:
    """The words pocketsphinx's dictionary can pronounce (possessives of words it knows
    included), with their phones."""
    found: dict[str, str] = {}
    for word in dict.fromkeys(words):
        pron = decoder.lookup_word(word)
        if pron is None and word.endswith("'s"):
            pron = _possessive(word, decoder.lookup_word(word[:-2])) or None
        if pron:
            found[word] = pron
    return found


def align_words(wav: NDArray[np.float32], words: Sequence[str], name: str,
                decoder: Any) -> list[Phone]:
    """Phones of words the decoder can already pronounce (`add_word` done) in the samples."""
    return align_word_spans(wav, words, name, decoder)[0]


def align_word_spans(wav: NDArray[np.float32], words: Sequence[str], name: str,
                     decoder: Any) -> tuple[list[Phone], list[tuple[float, float]]]:
    """align_words, and the (start, end) of each word in order, to check it against times
    known otherwise."""
    pcm = (np.clip(wav, -1.0, 1.0) * 32767).astype(np.int16).tobytes()
    dec = decoder
    dec.reinit_feat()
    dec.set_align_text(" ".join(words))
    dec.start_utt()
    dec.process_raw(pcm, full_utt=True)
    dec.end_utt()
    try:
        dec.set_alignment()
        dec.start_utt()
        dec.process_raw(pcm, full_utt=True)
        dec.end_utt()
        alignment = dec.get_alignment()
    except RuntimeError as exc:
        raise S2LError(
            f"pocketsphinx could not align {name}: the transcript does not match the audio."
        ) from exc
    if alignment is None:
        raise S2LError(f"pocketsphinx could not align {name} with its transcript.")
    phones: list[Phone] = []
    spans: list[tuple[float, float]] = []
    for word in alignment:
        found = [Phone(p.start / 100.0, (p.start + p.duration) / 100.0, normalise_phone(p.name))
                 for p in word]
        phones.extend(found)
        if found and any(p.phone != SIL for p in found):
            spans.append((found[0].start, found[-1].end))
    if not phones:
        raise S2LError(f"pocketsphinx found no phones in {name}.")
    return phones, spans


# Beams wide enough for speech the default search loses (a robotic voice, a word said oddly):
# a piece that fails with the defaults is tried again with these (a few times slower).
WIDE_BEAMS = {"beam": 1e-80, "pbeam": 1e-80, "wbeam": 1e-60}


def aligner(wide: bool = False) -> Any:
    """A pocketsphinx decoder set up for forced alignment (wide: with WIDE_BEAMS)."""
    try:
        from pocketsphinx import Decoder
    except ImportError as exc:
        raise S2LError(
            "Aligning a transcript needs the pocketsphinx package (pip install pocketsphinx); "
            "or give a phone alignment file instead."
        ) from exc
    return Decoder(samprate=audio_io.SAMPLE_RATE, bestpath=False,
                   **(WIDE_BEAMS if wide else {}))


def transcript_words(transcript: str) -> list[str]:
    """Lower-case words as spoken and as pocketsphinx's dictionary spells them (tags dropped,
    numbers and symbols written out: transcript.py)."""
    return spoken_words(transcript)


def pronunciations(words: Sequence[str]) -> dict[str, str]:
    """ARPAbet for words outside the dictionary, from festival's lexicon and letter-to-sound
    rules; without festival the words are named in the error, so the user can respell them."""
    if not words:
        return {}
    script = "".join(
        f'(format t "%l\\n" (lex.lookup "{w.replace(chr(39), "")}" nil))' for w in words
    )
    try:
        run = subprocess.run(
            ["festival", "--pipe"], input=script, capture_output=True, text=True, timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise S2LError(
            f"Not in the aligner's dictionary: {', '.join(words)}. Respell them as common "
            "words, or install festival for its letter-to-sound rules."
        ) from exc
    prons = [_festival_phones(line) for line in run.stdout.splitlines() if line.startswith("(")]
    if len(prons) != len(words) or not all(prons):
        raise S2LError(f"festival could not pronounce: {', '.join(words)}.")
    return dict(zip(words, prons, strict=True))


def _possessive(word: str, stem: str | None) -> str:
    """beauty's = beauty + Z; the ending follows the stem's last sound (cats, dogs, horses)."""
    if not stem:
        return ""
    last = stem.split()[-1]
    ending = "IH Z" if last in {"S", "Z", "SH", "ZH", "CH", "JH"} else (
        "S" if last in {"P", "T", "K", "F", "TH"} else "Z")
    return f"{stem} {ending}"


def _festival_phones(line: str) -> str:
    """'("word" nil (((n ih) 1) ((g aa r) 1)))' -> 'N IH G AA R' (festival's cmu phone set,
    folded into pocketsphinx's 39 phones)."""
    closing_quote = line.find('"', line.find('"') + 1)
    body = line[closing_quote + 1 :].split(None, 1)  # drop the part of speech
    phones = [normalise_phone(p) for p in re.findall(r"[a-z]+", body[-1] if body else "")]
    if not phones or not all(p in ARPABET for p in phones):
        return ""
    return " ".join(phones)


def transcript_arg(value: str, base: Path | None = None) -> str:
    """A transcript as given on the command line, in a manifest cell or in the panel: the words
    themselves, or `@file` to read them from a file (a relative name beside `base`: the
    manifest's folder, the .blend's; else the current folder)."""
    if not value.startswith("@"):
        return value
    path = Path(value[1:])
    if base is not None and not path.is_absolute():
        path = base / path
    if not path.is_file():
        why = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise S2LError(f"The transcript file {path} {why}.")
    return read_transcript_file(path)


# -60 dBFS: below a real recording's own noise, above digital silence (a synthetic voice's stop
# closures, an edited recording's gaps), on which pocketsphinx loses its path.
NOISE_FLOOR = 1e-3


def with_noise_floor(samples: NDArray[np.float32]) -> NDArray[np.float32]:
    """The samples with seeded white noise at NOISE_FLOOR added (the same every time)."""
    floor = np.random.default_rng(0).normal(0.0, NOISE_FLOOR, len(samples))
    return (samples + floor).astype(np.float32)


def add_words(decoder: Any, words: list[tuple[str, str]]) -> None:
    """(word, "P AA P AA") pairs into a pocketsphinx decoder's dictionary, those it lacks.
    `add_word(..., update=True)` rebuilds the search each time (six times slower for a line's
    worth of words), so only the last new word does."""
    new = {token: pron for token, pron in words if decoder.lookup_word(token) is None}
    for k, (token, pron) in enumerate(new.items()):
        decoder.add_word(token, pron, k == len(new) - 1)
