"""Shared fixtures. Tests that need ../shared/data skip with a clear reason when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from blender_s2l.training.ict import ict_path, shared_data_dir


@pytest.fixture(autouse=True)
def _bake_cache_in_a_temp_folder(tmp_path_factory: pytest.TempPathFactory,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Bakes in tests (and the batch processes they start) keep their cache out of the user's
    folder, one folder a test: a recogniser one test stubs must not answer for another's."""
    monkeypatch.setenv("BLENDER_S2L_CACHE", str(tmp_path_factory.mktemp("bake_cache")))


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


@pytest.fixture(scope="session")
def random_weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small randomly initialised checkpoints (never a trained model) in a temp folder."""
    from blender_s2l.training.random_weights import write_random_weights

    return write_random_weights(tmp_path_factory.mktemp("random_weights"))
