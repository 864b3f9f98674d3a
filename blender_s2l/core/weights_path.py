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


def _is_file(path: Path) -> bool:
    """is_file() that answers a path the system cannot look up (too long, no permission) with
    a WeightsError sentence instead of an OSError."""
    try:
        return path.is_file()
    except OSError as exc:
        raise WeightsError(f"The weights folder cannot be read: {str(path)[:80]}... "
                           f"({(exc.strerror or type(exc).__name__).lower()}).") from None


def model_path(kind: str, override: str | Path | None = None) -> Path:
    folder = weights_dir(override)
    path = folder / MODEL_FILES[kind]
    if not _is_file(path):
        raise WeightsError(f"The {kind} weights are missing: {path} does not exist.")
    return path


def numpy_paths(override: str | Path | None = None) -> dict[str, Path] | None:
    """The numpy weight files of the folder, or None unless all of them are there."""
    folder = weights_dir(override)
    paths = {kind: folder / name for kind, name in NUMPY_FILES.items()}
    return paths if all(_is_file(p) for p in paths.values()) else None
