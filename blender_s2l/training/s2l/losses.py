"""The paper's losses on landmark displacements: weighted L2, velocity L2 and cosine."""

from __future__ import annotations

import torch

from ...core.landmarks import JAW, MOUTH, N_LANDMARKS, canonical_neutral

MOVING_MM = 0.5
# Upper/lower lip landmark pairs whose distance is the mouth opening (inner, then outer lips).
LIP_PAIRS = ((61, 67), (62, 66), (63, 65), (50, 58), (51, 57), (52, 56))
CLOSED_MM = 2.0


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
    gap_weight: float = 1.0,
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
    gap = lip_gap_loss(pred, target, mask)
    total = l2 + velocity_weight * vel + cosine_weight * cos_loss + gap_weight * gap
    parts = {"l2": l2, "vel": vel, "cos": cos_loss, "gap": gap}
    return total, {k: float(v.detach()) for k, v in parts.items()}


def lip_gap_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """L1 on the mouth opening, weighted up where the true lips are closed.

    Plain L2 regression averages a short /p b m/ closure with the open vowels around it, so the
    lips never quite meet; an L1 term on the opening, stressed on closed frames, makes them meet.
    """
    up = torch.as_tensor([a for a, _ in LIP_PAIRS])
    lo = torch.as_tensor([b for _, b in LIP_PAIRS])
    neutral = torch.from_numpy(canonical_neutral().copy()).to(pred.device)
    rest = neutral[up] - neutral[lo]  # (P, 3)
    true_open = rest + target[:, :, up] - target[:, :, lo]  # (B, T, P, 3)
    pred_open = rest + pred[:, :, up] - pred[:, :, lo]
    err = (pred_open - true_open).norm(dim=-1)  # (B, T, P)
    closed = (true_open.norm(dim=-1) < CLOSED_MM).float()
    w = (1.0 + 4.0 * closed) * mask[..., None]
    loss: torch.Tensor = (err * w).sum() / w.sum().clamp_min(1)
    return loss
