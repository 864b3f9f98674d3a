"""Where the model files live: explicit folder, $BLENDER_S2L_WEIGHTS, or the bundled ones."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import WeightsError

BUNDLED_DIR = Path(__file__).parent / "weights"
MODEL_FILES = {
    "s2l": "s2l.pt", "s2d": "s2d.pt", "upper_face": "upper_face.pt", "jaw": "jaw.npz",
}
# The same networks as plain arrays (`export-numpy`): what the CPU runtime loads, without torch.
NUMPY_FILES = {"s2l": "s2l.npz", "s2d": "s2d.npz", "upper_face": "upper_face.npz"}


def weights_dir(override: str | Path | None = None) -> Path:
    if override:
        return Path(override)
    env = os.environ.get("BLENDER_S2L_WEIGHTS")
    return Path(env) if env else BUNDLED_DIR


def model_path(kind: str, override: str | Path | None = None) -> Path:
    folder = weights_dir(override)
    path = folder / MODEL_FILES[kind]
    if not path.is_file():
        raise WeightsError(f"The {kind} weights are missing: {path} does not exist.")
    return path


def numpy_paths(override: str | Path | None = None) -> dict[str, Path] | None:
    """The numpy weight files of the folder, or None unless all of them are there."""
    folder = weights_dir(override)
    paths = {kind: folder / name for kind, name in NUMPY_FILES.items()}
    return paths if all(p.is_file() for p in paths.values()) else None
