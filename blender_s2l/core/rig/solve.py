"""Dense motion -> weights of the character's own shape keys (the RIG bake mode).

To be written (issue 17): a bounded, temporally smooth, sparse least-squares fit of every
frame's dense motion by the keys' offsets, with the lips weighted by Motion.closure so that a
/p b m/ stays shut.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import BakeError
from ..motion import Motion

if TYPE_CHECKING:
    from ..bake.pipeline import BakeInputs
    from ..bake.plans import RigPlan


def rig_plan(motion: Motion, inputs: BakeInputs) -> RigPlan:
    """The RIG mode's plan: the solve of `motion` onto `inputs.rig`."""
    raise BakeError("Baking onto the character's own shape keys is not available yet.")
