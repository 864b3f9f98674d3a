"""`python -m blender_s2l.training corpus ...`: build (or extend) the synthetic corpus."""

from __future__ import annotations

import argparse
import time


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("corpus", help="render the synthetic TTS + ICT training corpus")
    p.add_argument("--out", default="cache/corpus", help="corpus folder (cached, resumable)")
    p.add_argument("--hours", type=float, default=3.0, help="hours of audio (default 3)")
    p.add_argument("--minutes", type=float, default=None, help="overrides --hours")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=1, help="parallel render processes")
    p.add_argument("--text", choices=("coverage", "everyday"), default="coverage",
                   help="coverage: rare-phone sentences (default); everyday: conversational "
                        "frames with common words")
    p.add_argument("--engines", default=None,
                   help="comma-separated TTS engines to draw voices from (default: all), "
                        "e.g. festival,flite for the voices made from human recordings")
    p.add_argument("--retarget", action="store_true",
                   help="only re-make the face targets of an existing corpus with the current "
                        "teacher (seconds; no TTS)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .build import build_corpus
    from .voices import VOICES

    if args.retarget:
        from .targets import retarget_corpus

        t0 = time.time()
        n = retarget_corpus(args.out)
        print(f"retargeted {n} utterances in {time.time() - t0:.0f} s -> {args.out}")
        return 0
    seconds = args.minutes * 60 if args.minutes is not None else args.hours * 3600
    t0 = time.time()
    engines = tuple(e.strip() for e in args.engines.split(",")) if args.engines else None
    known = sorted({v.engine for v in VOICES})
    if engines and not set(engines) <= set(known):
        print(f"--engines: choose among {', '.join(known)} (got {args.engines!r})")
        return 2
    recs = build_corpus(args.out, seconds, seed=args.seed, jobs=args.jobs,
                        progress=lambda m: print(m, flush=True), text=args.text, engines=engines)
    audio = sum(r["duration"] for r in recs)
    held = sum(1 for r in recs if r["split"] != "train")
    print(f"corpus: {len(recs)} utterances ({held} held out), {audio / 60:.1f} min of audio "
          f"in {time.time() - t0:.0f} s -> {args.out}")
    return 0
