"""The corpus on disk and its torch-free reader.

Layout under the corpus root: manifest.jsonl (one JSON object per utterance) and utts/ with,
per utterance, <id>.wav (16 kHz mono, augmented), <id>.phones.txt ("start end ARPAbet"),
<id>.npz (expression (T, 53) and upper_face (T, 8) weights at 100 Hz, identity (100,)) and
<id>.json (the manifest record, written last: its presence marks the utterance complete).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from numpy.typing import NDArray

from ...core.errors import S2LError

FRAME_RATE = 100.0
MANIFEST = "manifest.jsonl"


def write_phones(path: Path, phones: list[tuple[float, float, str]]) -> None:
    path.write_text("".join(f"{s:.6f} {e:.6f} {p}\n" for s, e, p in phones))


def read_phones(path: Path) -> list[tuple[float, float, str]]:
    out: list[tuple[float, float, str]] = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3:
            out.append((float(parts[0]), float(parts[1]), parts[2]))
    return out


@dataclass
class Utterance:
    root: Path
    record: dict[str, Any] = field(repr=False)

    @property
    def id(self) -> str:
        return str(self.record["id"])

    @property
    def split(self) -> str:
        return str(self.record["split"])

    @property
    def voice(self) -> str:
        return str(self.record["voice"])

    @property
    def duration(self) -> float:
        return float(self.record["duration"])

    def audio(self) -> tuple[NDArray[np.float32], int]:
        """(samples, sample_rate): mono float32 at 16 kHz."""
        x, sr = sf.read(self.root / self.record["wav"], dtype="float32")
        return np.asarray(x, dtype=np.float32).reshape(-1), int(sr)

    @cached_property
    def phones(self) -> list[tuple[float, float, str]]:
        return read_phones(self.root / self.record["phones"])

    @cached_property
    def _arrays(self) -> dict[str, NDArray[Any]]:
        with np.load(self.root / self.record["targets"], allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    @property
    def expression_weights(self) -> NDArray[np.float32]:
        """(T, 53) ICT weights at 100 Hz (frame k at k / 100 s); lower face only."""
        return self._arrays["expression"].astype(np.float32)

    @property
    def upper_face_weights(self) -> NDArray[np.float32]:
        """(T, 8) blink/brow weights in UPPER_EXPRESSIONS order (not predictable from audio)."""
        return self._arrays["upper_face"].astype(np.float32)

    @property
    def identity(self) -> NDArray[np.float32]:
        return self._arrays["identity"].astype(np.float32)

    def frame_times(self) -> NDArray[np.float64]:
        return np.arange(len(self.expression_weights)) / FRAME_RATE


def load_corpus(root: str | Path, split: str | None = None) -> list[Utterance]:
    """Every utterance of manifest.jsonl (optionally one split), in manifest order."""
    root = Path(root)
    path = root / MANIFEST
    if not path.is_file():
        raise S2LError(f"No corpus manifest at {path}; build one with `training corpus`.")
    out = []
    for line in path.read_text().splitlines():
        if line.strip():
            rec = json.loads(line)
            if split is None or rec["split"] == split:
                out.append(Utterance(root, rec))
    return out
