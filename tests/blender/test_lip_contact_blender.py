"""Lip contact read where the animator sees it: the evaluated mesh in Blender after a real bake.

The installed extension with its bundled models bakes a line with a phones file onto the demo
head whose lips were moved to rest 3 mm apart, and onto one whose lips rest sealed; at every
/p b m/ the inner lips of the evaluated mesh meet, and at no frame do they cross.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from blender_helpers import bpy, evaluated_co, submodule
from lip_helpers import PHONES, demo_with_gap

UPPER, LOWER = [61, 62, 63], [67, 66, 65]
START = 10


@pytest.fixture
def bundled(installed: ModuleType) -> ModuleType:
    submodule(installed, "core.bake.pipeline").forget_animators()
    bpy.ops.wm.read_homefile(use_empty=True)
    return installed


def line_scene(tmp_path: Path) -> tuple[Any, Path]:
    rate = 16000
    t = np.arange(int(1.7 * rate)) / rate
    env = np.clip(np.sin(2 * np.pi * 2.5 * (t - 0.25)), 0, 1) * ((t > 0.25) & (t < 1.35))
    wav = 0.3 * env * np.sign(np.sin(2 * np.pi * 140 * t))
    sf.write(tmp_path / "line.wav", wav.astype(np.float32), rate)
    phones = tmp_path / "line.tsv"
    phones.write_text("".join(f"{s}\t{e}\t{p}\n" for s, e, p in PHONES))
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    scene.frame_start, scene.frame_end = 1, 80
    scene.sequence_editor_create().strips.new_sound("Line", str(tmp_path / "line.wav"), 1,
                                                    START)
    return scene, phones


def head_object(pkg: ModuleType, gap_mm: float) -> tuple[Any, np.ndarray]:
    v, faces, lm = demo_with_gap(gap_mm)
    make = importlib.import_module("blender_s2l.demo_head.make")
    obj_space = make.to_object_space(v)  # metres, +Z up
    mesh = bpy.data.meshes.new("Head")
    mesh.from_pydata(obj_space.astype(float).tolist(), [], [list(f) for f in faces])
    obj = bpy.data.objects.new("Head", mesh)
    bpy.context.scene.collection.objects.link(obj)
    submodule(pkg, "blender.storage").store_landmarks(obj, lm)
    return obj, lm


@pytest.mark.parametrize(("gap_mm", "mode"), [(3.0, "COMPACT"), (3.0, "PER_FRAME"),
                                              (0.0, "COMPACT")])
def test_lips_meet_on_the_evaluated_mesh(
    bundled: ModuleType, tmp_path: Path, gap_mm: float, mode: str
) -> None:
    _, phones = line_scene(tmp_path)
    obj, lm = head_object(bundled, gap_mm)
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Line", mode=mode, device="CPU",
                            phones_file=str(phones), recognise_words=False) == {"FINISHED"}

    def gaps(frame: int) -> np.ndarray:
        co = evaluated_co(obj, frame)
        return (co[lm[UPPER], 2] - co[lm[LOWER], 2]) * 1000.0  # metres -> mm along +Z

    frames = range(START - 2, START + int(1.7 * 30) + 3)
    g = {f: gaps(f) for f in frames}
    assert np.allclose(g[START - 2], gap_mm, atol=0.05)  # before the strip: the neutral
    tol = 0.1 if mode == "COMPACT" else 0.0  # the compact plan's own error bound
    assert min(float(x.min()) for x in g.values()) >= -0.3 - tol
    for s, e, ph in PHONES:
        if ph in ("P", "B", "M"):
            near = [f for f in frames if s - 1 / 30 <= (f - START) / 30 < e + 1 / 30]
            assert min(float(g[f].mean()) for f in near) <= 0.5 + tol, (ph, s)


def test_landmarks_off_the_lips_bake_with_a_note_and_no_pull(
    bundled: ModuleType, tmp_path: Path
) -> None:
    """A fit gone wrong (inner-lip points on the nose and chin): the bake finishes, says why
    the lips were not closed, and the nose is not pulled towards the chin."""
    _, phones = line_scene(tmp_path)
    obj, lm = head_object(bundled, 1.0)
    v = np.array([list(p.co) for p in obj.data.vertices])
    free = np.setdiff1d(np.arange(len(v)), lm)
    bad = lm.copy()
    for k, target in zip(UPPER + LOWER, [31, 33, 35, 7, 8, 9], strict=True):
        bad[k] = free[np.argmin(np.linalg.norm(v[free] - v[lm[target]], axis=1))]
        free = free[free != bad[k]]
    submodule(bundled, "blender.storage").store_landmarks(obj, bad)
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Line", mode="PER_FRAME",
                            device="CPU", phones_file=str(phones),
                            recognise_words=False) == {"FINISHED"}
    (record,) = submodule(bundled, "blender.storage").read_takes(obj).values()
    assert record.notes and "62 and 66" in record.notes[0]
    nose = lm[30]
    moved = max(float(np.abs(evaluated_co(obj, f)[nose] - v[nose]).max())
                for f in range(START, START + 50, 5))
    assert moved * 1000.0 < 1.0  # mm
