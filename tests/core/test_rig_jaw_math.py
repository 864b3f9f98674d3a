"""core/rig/jaw.py: the jaw's rigid motion as a bone's pose, and the skinned motion taken out."""

from __future__ import annotations

import numpy as np

from blender_s2l.core.motion import JawMotion, Motion
from blender_s2l.core.rig.jaw import (
    JawRig,
    bone_track,
    rigid_matrices,
    rotations,
    skinned,
    without_skinning,
)


def _q(seed: int, scale: float) -> np.ndarray:
    """A mesh -> bone frame matrix: a rotation, a uniform scale and a shift."""
    rng = np.random.default_rng(seed)
    r = rotations(rng.normal(size=(1, 3)))[0]
    q = np.eye(4)
    q[:3, :3] = scale * r
    q[:3, 3] = rng.normal(size=3)
    return q


def _jaw(t: int = 20) -> JawMotion:
    s = np.linspace(0, 1, t)
    rot = np.stack([0.25 * np.sin(3 * s), 0.02 * s, -0.01 * s], 1)  # about x: the jaw opens
    shift = np.stack([0.0 * s, 0.003 * s, 0.001 * s], 1)
    return JawMotion(rot, shift, np.array([0.0, 0.02, -0.05]))


def test_a_bone_that_may_move_makes_the_jaws_motion_exactly() -> None:
    jaw = _jaw()
    rig = JawRig("jaw", _q(0, 2.0), np.ones(5, np.float32), translate=True)
    track = bone_track(jaw, rig, 1000.0)
    assert track.keys_location
    assert np.allclose(track.mesh, rigid_matrices(jaw), atol=1e-9)
    for r in track.rotation:  # proper rotations
        assert np.allclose(r @ r.T, np.eye(3), atol=1e-9) and np.isclose(np.linalg.det(r), 1)


def test_a_connected_bone_turns_about_its_head_and_says_so() -> None:
    jaw = _jaw()
    q = _q(1, 1.0)
    rig = JawRig("jaw", q, np.ones(5, np.float32), translate=False)
    track = bone_track(jaw, rig, 1000.0)
    assert not track.keys_location and np.all(track.location == 0)
    head = np.linalg.inv(q)[:3, 3]
    moved = track.mesh[:, :3, :3] @ head + track.mesh[:, :3, 3]
    assert np.allclose(moved, head, atol=1e-9)  # the head stays where it is
    assert np.allclose(track.mesh[:, :3, :3], rotations(jaw.rotation), atol=1e-9)
    assert track.notes and "only its rotation is keyed" in track.notes[0]


def test_the_skinned_motion_is_taken_out_of_the_motion() -> None:
    rng = np.random.default_rng(2)
    v = rng.normal(size=(7, 3)) * 0.05
    skin = np.array([0, 0.2, 0.5, 1, 1, 0, 0.7], np.float32)
    t = 20
    motion = Motion(frame_times=np.arange(t) / 30.0, landmarks=np.zeros((t, 68, 3), np.float32),
                    codes=rng.normal(size=(t, 2)).astype(np.float32),
                    basis=rng.normal(size=(2, 7, 3)).astype(np.float32) * 1e-3,
                    mm_per_unit=1000.0)
    track = bone_track(_jaw(t), JawRig("jaw", _q(3, 1.0), skin), 1000.0)
    left = without_skinning(motion, track, v, skin)
    moved = np.einsum("tij,vj->tvi", track.mesh[:, :3, :3], v) + track.mesh[:, None, :3, 3] - v
    want = motion.dense - skin[None, :, None] * moved
    assert np.allclose(left.dense, want, atol=1e-6)
    assert np.allclose(skinned(track, v, skin), skin[None, :, None] * moved, atol=1e-6)
    assert without_skinning(motion, track, v, np.zeros(7)) is motion


def test_the_jaw_map_reads_the_same_motion_in_the_mesh_space() -> None:
    """jaw_motion: the map's small rotation and shift, canonical, are the same motion of every
    point in the mesh's space (rotated, scaled and shifted away from the canonical face)."""
    from blender_s2l.core.head.inner_parts import JawModel, jaw_motion
    from blender_s2l.core.head.landmarks import Similarity

    rng = np.random.default_rng(4)
    model = JawModel(rng.normal(size=(6, 204)) * 1e-3, np.array([0.0, -40.0, -20.0]))
    sim = Similarity(850.0, rotations(rng.normal(size=(1, 3)))[0], rng.normal(size=3) * 10)
    lm_motion = rng.normal(size=(5, 68, 3))
    jaw = jaw_motion(model, lm_motion, sim)
    params = model.params(lm_motion)
    x = rng.normal(size=(9, 3)) * 0.05  # mesh points
    y = sim.apply(x).astype(np.float64)
    inv = sim.inverse()
    for t in range(5):
        dy = params[t, :3] + np.cross(params[t, 3:], y - model.pivot)
        dx = inv.apply_vectors(dy).astype(np.float64)
        mine = jaw.translation[t] + np.cross(jaw.rotation[t], x - jaw.pivot)
        assert np.allclose(mine, dx, atol=1e-6)


def test_the_bone_motion_fitted_to_a_skinned_motion_is_that_motion() -> None:
    """skinned_jaw_motion: a dense motion that is a skinned rigid motion (small, linear) is
    read back exactly; without translation, about the given pivot alone."""
    from blender_s2l.core.head.inner_parts import rigid_fields
    from blender_s2l.core.rig.jaw import skinned_jaw_motion

    rng = np.random.default_rng(5)
    v = rng.normal(size=(40, 3)) * 0.05
    skin = np.clip(rng.uniform(-0.3, 1.2, size=40), 0, 1).astype(np.float32)
    pivot = np.array([0.0, 0.03, -0.02])
    params = rng.normal(size=(6, 6)) * 0.01
    for translate in (True, False):
        p = params.copy()
        if not translate:
            p[:, :3] = 0.0
        basis = (rigid_fields(v, pivot) * skin[None, :, None]).astype(np.float32)
        motion = Motion(frame_times=np.arange(6) / 30.0,
                        landmarks=np.zeros((6, 68, 3), np.float32), codes=p.astype(np.float32),
                        basis=basis, mm_per_unit=1000.0)
        jaw = skinned_jaw_motion(motion, v, skin, pivot, translate)
        assert np.allclose(jaw.rotation, p[:, 3:], atol=1e-5)
        assert np.allclose(jaw.translation, p[:, :3], atol=1e-5)


def test_quaternions_and_axis_angles_read_back_the_rotations() -> None:
    """Float64 all the way (a small angle through float32 acos is off by 10 %), quaternions on
    one hemisphere, axis-angle as Blender keys it."""
    from blender_s2l.core.rig.jaw import axis_angles, quaternions

    rng = np.random.default_rng(6)
    w = np.concatenate([rng.normal(size=(20, 3)), 1e-3 * rng.normal(size=(5, 3)),
                        [[np.pi - 1e-3, 0, 0], [0, 0, 0]]])
    r = rotations(w)
    q = quaternions(r)
    assert np.allclose(np.linalg.norm(q, axis=1), 1.0)
    assert np.all(np.einsum("ti,ti->t", q[1:], q[:-1]) >= 0)
    back = rotations(2 * np.arctan2(np.linalg.norm(q[:, 1:], axis=1), q[:, 0])[:, None]
                     * q[:, 1:] / np.maximum(np.linalg.norm(q[:, 1:], axis=1), 1e-300)[:, None])
    assert np.allclose(back, r, atol=1e-12)
    aa = axis_angles(r)
    assert np.allclose(rotations(aa[:, :1] * aa[:, 1:]), r, atol=1e-12)
    assert np.allclose(aa[-1], [0.0, *aa[-2, 1:]])  # no turn: the axis before it
