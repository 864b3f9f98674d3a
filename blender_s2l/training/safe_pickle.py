"""Reading pickles of numpy arrays without letting the file run code.

pickle.load can call any importable function named in the file (os.system...). Data files such
as VOCASET's only need numpy array reconstruction and plain containers, so every other global is
refused before anything is called.
"""

from __future__ import annotations

import codecs
import pickle
from collections import OrderedDict, defaultdict
from functools import cache
from pathlib import Path
from typing import IO, Any, cast

import numpy as np

from ..core.errors import S2LError


@cache
def _allowed_globals() -> dict[tuple[str, str], Any]:
    """What array pickles (Python 2 and 3, numpy 1 and 2) reference; nothing that can run code."""
    reconstruct = cast(tuple[Any, ...], np.zeros(1).__reduce__())[0]
    frombuffer = cast(tuple[Any, ...], np.zeros(1).__reduce_ex__(5))[0]
    scalar = cast(tuple[Any, ...], np.float32(0).__reduce__())[0]
    table: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): codecs.encode,  # bytes in protocol-2 pickles
        ("collections", "OrderedDict"): OrderedDict,
        ("collections", "defaultdict"): defaultdict,
    }
    for core in ("numpy.core", "numpy._core"):
        table[(f"{core}.multiarray", "_reconstruct")] = reconstruct
        table[(f"{core}.multiarray", "scalar")] = scalar
        table[(f"{core}.numeric", "_frombuffer")] = frombuffer
    for mod in ("builtins", "__builtin__"):
        for t in (dict, list, tuple, set, frozenset, int, float, complex, str, bytes, bool):
            table[(mod, t.__name__)] = t
    return table


class _ArrayUnpickler(pickle.Unpickler):
    def __init__(self, file: IO[bytes], name: str) -> None:
        super().__init__(file, encoding="latin1")  # Python 2 pickles (VOCASET's) need latin1
        self._name = name

    def find_class(self, module: str, name: str) -> Any:
        found = _allowed_globals().get((module, name))
        if found is None:
            raise S2LError(
                f"{self._name} asks to load {module}.{name}, which a data file never needs; "
                "refusing to unpickle it."
            )
        return found


def safe_load_pickle(path: Path) -> Any:
    """A pickle of arrays and containers; anything else raises S2LError without running it."""
    if not path.is_file():
        raise S2LError(f"Data file {path.name} is missing from {path.parent}.")
    try:
        with path.open("rb") as f:
            return _ArrayUnpickler(f, path.name).load()
    except S2LError:
        raise
    except Exception as exc:
        raise S2LError(f"{path.name} is not a readable data pickle ({exc}).") from exc
