"""Log-mel / landmark-displacement pairs from the corpus, cached as one .npz per utterance."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import gaussian_filter1d

from ...core.speech import audio as audio_io
from ...core.speech.features import N_MELS, s2l_input, silence_input
from ...core.speech.phones import BILABIALS, SIL, normalise_phone
from ..ict import ICTFace, load_ict

FEATURE_VERSION = 1
# Closures that look alike in the spectrum (a short silence): the bilabials the lips must shut
# for, and the alveolar/velar stops and nasals they must not. Windows centred on them train the
# closure head on exactly the distinction that fails on real speech.
CONFUSABLE_CLOSURES = frozenset({"T", "D", "K", "G", "N", "NG"})


@dataclass
class Pair:
    uid: str
    split: str
    mel: NDArray[np.float32]  # (T, 80)
    target: NDArray[np.float32]  # (T, 68, 3) canonical mm displacement
    voice: str = ""
    focus: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    # 1 on frames inside a spoken phone, 0 in labelled silence; empty where phones are unknown.
    speech: NDArray[np.float32] = field(default_factory=lambda: np.zeros(0, np.float32))


def closure_frames(phones: list[tuple[float, float, str]], frame_rate: float = 100.0
                   ) -> NDArray[np.int64]:
    """Centre frames of the bilabials and the confusable stops/nasals of an utterance."""
    keep = BILABIALS | CONFUSABLE_CLOSURES
    frames = [round(0.5 * (s + e) * frame_rate) for s, e, p in phones
              if normalise_phone(p) in keep]
    return np.asarray(frames, np.int64)


def speech_frames(phones: list[tuple[float, float, str]], n: int, frame_rate: float = 100.0
                  ) -> NDArray[np.float32]:
    """(n,) 1.0 on frames inside a spoken phone; silences and unlabelled frames are 0.

    The closure head can be trained on speech frames only: in a pause the lips rest shut, and
    "quiet means closed" is a shortcut that fails on real /m/ and /b/, which are voiced."""
    out = np.zeros(n, np.float32)
    for s, e, p in phones:
        if normalise_phone(p) != SIL:
            out[max(0, round(s * frame_rate)) : max(0, round(e * frame_rate))] = 1.0
    return out


def landmark_deltas(ict: ICTFace) -> NDArray[np.float32]:
    """(53, 68, 3): what each expression does to the 68 landmarks (canonical mm)."""
    return ict.expression_deltas[:, ict.landmarks68].astype(np.float32)


def features_for(wav: NDArray[np.float32], n_acoustic: int = 0) -> NDArray[np.float32]:
    """Exactly the inference path: loudness normalisation, then S2L's input (log-mel, and the
    phone posteriors for a model that hears them)."""
    return s2l_input(audio_io.normalise_loudness(wav), n_acoustic)


def _align(mel: NDArray[np.float32], target: NDArray[np.float32]) -> tuple[Any, Any]:
    n = min(len(mel), len(target))
    return mel[:n], target[:n]


def _cache_path(utt: Any, cache_dir: Path, n_acoustic: int) -> Path:
    with_acoustic = f":a{n_acoustic}" if n_acoustic else ""
    text = f"{utt.root}/{utt.id}:{FEATURE_VERSION}{with_acoustic}"
    return cache_dir / f"{hashlib.sha1(text.encode()).hexdigest()[:16]}.npz"


def _featurise(utt: Any, path: Path, n_acoustic: int) -> None:
    """Features and landmark targets of one utterance, written to its cache file."""
    wav, sr = utt.audio()
    if sr != audio_io.SAMPLE_RATE:
        wav = audio_io.load_audio(wav, sr)
    mel = features_for(wav, n_acoustic)
    if hasattr(utt, "landmark_targets"):  # captured meshes (VOCASET)
        target = np.asarray(utt.landmark_targets(), dtype=np.float32)
    else:  # synthetic corpus: ICT expression weights -> landmark displacement
        weights = np.asarray(utt.expression_weights, dtype=np.float32)
        target = np.tensordot(weights, _ict_landmark_deltas(), axes=1).astype(np.float32)
    mel, target = _align(mel, target)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, mel=mel, target=target)
    tmp.replace(path)


@cache
def _ict_landmark_deltas() -> NDArray[np.float32]:
    """Read once a process (each pool worker reads it for itself)."""
    return landmark_deltas(load_ict())


def _featurise_job(job: tuple[Any, Path, int]) -> None:
    _featurise(*job)


def build_pairs(utterances: list[Any], cache_dir: Path, n_acoustic: int = 0,
                jobs: int = 1) -> list[Pair]:
    """Featurise each utterance once (in `jobs` processes); later runs read the cache."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    paths = [_cache_path(u, cache_dir, n_acoustic) for u in utterances]
    todo = [(u, path, n_acoustic) for u, path in zip(utterances, paths, strict=True)
            if not path.is_file()]
    if jobs > 1 and len(todo) > 1:
        from multiprocessing import get_context

        with get_context("fork").Pool(jobs) as pool:
            for _ in pool.imap_unordered(_featurise_job, todo, chunksize=8):
                pass
    else:
        for job in todo:
            _featurise_job(job)
    pairs: list[Pair] = []
    for utt, path in zip(utterances, paths, strict=True):
        z = np.load(path)
        mel, target = z["mel"], z["target"]
        phones = list(getattr(utt, "phones", []))  # VOCASET has none: no focus windows
        speech = speech_frames(phones, len(mel)) if phones else np.zeros(0, np.float32)
        pairs.append(Pair(str(utt.id), str(utt.split), mel, target, str(getattr(utt, "voice", "")),
                          closure_frames(phones), speech))
    return pairs


def crop_batch(
    pairs: list[Pair], rng: np.random.Generator, batch: int, frames: int,
    focus: float = 0.0, weights: NDArray[np.float64] | None = None,
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
    """Random windows; short utterances are padded with the features of digital silence and
    masked out of the loss. Returns
    mel, target, mask and the speech mask (mask where a pair has no phones).

    With probability `focus` a window holds one of the pair's focus frames (a bilabial or a
    confusable closure) away from its edges; `weights` are per-pair sampling probabilities.
    """
    mel = np.zeros((batch, frames, pairs[0].mel.shape[1]), np.float32)
    tgt = np.zeros((batch, frames, 68, 3), np.float32)
    mask = np.zeros((batch, frames), np.float32)
    speech = np.zeros((batch, frames), np.float32)
    mel[:] = silence_input(mel.shape[2] - N_MELS)  # padding sounds like digital silence
    for b in range(batch):
        p = pairs[int(rng.choice(len(pairs), p=weights))] if weights is not None else \
            pairs[int(rng.integers(len(pairs)))]
        n = len(p.mel)
        start = int(rng.integers(0, max(1, n - frames + 1)))
        if focus > 0 and len(p.focus) and rng.random() < focus:
            centre = int(p.focus[int(rng.integers(len(p.focus)))])
            start = centre - int(rng.integers(frames // 5, frames - frames // 5))
            start = int(np.clip(start, 0, max(0, n - frames)))
        seg = slice(start, min(start + frames, n))
        length = seg.stop - seg.start
        mel[b, :length] = p.mel[seg]
        tgt[b, :length] = p.target[seg]
        mask[b, :length] = 1.0
        speech[b, :length] = p.speech[seg] if len(p.speech) >= seg.stop else 1.0
    return mel, tgt, mask, speech


def voice_weights(pairs: list[Pair], by_prefix: dict[str, float]) -> NDArray[np.float64] | None:
    """Per-pair sampling probabilities: a voice whose name starts with a key is drawn that many
    times as often (e.g. {"espeak": 0.4} leans on the voices made from human recordings)."""
    if not by_prefix:
        return None
    w = np.ones(len(pairs))
    for i, p in enumerate(pairs):
        for prefix, factor in by_prefix.items():
            if p.voice.startswith(prefix):
                w[i] *= factor
    if not np.isfinite(w).all() or w.min() < 0 or w.sum() <= 0:
        raise ValueError(f"voice weights {by_prefix} leave nothing to sample")
    out: NDArray[np.float64] = w / w.sum()
    return out


def spec_augment(
    mel: NDArray[np.float32], rng: np.random.Generator, floor: float
) -> NDArray[np.float32]:
    """Frequency warping (speaker/vocal-tract variety), smearing and masking of the mel bands, so
    TTS voices generalise. Phone posteriors after the bands are left as they are: they come from
    a model trained on human voices, which is the point of them."""
    out = mel.copy()
    b, n_mels = out.shape[0], N_MELS
    grid = np.arange(n_mels, dtype=np.float64)
    for i in range(b):
        alpha = rng.uniform(0.88, 1.12)
        src = np.clip(grid / alpha, 0, n_mels - 1)
        lo = np.floor(src).astype(int)
        hi = np.minimum(lo + 1, n_mels - 1)
        w = (src - lo)[None, :]
        band = out[i, :, :n_mels]
        band = (1 - w) * band[:, lo] + w * band[:, hi]
        if rng.random() < 0.3:  # smeared formants: lean on coarse cues that survive real rooms
            band = gaussian_filter1d(band, rng.uniform(0.5, 2.0), axis=1, mode="nearest")
        if rng.random() < 0.5:
            width = int(rng.integers(1, 10))
            start = int(rng.integers(0, n_mels - width))
            band[:, start : start + width] = floor
        out[i, :, :n_mels] = band + rng.normal(0, 0.5)  # residual level offset
    return out
