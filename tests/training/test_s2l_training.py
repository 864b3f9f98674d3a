"""train-s2l on a toy problem: the closure head learns, checkpoints resume, --init keeps outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from blender_s2l.core.errors import WeightsError
from blender_s2l.core.models.s2l import S2L, S2LConfig
from blender_s2l.core.speech.features import silence_input
from blender_s2l.training.checkpoint import load_s2l, s2l_checkpoint, save_checkpoint
from blender_s2l.training.s2l.cli import _voice_weights
from blender_s2l.training.s2l.data import (
    Pair,
    closure_frames,
    crop_batch,
    spec_augment,
    voice_weights,
)
from blender_s2l.training.s2l.losses import CLOSURE_MM, closure_target
from blender_s2l.training.s2l.train import TrainSettings, drop_mel, posteriors_only, train_s2l


def _toy_pairs(n: int, seed: int) -> list[Pair]:
    """Loud low band = open mouth; quiet = closed lips (like a /m/ or a stop closure)."""
    rng = np.random.default_rng(seed)
    pairs = []
    for i in range(n):
        frames = 120
        loud = (np.sin(np.arange(frames) / rng.uniform(3, 8)) > 0).astype(np.float32)
        mel = rng.normal(-4, 0.3, (frames, 80)).astype(np.float32)
        mel[:, :20] += 4.0 * loud[:, None]
        target = np.zeros((frames, 68, 3), np.float32)
        target[:, 66, 1] = -6.0 * loud  # lower lip drops on loud frames
        target[:, 57, 1] = -6.0 * loud
        pairs.append(Pair(f"u{i}", "train", mel, target))
    return pairs


def _settings(**kw: object) -> TrainSettings:
    base = dict(minutes=5.0, batch=4, frames=100, channels=16, threads=1, eval_every=10, lr=1e-2,
                config_overrides={"dilations": [1, 2]})
    base.update(kw)
    return TrainSettings(**base)  # type: ignore[arg-type]


def test_closure_target_reads_the_inner_lip_opening() -> None:
    t = torch.zeros(1, 3, 68, 3)
    t[0, 1, 66, 1] = -(CLOSURE_MM + 0.1)  # open
    t[0, 2, 62, 1] = -1.0  # pressed together
    assert closure_target(t).tolist() == [[1.0, 0.0, 1.0]]


def test_closure_head_learns_and_training_resumes(tmp_path: Path) -> None:
    train, val = _toy_pairs(12, 0), _toy_pairs(3, 1)
    out, log = tmp_path / "s2l.pt", tmp_path / "log.jsonl"
    train_s2l(train, val, out, _settings(max_steps=60), log)
    recs = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["step"] for r in recs] == list(range(10, 61, 10))
    assert recs[-1]["closure"] < 0.5 * recs[0]["closure"]
    assert recs[-1]["closure_recall"] > 0.8 and recs[-1]["closure_precision"] > 0.8
    assert recs[-1]["mouth_err_mm"] < recs[0]["mouth_err_mm"]
    model = load_s2l(out)
    assert model.config.closure_head
    # a second run picks up the resume checkpoint and carries on counting
    train_s2l(train, val, out, _settings(max_steps=10), log)
    recs = [json.loads(line) for line in log.read_text().splitlines()]
    assert recs[-1]["step"] == 70


def test_init_adds_a_closure_head_without_changing_the_landmarks(tmp_path: Path) -> None:
    torch.manual_seed(0)
    base = S2L(S2LConfig(channels=16, dilations=[1, 2])).eval()
    save_checkpoint(tmp_path / "base.pt", s2l_checkpoint(base))
    out = tmp_path / "grown.pt"
    train_s2l(_toy_pairs(2, 0), [], out, _settings(max_steps=0, init=tmp_path / "base.pt"),
              tmp_path / "log.jsonl")
    grown = load_s2l(out)
    mel = torch.from_numpy(_toy_pairs(1, 2)[0].mel)[None]
    disp, logit = grown.predict(mel)
    assert grown.config.closure_head and logit is not None
    with torch.no_grad():
        assert torch.allclose(disp, base(mel), atol=1e-6)
    assert torch.all(logit == 0)  # the new channel starts undecided


def test_closure_frames_mark_bilabials_and_look_alike_closures() -> None:
    phones = [(0.0, 0.2, "sil"), (0.2, 0.3, "p"), (0.3, 0.5, "AA1"), (0.5, 0.6, "T"),
              (0.6, 0.7, "s"), (0.7, 0.8, "ng")]
    assert closure_frames(phones).tolist() == [25, 55, 75]


def test_focus_windows_hold_a_focus_frame_away_from_the_edges() -> None:
    pair = Pair("u", "train", np.zeros((1000, 80), np.float32), np.zeros((1000, 68, 3), np.float32),
                focus=np.asarray([500]))
    pair.target[500, 0, 0] = 1.0  # marks the focus frame inside the window
    rng = np.random.default_rng(0)
    _, tgt, _, _ = crop_batch([pair], rng, 64, 100, focus=1.0)
    where = np.argmax(tgt[:, :, 0, 0], axis=1)
    assert np.all(tgt[:, :, 0, 0].max(axis=1) == 1.0)
    assert where.min() >= 20 and where.max() < 80
    _, tgt, _, _ = crop_batch([pair], rng, 64, 100, focus=0.0)
    assert tgt[:, :, 0, 0].max(axis=1).mean() < 0.5  # plain windows rarely hit it


def test_voice_weights_scale_voices_by_name_prefix() -> None:
    pairs = [Pair(str(i), "train", np.zeros((1, 80), np.float32), np.zeros((1, 68, 3), np.float32),
                  voice=v) for i, v in enumerate(["espeak_a", "espeak_b", "flite_a", "festival_a"])]
    assert voice_weights(pairs, {}) is None
    w = voice_weights(pairs, {"espeak": 0.5})
    assert w is not None and np.allclose(w, [0.5, 0.5, 1, 1] / np.float64(3.0))
    with pytest.raises(ValueError, match="nothing to sample"):
        voice_weights(pairs, {"": 0.0})


def test_voice_weight_arguments_are_checked() -> None:
    assert _voice_weights(["espeak=0.4", "flite=2"]) == {"espeak": 0.4, "flite": 2.0}
    for bad in ["espeak", "=1", "espeak=x", "espeak=-1"]:
        with pytest.raises(SystemExit, match="PREFIX=FACTOR"):
            _voice_weights([bad])


def test_speech_frames_leave_out_pauses_and_unlabelled_frames() -> None:
    from blender_s2l.training.s2l.data import speech_frames

    phones = [(0.0, 0.1, "sil"), (0.1, 0.15, "m"), (0.15, 0.2, "pau"), (0.2, 0.25, "aa")]
    got = speech_frames(phones, 30)
    assert got.tolist() == [0.0] * 10 + [1.0] * 5 + [0.0] * 5 + [1.0] * 5 + [0.0] * 5


def test_crop_batch_carries_the_speech_mask_with_the_window() -> None:
    rng = np.random.default_rng(0)
    speech = (np.arange(200) % 2).astype(np.float32)
    pair = Pair("u", "train", np.arange(200, dtype=np.float32)[:, None].repeat(80, 1),
                np.zeros((200, 68, 3), np.float32), speech=speech)
    mel, _, mask, got = crop_batch([pair], rng, 8, 50)
    assert np.array_equal(got, (mel[..., 0] % 2) * mask)
    bare = Pair("v", "train", pair.mel, pair.target)  # no phones: every frame counts
    assert np.array_equal(crop_batch([bare], rng, 2, 50)[3], np.ones((2, 50), np.float32))


def test_closure_mask_drops_frames_from_the_closure_loss_only() -> None:
    from blender_s2l.training.s2l.losses import landmark_weights, s2l_loss

    tgt = torch.zeros(1, 4, 68, 3)
    logit = torch.tensor([[5.0, -5.0, -5.0, -5.0]])  # wrong (target closed) on frames 1-3
    w = landmark_weights()
    _, full = s2l_loss(tgt, tgt, w, closure_logit=logit)
    _, only_first = s2l_loss(tgt, tgt, w, closure_logit=logit,
                             closure_mask=torch.tensor([[1.0, 0.0, 0.0, 0.0]]))
    assert only_first["closure"] < 0.05 < full["closure"]
    assert only_first["l2"] == full["l2"]


def test_init_adds_phone_posterior_inputs_that_start_silent(tmp_path: Path) -> None:
    """--acoustic on a log-mel model: 42 new input channels whose weights start at zero, so the
    grown model says exactly what the base said whatever the posteriors are."""
    torch.manual_seed(0)
    base = S2L(S2LConfig(channels=16, dilations=[1, 2], closure_head=True)).eval()
    save_checkpoint(tmp_path / "base.pt", s2l_checkpoint(base))
    pairs = _toy_pairs(3, 0)
    rng = np.random.default_rng(4)
    for p in pairs:
        p.mel = np.concatenate([p.mel, rng.normal(-6, 3, (len(p.mel), 42)).astype(np.float32)], 1)
    out = tmp_path / "grown.pt"
    train_s2l(pairs, [], out, _settings(max_steps=0, init=tmp_path / "base.pt", n_acoustic=42),
              tmp_path / "log.jsonl")
    grown = load_s2l(out).eval()
    assert grown.config.n_acoustic == 42 and grown.config.n_inputs == 122
    frames = torch.from_numpy(pairs[0].mel)[None]
    with torch.no_grad():
        disp, logit = grown.predict(frames)
        base_disp, base_logit = base.predict(frames[..., :80])
    assert torch.allclose(disp, base_disp, atol=1e-5)
    assert logit is not None and base_logit is not None
    assert torch.allclose(logit, base_logit, atol=1e-5)
    # the new channels are normalised by the data's own statistics, not left at 0 / 1
    assert abs(float(grown.feat_mean[80:].mean()) + 6) < 0.5
    assert abs(float(grown.feat_std[80:].mean()) - 3) < 0.5


def test_spec_augment_leaves_the_phone_posteriors_alone() -> None:
    rng = np.random.default_rng(0)
    mel = rng.normal(-5, 2, (3, 50, 122)).astype(np.float32)
    out = spec_augment(mel, rng, -23.0)
    assert np.array_equal(out[..., 80:], mel[..., 80:])
    assert not np.allclose(out[..., :80], mel[..., :80])


def test_crop_batch_pads_with_the_features_of_silence() -> None:
    pair = _toy_pairs(1, 0)[0]
    pair.mel = np.concatenate([pair.mel, np.zeros((len(pair.mel), 42), np.float32)], 1)
    mel, _, mask, _ = crop_batch([pair], np.random.default_rng(0), 1, 200)
    assert mask[0, 150:].sum() == 0
    assert np.array_equal(mel[0, 150], silence_input(42))


def test_drop_mel_replaces_the_bands_of_a_share_of_windows_and_keeps_the_posteriors() -> None:
    rng = np.random.default_rng(0)
    mel = rng.normal(-5, 2, (400, 10, 122)).astype(np.float32)
    before = mel.copy()
    mean_bands = np.full(80, -7.0, np.float32)
    drop_mel(mel, np.random.default_rng(1), 0.5, mean_bands)
    dropped = np.all(mel[:, :, :80] == -7.0, axis=(1, 2))
    assert 150 < dropped.sum() < 250  # about half of 400
    assert np.array_equal(mel[~dropped], before[~dropped])
    assert np.array_equal(mel[..., 80:], before[..., 80:])


def test_posteriors_only_says_what_a_dropped_window_showed_the_network(tmp_path: Path) -> None:
    """F-post: mel input columns at zero = every window's bands replaced by the mean bands."""
    torch.manual_seed(0)
    model = S2L(S2LConfig(channels=16, dilations=[1, 2], closure_head=True, n_acoustic=42)).eval()
    with torch.no_grad():
        model.feat_mean.normal_()
    frames = torch.randn(1, 60, 122)
    dropped = frames.clone()
    dropped[..., :80] = model.feat_mean[:80]
    with torch.no_grad():
        want, want_logit = model.predict(dropped)
    save_checkpoint(tmp_path / "f.pt", s2l_checkpoint(model))
    from blender_s2l.training.__main__ import main
    assert main(["posteriors-only-s2l", str(tmp_path / "f.pt"), "--out",
                 str(tmp_path / "post.pt")]) == 0
    post = load_s2l(tmp_path / "post.pt").eval()
    with torch.no_grad():
        got, got_logit = post.predict(frames)
    assert torch.allclose(got, want, atol=1e-5)
    assert got_logit is not None and want_logit is not None
    assert torch.allclose(got_logit, want_logit, atol=1e-5)
    with pytest.raises(WeightsError):
        posteriors_only(S2L(S2LConfig(channels=16, dilations=[1, 2])))


def test_mel_dropout_needs_the_posteriors() -> None:
    from blender_s2l.training.__main__ import main
    with pytest.raises(SystemExit, match="needs --acoustic"):
        main(["train-s2l", "--corpus", "nowhere", "--mel-dropout", "0.5"])
    with pytest.raises(SystemExit, match="share of windows"):
        main(["train-s2l", "--corpus", "nowhere", "--acoustic", "--mel-dropout", "1.5"])
