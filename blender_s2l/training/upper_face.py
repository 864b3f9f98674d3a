"""Builds the upper_face.pt checkpoint: ICT's eye/brow shapes sampled at the 68 landmarks.

`export-numpy` then writes the runtime upper_face.npz from it.
"""

from __future__ import annotations

import argparse

import numpy as np

from ..core.head.landmarks import JAW, MOUTH
from ..core.models.upper_face import UPPER_EXPRESSIONS, UpperFaceModel
from .checkpoint import Checkpoint, upper_face_checkpoint
from .ict import ICTFace


def build_upper_face_checkpoint(ict: ICTFace) -> Checkpoint:
    """Mouth and jaw rows are zeroed so sampled blinks/brows can never move the lips."""
    basis = np.stack([ict.expression_deltas[ict.expression_index(n)][ict.landmarks68]
                      for n in UPPER_EXPRESSIONS]).astype(np.float32)
    leak = float(np.abs(basis[:, np.concatenate([JAW, MOUTH])]).max())
    basis[:, JAW] = 0.0
    basis[:, MOUTH] = 0.0
    meta = {"source": "ICT FaceKit expression shapes at landmarks68 (canonical mm)",
            "zeroed_mouth_jaw_max_mm": round(leak, 4)}
    return upper_face_checkpoint(UpperFaceModel(basis), meta)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("upper-face", help="rebuild the upper_face.pt checkpoint from ICT FaceKit")
    p.add_argument("--out", default=None, help="default: the bundled checkpoint")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .checkpoint import checkpoint_file, save_checkpoint
    from .ict import load_ict

    out = args.out or checkpoint_file("upper_face")
    save_checkpoint(out, build_upper_face_checkpoint(load_ict()))
    print(f"upper-face basis written to {out}")
    return 0
