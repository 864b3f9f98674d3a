"""Log-mel / landmark-displacement pairs from the corpus, cached as one .npz per utterance."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import gaussian_filter1d

from ...core import audio as audio_io
from ..ict import ICTFace, load_ict

FEATURE_VERSION = 1


@dataclass
class Pair:
    uid: str
    split: str
    mel: NDArray[np.float32]  # (T, 80)
    target: NDArray[np.float32]  # (T, 68, 3) canonical mm displacement


def landmark_deltas(ict: ICTFace) -> NDArray[np.float32]:
    """(53, 68, 3): what each expression does to the 68 landmarks (canonical mm)."""
    return ict.expression_deltas[:, ict.landmarks68].astype(np.float32)


def features_for(wav: NDArray[np.float32]) -> NDArray[np.float32]:
    """Exactly the inference path: loudness normalisation, then log-mel."""
    return audio_io.log_mel(audio_io.normalise_loudness(wav))


def _align(mel: NDArray[np.float32], target: NDArray[np.float32]) -> tuple[Any, Any]:
    n = min(len(mel), len(target))
    return mel[:n], target[:n]


def build_pairs(utterances: list[Any], cache_dir: Path) -> list[Pair]:
    """Featurise each utterance once; later runs read the cache."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    ict_deltas: NDArray[np.float32] | None = None
    pairs: list[Pair] = []
    for utt in utterances:
        key = hashlib.sha1(f"{utt.root}/{utt.id}:{FEATURE_VERSION}".encode()).hexdigest()[:16]
        path = cache_dir / f"{key}.npz"
        if path.is_file():
            z = np.load(path)
            mel, target = z["mel"], z["target"]
        else:
            wav, sr = utt.audio()
            if sr != audio_io.SAMPLE_RATE:
                wav = audio_io.load_audio(wav, sr)
            mel = features_for(wav)
            if hasattr(utt, "landmark_targets"):  # captured meshes (VOCASET)
                target = np.asarray(utt.landmark_targets(), dtype=np.float32)
            else:  # synthetic corpus: ICT expression weights -> landmark displacement
                deltas = ict_deltas if ict_deltas is not None else landmark_deltas(load_ict())
                ict_deltas = deltas
                weights = np.asarray(utt.expression_weights, dtype=np.float32)
                target = np.tensordot(weights, deltas, axes=1).astype(np.float32)
            mel, target = _align(mel, target)
            np.savez(path, mel=mel, target=target)
        pairs.append(Pair(str(utt.id), str(utt.split), mel, target))
    return pairs


def crop_batch(
    pairs: list[Pair], rng: np.random.Generator, batch: int, frames: int
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
    """Random windows; short utterances are zero-padded and masked out of the loss."""
    mel = np.zeros((batch, frames, pairs[0].mel.shape[1]), np.float32)
    tgt = np.zeros((batch, frames, 68, 3), np.float32)
    mask = np.zeros((batch, frames), np.float32)
    floor = float(min(p.mel.min() for p in pairs[:8]))
    mel[:] = floor
    for b in range(batch):
        p = pairs[int(rng.integers(len(pairs)))]
        n = len(p.mel)
        start = int(rng.integers(0, max(1, n - frames + 1)))
        seg = slice(start, min(start + frames, n))
        length = seg.stop - seg.start
        mel[b, :length] = p.mel[seg]
        tgt[b, :length] = p.target[seg]
        mask[b, :length] = 1.0
    return mel, tgt, mask


def spec_augment(
    mel: NDArray[np.float32], rng: np.random.Generator, floor: float
) -> NDArray[np.float32]:
    """Frequency warping (speaker/vocal-tract variety), smearing and masking, so TTS voices
    generalise."""
    out = mel.copy()
    b, _, n_mels = out.shape
    grid = np.arange(n_mels, dtype=np.float64)
    for i in range(b):
        alpha = rng.uniform(0.88, 1.12)
        src = np.clip(grid / alpha, 0, n_mels - 1)
        lo = np.floor(src).astype(int)
        hi = np.minimum(lo + 1, n_mels - 1)
        w = (src - lo)[None, :]
        out[i] = (1 - w) * out[i][:, lo] + w * out[i][:, hi]
        if rng.random() < 0.3:  # smeared formants: lean on coarse cues that survive real rooms
            out[i] = gaussian_filter1d(out[i], rng.uniform(0.5, 2.0), axis=1, mode="nearest")
        if rng.random() < 0.5:
            width = int(rng.integers(1, 10))
            start = int(rng.integers(0, n_mels - width))
            out[i, :, start : start + width] = floor
        out[i] += rng.normal(0, 0.5)  # residual level offset after normalisation
    return out
