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

import pytest
from blender_helpers import REPO, ROOT, bpy, submodule
from fake_animator import FakeAnimator


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


@pytest.fixture
def real(installed: ModuleType, random_weights_dir: Path) -> ModuleType:
    """The installed extension with the real Animator (small random weights), empty file."""
    try:
        importlib.import_module(f"{installed.__name__}.core.animate")
    except ImportError as exc:
        pytest.skip(f"the core Animator is not importable yet: {exc}")
    submodule(installed, "core.bake.pipeline").forget_animators()
    bpy.ops.wm.read_homefile(use_empty=True)
    return installed


@pytest.fixture
def fake(installed: ModuleType, monkeypatch: pytest.MonkeyPatch) -> FakeAnimator:
    """An empty file and a stand-in animator whose motion is a known function of time."""
    bpy.ops.wm.read_homefile(use_empty=True)
    anim = FakeAnimator(installed)
    pipeline = submodule(installed, "core.bake.pipeline")
    monkeypatch.setattr(pipeline, "load_animator", lambda *a: anim)
    return anim
