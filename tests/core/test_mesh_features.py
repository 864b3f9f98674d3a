"""mesh_features on any topology: tris/quads/n-gons, loose parts, vertex order, the lip seam."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from blender_s2l.core.errors import LandmarkError, MeshError
from blender_s2l.core.head.mesh import triangulate
from blender_s2l.core.head.mesh_features import FEATURE_DIM, landmark_distances, mesh_features
from blender_s2l.training.s2d.synthetic import SPACING_MM, synthetic_face

# Column layout of the features: position (3), on-face flag (1), distances/100 (68), near (68).
FLAG = 3
DIST = slice(4, 4 + 68)


@pytest.fixture(scope="module")
def face():  # type: ignore[no-untyped-def]
    return synthetic_face()


def test_shape_and_finite_on_quads(face) -> None:  # type: ignore[no-untyped-def]
    f = mesh_features(face.vertices, face.faces, face.landmarks, face.landmark_vertices)
    assert f.shape == (len(face.vertices), FEATURE_DIM)
    assert f.dtype == np.float32
    assert np.isfinite(f).all()
    assert (f[:, FLAG] == 1.0).all()


def test_triangles_and_ngons_agree_with_quads(face) -> None:  # type: ignore[no-untyped-def]
    quads = face.faces
    ref = mesh_features(face.vertices, quads, face.landmarks, face.landmark_vertices)
    tris = mesh_features(face.vertices, triangulate(quads), face.landmarks, face.landmark_vertices)
    # Hexagons: merge horizontally adjacent quad pairs (a,b,c,d)+(b,e,f,c) -> (a,b,e,f,c,d).
    polys: list[list[int]] = []
    q = quads.tolist()
    for i in range(0, len(q) - 1, 2):
        a, b, c, d = q[i]
        b2, e, f, c2 = q[i + 1]
        if b2 == b and c2 == c:
            polys.append([a, b, e, f, c, d])
        else:
            polys += [q[i], q[i + 1]]
    if len(q) % 2:
        polys.append(q[-1])
    assert any(len(p) == 6 for p in polys)
    ngon = mesh_features(face.vertices, polys, face.landmarks, face.landmark_vertices)
    for other in (tris, ngon):
        d_ref, d_other = ref[:, DIST] * 100, other[:, DIST] * 100
        near = d_ref < 100
        # Same surface, different edge graphs: distances agree within a few percent plus at most
        # about one edge length (a missing quad diagonal costs one extra edge).
        diff = np.abs(d_other[near] - d_ref[near])
        assert np.median(diff / np.maximum(d_ref[near], 1.0)) < 0.05
        assert (diff <= 0.15 * d_ref[near] + 1.5 * SPACING_MM).all()


def test_permutation_equivariant(face) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(3)
    n = len(face.vertices)
    perm = rng.permutation(n)  # new vertex i is old vertex perm[i]
    inv = np.argsort(perm)
    faces = inv[face.faces][rng.permutation(len(face.faces))]
    # Explicit landmark vertices: the lip copies coincide in space, so "nearest" would be a tie.
    ref = mesh_features(face.vertices, face.faces, face.landmarks, face.landmark_vertices)
    got = mesh_features(face.vertices[perm], faces, face.landmarks, inv[face.landmark_vertices])
    np.testing.assert_allclose(got, ref[perm], rtol=1e-5, atol=1e-5)


def test_lip_seam_resolved_by_surface_distance(face) -> None:  # type: ignore[no-untyped-def]
    v = face.vertices
    up, lo = face.landmark_vertices[62], face.landmark_vertices[66]
    assert np.linalg.norm(v[up] - v[lo]) < 1.0  # the lips touch in space
    dist, _ = landmark_distances(v, face.faces, face.landmarks, face.landmark_vertices)
    assert dist[up, 66] > 20.0 and dist[lo, 62] > 20.0
    assert face.labels.upper_lip.sum() > 5 and face.labels.lower_lip.sum() > 5
    assert (dist[face.labels.upper_lip, 62] < dist[face.labels.upper_lip, 66]).all()
    assert (dist[face.labels.lower_lip, 66] < dist[face.labels.lower_lip, 62]).all()


def _cube(
    centre: NDArray[np.float32], size: float, offset: int
) -> tuple[NDArray[np.float32], list[list[int]]]:
    c = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], dtype=np.float32)
    quads = [[0, 1, 3, 2], [4, 6, 7, 5], [0, 4, 5, 1], [2, 3, 7, 6], [0, 2, 6, 4], [1, 5, 7, 3]]
    return centre + (c - 0.5) * size, [[offset + i for i in q] for q in quads]


def test_loose_parts_are_flagged_and_get_straight_distances(face) -> None:  # type: ignore[no-untyped-def]
    v = face.vertices
    n = len(v)
    # An "eyeball" right at landmark 36 (it would steal that landmark if snapped blindly).
    eye_v, eye_f = _cube(face.landmarks[36], 2.0, n)
    verts = np.concatenate([v, eye_v])
    faces = face.faces.tolist() + eye_f
    f = mesh_features(verts, faces, face.landmarks, None)
    assert (f[:n, FLAG] == 1).all() and (f[n:, FLAG] == 0).all()
    straight = np.linalg.norm(eye_v[:, None] - face.landmarks[None], axis=2)
    np.testing.assert_allclose(f[n:, DIST] * 100, np.minimum(straight, 150), atol=1e-3)
    # The face part is unchanged by the extra part (landmark 36 re-snapped onto the face).
    ref = mesh_features(v, face.faces, face.landmarks, None)
    np.testing.assert_allclose(f[:n], ref, atol=1e-5)


def test_bad_input_raises_clear_errors(face) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(LandmarkError):
        mesh_features(face.vertices, face.faces, face.landmarks[:60])
    with pytest.raises(LandmarkError):
        mesh_features(face.vertices, face.faces, face.landmarks, np.arange(60))
    with pytest.raises(LandmarkError):
        mesh_features(face.vertices, face.faces, face.landmarks, np.full(68, 10**6))
    with pytest.raises(MeshError):
        mesh_features(face.vertices, [], face.landmarks)
    with pytest.raises(MeshError):
        mesh_features(face.vertices[:10], [[0, 1, 2]], face.landmarks)


def test_ict_lips_far_apart_on_surface(ict_npz) -> None:  # type: ignore[no-untyped-def]
    from blender_s2l.training.ict import load_ict

    ict = load_ict(str(ict_npz))
    lm_idx = ict.landmarks68
    f = mesh_features(ict.neutral, ict.faces, ict.neutral[lm_idx], lm_idx)
    assert f.shape == (len(ict.neutral), FEATURE_DIM)
    up, lo = lm_idx[62], lm_idx[66]
    assert np.linalg.norm(ict.neutral[up] - ict.neutral[lo]) < 2.0
    assert f[up, DIST][66] * 100 > 20.0
    eyeball = ict.region("eyeball_left")
    assert (f[eyeball, FLAG] == 0).all() and (f[: ict.region("face").stop, FLAG] == 1).all()


def test_demo_head_parts_and_lips() -> None:
    from blender_s2l.demo_head.make import build_canonical, resolution_for

    verts, faces, lm_idx, parts = build_canonical(resolution_for(5_000))
    f = mesh_features(verts, faces, verts[lm_idx], lm_idx)
    assert np.isfinite(f).all()
    assert (f[parts["skin"], FLAG] == 1).all()
    for name in ("eye_left", "eye_right", "mouth_cavity"):
        assert (f[parts[name], FLAG] == 0).all()
    d = f[:, DIST] * 100
    up, lo = parts["lip_upper"], parts["lip_lower"]
    # Upper-lip vertices are nearer (on the surface) to the upper inner lip than to the lower.
    assert np.mean(d[up, 62] < d[up, 66]) > 0.95
    assert np.mean(d[lo, 66] < d[lo, 62]) > 0.95
