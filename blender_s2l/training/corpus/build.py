"""Builds the corpus: plan (pure function of seed and index), render, augment, write, cache.

Utterance i depends only on (seed, i), so any prefix of the corpus is reproducible and a
re-run skips utterances already on disk. The manifest lists the shortest prefix of indices
whose audio reaches the requested duration.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

from ...core.errors import S2LError
from ..ict import load_ict
from . import augment
from .everyday_text import make_everyday_sentences
from .identity import sample_identity
from .loudness import rms_at
from .manifest import FRAME_RATE, MANIFEST, read_phones, write_phones
from .targets import make_targets, retarget_one, save_targets
from .text import make_sentences
from .visemes import TEACHER_VERSION, sample_style
from .voices import VOICES, render, voice_by_name

N_IDENTITIES = 200  # identity pool per seed; the last 20 are only used by held-out utterances
HELDOUT_IDENTITIES = range(N_IDENTITIES - 20, N_IDENTITIES)
HELDOUT_SHARE = 0.1
SENTENCE_BLOCK = 100


TEXT_STYLES = ("coverage", "everyday")


@cache
def _sentence_block(seed: int, block: int, text: str = "coverage") -> list[str]:
    make = make_everyday_sentences if text == "everyday" else make_sentences
    return make(SENTENCE_BLOCK, seed * 100003 + block)


def plan(seed: int, index: int, text: str = "coverage",
         engines: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Everything random about utterance `index`, drawn from (seed, index) and the corpus
    options alone (the defaults give exactly the plans of the first corpora)."""
    if text not in TEXT_STYLES:
        raise ValueError(f"text style {text!r} is not one of {TEXT_STYLES}")
    rng = np.random.default_rng([seed, index])
    heldout = bool(rng.random() < HELDOUT_SHARE)
    pool = [v for v in VOICES if v.heldout == heldout and (not engines or v.engine in engines)]
    if not pool:
        raise ValueError(f"no {'held-out' if heldout else 'training'} voice of {engines}")
    kinds = sorted({v.engine for v in pool})  # engines equally likely, then a voice
    engine = kinds[int(rng.integers(len(kinds)))]
    pool = [v for v in pool if v.engine == engine]
    voice = pool[int(rng.integers(len(pool)))]
    if heldout:
        ident = int(rng.choice(list(HELDOUT_IDENTITIES)))
    else:
        ident = int(rng.integers(0, HELDOUT_IDENTITIES.start))
    return {
        "id": f"u{seed:03d}_{index:06d}",
        "index": index,
        "seed": seed,
        "voice": voice.name,
        "engine": voice.engine,
        "split": "heldout_voice" if heldout else "train",
        "identity_heldout": heldout,
        "identity_index": ident,
        "text": _sentence_block(seed, index // SENTENCE_BLOCK, text)[index % SENTENCE_BLOCK],
        "rate": float(rng.uniform(0.8, 1.25)),
        "pitch": float(rng.uniform(0.85, 1.2)),
        "style": sample_style(rng).to_dict(),
        "upper_face": {"seed": int(rng.integers(2**31)),
                       "blink_rate_per_min": float(rng.uniform(12, 22)),
                       "brow_activity": float(rng.uniform(0.4, 1.5))},
        "augmentation": augment.sample_params(rng),
        "aug_seed": int(rng.integers(2**31)),
        "teacher_version": TEACHER_VERSION,
        **({"text_style": text} if text != "coverage" else {}),
    }


def identity_weights(seed: int, index: int) -> np.ndarray[Any, np.dtype[np.float32]]:
    return sample_identity(load_ict(), np.random.default_rng([seed, 0x1D, index]))


BABBLE_SENTENCES = 12


def ensure_babble_bank(root: Path, seed: int) -> None:
    """Render a few sentences by training voices once; babble noise mixes them (never the
    held-out voices, never the utterance's own sentence)."""
    bank = root / "babble"
    bank.mkdir(parents=True, exist_ok=True)
    voices = [v for v in VOICES if not v.heldout]
    texts = make_sentences(BABBLE_SENTENCES, seed * 100003 + 99991)
    for k, text in enumerate(texts):
        path = bank / f"b{seed:03d}_{k:02d}.wav"
        if path.is_file():
            continue
        r = render(text, voices[k % len(voices)])
        audio = soxr.resample(r.audio, r.sample_rate, augment.TARGET_SR, quality="HQ")
        tmp = path.with_suffix(".tmp.wav")
        sf.write(tmp, np.asarray(audio, dtype=np.float32), augment.TARGET_SR, subtype="FLOAT")
        tmp.replace(path)


@cache
def _babble_bank(root: str, seed: int) -> tuple[np.ndarray[Any, np.dtype[np.float32]], ...]:
    paths = sorted(p for p in (Path(root) / "babble").glob(f"b{seed:03d}_*.wav")
                   if ".tmp" not in p.name)
    return tuple(np.asarray(sf.read(p, dtype="float32")[0], dtype=np.float32) for p in paths)


def _babble(root: Path, seed: int, rng: np.random.Generator) -> list[Any]:
    bank = _babble_bank(str(root), seed)
    if not bank:
        raise S2LError(f"The babble bank under {root / 'babble'} is missing.")
    picks = rng.choice(len(bank), size=min(3, len(bank)), replace=False)
    return [bank[int(i)] for i in picks]


def build_one(root: Path, p: dict[str, Any]) -> dict[str, Any]:
    """Render one planned utterance into root/utts; returns its manifest record."""
    utts = root / "utts"
    meta_path = utts / f"{p['id']}.json"
    if meta_path.is_file():
        rec: dict[str, Any] = json.loads(meta_path.read_text())
        same = [rec.get(k) == v for k, v in p.items() if k != "teacher_version"]
        if all(same):
            if rec.get("teacher_version") == TEACHER_VERSION:
                return rec  # cached and planned the same way (a plan change re-renders it)
            return retarget_one(root, rec)  # only the teacher changed: no TTS needed
    utts.mkdir(parents=True, exist_ok=True)
    voice = voice_by_name(p["voice"])
    r = render(p["text"], voice, p["rate"], p["pitch"])
    sr = augment.TARGET_SR
    clean = np.asarray(soxr.resample(r.audio, r.sample_rate, sr, quality="HQ"), dtype=np.float32)
    speed = float(p["augmentation"].get("speed", 1.0))
    clean = augment.speed_perturb(clean, sr, speed)
    duration = len(clean) / sr
    phones = [(s / speed, min(e / speed, duration), ph) for s, e, ph in r.phones
              if s / speed < duration]
    stem = p["id"]
    write_phones(utts / f"{stem}.phones.txt", phones)
    phones = read_phones(utts / f"{stem}.phones.txt")  # targets see exactly what is stored
    n_frames = int(np.ceil(duration * FRAME_RATE))
    loud = rms_at(clean, sr, np.arange(n_frames) / FRAME_RATE)
    expr, upper = make_targets(phones, n_frames, p["style"], p["upper_face"], loud)
    arng = np.random.default_rng(p["aug_seed"])
    noise_kind = p["augmentation"].get("noise", {}).get("kind")
    babble = _babble(root, p["seed"], arng) if noise_kind == "babble" else None
    audio = augment.apply(clean, sr, p["augmentation"], arng, babble)
    ident = identity_weights(p["seed"], p["identity_index"])
    sf.write(utts / f"{stem}.wav", audio, sr, subtype="PCM_16")
    save_targets(utts / f"{stem}.npz", expr, upper, ident, loud)
    rec = dict(p)
    rec.update({
        "wav": f"utts/{stem}.wav", "phones": f"utts/{stem}.phones.txt",
        "targets": f"utts/{stem}.npz", "duration": round(duration, 4), "sample_rate": sr,
        "frame_rate": FRAME_RATE, "tts_settings": r.settings,
    })
    tmp = meta_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(rec, sort_keys=True))
    tmp.replace(meta_path)
    return rec


def _build_one_args(args: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    return build_one(Path(args[0]), args[1])


def build_corpus(
    out: str | Path, seconds: float, seed: int = 0, jobs: int = 1,
    progress: Callable[[str], None] | None = None, max_utterances: int | None = None,
    text: str = "coverage", engines: tuple[str, ...] | None = None,
) -> list[dict[str, Any]]:
    """Render utterances 0, 1, 2, ... until their audio reaches `seconds`; write manifest."""
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    load_ict()  # fail early with a clear message when the face pack is absent
    ensure_babble_bank(root, seed)
    records: list[dict[str, Any]] = []
    total, index, t0 = 0.0, 0, time.time()
    batch = max(4, 4 * jobs)
    pool = ProcessPoolExecutor(jobs) if jobs > 1 else None
    try:
        while total < seconds and (max_utterances is None or index < max_utterances):
            n = batch if max_utterances is None else min(batch, max_utterances - index)
            args = [(str(root), plan(seed, i, text, engines)) for i in range(index, index + n)]
            index += n
            done = list(pool.map(_build_one_args, args)) if pool else [
                build_one(root, a[1]) for a in args]
            for rec in done:
                if total >= seconds:
                    break
                records.append(rec)
                total += float(rec["duration"])
            if progress:
                progress(f"{len(records)} utterances, {total / 60:.1f} min of audio, "
                         f"{time.time() - t0:.0f} s elapsed")
    finally:
        if pool:
            pool.shutdown()
    tmp = root / (MANIFEST + ".tmp")
    tmp.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
    tmp.replace(root / MANIFEST)
    return records
