"""A take's shape-key weights written for other programs: Live Link Face CSV, or plain JSON.

**CSV** follows the files that Epic's Live Link Face app records, which Unreal's Live Link Face
importer, Faceit and most ARKit importers read (several read the columns by position, so all
63 are always written, in this order):

    Timecode,BlendShapeCount,EyeBlinkLeft,...,TongueOut,HeadYaw,...,RightEyeRoll

- ``Timecode`` is ``HH:MM:SS:FF.fff``: hours, minutes, seconds, then frames counted at
  TIMECODE_FPS (30) with the fraction of a frame in thousandths after the point, measured from
  the take's first row. Unreal's importer reads the last field as fractional frames and guesses
  the rate (60 only when some frame number passes 30), so counting at 30 keeps every take rate
  (24, 25, 29.97, 60...) at its exact times there; one row is written per frame of the take,
  at the take's own rate, for importers that read rows as frames.
- ``BlendShapeCount`` is 61 (52 blend shapes and 9 head and eye rotations), as the app writes.
- The 52 ARKit columns in the app's order (``JawRight`` before ``JawLeft``, ``MouthRight``
  before ``MouthLeft``); a key maps onto a column when its name is the ARKit name in any case
  and spelling of separators (``jawOpen``, ``JawOpen``, ``jaw_open``), or through its rig-set
  name (``Weights.canonical``). Columns no key maps onto are 0, as are the head and eye
  rotations (a bake moves neither).
- Values with DECIMALS (6) digits after the point, never ``-0.000000``, never NaN.

**JSON** (FORMAT ``blender_s2l.weights``, VERSION 1) keeps every key under its own name::

    {"format": "blender_s2l.weights", "version": 1,
     "fps": 30.0,                       # the take's frames per second
     "frames": [0, 1, 2],               # scene frame of each row
     "names": ["jawOpen", "mouthClose"],  # the shape keys, as named on the mesh
     "values": [[0.0, 0.0], [0.5, 0.1], [0.0, 0.0]],  # one row per frame, in names' order
     "canonical": [...],                # optional: each key's rig-set name
     "object": "Head", "take": "Voice"}  # optional: where the weights come from

Both are written atomically (a temporary file in the target folder, renamed over the target),
so a failed export leaves no half-written file; bad paths and values are one sentence each.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .. import files
from ..errors import ExportError
from .names import ARKIT_52

# The 52 ARKit blend shapes, in Live Link Face's column order (declared with the rig sets).
ARKIT_NAMES = ARKIT_52
POSE_COLUMNS: tuple[str, ...] = (
    "HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
    "RightEyeYaw", "RightEyePitch", "RightEyeRoll",
)
SHAPE_COLUMNS: tuple[str, ...] = tuple(n[0].upper() + n[1:] for n in ARKIT_NAMES)
CSV_HEADER: tuple[str, ...] = ("Timecode", "BlendShapeCount", *SHAPE_COLUMNS, *POSE_COLUMNS)
BLEND_SHAPE_COUNT = len(SHAPE_COLUMNS) + len(POSE_COLUMNS)  # 61, what the app writes
TIMECODE_FPS = 30
DECIMALS = 6
FORMAT = "blender_s2l.weights"
VERSION = 1
FORMATS = {".csv": "CSV", ".json": "JSON"}
_TEMP_SUFFIX = ".s2l-tmp"
_NEW_FILE_MODE = 0o644  # what most umasks give a new file


def _plain(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


_COLUMN_OF = {_plain(n): i for i, n in enumerate(ARKIT_NAMES)}


@dataclass(frozen=True)
class Weights:
    """Shape-key weights of one take: a row per frame, a column per key."""

    frames: NDArray[np.int64]  # (T,) scene frames, increasing
    fps: float  # the take's frames per second
    names: list[str]  # (K,) the shape keys, as named on the mesh
    values: NDArray[np.float64]  # (T, K)
    canonical: list[str] = field(default_factory=list)  # each key's rig-set name, or empty


def weights(frames: Sequence[int] | NDArray[Any], fps: float, names: Sequence[str],
            values: Sequence[Sequence[float]] | NDArray[Any],
            canonical: Sequence[str] = ()) -> Weights:
    """Checked Weights: raises ExportError with one sentence for anything an export can't hold."""
    frames_a = np.asarray(frames)
    values_a = np.asarray(values, dtype=np.float64)
    names_l, canonical_l = [str(n) for n in names], [str(c) for c in canonical]
    if frames_a.ndim != 1 or frames_a.size == 0:
        raise ExportError("There are no frames to export.")
    if not np.all(np.isfinite(frames_a.astype(np.float64))) \
            or not np.array_equal(frames_a, np.round(frames_a)):
        raise ExportError("The frames to export must be whole frame numbers.")
    frames_i = frames_a.astype(np.int64)
    if np.any(np.diff(frames_i) <= 0):
        raise ExportError("The frames to export must increase from row to row.")
    if not (isinstance(fps, int | float) and math.isfinite(fps) and fps > 0):
        raise ExportError(f"The frame rate {fps} is not a positive number of frames a second.")
    if not names_l:
        raise ExportError("The take animates no shape keys, so there is nothing to export.")
    if any(not n for n in names_l):
        raise ExportError("A shape key to export has an empty name.")
    twice = sorted({n for n in names_l if names_l.count(n) > 1})
    if twice:
        raise ExportError(f"The shape key {', '.join(repr(n) for n in twice)} appears more "
                          "than once among the weights to export.")
    if values_a.shape != (frames_i.size, len(names_l)):
        raise ExportError(f"The weights are {values_a.shape} but {frames_i.size} frames of "
                          f"{len(names_l)} keys need ({frames_i.size}, {len(names_l)}).")
    if canonical_l and len(canonical_l) != len(names_l):
        raise ExportError(f"{len(canonical_l)} rig-set names were given for {len(names_l)} "
                          "shape keys.")
    refuse_nan(values_a)
    return Weights(frames=frames_i, fps=float(fps), names=names_l, values=values_a,
                   canonical=canonical_l)


def refuse_nan(values: NDArray[np.float64]) -> None:
    """The last guard before a file: no NaN or infinity is ever written."""
    finite = np.isfinite(values)
    if not np.all(finite):
        bad = int(np.count_nonzero(~finite.reshape(len(finite), -1).all(axis=1)))
        raise ExportError(f"The weights hold NaN or infinite values on {bad} frames, so "
                          "nothing was exported.")


def export_format(path: str | Path) -> str:
    """'CSV' or 'JSON' from the file's extension; one sentence for anything else."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ExportError(f"Export weights to a .csv (Live Link Face) or .json file, not "
                          f"'{Path(path).name}'.")
    return FORMATS[suffix]


def timecode(seconds: float, rate: int = TIMECODE_FPS) -> str:
    """``HH:MM:SS:FF.fff``: FF frames at `rate` a second and thousandths of a frame."""
    if not math.isfinite(seconds) or seconds < 0:
        raise ExportError(f"A timecode cannot hold {seconds} seconds.")
    thousandths = round(seconds * rate * 1000)  # rounded once, so 0.9999 s reads 00:00:01:00
    whole, frac = divmod(thousandths, 1000)
    secs, ff = divmod(whole, rate)
    return f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}:{ff:02d}.{frac:03d}"


def csv_column(name: str) -> str | None:
    """The Live Link Face column of an ARKit name in any case or separators, else None."""
    index = _COLUMN_OF.get(_plain(name))
    return None if index is None else SHAPE_COLUMNS[index]


def _formatted(values: NDArray[np.float64]) -> NDArray[np.str_]:
    rounded = np.round(values, DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0
    return np.char.mod(f"%.{DECIMALS}f", rounded)


def csv_text(w: Weights) -> tuple[str, list[str]]:
    """The Live Link Face CSV of the weights and what the user should know about it."""
    refuse_nan(w.values)
    targets = w.canonical or w.names
    column_of: dict[int, int] = {}  # CSV shape column -> key index
    unmapped: list[str] = []
    for k, name in enumerate(targets):
        column = csv_column(name)
        if column is None:
            unmapped.append(w.names[k])
            continue
        c = SHAPE_COLUMNS.index(column)
        if c in column_of:
            raise ExportError(f"The shape keys '{w.names[column_of[c]]}' and '{w.names[k]}' "
                              f"both map onto the Live Link Face column {column}; rename one.")
        column_of[c] = k
    if not column_of:
        shown = ", ".join(w.names[:3]) + (", ..." if len(w.names) > 3 else "")
        raise ExportError(f"None of the take's shape keys ({shown}) has an ARKit name, so a "
                          "Live Link Face CSV would hold only zeros; export to .json instead.")
    notes = []
    if unmapped:
        shown = ", ".join(unmapped[:5]) + (f" and {len(unmapped) - 5} more"
                                          if len(unmapped) > 5 else "")
        some = "1 shape key has" if len(unmapped) == 1 else f"{len(unmapped)} shape keys have"
        notes.append(f"{some} no ARKit name and so no column in the CSV: {shown}.")
    used = w.values[:, list(column_of.values())]
    outside = int(np.count_nonzero((used < -1e-6) | (used > 1 + 1e-6)))
    if outside:
        notes.append(f"{outside} values lie outside 0-1, which Live Link Face never records; "
                     "some programs clip them.")
    zero = f"{0.0:.{DECIMALS}f}"
    cells = np.full((w.frames.size, BLEND_SHAPE_COUNT), zero, dtype=object)
    cells[:, list(column_of)] = _formatted(used)
    start = int(w.frames[0])
    lines = [",".join(CSV_HEADER)]
    for f, row in zip(w.frames.tolist(), cells.tolist(), strict=True):
        code = timecode((f - start) / w.fps)
        lines.append(f"{code},{BLEND_SHAPE_COUNT}," + ",".join(row))
    return "\n".join(lines) + "\n", notes


def json_text(w: Weights, meta: dict[str, str] | None = None) -> str:
    """The JSON document of the weights (schema in the module's docstring)."""
    refuse_nan(w.values)
    doc: dict[str, Any] = {
        "format": FORMAT, "version": VERSION, "fps": w.fps, "frames": w.frames.tolist(),
        "names": list(w.names),
        "values": (np.round(w.values, DECIMALS) + 0.0).tolist(),
    }
    if w.canonical:
        doc["canonical"] = list(w.canonical)
    for key, value in (meta or {}).items():
        doc.setdefault(key, value)
    try:  # weights() refused NaN already; allow_nan=False keeps any from ever reaching a file
        return json.dumps(doc, allow_nan=False, separators=(",", ":"), ensure_ascii=False) + "\n"
    except ValueError:
        raise ExportError("The weights hold NaN or infinite values, so nothing was "
                          "exported.") from None


def read_json(path: str | Path) -> Weights:
    """Weights back from a JSON export; one sentence for a file that is not one."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ExportError(f"The weights file {p} cannot be read: {exc.strerror}.") from None
    except ValueError:
        raise ExportError(f"The weights file {p} is not JSON.") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ExportError(f"The file {p} is not a {FORMAT} export.")
    if doc.get("version") != VERSION:
        raise ExportError(f"The weights file {p} is version {doc.get('version')}; this reads "
                          f"version {VERSION}.")
    try:
        return weights(doc["frames"], doc["fps"], doc["names"], doc["values"],
                       doc.get("canonical", ()))
    except (KeyError, TypeError, ValueError) as exc:
        raise ExportError(f"The weights file {p} is damaged ({exc}).") from None


def write_weights(path: str | Path, w: Weights, meta: dict[str, str] | None = None) -> list[str]:
    """Write the weights as the path's extension says; returns notes for the user."""
    kind = export_format(path)
    if kind == "CSV":
        text, notes = csv_text(w)
    else:
        text, notes = json_text(w, meta), []
    write_atomic(Path(path), text)
    return notes


def write_atomic(path: Path, text: str) -> None:
    """Write text (UTF-8, no byte-order mark, which Unreal's header check would trip over) to
    path through a temporary file in its folder; the target is whole or untouched."""
    if path.is_dir():
        raise ExportError(f"The export path {path} is a folder, not a file name.")
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"The export folder {folder} cannot be created: "
                          f"{exc.strerror or exc}.") from None
    if not folder.is_dir():
        raise ExportError(f"The export folder {folder} is not a folder.")
    try:
        # A temporary file is private (0600); an export is for other programs to read.
        mode = path.stat().st_mode & 0o777 if path.is_file() else _NEW_FILE_MODE
        files.write_atomic(path, lambda out: out.write(text.encode("utf-8")),
                           suffix=_TEMP_SUFFIX, mode=mode)
    except OSError as exc:
        raise ExportError(f"{path} cannot be written: {exc.strerror or exc}; it was left as "
                          "it was.") from None
