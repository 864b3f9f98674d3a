"""Train S2L on the synthetic corpus: time-budgeted, resumable, logged (CPU-friendly)."""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray

from ...core.errors import WeightsError
from ...core.head.landmarks import MOUTH
from ...core.models.s2l import S2L, S2LConfig
from ...core.speech.features import N_MELS
from ..checkpoint import load_s2l, s2l_checkpoint, save_checkpoint
from .data import Pair, crop_batch, spec_augment, voice_weights
from .losses import closure_target, landmark_weights, s2l_loss


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
    init: Path | None = None  # start from these weights (fine-tuning) when not resuming
    closure_head: bool = True
    max_steps: int | None = None  # stop after this many steps of this run (tests, smoke runs)
    closure_loss_weight: float = 0.5  # BCE of the closure head against the landmark losses
    ema_decay: float = 0.999  # evaluate and keep an exponential moving average of the weights
    focus: float = 0.0  # share of windows centred on a bilabial or a confusable closure
    voice_weights: dict[str, float] = field(default_factory=dict)  # voice-name prefix -> factor
    closure_speech_only: bool = False  # closure head's loss on spoken frames only, not pauses
    n_acoustic: int = 0  # phone-posterior input channels after the mel bands (0: log-mel only)
    mel_dropout: float = 0.0  # share of windows whose mel bands are replaced by their mean


def _feature_stats(pairs: list[Pair]) -> tuple[torch.Tensor, torch.Tensor]:
    mels = np.concatenate([p.mel for p in pairs[:400]], axis=0)
    return (torch.from_numpy(mels.mean(0).astype(np.float32)),
            torch.from_numpy((mels.std(0) + 1e-3).astype(np.float32)))


@torch.no_grad()
def evaluate_pairs(model: S2L, pairs: list[Pair]) -> dict[str, float]:
    """Mean landmark error (mm) on whole utterances, all and mouth."""
    model.eval()
    err_all, err_mouth, n = 0.0, 0.0, 0
    hits = np.zeros(3)  # true positives, predicted positives, actual positives (closed lips)
    for p in pairs:
        disp, logit = model.predict(torch.from_numpy(p.mel)[None])
        pred = disp[0].numpy()
        e = np.linalg.norm(pred - p.target, axis=-1)
        err_all += float(e.mean()) * len(e)
        err_mouth += float(e[:, MOUTH].mean()) * len(e)
        n += len(e)
        if logit is not None:
            truth = closure_target(torch.from_numpy(p.target)[None])[0].numpy() > 0.5
            said = logit[0].numpy() > 0.0
            hits += [np.sum(truth & said), np.sum(said), np.sum(truth)]
    model.train()
    out = {"lm_err_mm": err_all / max(n, 1), "mouth_err_mm": err_mouth / max(n, 1)}
    if hits[2] > 0:
        out["closure_precision"] = float(hits[0] / max(hits[1], 1))
        out["closure_recall"] = float(hits[0] / hits[2])
    return out


def _score(metrics: dict[str, float], loss: float) -> float:
    """Checkpoint choice: held-out mouth error (mm) plus 1 - F1 of the closure head, so a
    checkpoint that regresses a little better but misses closures does not win."""
    score = metrics.get("mouth_err_mm", loss)
    if "closure_recall" in metrics:
        p, r = metrics["closure_precision"], metrics["closure_recall"]
        score += 1.0 - 2 * p * r / max(p + r, 1e-9)
    return score


def drop_mel(mel: NDArray[np.float32], rng: np.random.Generator, share: float,
             mean_bands: NDArray[np.float32]) -> None:
    """Replace the mel bands of a share of the windows by the model's mean bands (zero after
    normalisation), so the network has to hear those windows through the phone posteriors alone;
    a network that always has the bands learns to ignore the posteriors (candidate E)."""
    dropped = rng.random(mel.shape[0]) < share
    mel[dropped, :, :N_MELS] = mean_bands


def posteriors_only(model: S2L) -> S2L:
    """The same network with the mel columns of its input layer at zero: what a dropped window
    shows it, for every window (F-post). The runtime still computes the bands and multiplies them
    by zero, so nothing outside the weights changes."""
    if not model.config.n_acoustic:
        raise WeightsError("This S2L hears no phone posteriors; without its mel bands it hears "
                           "nothing.")
    with torch.no_grad():
        model.inp.weight[:, :N_MELS] = 0.0
    model.metadata = {**dict(getattr(model, "metadata", {})),  # type: ignore[assignment]
                      "posteriors_only": True}
    return model


def _initial_model(settings: TrainSettings, train: list[Pair]) -> S2L:
    """A fresh model with feature statistics from the data, or the --init weights; either way
    with a closure head when asked (a new head channel starts at zero, the rest is kept)."""
    if settings.init is not None:
        base = load_s2l(settings.init)
        n_acoustic = max(base.config.n_acoustic, settings.n_acoustic)
        model = S2L(replace(base.config, closure_head=base.config.closure_head
                            or settings.closure_head, n_acoustic=n_acoustic))
        state = dict(base.state_dict())
        own = model.state_dict()
        # New head channels and new input channels start at zero: step 0 is the base model.
        for key in ("head.weight", "head.bias"):
            grown = torch.zeros_like(own[key])
            grown[: state[key].shape[0]] = state[key]
            state[key] = grown
        old = base.config.n_inputs
        if model.config.n_inputs > old:
            grown = torch.zeros_like(own["inp.weight"])
            grown[:, :old] = state["inp.weight"]
            state["inp.weight"] = grown
            mean, std = _feature_stats(train)
            state["feat_mean"] = torch.cat([state["feat_mean"], mean[old:]])
            state["feat_std"] = torch.cat([state["feat_std"], std[old:]])
        model.load_state_dict(state)
        return model.train()
    cfg = S2LConfig(channels=settings.channels, closure_head=settings.closure_head,
                    n_acoustic=settings.n_acoustic)
    for k, v in settings.config_overrides.items():
        setattr(cfg, k, v)
    model = S2L(cfg).train()
    mean, std = _feature_stats(train)
    with torch.no_grad():
        model.feat_mean.copy_(mean)
        model.feat_std.copy_(std)
    return model


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
        model = _initial_model(settings, train)
        step, best = 0, 1e9
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=1e-4)
    # The average of the last few thousand steps is what gets evaluated and kept: single
    # checkpoints of this small model on synthetic speech swing from one eval to the next on
    # real speech, and the average is steadier. A resumed run restarts the average.
    ema = copy.deepcopy(model).eval() if settings.ema_decay > 0 else model
    weights = landmark_weights()
    draw = voice_weights(train, settings.voice_weights)
    floor = float(min(p.mel[:, :N_MELS].min() for p in train[:50]))
    deadline = time.monotonic() + settings.minutes * 60
    # Cosine decay over this run's own steps, so a resumed run (fine-tuning) gets a real schedule.
    first_step = step
    run_steps = settings.max_steps or max(1, int(settings.minutes * 60 / 0.45))
    fine_tune = first_step > 0 or settings.init is not None
    peak_lr = settings.lr * 0.5 if fine_tune else settings.lr
    log = log_path.open("a")
    t0 = time.monotonic()

    def running() -> bool:
        capped = settings.max_steps is not None and step - first_step >= settings.max_steps
        return time.monotonic() < deadline and not capped

    while running():
        progress = min(1.0, (step - first_step) / run_steps)
        lr = max(peak_lr * 0.5 * (1 + np.cos(np.pi * progress)), settings.lr * 0.02)
        for g in opt.param_groups:
            g["lr"] = lr
        mel, tgt, mask, speech = crop_batch(train, rng, settings.batch, settings.frames,
                                            focus=settings.focus, weights=draw)
        mel = spec_augment(mel, rng, floor)
        if settings.mel_dropout > 0:
            drop_mel(mel, rng, settings.mel_dropout, model.feat_mean[:N_MELS].numpy())
        pred, logit = model.predict(torch.from_numpy(mel))
        loss, parts = s2l_loss(
            pred, torch.from_numpy(tgt), weights, torch.from_numpy(mask), closure_logit=logit,
            closure_weight=settings.closure_loss_weight,
            closure_mask=torch.from_numpy(speech) if settings.closure_speech_only else None,
        )
        opt.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if ema is not model:
            decay = min(settings.ema_decay, (1 + step - first_step) / (10 + step - first_step))
            with torch.no_grad():
                for avg, cur in zip(ema.parameters(), model.parameters(), strict=True):
                    avg.lerp_(cur, 1.0 - decay)
        if step % settings.eval_every == 0 or not running():
            metrics = evaluate_pairs(ema, val) if val else {}
            score = _score(metrics, float(loss.detach()))
            rec = {"step": step, "loss": float(loss.detach()), **parts, **metrics,
                   "elapsed_s": round(time.monotonic() - t0, 1), "lr": lr}
            log.write(json.dumps(rec) + "\n")
            log.flush()
            meta = {"step": step, "best": min(best, score), "train_utterances": len(train)}
            save_checkpoint(resume, s2l_checkpoint(model, meta))
            if score < best:
                best = score
                save_checkpoint(out, s2l_checkpoint(ema, {**meta, **metrics}))
    log.close()
    if not out.is_file():
        save_checkpoint(out, s2l_checkpoint(ema, {"step": step}))
    return load_s2l(out)
