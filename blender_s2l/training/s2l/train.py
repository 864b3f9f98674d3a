"""Train S2L on the synthetic corpus: time-budgeted, resumable, logged (CPU-friendly)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ...core.landmarks import MOUTH
from ...core.models.checkpoint import save_checkpoint
from ...core.models.s2l import S2L, S2LConfig, load_s2l, s2l_checkpoint
from .data import Pair, crop_batch, spec_augment
from .losses import landmark_weights, s2l_loss


@dataclass
class TrainSettings:
    minutes: float = 60.0
    seed: int = 0
    batch: int = 16
    frames: int = 300
    lr: float = 2e-3
    channels: int = 128
    threads: int = 2
    eval_every: int = 200
    config_overrides: dict[str, object] = field(default_factory=dict)


def _feature_stats(pairs: list[Pair]) -> tuple[torch.Tensor, torch.Tensor]:
    mels = np.concatenate([p.mel for p in pairs[:400]], axis=0)
    return torch.from_numpy(mels.mean(0)), torch.from_numpy(mels.std(0) + 1e-3)


@torch.no_grad()
def evaluate_pairs(model: S2L, pairs: list[Pair]) -> dict[str, float]:
    """Mean landmark error (mm) on whole utterances, all and mouth."""
    model.eval()
    err_all, err_mouth, n = 0.0, 0.0, 0
    for p in pairs:
        pred = model(torch.from_numpy(p.mel)[None])[0].numpy()
        e = np.linalg.norm(pred - p.target, axis=-1)
        err_all += float(e.mean()) * len(e)
        err_mouth += float(e[:, MOUTH].mean()) * len(e)
        n += len(e)
    model.train()
    return {"lm_err_mm": err_all / max(n, 1), "mouth_err_mm": err_mouth / max(n, 1)}


def train_s2l(
    train: list[Pair], val: list[Pair], out: Path, settings: TrainSettings, log_path: Path
) -> S2L:
    torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    resume = out.with_suffix(".resume.pt")
    if resume.is_file():
        model = load_s2l(resume).train()
        meta = getattr(model, "metadata", {})
        step, best = int(meta.get("step", 0)), float(meta.get("best", 1e9))
    else:
        cfg = S2LConfig(channels=settings.channels)
        for k, v in settings.config_overrides.items():
            setattr(cfg, k, v)
        model = S2L(cfg).train()
        mean, std = _feature_stats(train)
        with torch.no_grad():
            model.feat_mean.copy_(mean)
            model.feat_std.copy_(std)
        step, best = 0, 1e9
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=1e-4)
    weights = landmark_weights()
    floor = float(min(p.mel.min() for p in train[:50]))
    deadline = time.monotonic() + settings.minutes * 60
    # Cosine decay over this run's own steps, so a resumed run (fine-tuning) gets a real schedule.
    first_step = step
    run_steps = max(1, int(settings.minutes * 60 / 0.45))
    peak_lr = settings.lr if first_step == 0 else settings.lr * 0.5
    log = log_path.open("a")
    t0 = time.monotonic()
    while time.monotonic() < deadline:
        progress = min(1.0, (step - first_step) / run_steps)
        lr = max(peak_lr * 0.5 * (1 + np.cos(np.pi * progress)), settings.lr * 0.02)
        for g in opt.param_groups:
            g["lr"] = lr
        mel, tgt, mask = crop_batch(train, rng, settings.batch, settings.frames)
        mel = spec_augment(mel, rng, floor)
        pred = model(torch.from_numpy(mel))
        loss, parts = s2l_loss(pred, torch.from_numpy(tgt), weights, torch.from_numpy(mask))
        opt.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if step % settings.eval_every == 0 or time.monotonic() >= deadline:
            metrics = evaluate_pairs(model, val) if val else {}
            score = metrics.get("mouth_err_mm", float(loss))
            rec = {"step": step, "loss": float(loss), **parts, **metrics,
                   "elapsed_s": round(time.monotonic() - t0, 1), "lr": lr}
            log.write(json.dumps(rec) + "\n")
            log.flush()
            meta = {"step": step, "best": min(best, score), "train_utterances": len(train)}
            save_checkpoint(resume, s2l_checkpoint(model, meta))
            if score < best:
                best = score
                save_checkpoint(out, s2l_checkpoint(model, {**meta, **metrics}))
    log.close()
    if not out.is_file():
        save_checkpoint(out, s2l_checkpoint(model, {"step": step}))
    return load_s2l(out)
