"""Rigid inner parts: which separate parts stay still or ride the jaw, and that the low-rank form
`animate` uses gives the same motion as replacing the rigid parts in the dense motion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from blender_s2l.core.errors import WeightsError
from blender_s2l.core.head.inner_parts import (
    N_RIGID,
    InnerParts,
    JawModel,
    classify_parts,
    load_jaw,
    part_labels,
    rigid_fields,
    rigid_params,
)
from blender_s2l.core.head.landmarks import INNER_LIPS, N_LANDMARKS, canonical_neutral
from blender_s2l.core.models.load import weights_file


def _octahedron(centre: tuple[float, float, float], half_height: float, first: int) -> tuple[
    np.ndarray, list[tuple[int, ...]]
]:
    c = np.asarray(centre, dtype=np.float64)
    r = half_height
    pts = c + np.array([[r, 0, 0], [-r, 0, 0], [0, r, 0], [0, -r, 0], [0, 0, r], [0, 0, -r]])
    tris = [(0, 2, 4), (2, 1, 4), (1, 3, 4), (3, 0, 4), (2, 0, 5), (1, 2, 5), (3, 1, 5), (0, 3, 5)]
    return pts, [tuple(first + i for i in t) for t in tris]


def _scene() -> tuple[np.ndarray, list[tuple[int, ...]], np.ndarray, np.ndarray, dict[str, range]]:
    """A flat skin sheet at z = 0 over the landmarks, and five small parts behind or beside it."""
    lm = canonical_neutral().astype(np.float64)
    seam = float(lm[INNER_LIPS, 1].mean())
    xs = np.linspace(-80, 80, 33)
    ys = np.linspace(seam - 80, seam + 80, 33)
    gx, gy = np.meshgrid(xs, ys)
    skin = np.stack([gx.ravel(), gy.ravel(), np.zeros(gx.size)], axis=1)
    n = len(xs)
    faces = [(r * n + c, r * n + c + 1, (r + 1) * n + c + 1, (r + 1) * n + c)
             for r in range(n - 1) for c in range(n - 1)]
    verts = [skin]
    parts: dict[str, range] = {}
    specs = {
        "deep_above": ((10.0, seam + 30, -20.0), 5.0),  # an eyeball or upper tooth: still
        "deep_below": ((-10.0, seam - 20, -25.0), 5.0),  # a lower tooth: rides the jaw
        "shallow": ((30.0, seam + 30, -3.0), 2.0),  # a tear film or lash: network
        "straddling": ((0.0, seam + 1.0, -25.0), 12.0),  # tongue with gums: network
        "outside": ((200.0, seam, -30.0), 5.0),  # no skin in front: network
    }
    for name, (centre, half) in specs.items():
        first = sum(len(v) for v in verts)
        pts, tris = _octahedron(centre, half, first)
        verts.append(pts)
        faces += tris
        parts[name] = range(first, first + len(pts))
    v = np.concatenate(verts)
    on_face = np.zeros(len(v), dtype=bool)
    on_face[: len(skin)] = True
    return v, faces, lm, on_face, parts


def test_part_labels_split_separate_parts() -> None:
    v, faces, _, _, parts = _scene()
    labels = part_labels(len(v), faces)
    assert len(np.unique(labels)) == 1 + len(parts)
    for idx in parts.values():
        assert len(np.unique(labels[list(idx)])) == 1


def test_deep_parts_above_the_lips_stay_and_below_ride_the_jaw() -> None:
    v, faces, lm, on_face, parts = _scene()
    still, jaw = classify_parts(v, faces, lm, on_face)
    assert sorted(still) == list(parts["deep_above"])
    assert sorted(jaw) == list(parts["deep_below"])


def test_no_skin_means_no_rigid_parts() -> None:
    v, faces, lm, on_face, _ = _scene()
    still, jaw = classify_parts(v, faces, lm, np.zeros_like(on_face))
    assert len(still) == 0 and len(jaw) == 0


def test_rigid_params_recover_a_rigid_motion() -> None:
    rng = np.random.default_rng(0)
    pts = rng.normal(0, 20, (50, 3))
    fields = rigid_fields(pts, np.array([0.0, -50.0, -60.0]))
    truth = rng.normal(0, 0.1, (7, N_RIGID))
    motion = np.tensordot(truth, fields, axes=1)
    assert np.allclose(rigid_params(motion, fields), truth, atol=1e-9)
    # Translation fields move every point alike; rotation fields are perpendicular to the arm.
    assert np.allclose(fields[0], [1.0, 0.0, 0.0])
    arm = pts - np.array([0.0, -50.0, -60.0])
    assert np.allclose(np.einsum("nc,nc->n", fields[4], arm), 0.0)


def _jaw_model(rng: np.random.Generator) -> JawModel:
    return JawModel(rng.normal(0, 0.01, (N_RIGID, N_LANDMARKS * 3)), np.array([0.0, -60.0, -60.0]))


def test_low_rank_extension_equals_dense_replacement() -> None:
    v, faces, lm, on_face, parts = _scene()
    rng = np.random.default_rng(1)
    inner = InnerParts.of_mesh(v, faces, lm, on_face, _jaw_model(rng))
    basis = rng.normal(0, 1, (5, len(v), 3)).astype(np.float32)
    codes = rng.normal(0, 1, (9, 5)).astype(np.float32)
    lm_motion = rng.normal(0, 2, (9, N_LANDMARKS, 3)).astype(np.float32)
    network = np.einsum("tj,jvc->tvc", codes, basis)
    dense = inner.dense(network, lm_motion)
    b2, c2 = inner.extend(basis, codes, lm_motion)
    assert b2.shape == (5 + N_RIGID, len(v), 3) and c2.shape == (9, 5 + N_RIGID)
    assert np.allclose(np.einsum("tj,jvc->tvc", c2, b2), dense, atol=1e-4)
    assert np.all(dense[:, list(parts["deep_above"])] == 0.0)
    kept = list(parts["shallow"]) + list(parts["straddling"]) + list(range(100))
    assert np.allclose(dense[:, kept], network[:, kept])
    jaw = list(parts["deep_below"])
    assert np.abs(dense[:, jaw]).max() > 0.0
    # The jaw part moves rigidly: its edge lengths hold to first order.
    d = dense[:, jaw] - dense[:, jaw[:1]]
    assert np.abs(np.einsum("tnc,nc->tn", d, v[jaw] - v[jaw[:1]])).max() < 1e-3


def test_no_jaw_part_adds_no_fields() -> None:
    v, faces, lm, on_face, parts = _scene()
    keep = np.ones(len(v), dtype=bool)
    keep[list(parts["deep_below"])] = False
    remap = np.cumsum(keep) - 1
    faces2 = [tuple(int(remap[i]) for i in f) for f in faces if all(keep[i] for i in f)]
    inner = InnerParts.of_mesh(v[keep], faces2, lm, on_face[keep],
                               _jaw_model(np.random.default_rng(3)))
    assert len(inner.jaw) == 0 and len(inner.still) == 6
    basis = np.ones((4, int(keep.sum()), 3), dtype=np.float32)
    b2, c2 = inner.extend(basis, np.ones((2, 4), np.float32), np.zeros((2, N_LANDMARKS, 3)))
    assert b2.shape == basis.shape and c2.shape == (2, 4)
    assert np.all(b2[:, inner.still] == 0.0)


def test_jaw_file_round_trip_and_damage(tmp_path: Path) -> None:
    model = _jaw_model(np.random.default_rng(2))
    good = tmp_path / "jaw.npz"
    model.save(good)
    loaded = load_jaw(good)
    assert np.allclose(loaded.matrix, model.matrix, atol=1e-6)
    assert np.allclose(loaded.pivot, model.pivot)
    with np.load(good) as z:
        header = z["__header__"]

    def with_header(name: str, **arrays: np.ndarray) -> Path:
        """A file that passes the format checks, so the array checks are what is tested."""
        path = tmp_path / name
        np.savez(path, __header__=header, **arrays)
        return path

    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"PK\x03\x04 not really a zip file")
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    headerless = tmp_path / "headerless.npz"
    np.savez(headerless, matrix=model.matrix, pivot=model.pivot)
    pivot = np.zeros(3, np.float32)
    cases = [
        ("not found", tmp_path / "absent.npz"),
        ("damaged", garbage),
        ("damaged", cut),
        ("damaged", headerless),
        ("shape", with_header("wrong.npz", matrix=np.zeros((6, 10), np.float32), pivot=pivot)),
        ("non-finite", with_header(
            "nan.npz", matrix=np.full((N_RIGID, N_LANDMARKS * 3), np.nan, np.float32),
            pivot=pivot)),
        ("damaged", with_header("pickled.npz", matrix=np.array([object()], dtype=object),
                                pivot=pivot)),
    ]
    for why, bad in cases:
        with pytest.raises(WeightsError, match=why):
            load_jaw(bad)


def test_bundled_jaw_model_loads() -> None:
    model = load_jaw(weights_file("jaw"))
    assert model.matrix.shape == (N_RIGID, N_LANDMARKS * 3)
    assert np.isfinite(model.matrix).all() and np.abs(model.matrix).max() > 0
