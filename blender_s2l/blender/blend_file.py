"""Writing a .blend so that nobody ever finds a half-written or vanished output.

Blender's compressed save reports success when the disk fills up (the file is simply cut
short), and `save_as_mainfile` over an existing file first moves it aside to `.blend1`, so a
batch that trusted the return value printed "ok" over an unreadable file, and two runs writing
one path could leave only the backup. Here the file is written under a name of its own in the
output's folder (relative paths are remapped for the right folder, and the final rename stays
on one file system), read back, and only then renamed over the output in one step.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

from ..core.errors import BakeError
from .compat import BLEND_END_BLOCK

_ZSTD = b"\x28\xb5\x2f\xfd"
_SEEK_TABLE_END = b"\xb1\xea\x92\x8f"  # Blender ends a compressed file with a zstd seek table
_TEMP_SUFFIX = ".s2l-tmp"


def save_verified(out: Path, object_name: str) -> None:
    """Save the open file as out, or raise BakeError and leave out as it was."""
    folder = out.parent
    if out.is_dir():
        raise BakeError(f"The output {out} is a folder, not a file name.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BakeError(f"The output folder {folder} cannot be created: {exc.strerror}.") from None
    # Never an existing name, so Blender makes no .blend1 backup of it either.
    temp = folder / f".{out.name[:80]}.{os.getpid()}-{secrets.token_hex(4)}{_TEMP_SUFFIX}"
    untouched = f"{out.name} was left as it was" if out.exists() else f"no {out.name} was written"
    try:
        try:
            result = _write_copy(temp)
        except RuntimeError as exc:  # its reason is often a stale errno: find the real one
            refused = _refuses_files(folder)
            if refused:
                raise BakeError(f"Blender could not write {out}: its folder does not take new "
                                f"files ({refused}); {untouched}.") from None
            raise BakeError(f"Blender could not write {out} ({_first_line(exc)}) with "
                            f"{_free_space(folder)} free on its disk; {untouched}.") from None
        problem = "was not saved" if result != {"FINISHED"} else blend_problem(temp, object_name)
        if problem:
            raise BakeError(f"The file written for {out} {problem}, with {_free_space(folder)} "
                            f"free on its disk; {untouched}.")
        _flush_to_disk(temp)
        try:
            verified = temp.stat()
            os.replace(temp, out)
        except OSError as exc:
            raise BakeError(f"The finished file could not be moved to {out}: {exc.strerror}; "
                            f"{untouched}.") from None
    finally:
        for leftover in (temp, Path(f"{temp}@"), Path(f"{temp}1")):
            with contextlib.suppress(OSError):
                leftover.unlink(missing_ok=True)
    try:  # what a reader now finds at out: the very file read back above ...
        now = out.stat()
    except OSError as exc:
        raise BakeError(f"{out} is gone right after it was written ({exc.strerror}).") from None
    if (now.st_dev, now.st_ino) != (verified.st_dev, verified.st_ino):
        problem = blend_problem(out, object_name)  # ... or another run's, renamed over it since
        if problem:
            raise BakeError(f"{out} {problem} once in place (another run wrote it meanwhile).")


def _write_copy(path: Path) -> set[str]:
    """A copy: the open file keeps its own path, so later jobs and the user see no temp name."""
    import bpy

    save: Any = bpy.ops.wm.save_as_mainfile
    return {str(s) for s in save(filepath=str(path), check_existing=False, copy=True)}


def blend_problem(path: Path, object_name: str) -> str:
    """Why the file at path is not a whole .blend holding the object, or "" when it is.

    The end of the file is checked as well as its listing, because a cut that removes only the
    tail still lists; the listing is read through `bpy.data.libraries.load`, which opens the
    file on its own and adds nothing to the open one.
    """
    import bpy

    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(12)
            fh.seek(max(0, size - 64))
            tail = fh.read()
    except OSError as exc:
        return f"cannot be read back ({exc.strerror})"
    if size == 0:
        return "is empty"
    if head.startswith(_ZSTD):
        if not tail.endswith(_SEEK_TABLE_END):
            return "is cut short (its compressed data has no end)"
    elif head.startswith(b"BLENDER"):
        if not tail.endswith(BLEND_END_BLOCK):  # a whole file ends with it
            return "is cut short (it has no end block)"
    else:
        return "is not a .blend file"
    libraries: Any = bpy.data.libraries  # the stubs do not know load() is a context manager
    try:
        with libraries.load(str(path)) as (data_from, _):
            objects = list(_names(data_from.objects))
    except ValueError as exc:  # Blender will not list the file that is open in it
        if _is_open_file(path):
            return ""
        return f"cannot be read back ({_first_line(exc)})"
    except (OSError, RuntimeError) as exc:
        return f"cannot be read back ({_first_line(exc)})"
    if object_name not in objects:
        return f"does not hold the object '{object_name}'"
    return ""


def _is_open_file(path: Path) -> bool:
    import bpy

    return bool(bpy.data.filepath) and os.path.realpath(bpy.data.filepath) == os.path.realpath(
        path)


def _names(listing: Any) -> list[str]:
    return [str(n) for n in listing]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().removeprefix("Error:").strip()
    return text.splitlines()[0].rstrip(".") if text else type(exc).__name__


def _refuses_files(folder: Path) -> str:
    """Why a new file cannot be made in folder (permission, read-only file system), or "" when
    it can: so a refused folder is not reported as a full disk."""
    probe = folder / f".s2l-probe-{os.getpid()}-{secrets.token_hex(4)}{_TEMP_SUFFIX}"
    try:
        with open(probe, "xb"):
            pass
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    with contextlib.suppress(OSError):
        probe.unlink()
    return ""


def _free_space(folder: Path) -> str:
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return "unknown space"
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if free >= scale:
            return f"{free / scale:.1f} {unit}"
    return f"{free} bytes"


def _flush_to_disk(path: Path) -> None:
    """Data before name: after a power cut the rename must not point at empty blocks."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
