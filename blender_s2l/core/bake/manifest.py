"""Reading a batch jobs manifest the way spreadsheets write it.

Studios keep manifests in Excel, LibreOffice or Sheets and export them, so the reader takes what
those write: a UTF-8 byte-order mark, Windows-1252 text, `;` or tab separators (locales with a
decimal comma), CRLF or CR line ends, padding rows of empty cells. Everything else becomes one
sentence: about the whole file when no line of it can be trusted (not text, no usable header,
unknown columns), otherwise about one line, so that the other lines still bake.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BakeError
from .settings import DEVICES as DEVICES
from .settings import MODES as MODES
from .settings import OPTIONS, Option

# What a job is about, then the bake options that a line may set (declared in bake_settings).
JOB_COLUMNS = ("object", "strip", "audio", "out", "scene", "keypoints", "export")
COLUMNS = (*JOB_COLUMNS, *(o.column for o in OPTIONS if o.column))
SEED_MAX = 2**31 - 1  # the Seed field of the panel is a 32-bit Blender int
INT_MAX = SEED_MAX  # and so is any whole-number option without a max of its own
MAX_BYTES = 64 * 2**20  # far above thousands of lines; a bigger file is something else
_MULTILINE_OK = ("transcript",)  # a spreadsheet cell may hold a line break in the words
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")  # not \x0b (FileMaker's in-cell break) or \x0c


@dataclass(frozen=True)
class Row:
    """One job line: its cells by column, or the one sentence that keeps it from baking."""

    line: int  # where the line starts in the file; the header is line 1
    values: dict[str, str] = field(default_factory=dict)
    problem: str = ""


@dataclass(frozen=True)
class Manifest:
    rows: list[Row]
    notes: list[str]


def decode(data: bytes, name: str) -> tuple[str, list[str]]:
    """The text of the file and a note when it had to be guessed.

    Excel's "CSV UTF-8" starts with a byte-order mark and its plain "CSV" is Windows-1252, so
    both are read; bytes that are not UTF-8 fall back to Windows-1252 (Latin-1 where 1252 has
    no character), which turns an accented take name into the right letter far more often than
    refusing the file would help anyone.
    """
    notes: list[str] = []
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text"
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise BakeError(f"The jobs manifest {name} starts like UTF-16 text but is not; "
                            "save it as CSV UTF-8.") from None
    elif b"\x00" in data:
        raise BakeError(f"The jobs manifest {name} is not a text file; save the sheet as CSV "
                        "(comma-separated, UTF-8).")
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            try:
                text, how = data.decode("cp1252"), "Windows-1252"
            except UnicodeDecodeError:
                text, how = data.decode("latin-1"), "Latin-1"
            notes.append(f"the jobs manifest {name} is not UTF-8 (line {line} is the first "
                         f"that is not); it was read as {how}, so check its accented names "
                         "or save it as CSV UTF-8.")
    bad = _CONTROL.search(text.lstrip("\ufeff"))
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        raise BakeError(f"The jobs manifest {name} holds control characters (line {line}), "
                        "so it is not a CSV text file; save the sheet as CSV UTF-8.")
    return text.lstrip("\ufeff"), notes


def read(path: Path) -> Manifest:
    """Every job line of the manifest at path; raises BakeError when no line can be trusted."""
    if not path.is_file():
        raise BakeError(f"The jobs manifest {path} does not exist.")
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise BakeError(f"The jobs manifest {path} is {size / 2**20:.0f} MB, far too large "
                            "for a list of jobs; is it the right file?")
        data = path.read_bytes()
    except OSError as exc:
        raise BakeError(f"The jobs manifest {path} cannot be read: {exc.strerror}.") from None
    text, notes = decode(data, str(path))
    return Manifest(parse(text, str(path)), notes)


def parse(text: str, name: str) -> list[Row]:
    """Rows of a manifest's text, each parsed on its own (see `read`)."""
    lines = io.StringIO(text, newline="").readlines()  # splits at \n, \r\n and a lone \r
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is None:
        raise BakeError(f"The jobs manifest {name} is empty; its first line must name the "
                        "columns (object, strip or audio, out, ...).")
    delimiter = ""
    hint = re.fullmatch(r"sep=(.)", lines[first].strip("\r\n"))
    if hint:  # Excel's own way of naming the separator, on a line before the header
        delimiter = hint.group(1)
        first = next((i for i in range(first + 1, len(lines)) if lines[i].strip()), len(lines))
        if first == len(lines):
            raise BakeError(f"The jobs manifest {name} has no header line after its "
                            f"'{hint.group(0)}' line.")
    header_line = lines[first]
    if header_line.lstrip().startswith(("{", "[")):
        raise BakeError(f"The jobs manifest {name} looks like JSON; a manifest is a table: a "
                        "header line naming the columns (object, strip or audio, out, ...), then "
                        "one line a job, split by commas, semicolons or tabs.")
    delimiter = delimiter or next((d for d in ",;\t" if d in header_line), ",")
    try:
        header = next(csv.reader([header_line], delimiter=delimiter, strict=True))
    except csv.Error as exc:
        raise BakeError(f"The header of the jobs manifest {name} cannot be read ({exc}).") from None
    columns = [c.strip().lower() for c in header]
    _check_header(columns, header, name)
    rows = [row for line, cells, problem in _records(lines, first + 1, delimiter)
            if (row := _row(line, cells, problem, columns)) is not None]
    if not rows:
        raise BakeError(f"The jobs manifest {name} has no job lines under its header.")
    return rows


def _check_header(columns: list[str], header: list[str], name: str) -> None:
    problems = []
    named = [c for c in columns if c]
    if not set(named) & set(COLUMNS):
        shown = ", ".join(h.strip() for h in header)
        raise BakeError(f"The jobs manifest {name} must start with a header line naming its "
                        f"columns (object, strip or audio, out, ...), but its first line is "
                        f"'{shown}'.")
    unknown = [c for c in dict.fromkeys(named) if c not in COLUMNS]
    if unknown:
        problems.append(f"The jobs manifest {name} has unknown "
                        f"column{'s' if len(unknown) > 1 else ''} "
                        f"{', '.join(repr(c) for c in unknown)}; the columns it may have are "
                        f"{', '.join(COLUMNS)}.")
    twice = [c for c in dict.fromkeys(named) if named.count(c) > 1]
    if twice:
        problems.append(f"The jobs manifest {name} names the column "
                        f"{', '.join(repr(c) for c in twice)} more than once.")
    missing = [c for c in ("object", "out") if c not in named]
    if "strip" not in named and "audio" not in named:
        missing.append("strip or audio")
    if missing:
        problems.append(f"The jobs manifest {name} has no {' and no '.join(missing)} column.")
    if problems:
        raise BakeError(" ".join(problems))


def _records(lines: list[str], start: int,
             delimiter: str) -> list[tuple[int, list[str] | None, str]]:
    """(line number, cells or None, problem) for each record from lines[start] on.

    A quote that is never closed would swallow every later line into one cell, so a record the
    csv module cannot read is refused alone and reading starts again on the line after it.
    """
    out: list[tuple[int, list[str] | None, str]] = []
    while start < len(lines):
        reader = csv.reader(lines[start:], delimiter=delimiter, strict=True)
        before = 0
        try:
            for cells in reader:
                out.append((start + before + 1, cells, ""))
                before = reader.line_num
            return out
        except csv.Error as exc:
            line = start + before + 1
            out.append((line, None, f"a quoted value on it is not closed properly ({exc}), so "
                                    "the line was skipped"))
            start = line
    return out


def _row(line: int, cells: list[str] | None, problem: str, columns: list[str]) -> Row | None:
    if cells is None:
        return Row(line, problem=problem)
    if not any(c.strip() for c in cells):
        return None  # a blank line, or a padding row of empty cells
    if len(cells) < len(columns) or any(c.strip() for c in cells[len(columns):]):
        return Row(line, problem=f"it has {len(cells)} values but the header names "
                                 f"{len(columns)} columns")
    values: dict[str, str] = {}
    for n, (column, cell) in enumerate(zip(columns, cells, strict=False), start=1):
        value = cell.strip()
        if not column:
            if value:
                return Row(line, problem=f"column {n} has the value '{value}' but no name in "
                                         "the header")
            continue
        if ("\n" in value or "\r" in value) and column not in _MULTILINE_OK:
            return Row(line, problem=f"the {column} value runs over several lines (a quote "
                                     "is probably not closed)")
        values[column] = value
    return Row(line, values)


def cell_value(option: Option[Any], text: str) -> Any:
    """The value of a non-empty cell in an option's column; ValueError names the problem."""
    if option.kind == "enum":
        return choice_value(text, option.noun, option.ids)
    if option.kind == "int":
        low = int(option.min) if option.min is not None else -INT_MAX - 1
        high = int(option.max) if option.max is not None else INT_MAX
        return whole_value(text, option.noun, low, high)
    if option.kind == "float":
        return number_value(text, option.noun, option.min, option.max)
    if option.kind == "bool":
        return yes_no_value(text, option.noun)
    return text


def seed_value(text: str) -> int:
    """A seed as spreadsheets write whole numbers ("7", "7.0"); ValueError names the problem."""
    return whole_value(text, "seed", 0, SEED_MAX)


def whole_value(text: str, column: str, low: int, high: int) -> int:
    """A whole number as spreadsheets write them ("7", "7.0"), within Blender's int range."""
    sign = r"[+-]?" if low < 0 else r"\+?"  # a sign only where the range needs one
    m = re.fullmatch(rf"({sign}\d+)(?:\.0*)?", text.strip())
    if m is None or not low <= int(m.group(1)) <= high:
        raise ValueError(f"the {column} '{text}' is not a whole number from {low} to {high}")
    return int(m.group(1))


def number_value(text: str, column: str, low: float | None, high: float | None) -> float:
    """A number, with the decimal comma of the locales whose sheets separate cells with `;`."""
    try:
        value = float(text.strip().replace(",", "."))
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and (low is None or value >= low)
            and (high is None or value <= high)):
        within = (f" from {low:g} to {high:g}" if low is not None and high is not None
                  else f" of at least {low:g}" if low is not None
                  else f" of at most {high:g}" if high is not None else "")
        raise ValueError(f"the {column} '{text}' is not a number{within}")
    return value


def yes_no_value(text: str, column: str) -> bool:
    """A checkbox as sheets export it: TRUE/FALSE, yes/no, 1/0, on/off, or an x for yes."""
    value = text.strip().lower()
    if value in ("true", "yes", "1", "on", "x"):
        return True
    if value in ("false", "no", "0", "off"):
        return False
    raise ValueError(f"the {column} '{text}' is not yes or no")


def choice_value(text: str, column: str, choices: tuple[str, ...]) -> str:
    """One of choices, however the sheet spelled its case, spaces or hyphens."""
    value = re.sub(r"[\s-]+", "_", text.strip()).upper()
    if value not in choices:
        raise ValueError(f"the {column} '{text}' is not one of {', '.join(choices)}")
    return value
