"""A mesh's facts (head_mesh.py) as arrays and JSON, for the bake cache's folder, and back.

What a bake finds on a mesh is arrays inside a few frozen dataclasses (the lids, lip contact,
surface points) and sparse matrices (a lid's follow rows). Only those named in `KNOWN` are
written or read back: an entry cannot make any other object, and an entry that names an
unknown type, lacks a field or an array, or has a field of another kind, fails to decode (the
cache then treats it as damaged and finds the fact afresh). Floats go through JSON as Python
writes them (repr), which reads back to the same double.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .eyelids import Eye, EyeFrame, Eyelids
from .lip_contact import LipContact, SurfacePoints

KNOWN: dict[str, type] = {c.__name__: c for c in (Eyelids, Eye, EyeFrame, LipContact,
                                                   SurfacePoints)}
Arrays = dict[str, NDArray[Any]]


class _Unreadable(ValueError):
    """Stored data that is not a fact this module wrote."""


def encode(value: Any) -> tuple[Arrays, dict[str, Any]]:
    """(arrays, meta) of a fact: arrays named by their place, meta the structure around them."""
    arrays: Arrays = {}
    return arrays, {"value": _encode(value, arrays, "v")}


def decode(arrays: Arrays, meta: dict[str, Any]) -> Any:
    """The fact `encode` was given; _Unreadable (a ValueError) for anything else."""
    if not isinstance(meta, dict) or "value" not in meta:
        raise _Unreadable("no value")
    used: set[str] = set()
    out = _decode(meta["value"], arrays, used)
    if used != set(arrays):
        raise _Unreadable("arrays the structure does not name")
    return out


def _encode(value: Any, arrays: Arrays, name: str) -> dict[str, Any]:
    if isinstance(value, np.ndarray):
        arrays[name] = np.ascontiguousarray(value)
        return {"array": name}
    if _is_csr(value):
        for part in ("data", "indices", "indptr"):
            arrays[f"{name}.{part}"] = np.ascontiguousarray(getattr(value, part))
        return {"csr": name, "shape": [int(n) for n in value.shape]}
    if is_dataclass(value) and not isinstance(value, type):
        kind = type(value).__name__
        if KNOWN.get(kind) is not type(value):
            raise TypeError(f"{kind} is not a fact type this cache stores")
        return {"type": kind, "fields": {f.name: _encode(getattr(value, f.name), arrays,
                                                         f"{name}.{f.name}")
                                         for f in fields(value)}}
    if isinstance(value, tuple):
        return {"tuple": [_encode(x, arrays, f"{name}.{k}") for k, x in enumerate(value)]}
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"plain": value}
    raise TypeError(f"cannot store a {type(value).__name__}")


def _decode(node: Any, arrays: Arrays, used: set[str]) -> Any:
    if not isinstance(node, dict) or len(node) > 2:
        raise _Unreadable("not a node")
    if "array" in node:
        return _array(node["array"], arrays, used)
    if "csr" in node:
        import scipy.sparse as sp

        name, shape = node["csr"], node.get("shape")
        if not (isinstance(shape, list) and len(shape) == 2
                and all(isinstance(n, int) and n >= 0 for n in shape)):
            raise _Unreadable("csr shape")
        m = sp.csr_matrix((_array(f"{name}.data", arrays, used),
                           _array(f"{name}.indices", arrays, used),
                           _array(f"{name}.indptr", arrays, used)), shape=tuple(shape))
        m.check_format(full_check=True)  # indices within the shape, indptr in order
        return m
    if "type" in node:
        cls = KNOWN.get(node["type"]) if isinstance(node["type"], str) else None
        values = node.get("fields")
        if cls is None or not isinstance(values, dict) \
                or set(values) != {f.name for f in fields(cls)}:
            raise _Unreadable("type or fields")
        return cls(**{k: _decode(v, arrays, used) for k, v in values.items()})
    if "tuple" in node and isinstance(node["tuple"], list):
        return tuple(_decode(x, arrays, used) for x in node["tuple"])
    if "plain" in node and (node["plain"] is None
                            or isinstance(node["plain"], (bool, int, float, str))):
        return node["plain"]
    raise _Unreadable("unknown node")


def _array(name: Any, arrays: Arrays, used: set[str]) -> NDArray[Any]:
    if not isinstance(name, str) or name not in arrays or name in used:
        raise _Unreadable("array")
    used.add(name)
    return arrays[name]


def _is_csr(value: Any) -> bool:
    """A scipy CSR matrix, told without importing scipy (a fact without one never needs it)."""
    return type(value).__module__.startswith("scipy.sparse") and \
        getattr(value, "format", None) == "csr"
