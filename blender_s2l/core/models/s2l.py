"""S2L: log-mel (and optionally phone posteriors) -> 68 landmark displacements (mm) at 100 Hz.

wav2vec 2.0 cannot be downloaded here, so the encoder learns from log-mel like MeshTalk: a stack of
dilated 1-D convolutions. It is purely convolutional with a finite receptive field, which makes
chunked inference of long audio exactly equal to a single pass (no seams) and deterministic.

CUDA builds this module from the runtime .npz (models/load.py); training saves it as a .pt
checkpoint (training/checkpoint.py), which no bake reads.
"""

from __future__ import annotations

import torch
from torch import nn

from .configs import S2LConfig

__all__ = ["S2L", "S2LConfig"]


class FrameNorm(nn.Module):
    """LayerNorm over channels of each frame: unlike batch/instance norm it never looks across
    time, so a chunk gives the same activations as the whole clip."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y: torch.Tensor = self.norm(x.transpose(1, 2))
        return y.transpose(1, 2)


class DilatedBlock(nn.Module):
    def __init__(self, channels: int, kernel: int, dilation: int, dropout: float) -> None:
        super().__init__()
        pad = dilation * (kernel - 1) // 2
        self.conv = nn.Conv1d(channels, channels, kernel, padding=pad, dilation=dilation)
        self.mix = nn.Conv1d(channels, channels, 1)
        self.norm = FrameNorm(channels)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.nn.functional.gelu(self.conv(self.norm(x)))
        out: torch.Tensor = x + self.drop(self.mix(h))
        return out


class S2L(nn.Module):
    """Input (B, T, n_inputs) log-mel [+ log phone posteriors]; output (B, T, 68, 3) in mm."""

    def __init__(self, config: S2LConfig | None = None) -> None:
        super().__init__()
        self.config = config or S2LConfig()
        c = self.config
        if c.kernel % 2 != 1:
            raise ValueError("S2L kernel must be odd so frames stay centred.")
        self.feat_mean: torch.Tensor
        self.feat_std: torch.Tensor
        self.register_buffer("feat_mean", torch.zeros(c.n_inputs))
        self.register_buffer("feat_std", torch.ones(c.n_inputs))
        self.inp = nn.Conv1d(c.n_inputs, c.channels, c.kernel, padding=c.kernel // 2)
        self.blocks = nn.ModuleList(
            DilatedBlock(c.channels, c.kernel, d, c.dropout) for d in c.dilations
        )
        self.out_norm = FrameNorm(c.channels)
        self.head = nn.Conv1d(c.channels, c.n_landmarks * 3 + int(c.closure_head), 1)

    @property
    def receptive_frames(self) -> int:
        """Frames of context one output frame sees on each side."""
        return self.config.receptive_frames

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.predict(mel)[0]

    def predict(self, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Displacements (B, T, 68, 3) and, with a closure head, closure logits (B, T)."""
        b, t, _ = mel.shape
        x = ((mel - self.feat_mean) / self.feat_std).transpose(1, 2)
        x = self.inp(x)
        for block in self.blocks:
            x = block(x)
        y = self.head(torch.nn.functional.gelu(self.out_norm(x))).transpose(1, 2)
        n = self.config.n_landmarks * 3
        disp = y[..., :n].reshape(b, t, self.config.n_landmarks, 3)
        return disp, (y[..., n] if self.config.closure_head else None)

