"""What every TTS backend returns: clean audio plus phone intervals in engine spelling."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Voice:
    """One renderable voice; `heldout` voices never appear in the training split."""

    name: str  # unique, e.g. "flite_slt"
    engine: str  # "flite" | "festival" | "espeak"
    engine_voice: str  # the engine's own name for it
    base_f0: float  # typical mean F0 in Hz, the centre of pitch variation
    heldout: bool = False
    can_shift_pitch: bool = True


@dataclass
class Rendered:
    audio: NDArray[np.float32]  # mono, [-1, 1]
    sample_rate: int
    phones: list[tuple[float, float, str]]  # (start, end, engine label), seconds
    settings: dict[str, float] = field(default_factory=dict)


def ends_to_intervals(ends: list[tuple[str, float]]) -> list[tuple[float, float, str]]:
    """Engines print each phone's end time; turn them into (start, end, label)."""
    out: list[tuple[float, float, str]] = []
    start = 0.0
    for label, end in ends:
        if end > start:
            out.append((start, end, label))
            start = end
    return out
