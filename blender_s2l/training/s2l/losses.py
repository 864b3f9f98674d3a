"""The paper's losses on landmark displacements: weighted L2, velocity L2 and cosine."""

from __future__ import annotations

import torch

from ...core.landmarks import JAW, MOUTH, N_LANDMARKS

MOVING_MM = 0.5


def landmark_weights(mouth_weight: float = 3.0) -> torch.Tensor:
    """Mouth and jaw dominate lip-sync quality, so their errors count more."""
    w = torch.ones(N_LANDMARKS)
    w[torch.as_tensor(MOUTH)] = mouth_weight
    w[torch.as_tensor(JAW)] = max(1.0, mouth_weight / 2)
    return w / w.mean()


def s2l_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    weights: torch.Tensor,
    mask: torch.Tensor | None = None,
    velocity_weight: float = 0.5,
    cosine_weight: float = 0.1,
) -> tuple[torch.Tensor, dict[str, float]]:
    """pred/target (B, T, 68, 3) mm; mask (B, T) marks real (unpadded) frames."""
    if mask is None:
        mask = torch.ones(pred.shape[:2], device=pred.device)
    m = mask[..., None]
    sq = ((pred - target) ** 2).sum(-1)  # (B, T, 68)
    l2 = (sq * weights * m).sum() / (m.sum() * N_LANDMARKS).clamp_min(1)
    dv = (pred[:, 1:] - pred[:, :-1]) - (target[:, 1:] - target[:, :-1])
    mv = (mask[:, 1:] * mask[:, :-1])[..., None]
    vel = ((dv**2).sum(-1) * weights * mv).sum() / (mv.sum() * N_LANDMARKS).clamp_min(1)
    norm_t = target.norm(dim=-1)
    moving = (norm_t > MOVING_MM).float() * m
    cos = torch.nn.functional.cosine_similarity(pred, target, dim=-1, eps=1e-6)
    cos_loss = ((1 - cos) * moving).sum() / moving.sum().clamp_min(1)
    total = l2 + velocity_weight * vel + cosine_weight * cos_loss
    return total, {"l2": float(l2), "vel": float(vel), "cos": float(cos_loss)}
