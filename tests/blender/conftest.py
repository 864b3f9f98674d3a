"""One Blender session per pytest process: build the lean zip, install it, enable it.

Tests reset the file with read_homefile(use_empty=True) and drive the *installed* copy of the
extension (bl_ext.<repo>.blender_s2l), so packaging mistakes fail here, not in users' hands.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="needs the bpy module (real Blender)")

ROOT = Path(__file__).resolve().parents[2]
REPO = "s2l_test"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/blender/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.blender)


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The extension built with `build.py --lean`, installed into a temporary repository."""
    sys.path.insert(0, str(ROOT))
    build = importlib.import_module("build")
    dist = tmp_path_factory.mktemp("dist")
    assert build.main(["--lean", "--out", str(dist)]) == 0
    (zip_path,) = sorted(dist.glob("blender_s2l-*.zip"))
    repo_dir = tmp_path_factory.mktemp("extensions")
    repos = bpy.context.preferences.extensions.repos
    repo = repos.new(name=REPO, module=REPO, custom_directory=str(repo_dir), source="USER")
    result = bpy.ops.extensions.package_install_files(
        filepath=str(zip_path), repo=REPO, enable_on_install=True
    )
    assert result == {"FINISHED"}
    module = importlib.import_module(f"bl_ext.{REPO}.blender_s2l")
    assert Path(module.__file__).is_relative_to(repo_dir)
    yield module
    import addon_utils

    name = f"bl_ext.{REPO}.blender_s2l"
    if addon_utils.check(name)[1]:  # loaded: a test may have disabled it already
        addon_utils.disable(name, default_set=True)
    repos.remove(repo)


def submodule(pkg: ModuleType, name: str) -> Any:
    return importlib.import_module(f"{pkg.__name__}.{name}")


def write_wav(path: Path, seconds: float, rate: int = 16000) -> Path:
    import soundfile as sf

    t = np.arange(int(seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * 180 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    sf.write(str(path), tone.astype(np.float32), rate)
    return path


def grid_head(name: str = "Head", size: int = 12) -> Any:
    """A small flat-ish mesh standing in for a head (the fake animator ignores anatomy)."""
    n = size
    xs, ys = np.meshgrid(np.linspace(-0.1, 0.1, n), np.linspace(-0.1, 0.1, n))
    zs = 0.02 * np.cos(xs * 10) * np.cos(ys * 10)
    verts = np.stack([xs.ravel(), ys.ravel(), zs.ravel()], 1)
    faces = [(i * n + j, i * n + j + 1, (i + 1) * n + j + 1, (i + 1) * n + j)
             for i in range(n - 1) for j in range(n - 1)]
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(verts.tolist(), [], faces)
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    obj.select_set(True)
    return obj


def evaluated_co(obj: Any, frame: int) -> np.ndarray:
    scene = bpy.context.scene
    scene.frame_set(frame)
    dg = bpy.context.evaluated_depsgraph_get()
    ev = obj.evaluated_get(dg)
    mesh = ev.to_mesh()
    co = np.zeros(len(mesh.vertices) * 3)
    mesh.vertices.foreach_get("co", co)
    ev.to_mesh_clear()
    return co.reshape(-1, 3)


def mesh_co(obj: Any) -> np.ndarray:
    co = np.zeros(len(obj.data.vertices) * 3)
    obj.data.vertices.foreach_get("co", co)
    return co.reshape(-1, 3)
