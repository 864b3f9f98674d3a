"""scripts/fuzz_release.py on 20 files: the report has its columns and its counts add up, and
`--write` rebuilds a file byte for byte, which is what makes a finding in the report reproducible.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from script_helpers import load_script

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "fuzz_release.py"


fuzz = load_script("fuzz_release")


def table_rows(text: str) -> dict[str, dict[str, int]]:
    """The counts table: {setting: {column: count}}, read the way a person reads it."""
    lines = text.splitlines()
    head = lines.index("| setting | " + " | ".join(fuzz.COLUMNS) + " |")
    rows: dict[str, dict[str, int]] = {}
    for line in lines[head + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = dict(zip(fuzz.COLUMNS, map(int, cells[1:]), strict=True))
    return rows


@pytest.mark.slow
def test_small_run_writes_the_counts_and_files_rebuild(tmp_path: Path) -> None:
    settings = ["plain", "bpy"] if importlib.util.find_spec("bpy") is not None else ["plain"]
    out = tmp_path / "fuzz.md"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--files", "20", "--jobs", "1", "--seed", "7", "--out",
         str(out), "--settings", ",".join(settings), "--keep", str(tmp_path / "run")],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    text = out.read_text()
    assert "seed 7, 20 files, 1 jobs" in text
    assert re.search(r"wall time: \d+ s in all", text)
    rows = table_rows(text)
    assert list(rows) == settings
    for row in rows.values():
        assert row["tried"] == 20
        assert sum(v for k, v in row.items() if k != "tried") == 20
        assert row["ok"] > 0 and row["clear error"] > 0  # both ends of the fuzz were reached
    # the target line follows the counts, and the exit status follows the target
    met = all(row[c] == 0 for row in rows.values() for c in fuzz.BAD)
    assert ("**met**" in text) == met and proc.returncode == (0 if met else 1)
    assert met, text  # a small fuzz gate of its own: no crash, traceback, hang or NaN
    kinds = table_rows_by_kind(text)
    assert kinds == {k: 2 for k in fuzz.KINDS}  # 20 files: every kind twice

    time.sleep(1.1)  # a time stamp in the bytes (libsndfile's float WAVs) would now differ
    subprocess.run([sys.executable, str(SCRIPT), "--seed", "7", "--write", *map(str, range(20)),
                    "--keep", str(tmp_path / "again")], cwd=ROOT, check=True, capture_output=True)
    rebuilt = sorted((tmp_path / "again").iterdir())
    assert len(rebuilt) == 20
    for again in rebuilt:
        assert again.read_bytes() == (tmp_path / "run" / "files" / again.name).read_bytes()


def table_rows_by_kind(text: str) -> dict[str, int]:
    """The file count of each kind, from the "Files by kind" section only."""
    section = text.split("## Files by kind", 1)[1].split("\n## ", 1)[0]
    found = re.findall(r"^\| (\w+) \| (\d+) \| \d+ \|", section, flags=re.MULTILINE)
    return {kind: int(n) for kind, n in found if kind in fuzz.KINDS}
