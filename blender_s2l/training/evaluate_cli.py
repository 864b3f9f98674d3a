"""`python -m blender_s2l.training evaluate [--speech DIR] [--corpus DIR] --out reports/`"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .ict import ict_path, shared_data_dir


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("evaluate", help="lip-sync yardsticks, baselines, PNG timelines")
    p.add_argument("--weights", type=Path, default=None,
                   help="weights folder (s2l, s2d, upper_face, jaw .npz)")
    p.add_argument("--speech", type=Path, nargs="+",
                   default=[shared_data_dir() / "speech", Path("cache/real_speech")],
                   help="folders searched for wav files with .lab/.TextGrid/.tsv alignments "
                        "(default: the shared clips and what `fetch-speech` fetched)")
    p.add_argument("--alignments", type=Path, default=Path("reports/alignments"),
                   help="extra alignments made by `align` (<folder>/<stem>.lab)")
    p.add_argument("--corpus", type=Path, default=None, help="synthetic corpus (held-out split)")
    p.add_argument("--no-recognise", action="store_true",
                   help="skip the Recognise Words rows (pocketsphinx, the slowest part)")
    p.add_argument("--no-mesh", action="store_true",
                   help="skip the baked-mesh yardstick on the head panel (evaluate-mesh)")
    p.add_argument("--out", type=Path, default=Path("reports"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..core.animate import Animator
    from ..core.speech.recognise import pocketsphinx_available
    from .evaluate import REAL_KEYS, SYNTH_KEYS, evaluate_real, evaluate_synthetic, markdown
    from .pooled import pooled_closure_table

    anim = Animator.load(device="cpu", weights_dir=args.weights)
    args.out.mkdir(parents=True, exist_ok=True)
    parts = []
    if args.corpus is not None:
        rows = evaluate_synthetic(anim, args.corpus)
        parts.append("## Synthetic held-out voices (S2L landmarks, canonical mm)\n\n"
                     + markdown(rows, SYNTH_KEYS))
    wavs = [w for d in args.speech if d.is_dir() for w in sorted(d.rglob("*.wav"))]
    recognise = not args.no_recognise and pocketsphinx_available()
    if not args.no_recognise and not recognise:
        print("pocketsphinx is not installed: no Recognise Words rows.")
    if not args.no_mesh and ict_path().is_file():
        from .mesh_eval import evaluate_panel

        parts.append("## Real speech on the baked mesh of the head panel (what a user sees)\n\n"
                     + evaluate_panel(anim, args.speech, args.alignments, recognise,
                                      args.out / "mesh_lips.md"))
    rows = evaluate_real(anim, wavs, args.out, args.alignments, recognise)
    if rows:
        parts.append("## Real speech with phone labels, canonical landmarks (S2L's own track, "
                     "not a mesh; 30 fps)\n\n" + markdown(rows, REAL_KEYS))
        parts.append("## Bilabial closure over all real clips, canonical landmarks\n\n"
                     + pooled_closure_table(rows))
    text = "\n\n".join(parts) + "\n"
    (args.out / "evaluation.md").write_text(text)
    print(text)
    return 0
