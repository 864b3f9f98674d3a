"""A batch in slices: which manifest lines a slice runs, its summary file, and the merged report.

`--rows A-B` names manifest lines as `manifest.Row.line` counts them (the header is line 1);
`--shard K/N` is the K-th of N contiguous, equal (to one line) slices of the job lines. Each
processed line appends one JSON object to a summary file and flushes it, so a slice that is
killed keeps what it did; `merge` folds the summaries of every slice into one report.
No bpy here: batch.py decides what to run and checks outputs through the Blender side.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..errors import BakeError

STATUSES = ("ok", "fail", "skip")
_RANK = {"ok": 2, "skip": 1, "fail": 0}  # which report of a line wins: ok, then skip, then fail


@dataclass(frozen=True)
class Slice:
    """Which job lines run: rows first..last (inclusive), or shard index of count."""

    first: int = 0
    last: int = 0
    index: int = 0
    count: int = 0

    def describe(self) -> str:
        if self.count:
            return f"shard {self.index}/{self.count}"
        return f"rows {self.first}-{self.last}"


def parse_rows(spec: str) -> Slice:
    """`A-B` or `N` (manifest line numbers, header = line 1); BakeError names a bad spec."""
    m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", spec)
    if m is None:
        raise BakeError(f"--rows '{spec}' is not a line range such as 200-299 or 42 (manifest "
                        "line numbers; the header is line 1).")
    first = int(m.group(1))
    last = int(m.group(2)) if m.group(2) else first
    if first < 2 or last < first:
        raise BakeError(f"--rows '{spec}' must run from a line at least 2 (the header is line 1) "
                        "up to a line no lower than its first.")
    return Slice(first=first, last=last)


def parse_shard(spec: str) -> Slice:
    """`K/N`, 1 <= K <= N; BakeError names a bad spec."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", spec)
    if m is None or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise BakeError(f"--shard '{spec}' is not K/N with 1 <= K <= N (such as 2/8).")
    return Slice(index=int(m.group(1)), count=int(m.group(2)))


def select(lines: Sequence[int], part: Slice) -> list[int]:
    """The positions in lines (the job lines' numbers, in file order) that the slice runs.

    A --rows range that starts past the last job line is a BakeError (a mistyped range, not an
    empty slice); a range or shard with no job lines in it is an empty list.
    """
    if part.count:
        n = len(lines)
        return list(range((part.index - 1) * n // part.count, part.index * n // part.count))
    if lines and part.first > max(lines):
        raise BakeError(f"--rows {part.first}-{part.last} starts past the end of the manifest, "
                        f"whose last job line is {max(lines)}.")
    return [i for i, line in enumerate(lines) if part.first <= line <= part.last]


class SummaryFile:
    """Appends one JSON object a processed line and flushes it to disk at once."""

    def __init__(self, path: Path, manifest: str) -> None:
        self.path = path
        self.manifest = manifest
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fh: IO[str] = path.open("a", encoding="utf-8")
        except OSError as exc:
            raise BakeError(f"The summary file {path} cannot be written: {exc.strerror}.") \
                from None

    def add(self, line: int | None, label: str, status: str, reason: str, seconds: float,
            output: str) -> None:
        record = {"line": line, "label": label, "status": status, "reason": reason,
                  "seconds": round(seconds, 3), "output": output, "manifest": self.manifest,
                  "time": time.time()}
        self._fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._fh.flush()
        with contextlib.suppress(OSError):
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()


def summary_files(paths: Sequence[str]) -> tuple[list[Path], Path]:
    """The .jsonl files named (a folder gives every *.jsonl in it) and where summary.json goes."""
    files: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            files.extend(sorted(path.glob("*.jsonl")))
        elif path.is_file():
            files.append(path)
        else:
            raise BakeError(f"--merge-summaries: {path} is neither a folder nor a file.")
    if not files:
        raise BakeError(f"--merge-summaries: no *.jsonl files in {', '.join(paths)}.")
    first = Path(paths[0])
    return files, first if first.is_dir() else first.parent


def merge(files: Sequence[Path]) -> dict[str, Any]:
    """One report of every line the files report: counts by status, failures, duplicates.

    A line reported more than once (two slices, or a rerun) keeps its latest ok, else its latest
    skip, else its latest failure; a line of a file that is not a whole JSON record (a slice
    killed mid-write) is listed under "damaged" and otherwise left out.
    """
    reports: dict[tuple[str, Any], list[dict[str, Any]]] = {}
    damaged: list[dict[str, Any]] = []
    order = 0
    for path in files:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            damaged.append({"file": str(path), "line_in_file": None,
                            "problem": f"cannot be read: {exc.strerror}"})
            continue
        for number, raw in enumerate(text.splitlines(), start=1):
            if not raw.strip():
                continue
            problem = ""
            try:
                record = json.loads(raw)
            except ValueError as exc:
                record, problem = None, f"not JSON ({exc})"
            if record is not None and not (isinstance(record, dict)
                                           and record.get("status") in STATUSES):
                record, problem = None, "not a summary record (no ok, fail or skip status)"
            if record is None:
                damaged.append({"file": str(path), "line_in_file": number, "problem": problem})
                continue
            order += 1
            record = {**record, "file": str(path), "_order": order}
            reports.setdefault((str(record.get("manifest", "")), record.get("line")),
                               []).append(record)
    kept: list[dict[str, Any]] = []
    duplicates: list[dict[str, Any]] = []
    for records in reports.values():
        best = max(records, key=lambda r: (_RANK[r["status"]], _when(r), r["_order"]))
        kept.append(best)
        if len(records) > 1:
            duplicates.append({
                "line": best.get("line"), "label": best.get("label", ""),
                "kept": _public(best),
                "reports": [_public(r) for r in sorted(records, key=lambda r: r["_order"])],
            })
    kept.sort(key=lambda r: (str(r.get("manifest", "")), _line_key(r.get("line"))))
    counts = {s: sum(1 for r in kept if r["status"] == s) for s in STATUSES}
    return {
        "files": [str(f) for f in files],
        "lines": len(kept),
        "counts": counts,
        "failed": [{"line": r.get("line"), "label": r.get("label", ""),
                    "reason": r.get("reason", ""), "file": r["file"]}
                   for r in kept if r["status"] == "fail"],
        "duplicates": duplicates,
        "damaged": damaged,
    }


def _when(record: dict[str, Any]) -> float:
    value = record.get("time")
    return float(value) if isinstance(value, (int, float)) else 0.0


def _line_key(line: Any) -> int:
    return line if isinstance(line, int) else -1


def _public(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if not k.startswith("_")}
