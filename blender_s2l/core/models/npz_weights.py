"""The runtime weight format: one .npz of plain float arrays plus a JSON header per model.

Read without pickle, so a tampered file can fail to load but never run code, and reading it needs
no torch: a bake on the CPU then imports neither torch nor its 1.5 s, and CUDA builds its torch
modules from the same arrays. The .pt checkpoints are only the training format; `export-numpy`
writes these from them.

Loading is the only place a file's bytes decide how much is read, so everything is checked from
the zip directory and each member's .npy header *before* any data is read: member count, declared
sizes (a 3 GB zip bomb is refused at once instead of inflated for a minute), header length, JSON
nesting (deep nesting is a RecursionError in `json`), and each array's shape against what the
model's config implies. Then the data must match the SHA-256 the header records (format 2): an
edited value moved the face by 225 mm, a scaled one made every frame NaN, and neither is visible
otherwise. The digest catches damage and casual edits, not a forger who recomputes it; it is an
integrity check, not a signature. Format-1 files (no digest) are refused with the command that
re-writes them: accepting them would keep exactly the silent failure the digest closes, and
`export-numpy` re-writes a folder in seconds.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray

from ..errors import WeightsError

FORMAT_VERSION = 2
HEADER = "__header__"
DIGEST = "sha256"
MAX_BYTES = 64 * 1024 * 1024  # the file, and its arrays once read (the bundled s2l is 2.9 MB)
MAX_MEMBERS = 1024
MAX_HEADER_CHARS = 64 * 1024
MAX_JSON_DEPTH = 8
MAX_NDIM = 4
# No trained weight, statistic or millimetre offset comes near this (bundled: at most 61); beyond
# it a value is damage, and float32 activations could overflow to inf and then NaN.
MAX_ABS_VALUE = 1e4
REEXPORT = "python -m blender_s2l.training export-numpy --weights-dir FOLDER"

ShapesFn = Callable[[dict[str, Any]], dict[str, tuple[int, ...]]]


@dataclass
class NpzWeights:
    kind: str
    config: dict[str, Any]
    arrays: dict[str, NDArray[np.float32]]
    metadata: dict[str, Any]


def weights_digest(kind: str, config: dict[str, Any],
                   arrays: dict[str, NDArray[np.float32]]) -> str:
    """SHA-256 over kind, config and every array (name, shape, little-endian float32 bytes), so
    a changed config value is caught like a changed weight; metadata is informational."""
    h = hashlib.sha256(b"blender_s2l weights\0")
    h.update(json.dumps({"kind": kind, "config": config}, sort_keys=True).encode())
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name], dtype="<f4")
        h.update(f"\0{name}\0{a.shape}\0".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def save_npz(path: str | Path, weights: NpzWeights) -> None:
    arrays: dict[str, Any] = {k: np.ascontiguousarray(v, dtype=np.float32)
                              for k, v in weights.arrays.items()}
    header = {"format_version": FORMAT_VERSION, "kind": weights.kind, "config": weights.config,
              "metadata": weights.metadata,
              DIGEST: weights_digest(weights.kind, weights.config, arrays)}
    arrays[HEADER] = np.array(json.dumps(header, sort_keys=True))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


def existing_weights_file(path: str | Path) -> Path:
    """The path, if it is a regular file of plausible size; else WeightsError."""
    path = Path(path)
    try:
        if not path.is_file():
            raise WeightsError(f"Weights file not found (or not a regular file): {path}.")
        size = path.stat().st_size
    except OSError as exc:  # a path too long for the system, a permission error...
        raise WeightsError(f"Weights file {path.name[:60]} cannot be opened "
                           f"({(exc.strerror or type(exc).__name__).lower()}).") from None
    if size > MAX_BYTES:
        raise WeightsError(f"Weights file {path.name} is implausibly large; refusing to load it.")
    return path


def check_kind(path: Path, version: int, readable: int, found: str, kind: str) -> None:
    if version > readable:
        raise WeightsError(f"Weights file {path.name} has format {version}; this add-on reads up "
                           f"to {readable}.")
    if found != kind:
        raise WeightsError(f"Weights file {path.name} holds a '{found}' model, not '{kind}'.")


def json_depth(text: str) -> int:
    """Deepest bracket nesting of a JSON text, strings skipped: one pass, no recursion and no
    regular expression (an unclosed string of escapes made one quadratic)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a number here")


class Unsealed(WeightsError):
    """A format-1 file: no digest to check its arrays against."""


class _Damaged(Exception):
    """A structural fault found while reading; becomes one WeightsError sentence."""


def _npy_header(f: IO[bytes]) -> tuple[tuple[int, ...], np.dtype[Any], int]:
    """(shape, dtype, bytes of header) of one .npy member, reading only its header."""
    fmt: Any = np.lib.format  # untyped in numpy's stubs
    try:
        version = fmt.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(f)
        else:
            raise _Damaged(f"an array has .npy version {version}")
    except (ValueError, TypeError, RecursionError, MemoryError) as exc:  # bad magic, a header
        raise _Damaged("an array header is malformed") from exc  # too long, a bogus dtype...
    if fortran:
        raise _Damaged("an array is in Fortran order")
    if not isinstance(shape, tuple) or len(shape) > MAX_NDIM or not all(
            isinstance(n, int) and n >= 0 for n in shape):
        raise _Damaged("an array declares an impossible shape")
    return shape, dtype, f.tell()


def _declared_bytes(shape: tuple[int, ...], itemsize: int) -> int:
    return int(np.prod(shape, dtype=object)) * itemsize if shape else itemsize


def _read_exact(f: IO[bytes], n: int) -> bytes:
    data = f.read(n)
    if len(data) != n or f.read(1):
        raise _Damaged("an array holds a different amount of data than its header declares")
    return data


def _members(zf: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise _Damaged(f"it has {len(infos)} members")
    out: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in infos:
        if not info.filename.endswith(".npy") or info.filename[:-4] in out:
            raise _Damaged(f"it has an unexpected member '{info.filename[:40]}'")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) \
                or info.flag_bits & 0x1:
            raise _Damaged("a member is encrypted or uses an unsupported compression")
        total += info.file_size
        if info.file_size > MAX_BYTES or total > MAX_BYTES:
            raise _Damaged(f"its members declare over {MAX_BYTES >> 20} MiB once unpacked")
        out[info.filename[:-4]] = info
    if HEADER not in out:
        raise _Damaged("it has no header")
    return out


def _read_header(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> dict[str, Any]:
    with zf.open(info) as f:
        shape, dtype, _ = _npy_header(f)
        if shape != () or dtype.kind != "U" or dtype.itemsize > 4 * MAX_HEADER_CHARS:
            raise _Damaged("its header is not a short text")
        text = str(np.frombuffer(_read_exact(f, dtype.itemsize), dtype)[0])
    if json_depth(text) > MAX_JSON_DEPTH:
        raise _Damaged("its header is nested too deeply")
    try:
        header = json.loads(text, parse_constant=_no_constants)
    except ValueError as exc:
        raise _Damaged("its header is not valid JSON") from exc
    if not isinstance(header, dict):
        raise _Damaged("its header is not a JSON object")
    for key, typ in (("kind", str), ("config", dict), ("metadata", dict)):
        if not isinstance(header.get(key), typ):
            raise _Damaged(f"its header has no valid '{key}'")
    if type(header.get("format_version")) is not int:
        raise _Damaged("its header has no valid 'format_version'")
    return header


def _check_version(path: Path, header: dict[str, Any], kind: str) -> None:
    version = int(header["format_version"])
    check_kind(path, version, FORMAT_VERSION, str(header["kind"]), kind)
    digest = header.get(DIGEST)
    if version < FORMAT_VERSION or not isinstance(digest, str):
        raise Unsealed(
            f"Weights file {path.name} was written by an older export without a checksum; "
            f"re-write its folder with `{REEXPORT}`.")
    if not re.fullmatch("[0-9a-f]{64}", digest):
        raise WeightsError(f"Weights file {path.name} has a malformed checksum in its header.")


def _check_declared(path: Path, declared: dict[str, tuple[int, ...]],
                    expected: dict[str, tuple[int, ...]]) -> None:
    if set(declared) != set(expected):
        missing = sorted(set(expected) - set(declared))
        extra = sorted(set(declared) - set(expected))
        raise WeightsError(f"Weights file {path.name} does not match its model (missing "
                           f"{missing[:3]}, unexpected {extra[:3]}).")
    for name, shape in expected.items():
        if declared[name] != tuple(shape):
            raise WeightsError(f"Weights file {path.name} has {name} of shape "
                               f"{declared[name]}, expected {tuple(shape)}.")


def _read_arrays(path: Path, zf: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo],
                 shapes: ShapesFn | None, config: dict[str, Any]) -> dict[str, NDArray[np.float32]]:
    """Every array's header first (dtype, declared size, shape against the config), then data."""
    declared: dict[str, tuple[tuple[int, ...], np.dtype[Any], int]] = {}
    for name, info in members.items():
        if name == HEADER:
            continue
        with zf.open(info) as f:
            shape, dtype, offset = _npy_header(f)
        if dtype.kind != "f" or dtype.itemsize != 4:
            raise _Damaged(f"array {name} holds {dtype} values, not float32")
        size = _declared_bytes(shape, 4)
        if size > MAX_BYTES or offset + size != info.file_size:
            raise _Damaged(f"array {name} declares {size} bytes of data")
        declared[name] = (shape, dtype, offset)
    if shapes is not None:
        try:
            expected = shapes(config)
        except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as exc:
            raise WeightsError(f"Weights file {path.name} has a model config this add-on cannot "
                               f"use ({type(exc).__name__}).") from exc
        _check_declared(path, {k: v[0] for k, v in declared.items()}, expected)
    arrays: dict[str, NDArray[np.float32]] = {}
    for name, (shape, dtype, offset) in declared.items():
        with zf.open(members[name]) as f:
            f.read(offset)
            data = _read_exact(f, _declared_bytes(shape, 4))
        arrays[name] = np.frombuffer(data, dtype).astype(np.float32).reshape(shape)
    return arrays


def load_npz(path: str | Path, kind: str, shapes: ShapesFn | None = None) -> NpzWeights:
    """Load a weights file of the given kind or raise WeightsError with one sentence.

    shapes maps the file's config to the exact arrays the network needs; it is compared with what
    the members declare before their data is read (a WeightsError from it, for a config it
    cannot use, passes through)."""
    return _load(existing_weights_file(path), kind, shapes, legacy=False)


def reseal_npz(path: str | Path, kind: str, shapes: ShapesFn) -> bool:
    """Give a format-1 file (no digest) its digest, arrays unchanged; True if it was re-written.

    Only for `export-numpy`, which a person runs on a folder they trust: for a file with no .pt
    source (jaw.npz) this is the way to the current format without re-fitting it. Every other
    check (sizes, shapes, finite values) still applies."""
    path = existing_weights_file(path)
    try:
        _load(path, kind, shapes, legacy=False)
        return False
    except Unsealed:
        w = _load(path, kind, shapes, legacy=True)
    save_npz(path, w)
    return True


def _load(path: Path, kind: str, shapes: ShapesFn | None, legacy: bool) -> NpzWeights:
    try:
        with zipfile.ZipFile(path) as zf:
            members = _members(zf)
            header = _read_header(zf, members[HEADER])
            if legacy:
                check_kind(path, int(header["format_version"]), 1, str(header["kind"]), kind)
            else:
                _check_version(path, header, kind)
            config, metadata = header["config"], header["metadata"]
            arrays = _read_arrays(path, zf, members, shapes, config)
    except _Damaged as exc:
        raise WeightsError(
            f"Weights file {path.name} is damaged or not a blender_s2l weights file: {exc}."
        ) from exc
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error,
            NotImplementedError, RuntimeError) as exc:
        raise WeightsError(
            f"Weights file {path.name} is damaged or not a blender_s2l weights file "
            f"({type(exc).__name__})."
        ) from exc
    for name, arr in arrays.items():
        if not np.all(np.isfinite(arr)):
            raise WeightsError(f"Weights file {path.name} has non-finite values in {name}.")
        if arr.size and float(np.abs(arr).max()) > MAX_ABS_VALUE:
            raise WeightsError(f"Weights file {path.name} has implausibly large values in "
                               f"{name} (beyond ±{MAX_ABS_VALUE:g}).")
    if not legacy and not hmac.compare_digest(
            str(header[DIGEST]).encode(), weights_digest(kind, config, arrays).encode()):
        raise WeightsError(
            f"Weights file {path.name} does not match its checksum: it was edited or damaged "
            "after export; restore it or export it again.")
    return NpzWeights(kind, config, arrays, metadata)
