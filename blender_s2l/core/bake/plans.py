"""Key plans: what shape keys and keyframes a bake writes (pure numpy, no bpy), one type a mode.

Compact: K basis shapes + per-frame weights, K the smallest that keeps every vertex of every
frame within the tolerance. Per-frame: one exact shape per frame keyed 0-1-0 on its frame.
Both key the frame just before the first and just after the last at 0 so the face is neutral
outside the sound. Rig: weights of the character's own shape keys, solved from the motion
(core/rig/solve.py), keyed at rest (0, or the nearest value in a key's range) outside the sound.
A new kind of bake is a KeyPlan subclass plus one `PlanType` in PLANS; the mode choice
everywhere follows PLANS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from ..errors import BakeError
from ..motion import Motion
from ..rig.jaw import BoneTrack
from ..rig.solve import rig_plan

if TYPE_CHECKING:
    from ..head.head_mesh import FactStore
    from .pipeline import BakeInputs

ERROR_CHUNK_FRAMES = 256
# The exact error check starts from the frames with the most left-over weight (an error they
# reach bounds out the rest), and keeps pairs whose bound is within float32 rounding of it.
BOUND_FRAMES = 8
BOUND_VERTICES = 1024
BOUND_SLACK = 1e-4
# A per-frame bake stores a full copy of the mesh per frame; past this it deserves a word first.
LARGE_BAKE_BYTES = 200 * 2**20
BYTES_PER_VERTEX = 12  # one float32 xyz per vertex per shape key
PROBE_FRAMES = 48


@dataclass
class KeyPlan:
    """Shape keys to add (their offsets from the basis) and the keyframes of their values."""

    mode: ClassVar[str] = ""
    # What the Blender side writes: new shape keys on the mesh (both modes today).
    writes: ClassVar[str] = "NEW_SHAPE_KEYS"
    frames: NDArray[np.float64]  # (T,) scene frames matching the motion's frame times
    motion: Motion
    max_error_mm: float

    @property
    def n_shapes(self) -> int:
        raise NotImplementedError

    def shape_offsets(self, k: int) -> NDArray[np.float32]:
        """Offset from the basis of shape key k, in mesh units."""
        raise NotImplementedError

    def fcurve(self, k: int) -> tuple[NDArray[np.float64], NDArray[np.float32]]:
        """Key frames and values of shape key k (to be keyed with LINEAR interpolation)."""
        raise NotImplementedError

    def slider_range(self, k: int) -> tuple[float, float]:
        """Slider limits wide enough that no keyed weight is clamped."""
        return 0.0, 1.0

    @property
    def moves(self) -> bool:
        """Whether the take would move the face at all: one that keys nothing but rest is
        refused before anything is written (`nothing_moved`)."""
        return moves_anything(self.motion)


@dataclass
class CompactPlan(KeyPlan):
    mode: ClassVar[str] = "COMPACT"
    shapes: NDArray[np.float32]  # (K, V, 3)
    weights: NDArray[np.float32]  # (T, K)

    @property
    def n_shapes(self) -> int:
        return int(self.shapes.shape[0])

    def shape_offsets(self, k: int) -> NDArray[np.float32]:
        shape: NDArray[np.float32] = self.shapes[k]
        return shape

    def fcurve(self, k: int) -> tuple[NDArray[np.float64], NDArray[np.float32]]:
        frames = np.concatenate([[self.frames[0] - 1], self.frames, [self.frames[-1] + 1]])
        values = np.concatenate([[0.0], self.weights[:, k], [0.0]]).astype(np.float32)
        return frames.astype(np.float64), values

    @property
    def moves(self) -> bool:
        """No shape survives the SVD only when every frame is the rest pose."""
        return self.n_shapes > 0

    def slider_range(self, k: int) -> tuple[float, float]:
        """Blender allows sliders of at most ±10."""
        w = self.weights[:, k]
        lo = float(min(0.0, np.floor(w.min() * 100) / 100))
        hi = float(max(1.0, np.ceil(w.max() * 100) / 100))
        return max(lo, -10.0), min(hi, 10.0)


@dataclass
class PerFramePlan(KeyPlan):
    mode: ClassVar[str] = "PER_FRAME"

    @property
    def n_shapes(self) -> int:
        return self.motion.n_frames

    def shape_offsets(self, k: int) -> NDArray[np.float32]:
        return self.motion.dense_frame(k)  # made when written: a full mesh a frame

    def fcurve(self, k: int) -> tuple[NDArray[np.float64], NDArray[np.float32]]:
        f = self.frames[k]
        return np.array([f - 1, f, f + 1], dtype=np.float64), np.array(
            [0.0, 1.0, 0.0], dtype=np.float32)


@dataclass
class RigPlan(KeyPlan):
    """Weights of shape keys the character already has (no key is added), one row a frame.

    max_error_mm is the worst vertex's distance from the motion over the face (neck down left
    out), on the frames the rig fits worst (core/rig/solve.py:max_error_mm)."""

    mode: ClassVar[str] = "RIG"
    writes: ClassVar[str] = "RIG_KEYS"
    key_names: list[str]  # the head's keys, in the order of the weights' columns
    weights: NDArray[np.float32]  # (T, K) within each key's slider range
    rest: NDArray[np.float32]  # (K,) the value each key holds outside the take (0 in range)
    canonical: list[str] = field(default_factory=list)  # the rig set's name of each key
    rig_set: str = ""  # "ARKIT", "VISEMES" or "VRM" (core/rig/names.py)
    notes: list[str] = field(default_factory=list)  # sentences for the user about the solve
    jaw: BoneTrack | None = None  # the jaw bone's pose at each frame (core/rig/jaw.py)

    @property
    def n_shapes(self) -> int:
        return len(self.key_names)

    def shape_offsets(self, k: int) -> NDArray[np.float32]:
        raise TypeError("A rig plan keys the character's own shape keys; it adds none.")

    def moved(self) -> NDArray[np.bool_]:
        """Per key: whether its weight leaves its rest value on some frame (a key that never
        does is not keyed at all)."""
        weights = np.asarray(self.weights, dtype=np.float64)
        rest = np.asarray(self.rest, dtype=np.float64)
        if not len(weights):
            return np.zeros(len(self.key_names), dtype=bool)
        moved: NDArray[np.bool_] = np.abs(weights - rest[None, :]).max(axis=0) > 1e-6
        return moved

    @property
    def moves(self) -> bool:
        """The take keys only the keys that move (`moved`); with none it would key nothing."""
        return bool(self.moved().any())

    def fcurve(self, k: int) -> tuple[NDArray[np.float64], NDArray[np.float32]]:
        frames = np.concatenate([[self.frames[0] - 1], self.frames, [self.frames[-1] + 1]])
        values = np.concatenate([[self.rest[k]], self.weights[:, k], [self.rest[k]]])
        return frames.astype(np.float64), values.astype(np.float32)


def moves_anything(motion: Motion) -> bool:
    """Whether some frame leaves the rest pose: some code column is non-zero where its basis
    field is (checked per column, never forming the dense motion of a long clip)."""
    codes = np.asarray(motion.codes)
    fields = np.asarray(motion.basis).reshape(motion.basis.shape[0], -1)
    live = np.any(fields != 0, axis=1)
    return bool(live.any() and np.any(codes[:, live] != 0))


def nothing_moved(mesh_name: str) -> str:
    """The sentence for a bake whose motion never leaves the rest pose, in every mode: a take
    of it would only key rest (and a Compact one could not even be keyed)."""
    return (f"The bake moved nothing on '{mesh_name}' (Mouth Strength 0 with Upper Face off?), "
            "so no take was written.")


def check_frames(motion: Motion, frames: NDArray[np.floating[Any]]) -> NDArray[np.float64]:
    f = np.asarray(frames, dtype=np.float64)
    if f.shape != (motion.n_frames,):
        raise BakeError(f"Expected {motion.n_frames} frame numbers, got {f.shape}.")
    if f.size > 1 and not np.all(np.diff(f) > 0):
        raise BakeError("Frame numbers must be strictly increasing.")
    return f


def per_frame_plan(motion: Motion, frames: NDArray[np.floating[Any]]) -> PerFramePlan:
    return PerFramePlan(check_frames(motion, frames), motion, 0.0)


def _worst_of(weights: NDArray[np.float32], tail: NDArray[np.float32],
              vertices: NDArray[np.int64] | None = None) -> float:
    """Largest per-vertex error (mesh units) of the residual weights @ tail, over every frame
    (row of weights) and the given vertices (all when None), a chunk of frames at a time."""
    sub = tail if vertices is None else np.ascontiguousarray(
        tail[:, (vertices[:, None] * 3 + np.arange(3)).reshape(-1)])
    worst = 0.0
    for start in range(0, weights.shape[0], ERROR_CHUNK_FRAMES):
        chunk = weights[start : start + ERROR_CHUNK_FRAMES]
        resid = (chunk @ sub).reshape(chunk.shape[0], -1, 3)
        worst = max(worst, float(np.sqrt(np.einsum("tvc,tvc->tv", resid, resid).max())))
    return worst


class _Residuals:
    """What is left of the motion when only the first k components are kept, and its largest
    per-vertex error, exact, without forming every frame's residual at every vertex (T x V x R,
    most of a re-bake's plan before).

    A frame's error at a vertex is at most the norm of the frame's left-over weights times the
    norm of the vertex's left-over shapes (Cauchy-Schwarz). The frames with the most left-over
    weight give an error actually reached; then vertices go in blocks, the largest bound first,
    each with only the frames whose bound could beat the error reached so far, until no vertex
    left can. The bounds keep a margin over float32 rounding, so the maximum found is the one
    the full check finds.
    """

    def __init__(self, u: NDArray[np.float64], sv: NDArray[np.float64], mm: float) -> None:
        self.u = u
        self.sv = sv.astype(np.float32)  # (R, 3V): singular values times right vectors
        self.mm = mm
        by_vertex = sv.reshape(sv.shape[0], sv.shape[1] // 3, 3)
        sq = np.einsum("rvc,rvc->rv", by_vertex, by_vertex)  # (R, V)
        # shape_sq[k]: each vertex's squared norm over components k.. (R + 1, V)
        self.shape_sq = np.concatenate(
            [np.cumsum(sq[::-1], axis=0)[::-1], np.zeros((1, sq.shape[1]))])

    def max_error_mm(self, k: int, rows: NDArray[np.int64] | None = None) -> float:
        """Largest per-vertex error over the frames (all, or `rows`) when k components are
        kept, in mm."""
        if k >= self.sv.shape[0]:
            return 0.0
        tail = self.sv[k:]
        weights = (self.u[:, k:] if rows is None else self.u[rows, k:]).astype(np.float32)
        frame_bound = np.linalg.norm(weights.astype(np.float64), axis=1) * (1.0 + BOUND_SLACK)
        vertex_bound = np.sqrt(self.shape_sq[k])
        reached = _worst_of(weights[np.argsort(frame_bound)[-BOUND_FRAMES:]], tail)
        order = np.argsort(vertex_bound)[::-1]
        for start in range(0, len(order), BOUND_VERTICES):
            top = vertex_bound[order[start]]
            if top * frame_bound.max() < reached:
                break
            frames = np.flatnonzero(frame_bound * top >= reached)
            reached = max(reached, _worst_of(weights[frames], tail,
                                             order[start : start + BOUND_VERTICES]))
        return reached * self.mm


def _probe_frames(u: NDArray[np.float64], s: NDArray[np.float64], k: int) -> NDArray[np.int64]:
    """Frames most likely to hold the worst error at k: largest left-over energy, plus a grid."""
    energy = ((u[:, k:] * s[k:]) ** 2).sum(axis=1)
    n = u.shape[0]
    top = np.argsort(energy)[-PROBE_FRAMES:]
    grid = np.arange(0, n, max(1, n // PROBE_FRAMES))
    rows: NDArray[np.int64] = np.unique(np.concatenate([top, grid])).astype(np.int64)
    return rows


def basis_r(motion: Motion, store: FactStore | None = None) -> NDArray[np.float64]:
    """R of the QR of the motion's basis (3V, J), from `store` when it has it for this very
    basis. The basis is the mesh's and the model's, and the same at every bake of the same mesh
    with the same parts (rigid parts, lip contact, lids), whatever the sound or the setting
    changed; so a re-bake in a new process reads R (most of the plan's cost) instead of
    factorising again."""
    basis = motion.basis.reshape(motion.basis.shape[0], -1)  # (J, 3V)

    def compute() -> NDArray[np.float64]:
        return np.asarray(np.linalg.qr(basis.astype(np.float64).T, mode="r"))  # (J, J)

    if store is None:
        return compute()
    from ..head.head_mesh import array_digest

    digest = array_digest(basis)  # the array's own buffer: no copy of a basis of 50 MB
    j = basis.shape[0]

    def decode(arrays: dict[str, NDArray[Any]], meta: dict[str, Any]) -> NDArray[np.float64]:
        r = arrays["r"]
        if r.dtype != np.float64 or r.shape != (j, j) or set(arrays) != {"r"} or meta:
            raise ValueError("not this basis's R")
        return r

    return store.mesh_fact({"fact": "basis_qr_r", "basis": digest, "numpy": np.__version__},
                           compute, lambda r: ({"r": r}, {}), decode)


def compact_plan(
    motion: Motion,
    frames: NDArray[np.floating[Any]],
    tolerance_mm: float = 0.1,
    max_shapes: int = 64,
    store: FactStore | None = None,
) -> CompactPlan:
    """SVD of the low-rank motion, truncated to the fewest shapes within tolerance_mm.
    store: where the basis's R may be kept (`basis_r`)."""
    f = check_frames(motion, frames)
    codes = motion.codes.astype(np.float64)
    basis = motion.basis.reshape(motion.basis.shape[0], -1).astype(np.float64)  # (J, 3V)
    # SVD of codes @ basis without forming it: basis^T = Q R, so codes @ basis = (codes R^T) Q^T.
    # Only R is formed (forming Q cost as much again); the singular values times the right
    # singular vectors are u^T codes basis, two small products.
    r = basis_r(motion, store)
    u, s, _ = np.linalg.svd(codes @ r.T, full_matrices=False)
    keep = s > s[0] * 1e-9 if s.size and s[0] > 0 else np.zeros_like(s, dtype=bool)
    u, s = u[:, keep], s[keep]
    sv = (u.T @ codes) @ basis  # (r, 3V): s[:, None] * vt
    left = _Residuals(u, sv, motion.mm_per_unit)
    limit = min(len(s), max_shapes)
    # Search K on a few probe frames (cheap), then confirm on every frame and step up if needed:
    # the exact check over all T x V is done once or twice instead of at every bisection step.
    lo, hi = 0, limit
    while lo < hi:
        mid = (lo + hi) // 2
        if left.max_error_mm(mid, _probe_frames(u, s, mid)) <= tolerance_mm:
            hi = mid
        else:
            lo = mid + 1
    k = lo
    err = left.max_error_mm(k)
    while err > tolerance_mm and k < limit:
        k = min(limit, k + max(1, k // 8))
        err = left.max_error_mm(k)
    k = max(k, 1) if len(s) else 0
    # Scale so every weight lies in [-1, 1]: friendly sliders, shape = the extreme pose.
    peak = np.abs(u[:, :k]).max(axis=0) if k else np.zeros(0)
    peak = np.where(peak > 0, peak, 1.0)
    weights = (u[:, :k] / peak).astype(np.float32)
    shapes = (sv[:k] * peak[:, None]).reshape(k, motion.n_vertices, 3)
    shapes = shapes.astype(np.float32)
    return CompactPlan(f, motion, err, shapes, weights)


def large_bake_note(mode: str, n_frames: int, n_vertices: int) -> str | None:
    """One sentence before a bake whose shape keys alone will make the .blend huge (a
    per-frame bake of a long strip), or None."""
    size = n_frames * n_vertices * BYTES_PER_VERTEX
    if mode != "PER_FRAME" or size < LARGE_BAKE_BYTES:
        return None
    return (f"Per-frame writes {n_frames} shape keys here, about {size / 2**20:,.0f} MB in the "
            ".blend; Compact keeps within 0.1 mm with a few dozen.")


def _frames(inputs: BakeInputs) -> NDArray[np.float64]:
    return np.asarray(inputs.frames, dtype=np.float64)


@dataclass(frozen=True)
class PlanType:
    """A bake mode: how the option is shown, and how a plan of that kind is made."""

    id: str
    label: str
    description: str
    build: Callable[[Motion, BakeInputs], KeyPlan]


PLANS: dict[str, PlanType] = {
    p.id: p for p in (
        PlanType("COMPACT", "Compact",
                 "A few basis shape keys with keyed weights (small files)",
                 lambda motion, inputs: compact_plan(motion, _frames(inputs),
                                                     inputs.settings.tolerance_mm,
                                                     store=inputs.cache)),
        PlanType("PER_FRAME", "Per Frame",
                 "One exact shape key per frame, keyed 0-1-0 (large files)",
                 lambda motion, inputs: per_frame_plan(motion, _frames(inputs))),
        PlanType("RIG", "Rig Shape Keys",
                 "Key the character's own shape keys (ARKit, visemes, VRM)", rig_plan),
    )
}
# (identifier, label, description) of every bake mode, for the option table's mode choice.
MODE_CHOICES: tuple[tuple[str, str, str], ...] = tuple(
    (p.id, p.label, p.description) for p in PLANS.values())


def plan_for(mode: str) -> PlanType:
    plan = PLANS.get(mode)
    if plan is None:
        raise BakeError(f"Unknown bake mode '{mode}'; use {' or '.join(PLANS)}.")
    return plan
