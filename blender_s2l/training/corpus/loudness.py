"""Frame-aligned loudness (RMS) so jaw amplitude and brow emphasis can follow the voice."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray


def rms_at(audio: NDArray[np.floating[Any]], sr: int, frame_times: NDArray[np.floating[Any]],
           window: float = 0.03) -> NDArray[np.float32]:
    """RMS of a `window`-second span centred on each frame time (zero outside the audio)."""
    x = np.asarray(audio, dtype=np.float64)
    csum = np.concatenate([[0.0], np.cumsum(x * x)])
    half = int(window * sr / 2)
    centre = np.round(np.asarray(frame_times, dtype=np.float64) * sr).astype(np.int64)
    lo = np.clip(centre - half, 0, len(x))
    hi = np.clip(centre + half, 0, len(x))
    n = np.maximum(hi - lo, 1)
    return np.asarray(np.sqrt((csum[hi] - csum[lo]) / n), dtype=np.float32)
