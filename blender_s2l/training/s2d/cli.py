"""`train-s2d`, `eval-s2d` and `fit-jaw` subcommands for `python -m blender_s2l.training`.

Also runs standalone: `python -m blender_s2l.training.s2d.cli train-s2d ...`.
"""

from __future__ import annotations

import argparse
from typing import Any

from ...core.models.load import weights_file
from ..checkpoint import checkpoint_file
from .evaluate import EvalSettings, run_eval
from .train import Trainer, TrainSettings


def _train(args: argparse.Namespace) -> int:
    settings = TrainSettings(
        out=args.out, work_dir=args.work_dir, minutes=args.minutes, seed=args.seed,
        threads=args.threads, n_identities=args.identities, n_remeshed=args.remeshed,
    )
    trainer = Trainer.from_ict(settings)
    trainer.run()
    print(f"S2D weights written to {args.out} after {trainer.step} steps; log: {trainer.log_path}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    run_eval(EvalSettings(
        weights=args.weights, jaw=args.jaw, out=args.out, n_identities=args.identities,
        frames=args.frames, threads=args.threads,
    ))
    print(f"S2D evaluation written to {args.out}")
    return 0


def _fit_jaw(args: argparse.Namespace) -> int:
    from .jaw_fit import main_fit

    main_fit(args.out, n_identities=args.identities, seed=args.seed)
    print(f"Jaw model written to {args.out}")
    return 0


def add_parser(subparsers: Any) -> None:
    """Register train-s2d, eval-s2d and fit-jaw on an argparse subparsers object."""
    p = subparsers.add_parser("train-s2d", help="train S2D on ICT identities (resumable)")
    p.add_argument("--out", default=str(checkpoint_file("s2d")))
    p.add_argument("--work-dir", default="out/s2d", help="training log and resume state")
    p.add_argument("--minutes", type=float, default=45.0, help="wall-clock training budget")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--identities", type=int, default=32, help="training identities")
    p.add_argument("--remeshed", type=int, default=16, help="re-topologised training variants")
    p.set_defaults(func=_train)
    e = subparsers.add_parser("eval-s2d", help="evaluate S2D against the RBF baseline")
    e.add_argument("--weights", default=str(checkpoint_file("s2d")))
    e.add_argument("--jaw", default=str(weights_file("jaw")))
    e.add_argument("--out", default="reports/s2d_eval.md")
    e.add_argument("--identities", type=int, default=10, help="held-out identities")
    e.add_argument("--frames", type=int, default=120)
    e.add_argument("--threads", type=int, default=1)
    e.set_defaults(func=_eval)
    j = subparsers.add_parser("fit-jaw", help="fit the landmark -> jaw rigid-motion map on ICT")
    j.add_argument("--out", default="blender_s2l/core/weights/jaw.npz")
    j.add_argument("--identities", type=int, default=32, help="training identities")
    j.add_argument("--seed", type=int, default=0)
    j.set_defaults(func=_fit_jaw)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="blender_s2l.training.s2d.cli")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
