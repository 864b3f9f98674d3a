"""What the object remembers: the takes it owns and its 68 landmark vertices."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..core.errors import LandmarkError
from .names import LANDMARK_ATTR, TAKES_PROP
from .rna import Object


@dataclass
class TakeRecord:
    """One bake of one strip onto one object, as stored in the object's custom property."""

    take: str
    strip: str
    mode: str
    keys: list[str] = field(default_factory=list)
    action: str = ""
    track: str = ""
    frame_start: int = 0
    frame_end: int = 0
    max_error_mm: float = 0.0


def read_takes(obj: Object) -> dict[str, TakeRecord]:
    raw = obj.get(TAKES_PROP)
    if not raw:
        return {}
    try:
        data: dict[str, dict[str, Any]] = json.loads(str(raw))
        return {name: TakeRecord(**rec) for name, rec in data.items()}
    except (ValueError, TypeError):
        return {}


def write_takes(obj: Object, takes: dict[str, TakeRecord]) -> None:
    if takes:
        obj[TAKES_PROP] = json.dumps({n: asdict(r) for n, r in takes.items()})
    elif TAKES_PROP in obj:
        del obj[TAKES_PROP]


def stored_landmarks(obj: Object) -> NDArray[np.int64] | None:
    """(68,) vertex indices from the object's landmark attribute, or None when it has none."""
    mesh = obj.data
    attr = mesh.attributes.get(LANDMARK_ATTR)
    if attr is None:
        return None
    if attr.domain != "POINT" or attr.data_type != "INT":
        raise LandmarkError(
            f"The attribute '{LANDMARK_ATTR}' on '{obj.name}' must be an integer vertex attribute."
        )
    values = np.zeros(len(mesh.vertices), dtype=np.int32)
    attr.data.foreach_get("value", values)
    marked = np.flatnonzero(values >= 0)
    labels = values[marked]
    if labels.size != 68 or set(labels.tolist()) != set(range(68)):
        raise LandmarkError(
            f"The attribute '{LANDMARK_ATTR}' on '{obj.name}' marks {labels.size} vertices; "
            "it needs each landmark 0-67 exactly once."
        )
    order = np.argsort(labels)
    return marked[order].astype(np.int64)


def store_landmarks(obj: Object, indices: NDArray[np.integer[Any]]) -> None:
    """Write 68 landmark vertex indices (iBUG order) to the object's mesh."""
    idx = np.asarray(indices, dtype=np.int64)
    n = len(obj.data.vertices)
    if idx.shape != (68,) or idx.min() < 0 or idx.max() >= n or len(set(idx.tolist())) != 68:
        raise LandmarkError("Landmarks must be 68 distinct vertex indices of the mesh.")
    mesh = obj.data
    attr = mesh.attributes.get(LANDMARK_ATTR)
    if attr is not None:
        mesh.attributes.remove(attr)
    attr = mesh.attributes.new(LANDMARK_ATTR, "INT", "POINT")
    values = np.full(n, -1, dtype=np.int32)
    values[idx] = np.arange(68, dtype=np.int32)
    attr.data.foreach_set("value", values)
