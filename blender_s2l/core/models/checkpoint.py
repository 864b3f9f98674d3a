"""Versioned checkpoints: config + state dict + metadata, loaded without executing code.

A checkpoint is a plain dict saved by torch.save and read back with weights_only=True, so a
tampered file can at worst fail to load; it can never run code.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import WeightsError
from .npz_weights import check_kind, existing_weights_file

FORMAT_VERSION = 1


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
