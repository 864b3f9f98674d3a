"""A folder of a user's own checkpoints, made bakeable the way the README and the refusal say."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from blender_s2l.core.errors import S2LError
from blender_s2l.core.models.load import load_models
from blender_s2l.training.checkpoint import CHECKPOINT_DIR
from blender_s2l.training.export_numpy import export_numpy


def test_a_checkpoint_folder_is_told_the_command_and_then_bakes(tmp_path: Path) -> None:
    """It was refused as missing jaw.npz (no jaw is trained with S2L), before the sentence
    naming export-numpy; and export-numpy wrote no jaw.npz, so the folder never loaded."""
    for pt in CHECKPOINT_DIR.glob("*.pt"):
        shutil.copyfile(pt, tmp_path / pt.name)
    with pytest.raises(S2LError, match=r"holds s2l\.pt but no s2l\.npz"):
        load_models("cpu", tmp_path)
    written = export_numpy(tmp_path)
    assert tmp_path / "jaw.npz" in written
    models = load_models("cpu", tmp_path)
    assert models.jaw is not None
