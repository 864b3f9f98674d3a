"""Model shapes, kept free of torch so the numpy runtime can build the same networks."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from ..errors import WeightsError
from ..mesh_features import FEATURE_DIM


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

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> S2LConfig:
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)

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
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise WeightsError(f"The s2d config has unknown fields: {sorted(unknown)}.")
        return cls(**data)
