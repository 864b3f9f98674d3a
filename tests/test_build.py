"""build.py: the lean zip offline, and the wheel-bundling path with local stand-in wheels."""

from __future__ import annotations

import importlib.util
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("bpy") is None:
    pytest.skip("needs the bpy wheel (it ships Blender's extension builder)",
                allow_module_level=True)
sys.path.insert(0, str(ROOT))
import build  # noqa: E402


def names(zp: Path) -> list[str]:
    with zipfile.ZipFile(zp) as z:
        return z.namelist()


def test_lean_zip_has_the_runtime_and_nothing_else(tmp_path: Path) -> None:
    assert build.main(["--lean", "--out", str(tmp_path)]) == 0
    (zp,) = tmp_path.glob("blender_s2l-*.zip")
    files = names(zp)
    for needed in ("blender_manifest.toml", "__init__.py", "batch.py", "core/bake/timing.py",
                   "blender/bake.py", "blender/operators.py"):
        assert needed in files
    from blender_s2l.core.models.load import BUNDLED_DIR, WEIGHT_KINDS, weights_file

    for kind in WEIGHT_KINDS:  # every bundled model, jaw.npz included
        path = weights_file(kind).relative_to(BUNDLED_DIR.parents[1])
        assert path.suffix == ".npz" and path.as_posix() in files
    assert not [f for f in files if f.endswith(".pt")]  # checkpoints are training files
    assert not [f for f in files if f.startswith("training/") or "__pycache__" in f]
    assert "demo.py" not in files and not [f for f in files if f.startswith("demo_head/")]
    assert not [f for f in files if f.startswith("wheels/")]
    # the farm's job type, its submitter and the benchmarks stay in the repository
    assert not [f for f in files if f.startswith(("farm/", "scripts/")) or f.endswith(".js")
                or Path(f).name in ("submit.py", "bench_farm.py")]


def fake_wheel(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    dist = name.split("-")[0] + "-" + name.split("-")[1]
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{dist}.dist-info/METADATA", "Metadata-Version: 2.1\n")
    return path


def test_bundled_build_splits_wheels_per_platform(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, ...]] = []

    def offline(torch: Any, audio: bool, plat: Any, py: str, out: Path) -> None:
        calls.append((torch, audio, plat.blender, py))
        tag = {"linux-x64": "manylinux_2_28_x86_64", "windows-x64": "win_amd64"}[plat.blender]
        fake_wheel(out, f"soxr-0.5.0-cp311-cp311-{tag}.whl")
        fake_wheel(out, "pycparser-2.22-py3-none-any.whl")

    monkeypatch.setattr(build, "download_wheels", offline)
    monkeypatch.setattr(build, "ROOT", tmp_path)  # wheels/ and build/ go to the temp folder
    out = tmp_path / "dist"
    assert build.main(["--audio", "--platforms", "linux-x64,windows-x64", "--python", "3.11",
                       "--out", str(out)]) == 0
    assert [c[2] for c in calls] == ["linux-x64", "windows-x64"]
    zips = {p.name: names(p) for p in out.glob("*.zip")}
    linux = next(v for k, v in zips.items() if "linux" in k)
    windows = next(v for k, v in zips.items() if "windows" in k)
    assert any("manylinux" in f for f in linux) and not any("win_amd64" in f for f in linux)
    assert any("win_amd64" in f for f in windows) and not any("manylinux" in f for f in windows)
    assert all(any(f.endswith("pycparser-2.22-py3-none-any.whl") for f in v)
               for v in zips.values())
