"""Shared fixtures. Tests that need ../shared/data skip with a clear reason when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from blender_s2l.training.ict import ict_path, shared_data_dir


@pytest.fixture(scope="session")
def shared_data() -> Path:
    d = shared_data_dir()
    if not d.is_dir():
        pytest.skip(f"needs ../shared/data (not found at {d})")
    return d


@pytest.fixture(scope="session")
def ict_npz() -> Path:
    p = ict_path()
    if not p.is_file():
        pytest.skip(f"needs the ICT FaceKit pack at {p} (../shared/data is absent)")
    return p


@pytest.fixture(scope="session")
def speech_dir(shared_data: Path) -> Path:
    d = shared_data / "speech"
    if not d.is_dir():
        pytest.skip(f"needs real speech clips at {d}")
    return d
