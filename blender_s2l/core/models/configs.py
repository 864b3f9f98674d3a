"""Model shapes, kept free of torch so the numpy runtime can build the same networks.

A config arrives from a weights file's JSON, so every value is checked for type and range before
any shape is computed from it: a string where a width belongs escaped as a TypeError, and a width
of a billion would size an allocation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from ..errors import WeightsError
from ..head.mesh_features import FEATURE_DIM


@dataclass
class S2LConfig:
    n_mels: int = 80
    channels: int = 128
    kernel: int = 3
    dilations: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 16, 1, 2, 4, 8, 16])
    n_landmarks: int = 68
    dropout: float = 0.1
    # One extra output channel: the logit that the lips are closed (a /p b m/ or rest). Trained
    # as a classifier, it stays decisive where the landmark regression averages a short closure
    # with the vowels around it. Checkpoints without it load with False.
    closure_head: bool = False
    # Input channels after the mel bands: log phone posteriors of pocketsphinx's acoustic model
    # (core/speech/acoustic.py), one per phone; 0 for a log-mel-only model.
    n_acoustic: int = 0

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> S2LConfig:
        """Unknown keys are ignored (older training runs stored more); known ones are checked."""
        if not isinstance(d, dict):
            raise WeightsError("The s2l config is not a set of named values.")
        c = cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})
        what = "The s2l config"
        for name, hi in (("n_mels", 1024), ("channels", MAX_WIDTH), ("n_landmarks", 1024)):
            _whole(what, name, getattr(c, name), 1, hi)
        _whole(what, "n_acoustic", c.n_acoustic, 0, 1024)
        _whole(what, "kernel", c.kernel, 1, 63)
        if c.kernel % 2 == 0:
            raise WeightsError(f"{what} has an even kernel ({c.kernel}); it must be odd.")
        if not isinstance(c.dilations, list) or len(c.dilations) > MAX_LAYERS:
            raise WeightsError(f"{what} needs a list of at most {MAX_LAYERS} dilations.")
        for dil in c.dilations:
            _whole(what, "dilations", dil, 1, 4096)
        _real(what, "dropout", c.dropout, 0.0, 1.0)
        if not isinstance(c.closure_head, bool):
            raise WeightsError(f"{what} has closure_head {c.closure_head!r}, not true or false.")
        return c

    @property
    def n_inputs(self) -> int:
        """Channels of one input frame: mel bands, then acoustic channels."""
        return self.n_mels + self.n_acoustic

    @property
    def receptive_frames(self) -> int:
        """Frames of context one output frame sees on each side."""
        half = (self.kernel - 1) // 2
        return half + sum(half * d for d in self.dilations)


@dataclass(frozen=True)
class S2DConfig:
    feature_dim: int = FEATURE_DIM
    n_codes: int = 64
    basis_hidden: int = 256
    basis_layers: int = 3
    code_hidden: int = 256
    # Landmark motion is divided by this (mm) before the code network: keeps inputs near unit size.
    disp_scale_mm: float = 10.0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> S2DConfig:
        if not isinstance(data, dict):
            raise WeightsError("The s2d config is not a set of named values.")
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise WeightsError(f"The s2d config has unknown fields: {sorted(unknown)}.")
        c = cls(**data)
        what = "The s2d config"
        for name in ("feature_dim", "n_codes", "basis_hidden", "code_hidden"):
            _whole(what, name, getattr(c, name), 1, MAX_WIDTH)
        _whole(what, "basis_layers", c.basis_layers, 0, MAX_LAYERS)
        _real(what, "disp_scale_mm", c.disp_scale_mm, 1e-3, 1e4)
        return c


# Far beyond any network this add-on ships (128-256 wide, 10 blocks), far below absurd.
MAX_WIDTH = 8192
MAX_LAYERS = 64


def _whole(what: str, name: str, value: Any, lo: int, hi: int) -> None:
    if type(value) is not int or not lo <= value <= hi:
        raise WeightsError(f"{what} has {name} = {value!r:.40}; it must be a whole number "
                           f"from {lo} to {hi}.")


def _real(what: str, name: str, value: Any, lo: float, hi: float) -> None:
    ok = type(value) in (int, float) and math.isfinite(value) and lo <= value <= hi
    if not ok:
        raise WeightsError(f"{what} has {name} = {value!r:.40}; it must be a number from "
                           f"{lo:g} to {hi:g}.")
