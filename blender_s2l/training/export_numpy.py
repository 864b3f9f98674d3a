"""`export-numpy`: the runtime .npz files of the .pt checkpoints training writes.

Training writes torch checkpoints; every bake reads only the .npz copies (numpy on the CPU, torch
modules built from them on CUDA), so nothing a user installs needs a .pt. Run this after any
checkpoint changes; a test checks the bundled pairs are equal, array for array. Each file records
a SHA-256 of its config and arrays, which the runtime checks; a jaw.npz from before that (format
1) is re-written with one here, its arrays unchanged, since it has no .pt to export from.

By default the bundled checkpoints (training/checkpoints/) are written into the bundled weights
(core/weights/); `--weights-dir FOLDER` exports a folder of a user's own checkpoints in place.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..core.head.inner_parts import reseal_jaw
from ..core.models.load import ACOUSTIC_FILE, BUNDLED_DIR, weights_file
from ..core.models.npz_weights import load_npz
from ..core.models.numpy_nets import NumpyS2D, NumpyS2L, save_numpy
from .checkpoint import (
    CHECKPOINT_DIR,
    CHECKPOINT_KINDS,
    checkpoint_file,
    load_checkpoint,
    load_s2d,
    load_s2l,
    load_upper_face,
)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def state_arrays(model: Any) -> dict[str, NDArray[np.float32]]:
    """A torch module's parameters and buffers as float32 numpy arrays, by state-dict name: the
    names core/models/load.py gives back to the torch modules on CUDA."""
    return {k: v.detach().cpu().numpy().astype(np.float32) for k, v in model.state_dict().items()}


def _source(path: Path, metadata: dict[str, Any]) -> dict[str, Any]:
    """Where an export came from; a random model says so, so a render never passes it off as a
    trained one."""
    meta: dict[str, Any] = {"source": path.name, "source_sha256": _sha256(path)}
    if metadata.get("random"):
        meta["random"] = True
    return meta


def export_numpy(folder: Path, out: Path | None = None) -> list[Path]:
    """The .npz files written into out (default: folder, beside its checkpoints), and jaw.npz
    there when it was re-written with a digest."""
    out = folder if out is None else out
    src = {kind: checkpoint_file(kind, folder) for kind in CHECKPOINT_KINDS}
    dst = {kind: weights_file(kind, out) for kind in CHECKPOINT_KINDS}
    meta = {kind: _source(p, load_checkpoint(p, kind).metadata) for kind, p in src.items()}
    s2l = load_s2l(src["s2l"])
    save_numpy(dst["s2l"], NumpyS2L(s2l.config, state_arrays(s2l)), meta["s2l"])
    s2d = load_s2d(src["s2d"])
    save_numpy(dst["s2d"], NumpyS2D(s2d.config, state_arrays(s2d)), meta["s2d"])
    load_upper_face(src["upper_face"]).save_npz(dst["upper_face"], meta["upper_face"])
    jaw = weights_file("jaw", out)
    bundled_jaw = weights_file("jaw", BUNDLED_DIR)
    if not jaw.is_file() and bundled_jaw.is_file():
        # The jaw map is fitted on the ICT pack, not trained with S2L: a folder of the user's
        # own checkpoints bakes with the bundled one (without it, no bake can load the folder).
        shutil.copyfile(bundled_jaw, jaw)
        return [*dst.values(), jaw]
    resealed = [jaw] if jaw.is_file() and reseal_jaw(jaw) else []
    return list(dst.values()) + resealed


def numpy_mismatches(folder: Path, out: Path | None = None) -> list[str]:
    """What differs between each .pt in folder and its .npz in out (default: folder); empty
    when they hold the same arrays."""
    out = folder if out is None else out
    problems = []
    for kind in CHECKPOINT_KINDS:
        pt, npz_path = checkpoint_file(kind, folder), weights_file(kind, out)
        ckpt, npz = load_checkpoint(pt, kind), load_npz(npz_path, kind)
        name = npz_path.name
        if npz.metadata.get("source_sha256") != _sha256(pt):
            problems.append(f"{name} was exported from another {pt.name}")
        state = {k: v.numpy() for k, v in ckpt.state_dict.items()}
        if set(state) != set(npz.arrays):
            problems.append(f"{name} holds other arrays than {pt.name}")
            continue
        problems += [f"{name}: {k} differs" for k in state
                     if not np.array_equal(state[k].astype(np.float32), npz.arrays[k])]
    return problems


ACOUSTIC_LICENCE = "ACOUSTIC_MODEL_LICENSE.txt"  # beside the bundled copy


def export_acoustic(out: Path = ACOUSTIC_FILE) -> list[Path]:
    """The bundled copy of what core/speech/acoustic.py reads of pocketsphinx's en-us model
    (Gaussians, feat.params, the CI states' weights), so a bake of an S2L that hears phone
    posteriors needs no pocketsphinx; exported from the installed package, unchanged, with the
    model's own licence notice (its README, BSD-2-Clause) written beside it, since the licence
    asks that a redistribution reproduce it."""
    import pocketsphinx  # only for its version: which model this copy came from

    from ..core.models.npz_weights import NpzWeights, save_npz
    from ..core.speech import acoustic

    source = acoustic.model_dir()
    config, arrays = acoustic.files_as_npz(acoustic.read_package_files(source))
    save_npz(out, NpzWeights(acoustic.ACOUSTIC_KIND, config, arrays, {
        "source": f"pocketsphinx {getattr(pocketsphinx, '__version__', '?')} model/en-us/en-us",
        "licence": f"BSD-2-Clause (Alpha Cephei Inc.), {ACOUSTIC_LICENCE}"}))
    licence = out.with_name(ACOUSTIC_LICENCE)
    licence.write_text((source / "README").read_text(encoding="utf-8"), encoding="utf-8")
    return [out, licence]


def _run(args: argparse.Namespace) -> int:
    if args.weights_dir is None:
        written = export_numpy(CHECKPOINT_DIR, BUNDLED_DIR)
        if load_s2l(checkpoint_file("s2l")).config.n_acoustic:
            written += export_acoustic()
    else:
        written = export_numpy(Path(args.weights_dir))
    for path in written:
        print(f"wrote {path}")
    return 0


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("export-numpy", help="write the .npz runtime files of .pt models")
    p.add_argument("--weights-dir", default=None,
                   help="a folder of s2l/s2d/upper_face.pt to export in place (default: the "
                        "bundled checkpoints into the bundled weights)")
    p.set_defaults(func=_run)
