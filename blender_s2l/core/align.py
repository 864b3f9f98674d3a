"""Forced phone alignment of speech to its transcript with pocketsphinx (US-English model).

Two users: key poses at bake time (a line's script gives exact /p b m/ closures) and the
real-speech evaluation (more labelled clips than the one ARCTIC sentence). pocketsphinx is an
optional dependency: without it this raises a one-sentence error.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import audio as audio_io
from .errors import S2LError
from .phones import Phone, normalise_phone


def align_phones(wav_path: str | Path, transcript: str) -> list[Phone]:
    """Phones of the transcript with their times in the audio (10 ms resolution)."""
    try:
        from pocketsphinx import Decoder
    except ImportError as exc:
        raise S2LError(
            "Aligning a transcript needs the pocketsphinx package (pip install pocketsphinx); "
            "or give a phone alignment file instead."
        ) from exc
    wav_path = Path(wav_path)
    if not transcript.split():
        raise S2LError("The transcript is empty.")
    wav = audio_io.load_audio(wav_path)
    pcm = (np.clip(wav, -1.0, 1.0) * 32767).astype(np.int16).tobytes()
    dec = Decoder(samprate=audio_io.SAMPLE_RATE, bestpath=False)
    dec.set_align_text(" ".join(transcript.lower().replace(",", " ").replace(".", " ").split()))
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
            f"pocketsphinx could not align {wav_path.name}: "
            "the transcript does not match the audio."
        ) from exc
    if alignment is None:
        raise S2LError(f"pocketsphinx could not align {wav_path.name} with its transcript.")
    phones = [
        Phone(p.start / 100.0, (p.start + p.duration) / 100.0, normalise_phone(p.name))
        for word in alignment
        for p in word
    ]
    if not phones:
        raise S2LError(f"pocketsphinx found no phones in {wav_path.name}.")
    return phones


def transcript_arg(value: str) -> str:
    """A command-line transcript: the words themselves, or `@file` to read them from a file."""
    if not value.startswith("@"):
        return value
    path = Path(value[1:])
    if not path.is_file():
        raise S2LError(f"The transcript file {path} does not exist.")
    return path.read_text()
