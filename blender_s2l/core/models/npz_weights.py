"""The runtime weight format: one .npz of plain float arrays plus a JSON header per model.

Read with `numpy.load(allow_pickle=False)`, so a tampered file can fail to load but never run
code, and reading it needs no torch: a bake on the CPU then imports neither torch nor its 1.5 s.
The .pt checkpoints stay the training format; `export-numpy` writes these from them.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import WeightsError

FORMAT_VERSION = 1
HEADER = "__header__"
MAX_BYTES = 64 * 1024 * 1024


@dataclass
class NpzWeights:
    kind: str
    config: dict[str, Any]
    arrays: dict[str, NDArray[np.float32]]
    metadata: dict[str, Any]


def save_npz(path: str | Path, weights: NpzWeights) -> None:
    header = {"format_version": FORMAT_VERSION, "kind": weights.kind, "config": weights.config,
              "metadata": weights.metadata}
    arrays: dict[str, Any] = {k: np.ascontiguousarray(v, dtype=np.float32)
                              for k, v in weights.arrays.items()}
    arrays[HEADER] = np.array(json.dumps(header, sort_keys=True))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


def existing_weights_file(path: str | Path) -> Path:
    """The path, if it is a file of plausible size; else WeightsError."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"Weights file not found: {path}.")
    if path.stat().st_size > MAX_BYTES:
        raise WeightsError(f"Weights file {path.name} is implausibly large; refusing to load it.")
    return path


def check_kind(path: Path, version: int, readable: int, found: str, kind: str) -> None:
    if version > readable:
        raise WeightsError(f"Weights file {path.name} has format {version}; this add-on reads up "
                           f"to {readable}.")
    if found != kind:
        raise WeightsError(f"Weights file {path.name} holds a '{found}' model, not '{kind}'.")


def load_npz(path: str | Path, kind: str) -> NpzWeights:
    """Load a weights file of the given kind or raise WeightsError with one sentence."""
    path = existing_weights_file(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            header = json.loads(str(z[HEADER][()]))
            arrays = {k: np.asarray(z[k]) for k in z.files if k != HEADER}
        version, found = int(header["format_version"]), str(header["kind"])
        config, metadata = dict(header["config"]), dict(header["metadata"])
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
        raise WeightsError(
            f"Weights file {path.name} is damaged or not a blender_s2l weights file "
            f"({type(exc).__name__})."
        ) from exc
    check_kind(path, version, FORMAT_VERSION, found, kind)
    for name, arr in arrays.items():
        if arr.dtype != np.float32:
            raise WeightsError(f"Weights file {path.name} has {arr.dtype} values in {name}.")
        if not np.all(np.isfinite(arr)):
            raise WeightsError(f"Weights file {path.name} has non-finite values in {name}.")
    return NpzWeights(found, config, arrays, metadata)


def expect_shapes(path: str | Path, arrays: dict[str, NDArray[Any]],
                  shapes: dict[str, tuple[int, ...]]) -> None:
    """Every array the network needs, with exactly the shape its config implies, and no other."""
    if set(arrays) != set(shapes):
        missing, extra = sorted(set(shapes) - set(arrays)), sorted(set(arrays) - set(shapes))
        raise WeightsError(f"Weights file {Path(path).name} does not match its model (missing "
                           f"{missing[:3]}, unexpected {extra[:3]}).")
    for name, shape in shapes.items():
        if arrays[name].shape != shape:
            raise WeightsError(f"Weights file {Path(path).name} has {name} of shape "
                               f"{arrays[name].shape}, expected {shape}.")
