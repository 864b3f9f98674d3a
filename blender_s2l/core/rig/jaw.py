"""The jaw bone of a rig bake: the fitted jaw motion as the bone's pose, and what it leaves to
the shape keys.

The bake's jaw motion (`Motion.jaw`: a rotation about a pivot and a shift, in the mesh's space,
read from the landmark motion by the fitted jaw map) becomes the pose of the character's jaw
bone: a rotation about the bone's head in the bone's own rest frame, and a location only where
the motion moves the bone's head by a meaningful amount and the bone may move (not connected to
its parent, location unlocked). With the armature's other bones at rest, a pose B of the bone
moves a point x of the head mesh (object space) to A x, A = Q^-1 B Q, Q the mesh -> bone rest
frame matrix (bone.matrix_local^-1 @ armature.matrix_world^-1 @ head.matrix_world); Blender's
Armature modifier moves each vertex by its share s_v of that (its weight in the bone's vertex
group over its weights in all deforming bones' groups: linear blend skinning):
x + s_v (A - I) x. The shape keys are solved for the dense motion minus that, so the mouth does
not open twice. Without skinning (no group, or no Armature modifier on the armature) s = 0:
the bone is keyed (teeth and tongue parented to it follow) and the keys make the whole motion.

The shape keys are evaluated before the modifier, so the bone also turns the keys' own offsets
near the jaw (second order: a key's offset times the jaw's angle); what that leaves on the
evaluated mesh is measured in tests/blender/test_rig_jaw.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import BakeError
from ..motion import JawMotion, Motion, append_fields

F64 = NDArray[np.float64]
# The fitted motion's shift of the bone's head, at its largest, from which a location is keyed
# (mm): below it the rotation about the head is the jaw's motion and the keys make the rest.
TRANSLATE_MM = 0.5
# Vertices with less of the bone's motion than this are left out of the skinned fit.
SKIN_MIN = 0.05


@dataclass
class JawRig:
    """The jaw bone a rig bake keys, copied out of Blender (`blender/rig.py:jaw_rig`)."""

    bone: str  # the bone's name in its armature
    to_bone: F64  # (4, 4) head mesh object space -> the bone's rest frame (its head at 0)
    skin: NDArray[np.float32]  # (V,) each head vertex's share of the bone's motion (0: none)
    translate: bool = True  # its location may be keyed (not connected, location unlocked)


@dataclass
class BoneTrack:
    """The jaw bone's pose at each frame, and what it does to the head mesh."""

    bone: str
    rotation: F64  # (T, 3, 3) in the bone's rest frame, about its head
    location: F64  # (T, 3) the bone's location (its rest frame's units); 0 when not keyed
    keys_location: bool
    mesh: F64  # (T, 4, 4) the pose's motion of the head mesh, object space: Q^-1 B Q
    notes: list[str] = field(default_factory=list)


def rotations(rotvec: NDArray[np.floating[Any]]) -> F64:
    """(T, 3, 3) rotation matrices of (T, 3) rotation vectors (Rodrigues)."""
    w = np.asarray(rotvec, dtype=np.float64)
    angle = np.linalg.norm(w, axis=1)
    axis = np.where(angle[:, None] > 1e-12, w / np.maximum(angle, 1e-12)[:, None], 0.0)
    k = np.zeros((len(w), 3, 3))
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
    k[:, 1, 0], k[:, 2, 0], k[:, 2, 1] = axis[:, 2], -axis[:, 1], axis[:, 0]
    s, c = np.sin(angle)[:, None, None], np.cos(angle)[:, None, None]
    out: F64 = np.eye(3)[None] + s * k + (1 - c) * (k @ k)
    return out


def quaternions(rot: NDArray[np.floating[Any]]) -> F64:
    """(T, 4) unit quaternions (w, x, y, z) of (T, 3, 3) rotations, in float64 (Blender's
    mathutils works in float32, which loses a small angle read back through acos), each on the
    hemisphere of the one before so that keys between them interpolate the short way."""
    r = np.asarray(rot, dtype=np.float64)
    out = np.empty((len(r), 4))
    for t, m in enumerate(r):
        tr = np.trace(m)
        if tr > 0:
            k = 2.0 * np.sqrt(tr + 1.0)
            q = [0.25 * k, (m[2, 1] - m[1, 2]) / k, (m[0, 2] - m[2, 0]) / k,
                 (m[1, 0] - m[0, 1]) / k]
        else:
            i = int(np.argmax(np.diag(m)))
            j, n = (i + 1) % 3, (i + 2) % 3
            k = 2.0 * np.sqrt(max(1.0 + m[i, i] - m[j, j] - m[n, n], 1e-300))
            q = [0.0, 0.0, 0.0, 0.0]
            q[0] = (m[n, j] - m[j, n]) / k
            q[1 + i] = 0.25 * k
            q[1 + j] = (m[j, i] + m[i, j]) / k
            q[1 + n] = (m[n, i] + m[i, n]) / k
        out[t] = np.asarray(q) / np.linalg.norm(q)
        if (out[t] @ out[t - 1] if t > 0 else out[t, 0]) < 0:
            out[t] = -out[t]
    return out


def axis_angles(rot: NDArray[np.floating[Any]]) -> F64:
    """(T, 4) (angle, axis x, y, z) of (T, 3, 3) rotations, as Blender's axis-angle mode keys
    them; a frame without rotation keeps the axis before it (+Y at first, Blender's rest)."""
    q = quaternions(rot)
    out = np.empty((len(q), 4))
    axis = np.array([0.0, 1.0, 0.0])
    for t, (w, *v) in enumerate(q):
        size = float(np.linalg.norm(v))
        if size > 1e-12:
            axis = np.asarray(v) / size * (1.0 if w >= 0 else -1.0)
        out[t, 0] = 2.0 * np.arctan2(size, abs(w))  # 0 to pi
        out[t, 1:] = axis
    return out


def nearest_rotations(m: F64) -> F64:
    """The proper rotation nearest each (T, 3, 3) matrix (polar factor): a rotation conjugated
    by a non-uniformly scaled object is not quite one."""
    u, _, vt = np.linalg.svd(m)
    d = np.sign(np.linalg.det(u @ vt))
    u[:, :, 2] *= d[:, None]
    out: F64 = u @ vt
    return out


def rigid_matrices(jaw: JawMotion) -> F64:
    """(T, 4, 4) the jaw's motion of the mesh: x -> R (x - p) + p + t."""
    r = rotations(jaw.rotation)
    p = np.asarray(jaw.pivot, dtype=np.float64)
    out = np.tile(np.eye(4), (len(r), 1, 1))
    out[:, :3, :3] = r
    out[:, :3, 3] = p - r @ p + np.asarray(jaw.translation, dtype=np.float64)
    return out


def check_jaw_rig(rig: JawRig, n_vertices: int) -> None:
    q = np.asarray(rig.to_bone, dtype=np.float64)
    if q.shape != (4, 4) or not np.all(np.isfinite(q)) or abs(np.linalg.det(q[:3, :3])) < 1e-12:
        raise BakeError(f"The jaw bone '{rig.bone}' cannot be keyed: its matrices (the head's, "
                        "the armature's or the bone's) are degenerate (a scale of 0?).")
    skin = np.asarray(rig.skin)
    if skin.shape != (n_vertices,) or not np.all(np.isfinite(skin)):
        raise BakeError(f"The skin weights of the jaw bone '{rig.bone}' must be one finite "
                        f"number per vertex ({n_vertices}).")


def bone_track(jaw: JawMotion, rig: JawRig, mm_per_unit: float) -> BoneTrack:
    """The jaw bone's pose that makes the jaw's motion: its rotation (about its head, in its
    rest frame), and its location when the motion shifts its head meaningfully and it may move."""
    q = np.asarray(rig.to_bone, dtype=np.float64)
    q_inv = np.linalg.inv(q)
    motion = rigid_matrices(jaw)
    in_bone = q[None] @ motion @ q_inv[None]  # the motion in the bone's rest frame
    rot = nearest_rotations(in_bone[:, :3, :3])
    head = q_inv[:3, 3]  # the bone's head in the mesh
    moved = motion[:, :3, :3] @ head + motion[:, :3, 3] - head  # (T, 3) mesh units
    shift_mm = float(np.linalg.norm(moved, axis=1).max()) * mm_per_unit if len(moved) else 0.0
    notes: list[str] = []
    keys_location = shift_mm >= TRANSLATE_MM and rig.translate
    location = (moved @ q[:3, :3].T) if keys_location else np.zeros((len(rot), 3))
    if shift_mm >= TRANSLATE_MM and not rig.translate:
        notes.append(f"The jaw bone '{rig.bone}' cannot move (connected or its location "
                     f"locked), so only its rotation is keyed; the jaw's motion shifts its "
                     f"head up to {shift_mm:.1f} mm, which the shape keys make up.")
    pose = np.tile(np.eye(4), (len(rot), 1, 1))
    pose[:, :3, :3] = rot
    pose[:, :3, 3] = location
    mesh = q_inv[None] @ pose @ q[None]
    return BoneTrack(rig.bone, rot, location, bool(keys_location), mesh, notes)


def skinned_jaw_motion(motion: Motion, vertices: NDArray[np.floating[Any]],
                       skin: NDArray[np.floating[Any]], pivot: NDArray[np.floating[Any]],
                       translate: bool = True) -> JawMotion:
    """The jaw's rigid motion (about `pivot`) that, through the skin, best makes the dense motion
    of the skinned vertices: per frame, the least squares of s_v (t + w x (x_v - pivot)) against
    the motion d_v, each vertex counted by its share s_v (the vertices the bone moves most
    count most). Linear in the six parameters, like the jaw map it replaces on a skinned head:
    the map is fitted to the lower teeth, and carried out to the chin it opens the skin further
    than the dense motion does (on the demo head the chin 8.1 mm where the motion moves it 4.9).
    translate=False: a rotation about `pivot` alone (a bone that cannot move, about its head)."""
    s = np.asarray(skin, dtype=np.float64)
    sel = np.flatnonzero(s > SKIN_MIN)
    x = np.asarray(vertices, dtype=np.float64)[sel]
    y = x - np.asarray(pivot, dtype=np.float64)
    n = len(sel)
    fields = np.zeros((6, n, 3))
    for k in range(3):
        fields[k, :, k] = 1.0
        axis = np.zeros(3)
        axis[k] = 1.0
        fields[3 + k] = np.cross(axis[None, :], y)
    used = slice(0, 6) if translate else slice(3, 6)
    row = np.repeat(s[sel], 3)  # each row counted by its share ...
    a = (fields[used] * s[sel][None, :, None]).reshape(len(fields[used]), -1).T * row[:, None]
    basis = np.asarray(motion.basis[:, sel], dtype=np.float64).reshape(motion.basis.shape[0], -1)
    b = (np.asarray(motion.codes, dtype=np.float64) @ basis).T * row[:, None]  # ... of the motion
    params = np.zeros((motion.n_frames, 6))
    params[:, used] = np.linalg.lstsq(a, b, rcond=None)[0].T
    return JawMotion(rotation=params[:, 3:], translation=params[:, :3],
                     pivot=np.asarray(pivot, dtype=np.float64))


def skin_fields(vertices: NDArray[np.floating[Any]], skin: NDArray[np.floating[Any]]
                ) -> NDArray[np.float32]:
    """(12, V, 3): s_v (A - I) x_v is sum_ij (A - I)_ij F_ij, F_ij = s_v x_v[j] e_i (x_v[3] = 1),
    so the skinned motion joins a low-rank motion as 12 fields."""
    x = np.asarray(vertices, dtype=np.float64)
    xh = np.concatenate([x, np.ones((len(x), 1))], axis=1)
    s = np.asarray(skin, dtype=np.float64)
    out = np.zeros((3, 4, len(x), 3))
    for i in range(3):
        out[i, :, :, i] = (s[:, None] * xh).T
    return out.reshape(12, len(x), 3).astype(np.float32)


def skinned(track: BoneTrack, vertices: NDArray[np.floating[Any]],
            skin: NDArray[np.floating[Any]]) -> NDArray[np.float32]:
    """(T, V, 3) how far the bone moves each vertex through skinning (for checks)."""
    amounts = (track.mesh - np.eye(4)[None])[:, :3, :].reshape(len(track.mesh), 12)
    out: NDArray[np.float32] = np.tensordot(amounts, skin_fields(vertices, skin), axes=1
                                            ).astype(np.float32)
    return out


def without_skinning(motion: Motion, track: BoneTrack, vertices: NDArray[np.floating[Any]],
                     skin: NDArray[np.floating[Any]]) -> Motion:
    """The motion the shape keys must make: the dense motion minus the bone's skinned motion
    (the motion itself where nothing is skinned)."""
    s = np.asarray(skin, dtype=np.float64)
    if not np.any(s > 0):
        return motion
    amounts = (track.mesh - np.eye(4)[None])[:, :3, :].reshape(len(track.mesh), 12)
    basis, codes = append_fields(motion.basis, motion.codes, -skin_fields(vertices, s), amounts)
    return replace(motion, basis=basis, codes=codes, _dense=None)
