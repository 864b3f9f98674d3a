"""Key points a user marks on a head (iBUG index -> vertex index): names, checks, JSON files."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from ..errors import LandmarkError
from .landmarks import N_LANDMARKS

# The six points every fit needs, then the ones that sharpen it (iBUG 68 indices; "right" and
# "left" are the subject's own sides, as in the canonical frame where +X is the subject's left).
REQUIRED = (36, 45, 30, 48, 54, 8)
OPTIONAL = (39, 42, 62, 66)
NAMES = {
    36: "right outer eye corner",
    45: "left outer eye corner",
    30: "nose tip",
    48: "right mouth corner",
    54: "left mouth corner",
    8: "chin",
    39: "right inner eye corner",
    42: "left inner eye corner",
    62: "upper inner lip midpoint",
    66: "lower inner lip midpoint",
}

# On a mesh whose lips are welded shut, facing inner-lip points may rightly be the same vertex.
SHAREABLE = frozenset({frozenset((61, 67)), frozenset((62, 66)), frozenset((63, 65))})


def describe(index: int) -> str:
    return f"{NAMES.get(index, 'landmark')} ({index})"


def validate_keypoints(keypoints: Mapping[int, int], n_vertices: int) -> dict[int, int]:
    """Checked copy of the key points; raises LandmarkError with one sentence on bad input."""
    out: dict[int, int] = {}
    for key, vert in keypoints.items():
        try:
            k, v = int(key), int(vert)
        except (TypeError, ValueError):
            msg = f"Key point {key!r} -> {vert!r} is not a pair of integers."
            raise LandmarkError(msg) from None
        if not 0 <= k < N_LANDMARKS:
            raise LandmarkError(f"Key point index {k} is not an iBUG landmark (0-67).")
        if not 0 <= v < n_vertices:
            raise LandmarkError(
                f"Key point {describe(k)} refers to vertex {v}, but the mesh has {n_vertices}."
            )
        out[k] = v
    missing = [k for k in REQUIRED if k not in out]
    if missing:
        raise LandmarkError(
            "Mark these key points before fitting: " + ", ".join(describe(k) for k in missing) + "."
        )
    seen: dict[int, int] = {}
    for k, v in out.items():
        if v in seen and frozenset((seen[v], k)) not in SHAREABLE:
            raise LandmarkError(
                f"Key points {describe(seen[v])} and {describe(k)} are the same vertex {v}."
            )
        seen[v] = k
    return out


def load_keypoints_json(path: str | Path) -> dict[int, int]:
    """Read `{"36": 1234, ...}` or `{"keypoints": {...}}`; ranges are checked by the fit."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LandmarkError(f"The key point file {p} does not exist.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LandmarkError(f"The key point file {p} is not readable JSON ({exc}).") from None
    if isinstance(data, dict) and isinstance(data.get("keypoints"), dict):
        data = data["keypoints"]
    if not isinstance(data, dict) or not data:
        raise LandmarkError(
            f'The key point file {p} must hold an object like {{"36": 1234, "45": 5678, ...}}.'
        )
    out: dict[int, int] = {}
    for key, vert in data.items():
        if isinstance(vert, bool) or not isinstance(vert, int):
            raise LandmarkError(f"In {p}, key point {key!r} must map to a vertex index (integer).")
        try:
            out[int(key)] = vert
        except ValueError:
            raise LandmarkError(f"In {p}, {key!r} is not an iBUG landmark number.") from None
    return out
