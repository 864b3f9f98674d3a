"""The paper's losses on landmark displacements: weighted L2, velocity L2 and cosine."""

from __future__ import annotations

import torch

from ...core.head.landmarks import JAW, MOUTH, N_LANDMARKS, canonical_neutral

MOVING_MM = 0.5
CLOSURE_PAIR = (62, 66)  # inner lip centre: the pair the lip gap of training/metrics.py reads
CLOSURE_MM = 0.5  # opening within this of the neutral's counts as closed lips
CLOSURE_POS_WEIGHT = 2.0  # closed frames are the minority; missing one is the costly error
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
    closure_logit: torch.Tensor | None = None,
    closure_weight: float = 0.5,
    closure_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """pred/target (B, T, 68, 3) mm; mask (B, T) marks real (unpadded) frames; closure_logit
    (B, T) is the closure head's output, trained against the closed lips of the target on the
    frames of closure_mask (default: mask)."""
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
    if closure_logit is not None:
        bce = torch.nn.functional.binary_cross_entropy_with_logits(
            closure_logit, closure_target(target), reduction="none",
            pos_weight=torch.tensor(CLOSURE_POS_WEIGHT, device=pred.device),
        )
        cm = mask if closure_mask is None else closure_mask * mask
        parts["closure"] = (bce * cm).sum() / cm.sum().clamp_min(1)
        total = total + closure_weight * parts["closure"]
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


def closure_target(target: torch.Tensor) -> torch.Tensor:
    """(B, T, 68, 3) displacements -> (B, T) 1.0 where the inner lips are (almost) touching."""
    up, lo = CLOSURE_PAIR
    opening = target[:, :, up, 1] - target[:, :, lo, 1]  # vertical, beyond the neutral's
    return (opening < CLOSURE_MM).float()
