"""The bundled S2D weights (the runtime .npz, as CUDA runs them) on held-out ICT identities: beat
RBF, keep the lips apart, and hold up on another topology (needs ../shared/data; skips without
it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from blender_s2l.core.models.load import to_torch, weights_file
from blender_s2l.core.models.numpy_nets import load_numpy_s2d
from blender_s2l.training.s2d import metrics
from blender_s2l.training.s2d.data import EVAL_ID_SEED0, build_variant, ict_labels
from blender_s2l.training.s2d.evaluate import s2d_predict
from blender_s2l.training.s2d.rbf import RBFSettings, rbf_matrix, rbf_motion
from blender_s2l.training.s2d.remesh import voronoi_remesh
from blender_s2l.training.s2d.sampling import ExpressionSampler

WEIGHTS = weights_file("s2d")


@pytest.mark.shared
def test_bundled_s2d_on_held_out_identity(ict_npz: Path) -> None:
    from blender_s2l.training.ict import load_ict

    torch.set_num_threads(1)
    ict = load_ict(str(ict_npz))
    model = to_torch(load_numpy_s2d(WEIGHTS)).model
    labels = ict_labels(ict)
    up, lo = ExpressionSampler(ict.expression_names).batch(np.random.default_rng(7), 40)
    w = up + lo
    pattern = voronoi_remesh(ict.neutral, ict.faces, 5.0, np.random.default_rng(99))
    errors = {}
    for topo, v in (
        ("ict", build_variant(ict, EVAL_ID_SEED0 + 3, labels)),
        ("remesh", build_variant(ict, EVAL_ID_SEED0 + 3, labels, pattern)),
    ):
        lm = v.landmark_motion(w)
        true = v.dense_motion(w)
        pred = s2d_predict(model, v.features, lm)
        rbf = rbf_motion(rbf_matrix(v.vertices, v.landmarks, RBFSettings()), lm)
        lab = v.labels
        errors[topo] = metrics.mean_vertex_error(pred, true, lab.face)
        rbf_err = metrics.mean_vertex_error(rbf, true, lab.face)
        assert errors[topo] < 0.7 * rbf_err, (topo, errors[topo], rbf_err)
        wrong = metrics.wrong_lip_share(pred, lm, lab.upper_lip, lab.lower_lip, true)
        assert wrong < 0.05, (topo, wrong)
    assert errors["remesh"] < 1.3 * errors["ict"]


@pytest.mark.shared
def test_rigid_inner_parts_on_held_out_identity(ict_npz: Path, tmp_path: Path) -> None:
    """Upper teeth and eyeballs stay, lower teeth ride the jaw: both the bundled jaw map and a
    freshly fitted small one move them far closer to the truth than the network does."""
    from blender_s2l.core.head.inner_parts import InnerParts, classify_parts, load_jaw
    from blender_s2l.core.head.landmarks import INNER_LIPS
    from blender_s2l.core.head.mesh_features import on_face_mask
    from blender_s2l.training.ict import load_ict
    from blender_s2l.training.s2d.jaw_fit import main_fit

    torch.set_num_threads(1)
    ict = load_ict(str(ict_npz))
    model = to_torch(load_numpy_s2d(WEIGHTS)).model
    v = build_variant(ict, EVAL_ID_SEED0 + 1, ict_labels(ict))
    on_face = on_face_mask(v.features)
    still, jaw = classify_parts(v.vertices, v.faces, v.landmarks, on_face)
    assert len(still) > 0 and len(jaw) > 0
    seam = v.landmarks[INNER_LIPS, 1].mean()
    assert v.vertices[jaw, 1].mean() < seam < v.vertices[still, 1].mean()
    up, lo = ExpressionSampler(ict.expression_names).batch(np.random.default_rng(11), 40)
    lm = v.landmark_motion(up + lo)
    true = v.dense_motion(up + lo)
    net = s2d_predict(model, v.features, lm)
    small = main_fit(str(tmp_path / "jaw.npz"), n_identities=3)
    assert load_jaw(tmp_path / "jaw.npz").matrix.shape == small.matrix.shape

    def err(pred: np.ndarray, idx: np.ndarray) -> float:
        return float(np.linalg.norm(pred[:, idx] - true[:, idx], axis=-1).mean())

    for jaw_model in (load_jaw(weights_file("jaw")), small):
        rigid = InnerParts.of_mesh(v.vertices, v.faces, v.landmarks, on_face, jaw_model)
        pred = rigid.dense(net, lm)
        assert err(pred, still) < 0.05  # ICT's own upper teeth and eyeballs barely move
        assert err(pred, jaw) < 0.7 * err(net, jaw), (err(pred, jaw), err(net, jaw))
        face = v.labels.face
        assert np.array_equal(pred[:, face], net[:, face])
