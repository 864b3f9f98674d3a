"""Device choice with a clear message instead of a CUDA traceback."""

from __future__ import annotations

import torch

from ..errors import DeviceError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(device: str = "auto") -> torch.device:
    """'auto' takes CUDA when present; 'cuda' without CUDA is an error the user can act on."""
    choice = (device or "auto").lower()
    if choice not in DEVICE_CHOICES:
        raise DeviceError(f"Unknown device '{device}'; use one of auto, cpu, cuda.")
    if choice == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if choice == "cuda":
        raise DeviceError(
            "CUDA was requested but this machine has no usable CUDA GPU; choose CPU or Auto."
        )
    return torch.device("cpu")
