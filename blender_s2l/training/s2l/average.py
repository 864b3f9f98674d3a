"""S2L checkpoints made from others, without training.

`average-s2l A.pt B.pt ... --out C.pt`: the mean of S2L checkpoints of one lineage. Two
fine-tunes of the same weights that tie on held-out data make different mistakes; their average
(a "model soup") keeps what they share. It only makes sense for checkpoints that grew from one
another (same shapes, nearby weights): others are refused.

`posteriors-only-s2l A.pt --out B.pt`: A with the mel columns of its input layer at zero (what
`train-s2l --mel-dropout` showed it in a dropped window; candidate F-post).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from ...core.errors import WeightsError
from ...core.models.s2l import S2L
from ..checkpoint import load_s2l, s2l_checkpoint, save_checkpoint
from .train import posteriors_only


def average_s2l(paths: list[Path]) -> S2L:
    if len(paths) < 2:
        raise WeightsError("average-s2l needs at least two checkpoints.")
    models = [load_s2l(p) for p in paths]
    first = models[0]
    if any(m.config != first.config for m in models[1:]):
        raise WeightsError("These S2L checkpoints have different shapes; only one lineage "
                           "averages.")
    states = [m.state_dict() for m in models]
    mean = {k: torch.stack([s[k] for s in states]).mean(0) if v.is_floating_point() else v
            for k, v in states[0].items()}
    first.load_state_dict(mean)
    first.metadata = {"averaged": [str(p) for p in paths]}  # type: ignore[assignment]
    return first


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("average-s2l", help="average S2L checkpoints of one lineage")
    p.add_argument("checkpoints", type=Path, nargs="+")
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=run)
    p = subparsers.add_parser("posteriors-only-s2l",
                              help="an S2L checkpoint with its mel input columns at zero")
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=run_posteriors_only)


def _save(model: S2L, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out, s2l_checkpoint(model, dict(getattr(model, "metadata", {}))))


def run(args: argparse.Namespace) -> int:
    _save(average_s2l(list(args.checkpoints)), args.out)
    print(f"averaged {len(args.checkpoints)} checkpoints -> {args.out}")
    return 0


def run_posteriors_only(args: argparse.Namespace) -> int:
    _save(posteriors_only(load_s2l(args.checkpoint)), args.out)
    print(f"{args.checkpoint} without its mel bands -> {args.out}")
    return 0
