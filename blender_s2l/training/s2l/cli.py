"""`python -m blender_s2l.training train-s2l ...`"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from ...core.speech.acoustic import ACOUSTIC_CHANNELS
from ..checkpoint import checkpoint_file
from .data import build_pairs
from .train import TrainSettings, evaluate_pairs, train_s2l

DEFAULT_OUT = checkpoint_file("s2l")


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("train-s2l", help="train the speech -> landmarks model")
    p.add_argument("--corpus", type=Path, nargs="+", default=[Path("cache/corpus")],
                   help="one or more corpus folders, trained on together")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--minutes", type=float, default=60.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--channels", type=int, default=128)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--init", type=Path, default=None,
                   help="fine-tune these weights (a closure head is added if they lack one)")
    p.add_argument("--closure-weight", type=float, default=0.5,
                   help="weight of the closure head's cross-entropy in the loss")
    p.add_argument("--focus", type=float, default=0.0,
                   help="share of training windows centred on a /p b m/ or a look-alike closure "
                        "(/t d k g n ng/)")
    p.add_argument("--voice-weight", action="append", default=[], metavar="PREFIX=FACTOR",
                   help="draw voices whose name starts with PREFIX FACTOR times as often "
                        "(repeatable), e.g. espeak=0.4")
    p.add_argument("--closure-speech-only", action="store_true",
                   help="train the closure head on spoken frames only (pauses are not closures)")
    p.add_argument("--no-closure-head", dest="closure_head", action="store_false",
                   help="train only the landmark regression (the pre-2026-12 model)")
    p.add_argument("--acoustic", action="store_true",
                   help="also hear pocketsphinx's phone posteriors (42 more input channels; "
                        "with --init, their weights start at zero)")
    p.add_argument("--mel-dropout", type=float, default=0.0, metavar="SHARE",
                   help="share of training windows whose mel bands are replaced by their mean, "
                        "so the network must hear them through the phone posteriors")
    p.add_argument("--jobs", type=int, default=1, help="processes that compute missing features")
    p.add_argument("--features-cache", type=Path, default=Path("cache/s2l_features"))
    p.add_argument("--log", type=Path, default=Path("cache/train_s2l.log.jsonl"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..corpus.manifest import load_corpus

    if not 0.0 <= args.mel_dropout < 1.0:
        raise SystemExit("--mel-dropout is a share of windows, from 0 up to (not) 1.")
    if args.mel_dropout and not args.acoustic:
        raise SystemExit("--mel-dropout needs --acoustic: without the mel bands a window "
                         "would be silent to the network.")
    utts = [u for root in args.corpus for u in load_corpus(root)]
    t0 = time.monotonic()
    n_acoustic = ACOUSTIC_CHANNELS if args.acoustic else 0
    pairs = build_pairs(utts, args.features_cache, n_acoustic, jobs=args.jobs)
    train = [p for p in pairs if p.split == "train"]
    val = [p for p in pairs if p.split != "train"]
    print(f"features: {len(train)} train / {len(val)} held-out in {time.monotonic() - t0:.0f} s")
    args.log.parent.mkdir(parents=True, exist_ok=True)
    settings = TrainSettings(
        minutes=args.minutes, seed=args.seed, channels=args.channels, batch=args.batch,
        threads=args.threads, init=args.init, closure_head=args.closure_head,
        closure_loss_weight=args.closure_weight, focus=args.focus,
        closure_speech_only=args.closure_speech_only,
        voice_weights=_voice_weights(args.voice_weight), n_acoustic=n_acoustic,
        mel_dropout=args.mel_dropout,
    )
    model = train_s2l(train, val, args.out, settings, args.log)
    print("held-out:", evaluate_pairs(model, val) if val else "no held-out utterances")
    return 0


def _voice_weights(items: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items:
        prefix, _, factor = item.partition("=")
        try:
            value = float(factor)
        except ValueError:
            value = -1.0
        if not prefix or not value >= 0:
            raise SystemExit(f"--voice-weight wants PREFIX=FACTOR (factor >= 0), got {item!r}")
        out[prefix] = value
    return out
