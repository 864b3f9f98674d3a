"""What a bake onto the character's own rig reads of it, copied out of Blender.

The RIG bake mode predicts dense motion for the head as every mode does, then solves it into
weights of shape keys the character already has (ARKit, visemes, VRM), so the animator keeps
editing `jawOpen` rather than our keys. A RigTarget is everything that solve and its writers need,
bpy-free, so the solve runs on the worker thread like the rest of the bake.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from .jaw import JawRig


@dataclass
class RigTarget:
    """The head's own shape keys that a rig bake may key, and who else shares them."""

    rig_set: str  # "ARKIT", "VISEMES" or "VRM" (core/rig/names.py)
    key_names: list[str]  # the keys to solve for, as named on the head
    canonical: list[str]  # the rig set's name of each key (e.g. "jawOpen" for "CC_Jaw_Open")
    deltas: NDArray[np.float32]  # (K, V, 3) each key's offset from the reference key, mesh units
    ranges: NDArray[np.float64]  # (K, 2) each key's slider_min, slider_max
    # Other mesh objects of the character (teeth, tongue, eyes...) and the keys they share with
    # the head, by head key name: they get the same weights in takes of their own.
    others: dict[str, list[str]] = field(default_factory=dict)
    jaw_bone: str = ""  # "armature/bone" keyed from the jaw motion, or "" when there is none
    jaw: JawRig | None = None  # that bone's matrices and skin weights, when it is keyed
    notes: list[str] = field(default_factory=list)  # keys left out and why
