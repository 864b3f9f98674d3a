"""S2D: landmark motion -> dense motion of any neutral mesh, in factorised form.

dense[t, v] = sum_j codes[t, j] * basis[j, v]. The basis depends only on the mesh (its per-vertex
features, computed once), the codes only on the landmark motion of a frame. That keeps inference
at one small matrix product per clip, and the basis doubles as the compact bake's shape keys.
Codes are exactly zero for zero landmark motion (the code network has no biases and SiLU(0) = 0),
so a neutral input gives the neutral mesh exactly.

CUDA builds this module from the runtime .npz (models/load.py); training saves it as a .pt
checkpoint (training/checkpoint.py), which no bake reads.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..head.landmarks import N_LANDMARKS
from .configs import S2DConfig

__all__ = ["S2D", "S2DConfig", "random_s2d"]


def _mlp(n_in: int, hidden: int, n_out: int, layers: int, bias: bool = True) -> nn.Sequential:
    mods: list[nn.Module] = []
    width = n_in
    for _ in range(layers):
        mods += [nn.Linear(width, hidden, bias=bias), nn.SiLU()]
        width = hidden
    mods.append(nn.Linear(width, n_out, bias=bias))
    return nn.Sequential(*mods)


class S2D(nn.Module):
    def __init__(self, config: S2DConfig | None = None) -> None:
        super().__init__()
        self.config = config or S2DConfig()
        c = self.config
        n_in = N_LANDMARKS * 3
        self.basis_net = _mlp(c.feature_dim, c.basis_hidden, c.n_codes * 3, c.basis_layers)
        # No biases and SiLU(0) = 0: zero motion gives codes that are zero by arithmetic, exactly,
        # whatever the batch size (subtracting f(0) leaves float noise from batched kernels).
        self.code_linear = nn.Linear(n_in, c.n_codes, bias=False)
        self.code_net = _mlp(n_in, c.code_hidden, c.n_codes, 2, bias=False)

    def mesh_basis(self, feats: torch.Tensor) -> torch.Tensor:
        """(V, F) vertex features -> (J, V, 3) basis in mm per unit code."""
        if feats.ndim != 2 or feats.shape[1] != self.config.feature_dim:
            raise ValueError(f"features must be (V, {self.config.feature_dim}); got {feats.shape}")
        out: torch.Tensor = self.basis_net(feats.to(self._dtype()))
        out = out.reshape(feats.shape[0], self.config.n_codes, 3) * self.config.disp_scale_mm
        return out.permute(1, 0, 2)

    def codes(self, lm_disp: torch.Tensor) -> torch.Tensor:
        """(T, 68, 3) landmark displacement in canonical mm -> (T, J); exactly 0 for 0 input."""
        if lm_disp.ndim != 3 or lm_disp.shape[1:] != (N_LANDMARKS, 3):
            raise ValueError(f"landmark motion must be (T, 68, 3); got {tuple(lm_disp.shape)}")
        x = lm_disp.reshape(lm_disp.shape[0], -1).to(self._dtype()) / self.config.disp_scale_mm
        codes: torch.Tensor = self.code_linear(x) + self.code_net(x)
        return codes

    def forward(self, feats: torch.Tensor, lm_disp: torch.Tensor) -> torch.Tensor:
        """(V, F) features and (T, 68, 3) landmark motion -> (T, V, 3) dense motion (mm)."""
        return torch.einsum("tj,jvc->tvc", self.codes(lm_disp), self.mesh_basis(feats))

    def _dtype(self) -> torch.dtype:
        return self.code_linear.weight.dtype


def random_s2d(seed: int = 0, **overrides: Any) -> S2D:
    """A small randomly initialised model, for tests that need a valid s2d checkpoint."""
    torch.manual_seed(seed)
    cfg = {"n_codes": 8, "basis_hidden": 32, "basis_layers": 1, "code_hidden": 16}
    cfg.update(overrides)
    return S2D(S2DConfig(**cfg)).eval()

