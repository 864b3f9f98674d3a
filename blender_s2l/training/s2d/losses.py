"""The paper's S2D loss: region-weighted L2 plus a cosine term on the direction of motion."""

from __future__ import annotations

import torch

MOVING_MM = 0.5


def weighted_l2(pred: torch.Tensor, true: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Mean squared error (mm^2) with per-vertex weights (normalised to mean 1)."""
    err = ((pred - true) ** 2).sum(-1)
    return (err * weight).mean() / weight.mean().clamp_min(1e-8)


def cosine_loss(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """1 - cos(pred, true) over vertices that truly move more than 0.5 mm (0 if none do)."""
    moving = true.norm(dim=-1) > MOVING_MM
    if not bool(moving.any()):
        return pred.sum() * 0.0
    cos = torch.nn.functional.cosine_similarity(pred[moving], true[moving], dim=-1, eps=1e-6)
    return (1.0 - cos).mean()


def region_l2(pred: torch.Tensor, true: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error (mm^2) over the masked vertices only (0 if the mask is empty)."""
    if not bool(mask.any()):
        return pred.sum() * 0.0
    return ((pred[:, mask] - true[:, mask]) ** 2).sum(-1).mean()
