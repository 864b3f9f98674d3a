"""Device choice with a clear message instead of a CUDA traceback."""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

from ..errors import DeviceError

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def torch_installed() -> bool:
    """Without importing it (1.5 s): only the CUDA device needs torch."""
    return importlib.util.find_spec("torch") is not None


def check_device_choice(device: str | None) -> str:
    choice = (device or "auto").lower()
    if choice not in DEVICE_CHOICES:
        raise DeviceError(f"Unknown device '{device}'; use one of auto, cpu, cuda.")
    return choice


def resolve_device(device: str = "auto") -> torch.device:
    """'auto' takes CUDA when present; 'cuda' without CUDA is an error the user can act on."""
    choice = check_device_choice(device)
    try:
        import torch
    except ImportError as exc:
        raise DeviceError(
            "This needs torch (the CUDA device runs the networks with it), and this Python has "
            "none; choose CPU or Auto, or install torch."
        ) from exc
    if choice == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if choice == "cuda":
        raise DeviceError(
            "CUDA was requested but this machine has no usable CUDA GPU; choose CPU or Auto."
        )
    return torch.device("cpu")
