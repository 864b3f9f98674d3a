"""S2D model: exact neutral, factorised form, checkpoints, a tiny training run, RBF, remeshing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from blender_s2l.core.errors import WeightsError
from blender_s2l.core.models.s2d import S2D, S2DConfig, random_s2d
from blender_s2l.training.checkpoint import Checkpoint, load_s2d, save_checkpoint, save_s2d
from blender_s2l.training.s2d import metrics
from blender_s2l.training.s2d.rbf import RBFSettings, rbf_matrix, rbf_motion
from blender_s2l.training.s2d.remesh import voronoi_remesh
from blender_s2l.training.s2d.synthetic import NAMES, synthetic_face
from blender_s2l.training.s2d.train import Trainer, TrainSettings

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def face():  # type: ignore[no-untyped-def]
    return synthetic_face()


def test_zero_landmark_motion_gives_exactly_zero(face) -> None:  # type: ignore[no-untyped-def]
    model = S2D(S2DConfig(n_codes=16, basis_hidden=32, code_hidden=32)).eval()
    # Perturb every parameter so no bias happens to be zero by initialisation.
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1)
    feats = torch.from_numpy(face.features)
    zero = torch.zeros(5, 68, 3)
    assert torch.equal(model.codes(zero), torch.zeros(5, 16))
    assert torch.equal(model(feats, zero), torch.zeros(5, len(face.vertices), 3))
    moved = model(feats, torch.randn(5, 68, 3))
    assert moved.abs().max() > 0


def test_factorised_form_matches_forward(face) -> None:  # type: ignore[no-untyped-def]
    model = random_s2d(seed=1)
    feats = torch.from_numpy(face.features)
    lm = torch.randn(7, 68, 3)
    basis = model.mesh_basis(feats)
    assert basis.shape == (model.config.n_codes, len(face.vertices), 3)
    dense = torch.einsum("tj,jvc->tvc", model.codes(lm), basis)
    torch.testing.assert_close(dense, model(feats, lm))


def test_checkpoint_round_trip_and_rejections(tmp_path: Path, face) -> None:  # type: ignore[no-untyped-def]
    model = random_s2d(seed=2, n_codes=12)
    path = tmp_path / "s2d.pt"
    save_s2d(path, model, {"note": "test"})
    loaded = load_s2d(path, "cpu")
    assert loaded.config == model.config
    feats = torch.from_numpy(face.features)
    lm = torch.randn(3, 68, 3)
    torch.testing.assert_close(loaded(feats, lm), model(feats, lm))
    # Truncated file.
    bad = tmp_path / "truncated.pt"
    bad.write_bytes(path.read_bytes()[:200])
    with pytest.raises(WeightsError):
        load_s2d(bad)
    # Bytes flipped in the middle of the archive.
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 64] = bytes(64)
    bad.write_bytes(bytes(data))
    with pytest.raises(WeightsError):
        load_s2d(bad)
    # Right kind, wrong shapes.
    other = random_s2d(seed=2, n_codes=5)
    save_checkpoint(
        bad, Checkpoint("s2d", {**model.config.__dict__}, dict(other.state_dict()))
    )
    with pytest.raises(WeightsError):
        load_s2d(bad)
    # Unknown config field, and wrong kind.
    save_checkpoint(bad, Checkpoint("s2d", {"bogus": 1}, dict(model.state_dict())))
    with pytest.raises(WeightsError):
        load_s2d(bad)
    save_checkpoint(bad, Checkpoint("s2l", {}, dict(model.state_dict())))
    with pytest.raises(WeightsError):
        load_s2d(bad)
    with pytest.raises(WeightsError):
        load_s2d(tmp_path / "missing.pt")


def test_tiny_training_run_reduces_error(tmp_path: Path, face) -> None:  # type: ignore[no-untyped-def]
    settings = TrainSettings(
        out=str(tmp_path / "s2d.pt"), work_dir=str(tmp_path), minutes=1.0, max_steps=150,
        vertices_per_step=512, batch=16, lr=3e-3,
        config=S2DConfig(n_codes=8, basis_hidden=64, code_hidden=32),
    )
    trainer = Trainer(settings, [face], face, NAMES)
    before = trainer.validate()
    trainer.run()
    after = trainer.validate()
    assert after < 0.5 * before
    log = (tmp_path / "s2d_train.log").read_text()
    assert '"step": 100' in log
    # Resumes from the saved checkpoint and step count.
    again = Trainer(settings, [face], face, NAMES)
    assert again.step == 150
    assert abs(again.validate() - after) < 1e-5


def test_rbf_reproduces_landmarks_and_rigid_shift(face) -> None:  # type: ignore[no-untyped-def]
    mat = rbf_matrix(face.vertices, face.landmarks, RBFSettings())
    assert mat.shape == (len(face.vertices), 68)
    lm_idx = face.landmark_vertices
    rng = np.random.default_rng(0)
    # Landmark vertices interpolate their own motion (the mean where several share a position,
    # e.g. the inner lips of this closed mouth).
    disp = rng.normal(size=(1, 68, 3)).astype(np.float32)
    out = rbf_motion(mat, disp)
    for i in range(68):
        same = np.all(face.landmarks == face.landmarks[i], axis=1)
        np.testing.assert_allclose(out[0, lm_idx[i]], disp[0, same].mean(axis=0), atol=1e-3)
    # A rigid shift of every landmark moves every vertex by the same amount (TPS keeps affine).
    shift = np.tile(np.array([1.0, -2.0, 0.5], dtype=np.float32), (1, 68, 1))
    expected = np.broadcast_to(shift[0, 0], (len(mat), 3))
    np.testing.assert_allclose(rbf_motion(mat, shift)[0], expected, atol=1e-3)


def test_remesh_keeps_lips_apart_and_carries_motion(face) -> None:  # type: ignore[no-untyped-def]
    pattern = voronoi_remesh(face.vertices, face.faces, 7.0, np.random.default_rng(0))
    k = pattern.n_vertices
    assert 50 < k < len(face.vertices)
    assert pattern.faces.min() >= 0 and pattern.faces.max() < k
    # No new vertex averages upper-lip and lower-lip source vertices together.
    members = pattern.averaging.tocoo()
    up = face.labels.upper_lip[members.col]
    lo = face.labels.lower_lip[members.col]
    rows_up = set(members.row[up].tolist())
    rows_lo = set(members.row[lo].tolist())
    assert rows_up and rows_lo and not rows_up & rows_lo
    # Carried motion is the cluster mean: moving then remeshing == remeshing then moving.
    w = np.array([[0.7, 0.2, 0.0, 0.5, 0.0]], dtype=np.float32)
    moved = face.vertices + face.dense_motion(w)[0]
    carried = pattern.apply_stack(face.deltas)
    np.testing.assert_allclose(
        pattern.apply(moved) - pattern.apply(face.vertices),
        np.tensordot(w, carried, axes=1)[0], atol=1e-4,
    )


def test_metrics_on_known_cases(face) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(1)
    w = rng.uniform(0, 1, size=(40, len(NAMES))).astype(np.float32)
    true = face.dense_motion(w)
    lm = face.landmark_motion(w)
    lab = face.labels
    assert metrics.wrong_lip_share(true, lm, lab.upper_lip, lab.lower_lip) == 0.0
    # Swap the lips' motion: every lip vertex now follows the other lip.
    swapped = true.copy()
    swapped[:, lab.upper_lip] = true[:, lab.lower_lip].mean(axis=1, keepdims=True)
    swapped[:, lab.lower_lip] = true[:, lab.upper_lip].mean(axis=1, keepdims=True)
    assert metrics.wrong_lip_share(swapped, lm, lab.upper_lip, lab.lower_lip) > 0.9
    assert metrics.wrong_lip_share(true, lm, lab.upper_lip, lab.lower_lip, true) == 0.0
    assert metrics.wrong_lip_share(swapped, lm, lab.upper_lip, lab.lower_lip, true) > 0.9
    err = true.copy()
    err[:, lab.upper_lip] += np.array([3.0, 0.0, 4.0], dtype=np.float32)
    lve_mm, lve_m2 = metrics.lve(err, true, lab.upper_lip | lab.lower_lip)
    assert lve_mm == pytest.approx(5.0, abs=1e-4)
    assert lve_m2 == pytest.approx(25e-6, rel=1e-4)
    assert metrics.angle_error(true, true, lab.face) < 0.1
    assert metrics.angle_error(-true, true, lab.face) > 179.0


def test_max_stretch_known_cases(face) -> None:  # type: ignore[no-untyped-def]
    from blender_s2l.training.s2d.demo_check import max_stretch, mesh_edges

    edges = mesh_edges(face.faces)
    v = face.vertices
    assert max_stretch(v, v + 3.0, edges) == pytest.approx(1.0, abs=1e-5)
    assert max_stretch(v, 2.0 * v, edges) == pytest.approx(2.0, abs=1e-4)


def test_cli_registers_train_and_eval() -> None:
    import argparse

    from blender_s2l.training.s2d.cli import add_parser

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["train-s2d", "--out", "x.pt", "--minutes", "2", "--seed", "3"])
    assert (args.out, args.minutes, args.seed, args.work_dir) == ("x.pt", 2.0, 3, "out/s2d")
    assert callable(args.func)
    args = parser.parse_args(["eval-s2d", "--weights", "w.pt", "--out", "r.md"])
    assert (args.weights, args.out, args.identities) == ("w.pt", "r.md", 10)
