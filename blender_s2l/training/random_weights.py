"""Randomly initialised checkpoints of the real architectures, for tests and speed benchmarks.

Nothing here pretends to be a trained model: the metadata says "random" and the values are noise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..core.head.inner_parts import N_RIGID, JawModel
from ..core.head.landmarks import N_LANDMARKS, UPPER_FACE
from ..core.models.load import weights_file
from ..core.models.s2d import S2D, S2DConfig, random_s2d
from ..core.models.s2l import S2L, S2LConfig
from ..core.models.upper_face import UPPER_EXPRESSIONS, UpperFaceModel
from .checkpoint import (
    checkpoint_file,
    s2l_checkpoint,
    save_checkpoint,
    save_s2d,
    upper_face_checkpoint,
)
from .export_numpy import export_numpy


def write_random_weights(folder: Path, *, full_size: bool = False, seed: int = 0) -> Path:
    """s2l.pt, s2d.pt, upper_face.pt and jaw.npz in folder, and the .npz runtime files of the
    checkpoints, as training leaves a folder: a bake reads the .npz, export tests the .pt;
    full_size: the bundled shapes."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    small = S2LConfig(channels=16, dilations=[1, 2, 4], closure_head=True)
    s2l = S2L(S2LConfig(closure_head=True)) if full_size else S2L(small)
    with torch.no_grad():  # small outputs: random motion of a few mm, like speech
        s2l.head.weight.mul_(0.2)
    meta = {"random": True, "note": "randomly initialised, not trained"}
    save_checkpoint(checkpoint_file("s2l", folder), s2l_checkpoint(s2l.eval(), meta))
    s2d = S2D(S2DConfig()) if full_size else random_s2d(seed)
    save_s2d(checkpoint_file("s2d", folder), s2d, meta)
    rng = np.random.default_rng(seed)
    basis = np.zeros((len(UPPER_EXPRESSIONS), 68, 3), np.float32)
    basis[:, UPPER_FACE] = rng.normal(0, 1.0, (len(UPPER_EXPRESSIONS), len(UPPER_FACE), 3))
    save_checkpoint(checkpoint_file("upper_face", folder),
                    upper_face_checkpoint(UpperFaceModel(basis), meta))
    jaw = rng.normal(0, 0.01, (N_RIGID, N_LANDMARKS * 3))
    JawModel(jaw, np.array([0.0, -60.0, -60.0])).save(weights_file("jaw", folder))
    export_numpy(folder)
    return folder
