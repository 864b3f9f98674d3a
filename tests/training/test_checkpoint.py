import pickle
from pathlib import Path

import pytest
import torch

from blender_s2l.core.errors import DeviceError, WeightsError
from blender_s2l.core.models.load import resolve_device
from blender_s2l.core.models.s2l import S2L, S2LConfig
from blender_s2l.training.checkpoint import (
    Checkpoint,
    load_checkpoint,
    load_s2l,
    s2l_checkpoint,
    save_checkpoint,
)


def _small() -> S2L:
    return S2L(S2LConfig(channels=16, dilations=[1, 2]))


def test_round_trip(tmp_path: Path) -> None:
    m = _small()
    save_checkpoint(tmp_path / "s2l.pt", s2l_checkpoint(m, {"note": "random"}))
    back = load_s2l(tmp_path / "s2l.pt")
    assert back.config == m.config
    for k, v in m.state_dict().items():
        assert torch.equal(v, back.state_dict()[k])


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt", "s2l")


def test_truncated_file(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "s2l.pt", s2l_checkpoint(_small()))
    data = (tmp_path / "s2l.pt").read_bytes()
    (tmp_path / "s2l.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError):
        load_checkpoint(tmp_path / "s2l.pt", "s2l")


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("pwned",))


def test_tampered_file_never_runs_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s2l.pt"
    torch.save({"format_version": 1, "kind": "s2l", "payload": _Evil()}, path)
    with pytest.raises(WeightsError, match=r"safe loader|damaged"):
        load_checkpoint(path, "s2l")
    assert "pwned" not in capsys.readouterr().out
    path.write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(WeightsError):
        load_checkpoint(path, "s2l")
    assert "pwned" not in capsys.readouterr().out


def test_wrong_kind_and_bad_values(tmp_path: Path) -> None:
    m = _small()
    save_checkpoint(tmp_path / "x.pt", s2l_checkpoint(m))
    with pytest.raises(WeightsError, match="'s2l' model"):
        load_checkpoint(tmp_path / "x.pt", "s2d")
    sd = dict(m.state_dict())
    sd["head.bias"] = torch.full_like(sd["head.bias"], float("nan"))
    save_checkpoint(tmp_path / "nan.pt", Checkpoint("s2l", {}, sd))
    with pytest.raises(WeightsError, match="non-finite"):
        load_checkpoint(tmp_path / "nan.pt", "s2l")


def test_mismatched_state_dict(tmp_path: Path) -> None:
    ck = s2l_checkpoint(_small())
    ck.config["channels"] = 32
    save_checkpoint(tmp_path / "s2l.pt", ck)
    with pytest.raises(WeightsError, match="does not match"):
        load_s2l(tmp_path / "s2l.pt")


def test_device_choice() -> None:
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(DeviceError, match="Unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="no usable CUDA"):
            resolve_device("cuda")
