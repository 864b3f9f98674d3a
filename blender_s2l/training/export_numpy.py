"""`export-numpy`: the runtime's .npz copies of the .pt networks in a weights folder.

Training writes torch checkpoints; the add-on runs the same arrays with numpy (no torch in
Blender's Python, and no torch import at cold start). Run this after any model in the folder
changes; a test checks the bundled pairs are equal, array for array. Each file records a SHA-256
of its config and arrays, which the runtime checks; a jaw.npz from before that (format 1) is
re-written with one here, its arrays unchanged, since it has no .pt to export from.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..core.inner_parts import reseal_jaw
from ..core.models.npz_weights import load_npz
from ..core.models.numpy_nets import NumpyS2D, NumpyS2L, save_numpy
from ..core.models.upper_face import UpperFaceModel
from ..core.weights_path import BUNDLED_DIR, MODEL_FILES, NUMPY_FILES


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def state_arrays(model: Any) -> dict[str, NDArray[np.float32]]:
    """A torch module's parameters and buffers as float32 numpy arrays, by state-dict name."""
    return {k: v.detach().cpu().numpy().astype(np.float32) for k, v in model.state_dict().items()}


def export_numpy(folder: Path) -> list[Path]:
    """The .npz copies written, and jaw.npz when it was re-written with a digest."""
    from ..core.models.s2d import load_s2d
    from ..core.models.s2l import load_s2l

    src = {kind: folder / MODEL_FILES[kind] for kind in NUMPY_FILES}
    out = {kind: folder / name for kind, name in NUMPY_FILES.items()}
    meta = {kind: {"source": p.name, "source_sha256": _sha256(p)} for kind, p in src.items()}
    s2l = load_s2l(src["s2l"])
    save_numpy(out["s2l"], NumpyS2L(s2l.config, state_arrays(s2l)), meta["s2l"])
    s2d = load_s2d(src["s2d"])
    save_numpy(out["s2d"], NumpyS2D(s2d.config, state_arrays(s2d)), meta["s2d"])
    UpperFaceModel.load(src["upper_face"]).save_npz(out["upper_face"], meta["upper_face"])
    jaw = folder / MODEL_FILES["jaw"]
    resealed = [jaw] if jaw.is_file() and reseal_jaw(jaw) else []
    return list(out.values()) + resealed


def numpy_mismatches(folder: Path) -> list[str]:
    """What differs between each .pt and its .npz (empty: they hold the same arrays)."""
    from ..core.models.checkpoint import load_checkpoint

    problems = []
    for kind, name in NUMPY_FILES.items():
        pt = folder / MODEL_FILES[kind]
        ckpt, npz = load_checkpoint(pt, kind), load_npz(folder / name, kind)
        if npz.metadata.get("source_sha256") != _sha256(pt):
            problems.append(f"{name} was exported from another {pt.name}")
        state = {k: v.numpy() for k, v in ckpt.state_dict.items()}
        if set(state) != set(npz.arrays):
            problems.append(f"{name} holds other arrays than {pt.name}")
            continue
        problems += [f"{name}: {k} differs" for k in state
                     if not np.array_equal(state[k].astype(np.float32), npz.arrays[k])]
    return problems


def _run(args: argparse.Namespace) -> int:
    for path in export_numpy(Path(args.weights_dir)):
        print(f"wrote {path}")
    return 0


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("export-numpy", help="write .npz runtime copies of the .pt models")
    p.add_argument("--weights-dir", default=str(BUNDLED_DIR))
    p.set_defaults(func=_run)
