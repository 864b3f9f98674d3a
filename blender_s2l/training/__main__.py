"""`python -m blender_s2l.training <command>`: a thin dispatcher; each command lives in its own
module and registers itself with an `add_parser(subparsers)` function."""

from __future__ import annotations

import argparse
import sys

from ..core.errors import S2LError


def main(argv: list[str] | None = None) -> int:
    from . import (
        align,
        evaluate_cli,
        export_numpy,
        fetch_speech,
        mesh_eval,
        rig_eval,
        transcript_bench,
        tune_closure,
        upper_face,
    )
    from .corpus import cli as corpus_cli
    from .s2d import cli as s2d_cli
    from .s2l import average as s2l_average
    from .s2l import cli as s2l_cli

    parser = argparse.ArgumentParser(prog="python -m blender_s2l.training")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in (align, fetch_speech, corpus_cli, s2l_cli, s2l_average, s2d_cli, evaluate_cli,
                   mesh_eval, rig_eval, tune_closure, upper_face, export_numpy, transcript_bench):
        module.add_parser(sub)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except S2LError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
