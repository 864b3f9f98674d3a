"""The bundled S2D weights on held-out ICT identities: beat RBF, keep the lips apart, and hold
up on another topology (needs ../shared/data; skips without it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from blender_s2l.core.models.s2d import load_s2d
from blender_s2l.training.s2d import metrics
from blender_s2l.training.s2d.data import EVAL_ID_SEED0, build_variant, ict_labels
from blender_s2l.training.s2d.evaluate import s2d_predict
from blender_s2l.training.s2d.rbf import RBFSettings, rbf_matrix, rbf_motion
from blender_s2l.training.s2d.remesh import voronoi_remesh
from blender_s2l.training.s2d.sampling import ExpressionSampler

WEIGHTS = Path(__file__).resolve().parents[1] / "blender_s2l" / "core" / "weights" / "s2d.pt"


@pytest.mark.shared
def test_bundled_s2d_on_held_out_identity(ict_npz: Path) -> None:
    from blender_s2l.training.ict import load_ict

    torch.set_num_threads(1)
    ict = load_ict(str(ict_npz))
    model = load_s2d(WEIGHTS, "cpu")
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
