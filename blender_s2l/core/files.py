"""Files written whole or not at all.

A bake's products outlive the process that writes them (exports read by engines, cache entries
read by the next session, a farm's merged report), and a killed run or a full disk must never
leave half a file where a whole one was, so every such file is written beside its target under a
temporary name, synced, and renamed over it in one step.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO


def write_atomic(path: Path, write: Callable[[IO[bytes]], object], *, prefix: str = "",
                 suffix: str = ".tmp", mode: int | None = None) -> None:
    """Write `path` through `write(file)`: the old file stays until the new one is complete,
    and no temporary file is left behind either way. `mode` sets the permissions (a temporary
    file is private). The OSError of a failure is the caller's to put into its own sentence."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=prefix or f".{path.name[:80]}.",
                                suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        if mode is not None:
            os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
