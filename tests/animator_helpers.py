"""Helpers shared by tests that drive an Animator (imported by name: pytest puts tests/ on
sys.path)."""

from __future__ import annotations

from blender_s2l.core.animate import Animator
from blender_s2l.core.models.numpy_nets import NumpyS2L


def with_closure_bias(anim: Animator, bias: float) -> Animator:
    """The same models with the closure head's probability fixed by a bias (-20: never sure)."""
    assert isinstance(anim.s2l, NumpyS2L)
    weight = anim.s2l.params["head.weight"].copy()
    weight[-1] = 0.0
    head_bias = anim.s2l.params["head.bias"].copy()
    head_bias[-1] = bias
    s2l = anim.s2l.with_params({"head.weight": weight, "head.bias": head_bias})
    return Animator(s2l, anim.s2d, anim.upper, "cpu", anim.jaw)
