"""One numpy-in, numpy-out interface for the networks, whichever engine runs them.

The numpy networks (numpy_nets.py) serve the CPU without torch; the torch modules serve CUDA
and training. Inference code sees only these protocols, so it never imports torch itself.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from .configs import S2DConfig, S2LConfig
from .numpy_nets import NumpyS2D, NumpyS2L

F32 = NDArray[np.float32]


class S2LRunner(Protocol):
    config: S2LConfig

    @property
    def receptive_frames(self) -> int: ...

    def predict(self, mel: NDArray[np.floating[Any]]) -> tuple[F32, F32 | None]: ...


class S2DRunner(Protocol):
    config: S2DConfig

    def mesh_basis(self, feats: NDArray[np.floating[Any]]) -> F32: ...

    def codes(self, lm_disp: NDArray[np.floating[Any]]) -> F32: ...


def _torch_call(module: Any, fn: Any, x: NDArray[np.floating[Any]]) -> Any:
    """fn(x as a float32 tensor on the module's device), without autograd."""
    import torch

    device = next(module.parameters()).device
    with torch.inference_mode():
        return fn(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(device))


def _numpy(t: Any) -> F32:
    out: F32 = t.cpu().numpy()
    return out


class TorchS2L:
    """A torch S2L module (any device) behind the S2LRunner interface."""

    def __init__(self, model: Any) -> None:
        self.model = model.eval()
        self.config: S2LConfig = model.config

    @property
    def receptive_frames(self) -> int:
        return self.config.receptive_frames

    def predict(self, mel: NDArray[np.floating[Any]]) -> tuple[F32, F32 | None]:
        disp, logit = _torch_call(self.model, lambda x: self.model.predict(x[None]), mel)
        return _numpy(disp[0]), None if logit is None else _numpy(logit[0])


class TorchS2D:
    """A torch S2D module (any device) behind the S2DRunner interface."""

    def __init__(self, model: Any) -> None:
        self.model = model.eval()
        self.config: S2DConfig = model.config

    def mesh_basis(self, feats: NDArray[np.floating[Any]]) -> F32:
        return _numpy(_torch_call(self.model, self.model.mesh_basis, feats))

    def codes(self, lm_disp: NDArray[np.floating[Any]]) -> F32:
        return _numpy(_torch_call(self.model, self.model.codes, lm_disp))


def s2l_runner(model: Any, device: Any = None) -> S2LRunner:
    """Runners pass through; a torch module is moved to device (if given) and wrapped."""
    if isinstance(model, (NumpyS2L, TorchS2L)):
        return model
    return TorchS2L(model if device is None else model.to(device))


def s2d_runner(model: Any, device: Any = None) -> S2DRunner:
    if isinstance(model, (NumpyS2D, TorchS2D)):
        return model
    return TorchS2D(model if device is None else model.to(device))
