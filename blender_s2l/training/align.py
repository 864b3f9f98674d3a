"""`align`: a wav + its transcript -> an HTK .lab phone alignment (see core/speech/align.py),
which the real-speech evaluation reads."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..core.speech.align import align_phones, transcript_arg
from ..core.speech.phones import Phone

HTK_UNITS = 1e7


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
    phones = align_phones(args.wav, transcript_arg(args.text))
    write_lab(phones, args.out)
    print(f"{len(phones)} phones -> {args.out}")
    return 0
