"""Forced phone alignment of real speech with pocketsphinx (its bundled US-English model).

Used to give the real-speech protocol more labelled clips than the one ARCTIC sentence: the
alignment of a known transcript is written as an HTK .lab file the evaluation reads.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from ..core import audio as audio_io
from ..core.errors import S2LError
from .phones import Phone, normalise_phone

HTK_UNITS = 1e7


def align_phones(wav_path: Path, transcript: str) -> list[Phone]:
    """Phones of the transcript with their times in the audio (10 ms resolution)."""
    try:
        from pocketsphinx import Decoder
    except ImportError as exc:
        raise S2LError("Forced alignment needs the pocketsphinx package (pip install it).") from exc
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


def write_lab(phones: list[Phone], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        f"{round(p.start * HTK_UNITS)} {round(p.end * HTK_UNITS)} {p.phone.lower()}" for p in phones
    ]
    out.write_text("\n".join(lines) + "\n")


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("align", help="forced phone alignment of a wav + transcript")
    p.add_argument("wav", type=Path)
    p.add_argument("--text", required=True, help="transcript (or @file to read it from a file)")
    p.add_argument("--out", type=Path, required=True, help=".lab file to write")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    text = Path(args.text[1:]).read_text() if args.text.startswith("@") else args.text
    phones = align_phones(args.wav, text)
    write_lab(phones, args.out)
    print(f"{len(phones)} phones -> {args.out}")
    return 0
