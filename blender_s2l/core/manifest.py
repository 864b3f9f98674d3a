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
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import BakeError

COLUMNS = ("object", "strip", "audio", "out", "scene", "take", "mode", "seed", "device",
           "keypoints", "phones", "transcript")
MODES = ("COMPACT", "PER_FRAME")
DEVICES = ("AUTO", "CPU", "CUDA")
SEED_MAX = 2**31 - 1  # the Seed field of the panel is a 32-bit Blender int
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
        problems.append(f"The jobs manifest {name} has unknown columns "
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


def seed_value(text: str) -> int:
    """A seed as spreadsheets write whole numbers ("7", "7.0"); ValueError names the problem."""
    m = re.fullmatch(r"\+?(\d+)(?:\.0*)?", text.strip())
    if m is None or int(m.group(1)) > SEED_MAX:
        raise ValueError(f"the seed '{text}' is not a whole number from 0 to {SEED_MAX}")
    return int(m.group(1))


def choice_value(text: str, column: str, choices: tuple[str, ...]) -> str:
    """One of choices, however the sheet spelled its case, spaces or hyphens."""
    value = re.sub(r"[\s-]+", "_", text.strip()).upper()
    if value not in choices:
        raise ValueError(f"the {column} '{text}' is not one of {', '.join(choices)}")
    return value
