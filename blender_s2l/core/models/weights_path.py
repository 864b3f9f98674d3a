"""Where the runtime weights live: explicit folder, $BLENDER_S2L_WEIGHTS, or the bundled ones.

Every runtime weight is one `<kind>.npz` (npz_weights.py), and `weights_file` is the only place
that spells a name, so the bundle, the loader, export-numpy and the build cannot disagree. The .pt
checkpoints are a training format (training/checkpoint.py) and never read from here.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import WeightsError
from .npz_weights import REEXPORT

BUNDLED_DIR = Path(__file__).parents[1] / "weights"
# The networks and the jaw map a bake loads; the same names in every weights folder.
WEIGHT_KINDS = ("s2l", "s2d", "upper_face", "jaw")


def weights_dir(override: str | Path | None = None) -> Path:
    if override:
        return Path(override)
    env = os.environ.get("BLENDER_S2L_WEIGHTS")
    return Path(env) if env else BUNDLED_DIR


def weights_file(kind: str, folder: str | Path = BUNDLED_DIR) -> Path:
    """The file of one kind in a folder, whether or not it is there yet (export-numpy writes
    it)."""
    if kind not in WEIGHT_KINDS:
        raise ValueError(f"unknown weights kind {kind!r}; one of {WEIGHT_KINDS}")
    return Path(folder) / f"{kind}.npz"


def _is_file(path: Path) -> bool:
    """is_file() that answers a path the system cannot look up (too long, no permission) with
    a WeightsError sentence instead of an OSError."""
    try:
        return path.is_file()
    except OSError as exc:
        raise WeightsError(f"The weights folder cannot be read: {str(path)[:80]}... "
                           f"({(exc.strerror or type(exc).__name__).lower()}).") from None


def weights_path(kind: str, override: str | Path | None = None) -> Path:
    """The existing file of one kind in the folder a bake uses; else one sentence that says
    what to do. A folder from before the .npz format holds the training checkpoints instead, and
    only its owner can write the runtime copies (the arrays are theirs)."""
    path = weights_file(kind, weights_dir(override))
    if _is_file(path):
        return path
    if _is_file(path.with_suffix(".pt")):
        raise WeightsError(
            f"The weights folder {path.parent} holds {path.with_suffix('.pt').name} but no "
            f"{path.name}: .pt checkpoints are a training format that bakes no longer load, so "
            f"write the runtime files with `{REEXPORT}`.")
    raise WeightsError(f"The {kind} weights are missing: {path} does not exist.")
