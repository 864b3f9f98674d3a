"""The bake cache in Blender: --cache-dir in batch, the preferences' folder, limit and Clear."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from blender_helpers import REPO, bpy, evaluated_co
from test_batch import demo_head_scene_file

from blender_s2l import batch
from blender_s2l.core import animate as animate_mod
from blender_s2l.core.bake import cache as cache_mod


@pytest.fixture
def s2l_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = animate_mod.run_s2l

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(animate_mod, "run_s2l", counting)
    cache_mod.forget_session_caches()
    return calls


def entries_of(folder: Path, kind: str) -> list[Path]:
    """The folder's cache entries of one kind ("s2l", "phones", "mesh": a mesh's facts)."""
    return sorted(p for p in folder.glob("s2l-cache-*.npz")
                  if cache_mod._load_entry(p)[1].get("kind") == kind)


def _bake(scene: Path, out: Path, weights: Path, *extra: str) -> int:
    return batch.main([str(scene), "--object", "Head", "--strip", "Voice", "--out", str(out),
                       "--weights", str(weights), "--device", "cpu", "--no-recognise-words",
                       "--take", out.stem, *extra])


def test_batch_rebake_with_another_strength_reuses_the_speech_model(
        tmp_path: Path, random_weights_dir: Path, s2l_calls: list[int],
        capsys: pytest.CaptureFixture[str]) -> None:
    scene = demo_head_scene_file(tmp_path)
    folder = tmp_path / "cache"
    assert _bake(scene, tmp_path / "a.blend", random_weights_dir, "--cache-dir",
                 str(folder)) == 0
    assert len(s2l_calls) == 1 and len(entries_of(folder, "s2l")) == 1
    cache_mod.forget_session_caches()  # as a new process would: only the folder remembers
    assert _bake(scene, tmp_path / "b.blend", random_weights_dir, "--cache-dir", str(folder),
                 "--mouth-strength", "0.5") == 0
    assert len(s2l_calls) == 1
    out = capsys.readouterr().out
    assert "cache" not in out.lower()


def test_a_new_batch_process_reads_the_meshs_facts_and_bakes_the_same(
        tmp_path: Path, random_weights_dir: Path, s2l_calls: list[int],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A re-bake in a new process reads the mesh's facts (features, S2D basis, lids, lip
    contact, parts, the plan's R) from the folder, never building the polygon graph, and
    writes what a bake that finds them all afresh writes."""
    from blender_s2l.core.head import head_mesh as hm

    def new_process() -> None:
        cache_mod.forget_session_caches()
        hm.forget_meshes()

    def no_graph(*args: Any) -> Any:
        raise AssertionError("a mesh fact was found afresh instead of read")

    scene = demo_head_scene_file(tmp_path)
    folder = tmp_path / "cache"
    new_process()  # facts an earlier test left in memory would not be written
    assert _bake(scene, tmp_path / "a.blend", random_weights_dir, "--cache-dir",
                 str(folder)) == 0
    assert len(entries_of(folder, "mesh")) >= 6
    new_process()
    with monkeypatch.context() as m:
        m.setattr(hm, "polygon_graph", no_graph)
        assert _bake(scene, tmp_path / "b.blend", random_weights_dir, "--cache-dir",
                     str(folder), "--mouth-strength", "0.5") == 0
    new_process()
    assert _bake(scene, tmp_path / "c.blend", random_weights_dir, "--cache-dir",
                 str(tmp_path / "fresh"), "--mouth-strength", "0.5") == 0
    frames = (10, 20, 30, 40)
    read = {}
    for name in ("b", "c"):
        bpy.ops.wm.open_mainfile(filepath=str(tmp_path / f"{name}.blend"))
        read[name] = [evaluated_co(bpy.data.objects["Head"], f) for f in frames]
    for got, want in zip(read["b"], read["c"], strict=True):
        np.testing.assert_array_equal(got, want)
    assert not np.array_equal(read["c"][1], read["c"][0])  # the mouth moved


def test_batch_with_an_unusable_cache_folder_bakes_and_says_so_once(
        tmp_path: Path, random_weights_dir: Path, s2l_calls: list[int],
        capsys: pytest.CaptureFixture[str]) -> None:
    scene = demo_head_scene_file(tmp_path)
    not_a_folder = tmp_path / "cache.txt"
    not_a_folder.write_text("a file where the folder should be")
    assert _bake(scene, tmp_path / "a.blend", random_weights_dir, "--cache-dir",
                 str(not_a_folder)) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("ok   job 1"))
    assert line.count("cache folder") == 1, out


def test_without_a_flag_the_default_folder_is_used(
        tmp_path: Path, random_weights_dir: Path, s2l_calls: list[int]) -> None:
    scene = demo_head_scene_file(tmp_path)
    default = Path(os.environ["BLENDER_S2L_CACHE"])  # tests/conftest.py points it at a temp
    before = set(entries_of(default, "s2l")) if default.is_dir() else set()
    assert _bake(scene, tmp_path / "a.blend", random_weights_dir) == 0
    assert len(set(entries_of(default, "s2l")) - before) == 1


def test_preferences_have_the_folder_the_limit_and_clear(installed: ModuleType,
                                                         tmp_path: Path) -> None:
    addon = bpy.context.preferences.addons[f"bl_ext.{REPO}.blender_s2l"].preferences
    assert addon.cache_limit_mb == cache_mod.DEFAULT_LIMIT_MB
    prefs_mod = __import__(f"{installed.__name__}.blender.prefs", fromlist=["get_prefs"])
    folder = tmp_path / "prefs_cache"
    addon.cache_dir = str(folder)
    try:
        assert prefs_mod.get_prefs().cache_dir == str(folder)
        installed_cache = __import__(f"{installed.__name__}.core.bake.cache",
                                     fromlist=["session_cache"])
        c = installed_cache.session_cache(folder)
        c.start_bake()
        track = installed_cache.S2LTrack(__import__("numpy").zeros((5, 68, 3), "float32"), None)
        c.s2l_track(__import__("numpy").ones(1600, "float32"), "m", 68, lambda: track)
        (folder / "mine.txt").write_text("kept")
        assert bpy.ops.s2l.clear_cache() == {"FINISHED"}
        assert [p.name for p in folder.iterdir()] == ["mine.txt"]
    finally:
        addon.cache_dir = ""
    assert prefs_mod.get_prefs().cache_dir == os.environ["BLENDER_S2L_CACHE"]
