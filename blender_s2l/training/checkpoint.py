"""Training checkpoints (.pt): config + state dict + metadata, loaded without executing code.

The .pt files are what training writes and reads (resume, --init, averaging, evaluation); no bake
loads one. `export-numpy` turns them into the runtime .npz files (core/models/npz_weights.py),
which both the numpy runtime and the CUDA device read. The bundled models' checkpoints live in
CHECKPOINT_DIR, inside this package, so the extension zip (which leaves training/ out) never
carries them.

A checkpoint is a plain dict saved by torch.save and read back with weights_only=True, so a
tampered file can at worst fail to load; it can never run code.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.errors import WeightsError
from ..core.models.load import resolve_device
from ..core.models.npz_weights import check_kind, existing_weights_file
from ..core.models.s2d import S2D, S2DConfig
from ..core.models.s2l import S2L, S2LConfig
from ..core.models.upper_face import KIND as UPPER_FACE
from ..core.models.upper_face import UPPER_EXPRESSIONS, UpperFaceModel

FORMAT_VERSION = 1
CHECKPOINT_DIR = Path(__file__).parent / "checkpoints"
# The models training makes; the jaw map is fitted straight into its runtime .npz (fit-jaw).
CHECKPOINT_KINDS = ("s2l", "s2d", UPPER_FACE)


def checkpoint_file(kind: str, folder: str | Path = CHECKPOINT_DIR) -> Path:
    """The .pt of one kind in a folder (by default the bundled models' sources)."""
    if kind not in CHECKPOINT_KINDS:
        raise ValueError(f"no checkpoint kind {kind!r}; one of {CHECKPOINT_KINDS}")
    return Path(folder) / f"{kind}.pt"


@dataclass
class Checkpoint:
    kind: str
    config: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    metadata: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION


def save_checkpoint(path: str | Path, ckpt: Checkpoint) -> None:
    payload = {
        "format_version": ckpt.format_version,
        "kind": ckpt.kind,
        "config_json": json.dumps(ckpt.config, sort_keys=True),
        "metadata_json": json.dumps(ckpt.metadata, sort_keys=True),
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in ckpt.state_dict.items()},
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def load_checkpoint(path: str | Path, kind: str) -> Checkpoint:
    """Load a checkpoint of the given kind or raise WeightsError with one sentence."""
    path = existing_weights_file(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as exc:
        raise WeightsError(
            f"Weights file {path.name} is damaged or not a blender_s2l checkpoint "
            f"({type(exc).__name__})."
        ) from exc
    except Exception as exc:  # the unpickler raises many types on hostile input
        raise WeightsError(
            f"Weights file {path.name} was rejected by the safe loader ({type(exc).__name__})."
        ) from exc
    if not isinstance(payload, dict):
        raise WeightsError(f"Weights file {path.name} is not a blender_s2l checkpoint.")
    try:
        version = int(payload["format_version"])
        found_kind = str(payload["kind"])
        config = json.loads(payload["config_json"])
        metadata = json.loads(payload["metadata_json"])
        state = payload["state_dict"]
    except (KeyError, TypeError, ValueError) as exc:
        raise WeightsError(f"Weights file {path.name} is missing required fields.") from exc
    check_kind(path, version, FORMAT_VERSION, found_kind, kind)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"Weights file {path.name} has a malformed state dict.")
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise WeightsError(f"Weights file {path.name} has non-finite values in {name}.")
    return Checkpoint(found_kind, config, state, metadata, version)


# -- per model -----------------------------------------------------------------------------------


def s2l_checkpoint(model: S2L, metadata: dict[str, Any] | None = None) -> Checkpoint:
    return Checkpoint("s2l", asdict(model.config), dict(model.state_dict()), metadata or {})


def load_s2l(path: str | Path, device: torch.device | str = "cpu") -> S2L:
    ckpt = load_checkpoint(path, "s2l")
    model = S2L(S2LConfig.from_dict(ckpt.config))
    try:
        model.load_state_dict(ckpt.state_dict)
    except RuntimeError as exc:
        raise WeightsError(f"Weights file {Path(path).name} does not match the S2L model.") from exc
    model.metadata = ckpt.metadata  # type: ignore[assignment]
    return model.eval().to(device)


def state_digest(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 over names, shapes and bytes: torch's archive does not notice edited tensor data."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def save_s2d(path: str | Path, model: S2D, metadata: dict[str, Any] | None = None) -> None:
    state = dict(model.state_dict())
    meta = {**(metadata or {}), "state_sha256": state_digest(state)}
    save_checkpoint(path, Checkpoint("s2d", asdict(model.config), state, meta))


def load_s2d(path: str | Path, device: str | torch.device = "cpu") -> S2D:
    """Load an s2d checkpoint onto a device, or raise WeightsError with one sentence."""
    ckpt = load_checkpoint(path, "s2d")
    if ckpt.metadata.get("state_sha256") != state_digest(ckpt.state_dict):
        raise WeightsError(f"Weights file {Path(path).name} has been modified or damaged.")
    try:
        config = S2DConfig.from_dict(ckpt.config)
        model = S2D(config)
        model.load_state_dict(ckpt.state_dict, strict=True)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise WeightsError(
            f"Weights file {Path(path).name} does not match the S2D model ({type(exc).__name__})."
        ) from exc
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    return model.to(dev).eval()


def upper_face_checkpoint(model: UpperFaceModel,
                          metadata: dict[str, Any] | None = None) -> Checkpoint:
    return Checkpoint(UPPER_FACE, {"expressions": list(UPPER_EXPRESSIONS)},
                      {"basis": torch.from_numpy(model.basis.copy())}, metadata or {})


def load_upper_face(path: str | Path) -> UpperFaceModel:
    ckpt = load_checkpoint(path, UPPER_FACE)
    if "basis" not in ckpt.state_dict:
        raise WeightsError("Upper-face weights have no 'basis' tensor.")
    return UpperFaceModel(np.asarray(ckpt.state_dict["basis"].numpy()))
