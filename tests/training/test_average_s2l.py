"""average-s2l: the mean of one lineage's checkpoints; other shapes are refused clearly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from blender_s2l.core.errors import WeightsError
from blender_s2l.core.models.s2l import S2L, S2LConfig
from blender_s2l.training.__main__ import main
from blender_s2l.training.checkpoint import load_s2l, s2l_checkpoint, save_checkpoint
from blender_s2l.training.s2l.average import average_s2l


def _save(path: Path, seed: int, channels: int = 16) -> S2L:
    torch.manual_seed(seed)
    model = S2L(S2LConfig(channels=channels, dilations=[1, 2], closure_head=True))
    save_checkpoint(path, s2l_checkpoint(model))
    return model


def test_average_is_the_elementwise_mean(tmp_path: Path) -> None:
    a, b = _save(tmp_path / "a.pt", 0), _save(tmp_path / "b.pt", 1)
    assert main(["average-s2l", str(tmp_path / "a.pt"), str(tmp_path / "b.pt"),
                 "--out", str(tmp_path / "c.pt")]) == 0
    c = load_s2l(tmp_path / "c.pt")
    for key, value in c.state_dict().items():
        assert torch.allclose(value, (a.state_dict()[key] + b.state_dict()[key]) / 2)
    assert c.metadata["averaged"] == [str(tmp_path / "a.pt"), str(tmp_path / "b.pt")]  # type: ignore[index]


def test_other_shapes_and_single_files_are_refused(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    _save(tmp_path / "a.pt", 0)
    _save(tmp_path / "wide.pt", 0, channels=32)
    with pytest.raises(WeightsError, match="at least two"):
        average_s2l([tmp_path / "a.pt"])
    assert main(["average-s2l", str(tmp_path / "a.pt"), str(tmp_path / "wide.pt"),
                 "--out", str(tmp_path / "c.pt")]) == 2
    assert "different shapes" in capsys.readouterr().err
    assert not (tmp_path / "c.pt").exists()
