"""The demo command end to end (real TTS, real Animator with small random weights)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from blender_helpers import bpy

from blender_s2l import demo
from blender_s2l.blender.storage import read_takes


@pytest.mark.slow
def test_demo_writes_blend_and_png(tmp_path: Path, random_weights_dir: Path) -> None:
    if not (shutil.which("flite") or shutil.which("espeak-ng")):
        pytest.skip("needs flite or espeak-ng")
    out = tmp_path / "out"
    rc = demo.main(["--out", str(out), "--subdivisions", "0", "--no-render",
                    "--weights", str(random_weights_dir), "--text", "Hello there."])
    assert rc == 0
    assert (out / "demo.wav").stat().st_size > 1000
    assert (out / "demo.png").stat().st_size > 10_000
    bpy.ops.wm.open_mainfile(filepath=str(out / "demo.blend"))
    takes = read_takes(bpy.data.objects["DemoHead"])
    assert list(takes) == ["demo"] and takes["demo"].mode == "COMPACT"
    assert "demo" in bpy.context.scene.sequence_editor.strips
