#!/usr/bin/env python3
"""Rebuild the fresh real-speech set of reports/fresh_speech.md from NLTK's free TIMIT sample.

    .venv/bin/python scripts/timit_sample.py --timit DIR --out OUT

DIR is the sample's folder (`dr1-fvmh0/sx116.wav`, `.phn`, ... as NLTK's `corpora/timit` holds
it). Twenty utterances, picked once from the labels before any model ran on them, are written to
OUT/development/timit and OUT/test/timit (dialect regions 1-4 and 5-8: the split of that report)
as `timit_<speaker>_<utterance>.wav` with a `.lab` beside it that `evaluate --speech` reads.
Nothing of TIMIT is committed: its licence (LDC, CC BY-NC-SA) is not this project's.

TIMIT's own hand-placed phones become ours: a stop closure with its release is one stop (so /b/
and /p/ start at the closure, when the lips shut), an unreleased closure is its stop, the glottal
stop joins the next phone, `h#`, `pau` and `epi` are pauses, and the reduced and syllabic
phones fold into their full forms. Some copies of the sample hold damaged wavs (16-bit data read
a byte off: white noise where the labels say vowel); such a file is refused, not converted.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
PICKED = (
    "dr1-fvmh0/sx116", "dr1-mcpm0/si564", "dr2-faem0/si1392", "dr2-marc0/si1818",
    "dr2-marc0/sx288", "dr3-falk0/sx366", "dr3-madc0/sx107", "dr4-falr0/si1955",
    "dr4-maeb0/sx360", "dr5-ftlg0/si1743", "dr5-ftlg0/si840", "dr5-mbgt0/sx81",
    "dr6-fapb0/sx343", "dr6-mbma1/sx234", "dr6-mbma1/sx54", "dr7-fblv0/sx428",
    "dr7-madd0/sx88", "dr8-fbcg1/si982", "dr8-fbcg1/sx352", "dr8-mbcg0/sx327",
)
DEVELOPMENT_REGIONS = ("dr1", "dr2", "dr3", "dr4")
CLOSURES = {"bcl": "B", "dcl": "D", "gcl": "G", "pcl": "P", "tcl": "T", "kcl": "K"}
RELEASES = {"bcl": {"b"}, "dcl": {"d", "jh"}, "gcl": {"g"}, "pcl": {"p"}, "tcl": {"t", "ch"},
            "kcl": {"k"}}
PAUSES = {"h#", "pau", "epi"}
FOLDED = {"ax": "AH", "ax-h": "AH", "ix": "IH", "axr": "ER", "ux": "UW", "hv": "HH", "el": "L",
          "em": "M", "en": "N", "eng": "NG", "nx": "N", "dx": "D"}
VOWELS = {"iy", "ih", "eh", "ey", "ae", "aa", "aw", "ay", "ah", "ao", "oy", "ow", "uh", "uw",
          "ux", "er", "ax", "ix", "axr"}
# A damaged copy's samples hit full scale, and inside some labelled vowel neighbouring samples
# are nearly uncorrelated (real speech keeps them strongly correlated).
FULL_SCALE = 0.99
DAMAGED_BELOW = 0.2

Segment = tuple[int, int, str]


def read_phn(path: Path) -> list[Segment]:
    """TIMIT's phone file: start and end in samples at 16 kHz, then the phone."""
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            a, b, p = line.split()
            rows.append((int(a), int(b), p))
    return rows


def convert(rows: list[Segment]) -> list[Segment]:
    """TIMIT's 61 phones as the project's ARPAbet and pauses."""
    out: list[list[int | str]] = []
    i = 0
    while i < len(rows):
        a, b, p = rows[i]
        if p in CLOSURES:
            nxt = rows[i + 1] if i + 1 < len(rows) else None
            if nxt is not None and nxt[2] in RELEASES[p] and nxt[0] == b:
                out.append([a, nxt[1], nxt[2].upper()])
                i += 2
                continue
            out.append([a, b, CLOSURES[p]])
        else:
            out.append([a, b, "sil" if p in PAUSES else "q" if p == "q"
                        else FOLDED.get(p, p.upper())])
        i += 1
    j = 0
    while j < len(out):  # a glottal stop belongs to the sound it starts
        if out[j][2] != "q":
            j += 1
        elif j + 1 < len(out) and out[j + 1][2] != "sil":
            out[j + 1][0] = out[j][0]
            del out[j]
        elif j > 0:
            out[j - 1][1] = out[j][1]
            del out[j]
        else:
            out[j][2] = "sil"
            j += 1
    merged: list[Segment] = []
    for a, b, p in ((int(s[0]), int(s[1]), str(s[2])) for s in out):
        if merged and p == "sil" and merged[-1][2] == "sil" and merged[-1][1] == a:
            merged[-1] = (merged[-1][0], b, "sil")
        else:
            merged.append((a, b, p))
    return merged


def damaged(wav: Path, rows: list[Segment]) -> bool:
    """Whether the file reaches full scale or some labelled vowel sounds like noise, not a
    voice."""
    import soundfile as sf

    x, _ = sf.read(str(wav))
    corr = []
    for a, b, p in rows:
        if p in VOWELS and b - a > 80:
            s = x[a:b] - x[a:b].mean()
            energy = float(np.dot(s, s))
            corr.append(float(np.dot(s[1:], s[:-1])) / energy if energy > 0 else 0.0)
    return not corr or min(corr) < DAMAGED_BELOW or float(np.abs(x).max()) >= FULL_SCALE


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--timit", type=Path, required=True, help="NLTK's TIMIT sample folder")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    refused = []
    for utt in PICKED:
        src = args.timit / utt
        wav, phn = src.with_suffix(".wav"), src.with_suffix(".phn")
        if not (wav.is_file() and phn.is_file()):
            refused.append(f"{utt}: not in {args.timit}")
            continue
        rows = read_phn(phn)
        if damaged(wav, rows):
            refused.append(f"{utt}: the audio inside its vowels is noise (a damaged copy)")
            continue
        half = "development" if utt.startswith(DEVELOPMENT_REGIONS) else "test"
        folder = args.out / half / "timit"
        folder.mkdir(parents=True, exist_ok=True)
        name = "timit_" + utt.replace("/", "_")
        shutil.copyfile(wav, folder / f"{name}.wav")
        lines = [f"{a / SAMPLE_RATE:.4f} {b / SAMPLE_RATE:.4f} {p}\n" for a, b, p in convert(rows)]
        (folder / f"{name}.lab").write_text("".join(lines))
    for line in refused:
        print(line, file=sys.stderr)
    print(f"{len(PICKED) - len(refused)} of {len(PICKED)} clips written under {args.out}")
    return 1 if refused else 0


if __name__ == "__main__":
    raise SystemExit(main())
