"""Dense-motion yardsticks (reports/s2d_eval.md), all in canonical mm on (T, V, 3) arrays."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .losses import MOVING_MM

Arr = NDArray[np.floating[Any]]
Mask = NDArray[np.bool_]
MM2_TO_M2 = 1e-6


def mean_vertex_error(pred: Arr, true: Arr, mask: Mask) -> float:
    """Mean per-vertex L2 error (mm) over the masked vertices and all frames."""
    return float(np.linalg.norm(pred[:, mask] - true[:, mask], axis=-1).mean())


def lve(pred: Arr, true: Arr, lip: Mask) -> tuple[float, float]:
    """Lip vertex error: per frame the max lip-vertex error, averaged; mm and squared m^2 form.

    The squared form (max of squared L2 per frame, averaged, in m^2) is what FaceFormer and
    CodeTalker report on VOCASET.
    """
    err = np.linalg.norm(pred[:, lip] - true[:, lip], axis=-1).max(axis=1)
    return float(err.mean()), float((err**2).mean() * MM2_TO_M2)


def angle_error(pred: Arr, true: Arr, mask: Mask) -> float:
    """Mean angle (degrees) between predicted and true motion where the truth moves > 0.5 mm."""
    p = pred[:, mask].reshape(-1, 3)
    t = true[:, mask].reshape(-1, 3)
    moving = np.linalg.norm(t, axis=1) > MOVING_MM
    p, t = p[moving], t[moving]
    cos = (p * t).sum(1) / np.maximum(np.linalg.norm(p, axis=1) * np.linalg.norm(t, axis=1), 1e-9)
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))).mean())


def _corr(traj: Arr, ref: Arr) -> NDArray[np.float64]:
    """Correlation over frames of each vertex trajectory (T, N, 3) with a reference (T, 3)."""
    a = traj - traj.mean(axis=0, keepdims=True)
    b = ref - ref.mean(axis=0, keepdims=True)
    num = np.einsum("tnc,tc->n", a, b)
    den = np.sqrt((a**2).sum(axis=(0, 2)) * (b**2).sum()) + 1e-12
    return np.asarray(num / den, dtype=np.float64)


def _follows_other(dense: Arr, own: Arr, other: Arr) -> NDArray[np.bool_]:
    return _corr(dense, other) > _corr(dense, own)


def wrong_lip_share(
    dense: Arr, lm_disp: Arr, upper_lip: Mask, lower_lip: Mask, truth: Arr | None = None
) -> float:
    """Share of lip vertices whose motion correlates more with the other lip than with their own.

    Each lip is represented by the mean motion of its middle landmarks (upper 50-52, 61-63;
    lower 56-58, 65-67); correlation is over frames of the 3-D trajectory. With `truth`, only
    vertices whose true motion follows their own lip count (near the corners some do not), so
    the truth itself scores exactly 0.
    """
    up_ref = lm_disp[:, [50, 51, 52, 61, 62, 63]].mean(axis=1)
    lo_ref = lm_disp[:, [56, 57, 58, 65, 66, 67]].mean(axis=1)
    wrong = 0
    total = 0
    for mask, own, other in ((upper_lip, up_ref, lo_ref), (lower_lip, lo_ref, up_ref)):
        counted = np.flatnonzero(mask)
        if truth is not None:
            counted = counted[~_follows_other(truth[:, counted], own, other)]
        wrong += int(_follows_other(dense[:, counted], own, other).sum())
        total += len(counted)
    return wrong / max(total, 1)


def leak(pred: Arr, mask: Mask) -> float:
    """Mean motion (mm) predicted on a region that should not move for this input."""
    return float(np.linalg.norm(pred[:, mask], axis=-1).mean())
