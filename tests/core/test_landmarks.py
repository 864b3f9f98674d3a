import numpy as np
import pytest

from blender_s2l.core.errors import LandmarkError
from blender_s2l.core.head.landmarks import (
    MIRROR,
    Similarity,
    canonical_neutral,
    fit_similarity,
    to_canonical,
)


def _random_similarity(rng: np.random.Generator) -> Similarity:
    q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return Similarity(float(rng.uniform(0.001, 50)), q, rng.standard_normal(3) * 10)


def test_canonical_template_is_a_face_in_mm() -> None:
    lm = canonical_neutral()
    assert lm.shape == (68, 3)
    assert np.allclose(lm[27], 0.0)
    eye_dist = np.linalg.norm(lm[45] - lm[36])
    assert 70 < eye_dist < 110  # adult outer-eye-corner distance in mm
    assert lm[45, 0] > 0 > lm[36, 0]  # +X is the subject's left
    assert lm[30, 2] > lm[27, 2]  # nose tip points out (+Z)
    assert lm[8, 1] < lm[30, 1] < lm[27, 1] + 1e-3  # chin below nose below bridge (+Y up)


def test_mirror_table_is_an_involution_matching_geometry() -> None:
    assert np.array_equal(MIRROR[MIRROR], np.arange(68))
    lm = canonical_neutral()
    mirrored = lm[MIRROR] * np.array([-1, 1, 1])
    assert np.abs(mirrored - lm).max() < 1.0  # the ICT mean face is symmetric


def test_fit_recovers_similarity_and_inverse() -> None:
    rng = np.random.default_rng(0)
    src = rng.standard_normal((68, 3))
    t = _random_similarity(rng)
    fitted = fit_similarity(src, t.apply(src))
    assert fitted.scale == pytest.approx(t.scale, rel=1e-6)
    assert np.allclose(fitted.rotation, t.rotation, atol=1e-6)
    back = fitted.inverse().apply(fitted.apply(src))
    assert np.allclose(back, src, atol=1e-4)


def test_to_canonical_handles_any_scale_and_orientation() -> None:
    rng = np.random.default_rng(1)
    t = _random_similarity(rng)
    mesh_lm = t.inverse().apply(canonical_neutral())
    sim = to_canonical(mesh_lm)
    assert np.abs(sim.apply(mesh_lm) - canonical_neutral()).max() < 1e-2
    disp = rng.standard_normal((5, 3))
    assert np.allclose(sim.apply_vectors(disp), sim.scale * disp @ sim.rotation.T, atol=1e-5)


def test_reflection_is_rejected() -> None:
    lm = canonical_neutral().astype(np.float64)
    with pytest.raises(LandmarkError, match="mirrored"):
        to_canonical(lm * np.array([-1.0, 1.0, 1.0]))


@pytest.mark.parametrize(
    "points",
    [np.zeros((68, 3)), np.outer(np.arange(68), [1.0, 2.0, 3.0]), np.full((68, 3), np.nan)],
)
def test_degenerate_input_is_rejected(points: np.ndarray) -> None:
    with pytest.raises(LandmarkError):
        fit_similarity(points, canonical_neutral())


def test_wrong_shape_is_rejected() -> None:
    with pytest.raises(LandmarkError, match="68"):
        to_canonical(np.zeros((10, 3)))
