"""A stand-in for core.animate.Animator whose motion is a known function of audio time.

It lets the Blender tests check timing and baking exactly (the evaluated mesh at a frame must
equal neutral + dense(t) for that frame's audio time t) without trained weights.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from types import ModuleType
from typing import Any

import numpy as np


def codes_at(times: np.ndarray) -> np.ndarray:
    t = np.asarray(times, dtype=np.float64)
    return np.stack(
        [np.sin(2 * np.pi * 1.3 * t), np.cos(2 * np.pi * 0.7 * t) - 1.0, 0.5 * t], axis=1
    ).astype(np.float32)


def basis_for(n_vertices: int, scale: float = 0.004) -> np.ndarray:
    rng = np.random.default_rng(n_vertices)
    return (scale * rng.normal(size=(3, n_vertices, 3))).astype(np.float32)


def dense_at(times: np.ndarray, n_vertices: int, strength: float = 1.0) -> np.ndarray:
    return strength * np.einsum("tj,jvc->tvc", codes_at(times), basis_for(n_vertices))


class FakeAnimator:
    def __init__(self, pkg: ModuleType) -> None:
        import importlib

        self.motion_cls = importlib.import_module(f"{pkg.__name__}.core.motion").Motion
        self.errors = importlib.import_module(f"{pkg.__name__}.core.errors")
        self.calls: list[dict[str, Any]] = []
        self.block = threading.Event()  # set: animate waits until cancelled
        self.started = threading.Event()

    def hear_speech(self, audio: Any, cache: Any) -> None:
        """The real one fills the cache with S2L's output; the fake has none to keep."""

    def animate(self, audio: Any, vertices: Any, faces: Any, landmarks68: Any = None,
                fps: float = 30.0, seed: int = 0, **kw: Any) -> Any:
        times = np.asarray(kw["frame_times"], dtype=np.float64)
        settings = kw.pop("settings", None)
        if settings is not None:  # the bake's choices, as the API's keywords would give them
            kw = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)} | kw
            seed = kw.pop("seed", seed)
        self.calls.append({"audio": audio, "n_vertices": len(vertices), "times": times,
                           "seed": seed, "landmarks68": landmarks68, **kw})
        self.started.set()
        cancel = kw.get("cancel")
        while self.block.is_set():
            if cancel is not None and cancel():
                raise self.errors.Cancelled("The bake was cancelled; nothing was changed.")
            time.sleep(0.01)
        v = len(vertices)
        return self.motion_cls(
            frame_times=times,
            landmarks=np.zeros((len(times), 68, 3), np.float32),
            codes=codes_at(times) * np.float32(kw.get("mouth_strength", 1.0)),
            basis=basis_for(v),
            mm_per_unit=1000.0,
        )
