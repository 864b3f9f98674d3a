"""Heads and a line for the tests that hold a re-bake's outputs to what they were before it was
made faster (imported by name: pytest puts tests/ on sys.path): the demo head as Blender holds
it (metres, landmark vertices) and the ICT head in its own units with fitted landmark positions
(separate eyeballs, teeth and lashes, another topology), when ../shared/data has it."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from numpy.typing import NDArray

F64 = NDArray[np.float64]
RATE = 16000
FPS = 24.0


@cache
def demo_head() -> tuple[F64, NDArray[np.int64], NDArray[np.int64]]:
    """The 5k-vertex demo head in object space, faces padded, landmark vertex indices."""
    from blender_s2l.demo_head.make import make_demo_head

    h = make_demo_head(0)
    return h.vertices.astype(np.float64), h.face_array(), h.landmark_vertices


@cache
def ict_head() -> tuple[F64, NDArray[np.int64], F64] | None:
    """The ICT mean head in its own units (cm), landmarks as points just off their vertices
    (the closest-point path); None without ../shared/data."""
    from blender_s2l.training.ict import ict_path

    if not ict_path().is_file():
        return None
    from blender_s2l.training.head_panel import _ict_parts
    from blender_s2l.training.ict import load_ict

    ict = load_ict()
    parts = _ict_parts(ict)
    v = ict.neutral[parts.keep].astype(np.float64)
    return v, parts.faces.astype(np.int64), v[parts.landmarks68] + 1e-3


def voice(path: Path, seconds: float = 3.0) -> Path:
    """A buzzy voice-like line (pitch and loudness moving) written to `path`."""
    t = np.arange(int(seconds * RATE)) / RATE
    pitch = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    x = (0.2 * np.sign(np.sin(2 * np.pi * np.cumsum(pitch) / RATE))
         * np.clip(np.sin(2 * np.pi * 1.3 * t), 0, 1) ** 2)
    sf.write(str(path), x.astype(np.float32), RATE)
    return path


def times_of(seconds: float) -> F64:
    out: F64 = np.arange(0.0, seconds, 1.0 / FPS)
    return out


def motion_arrays(motion: Any) -> dict[str, NDArray[Any]]:
    """Everything a motion hands on to a plan, by name."""
    out = {"codes": motion.codes, "basis": motion.basis, "landmarks": motion.landmarks,
           "closure": motion.closure}
    if motion.jaw is not None:
        out.update(jaw_rotation=motion.jaw.rotation, jaw_translation=motion.jaw.translation,
                   jaw_pivot=motion.jaw.pivot)
    return out


def assert_same_bake(a: dict[str, Any], b: dict[str, Any]) -> None:
    """Two bakes' arrays and facts (as the tests collect them) equal bit for bit."""
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], np.ndarray):
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        else:
            assert a[key] == b[key], key
