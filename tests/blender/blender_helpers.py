"""Shared helpers of the Blender tests (a uniquely named module: `conftest` is taken)."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="needs the bpy module (real Blender)")

ROOT = Path(__file__).resolve().parents[2]
REPO = "s2l_test"


def submodule(pkg: ModuleType, name: str) -> Any:
    return importlib.import_module(f"{pkg.__name__}.{name}")


def write_wav(path: Path, seconds: float, rate: int = 16000) -> Path:
    import soundfile as sf

    t = np.arange(int(seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * 180 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    sf.write(str(path), tone.astype(np.float32), rate)
    return path


def grid_object(name: str, verts: np.ndarray, n: int) -> Any:
    """A mesh object of an n x n vertex grid (row by row) of quads, linked to the scene."""
    faces = [(i * n + j, i * n + j + 1, (i + 1) * n + j + 1, (i + 1) * n + j)
             for i in range(n - 1) for j in range(n - 1)]
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(verts.tolist(), [], faces)
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    return obj


def grid_head(name: str = "Head", size: int = 12) -> Any:
    """A small flat-ish mesh standing in for a head (the fake animator ignores anatomy)."""
    n = size
    xs, ys = np.meshgrid(np.linspace(-0.1, 0.1, n), np.linspace(-0.1, 0.1, n))
    zs = 0.02 * np.cos(xs * 10) * np.cos(ys * 10)
    verts = np.stack([xs.ravel(), ys.ravel(), zs.ravel()], 1)
    obj = grid_object(name, verts, n)
    bpy.context.view_layer.objects.active = obj
    obj.select_set(True)
    return obj


def demo_head_object(pkg: ModuleType) -> Any:
    head = importlib.import_module("blender_s2l.demo_head.make").make_demo_head(0)
    mesh = bpy.data.meshes.new("Head")
    mesh.from_pydata(head.vertices.astype(float).tolist(), [], [list(f) for f in head.faces])
    obj = bpy.data.objects.new("Head", mesh)
    bpy.context.scene.collection.objects.link(obj)
    submodule(pkg, "blender.storage").store_landmarks(obj, head.landmark_vertices)
    return obj


def shift_d(obj: Any) -> Any:
    """The copy that Shift+D makes of obj alone (its data copied, its actions shared)."""
    bpy.ops.object.select_all(action="DESELECT")
    obj.select_set(True)
    bpy.context.view_layer.objects.active = obj
    assert bpy.ops.object.duplicate(linked=False) == {"FINISHED"}
    copy = bpy.context.view_layer.objects.active
    assert copy != obj
    return copy


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

def voice_scene(tmp_path: Path, seconds: float = 2.0, start: int = 10, fps: int = 30,
                fps_base: float = 1.0, frame_end: int = 250) -> tuple[Any, Any]:
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = fps, fps_base
    scene.frame_start, scene.frame_end = 1, frame_end
    wav = write_wav(tmp_path / "voice.wav", seconds)
    ed = scene.sequence_editor_create()
    strip = ed.strips.new_sound("Voice", str(wav), 1, start)
    return scene, strip


def snapshot() -> dict[str, Any]:
    """Everything a failed bake must leave exactly as it was."""
    out: dict[str, Any] = {"actions": sorted(a.name for a in bpy.data.actions)}
    for obj in bpy.data.objects:
        key = getattr(obj.data, "shape_keys", None)
        out[obj.name] = (
            [k.name for k in key.key_blocks] if key else None,
            sorted(obj.keys()),
        )
    return out


def expected_time(frame: int, strip: Any, scene: Any) -> float:
    fps = scene.render.fps / scene.render.fps_base
    return (frame - strip.frame_start + strip.animation_offset_start) / fps - strip.sound_offset


def recorded_alignments(monkeypatch: Any, line_align: Any, phone: Any) -> list[str]:
    """`line_align.align_line` replaced by one that lists each transcript it is handed and
    aligns an /m/ at 0.2 s (the module and Phone class of the copy the test bakes with)."""
    heard: list[str] = []

    def fake_align(wav: Any, transcript: str, *args: Any) -> Any:
        heard.append(transcript)
        return line_align.LineAlignment([phone(0.0, 0.2, "SIL"), phone(0.2, 0.3, "M")], 1.0, ())

    monkeypatch.setattr(line_align, "align_line", fake_align)
    return heard
