"""Dense motion -> weights of the character's own shape keys (the RIG bake mode).

Every frame's dense motion (codes_t @ basis, in the mesh's units) is fitted by a mix of the rig's
key offsets over the face, each weight within its key's slider range, smooth in time and
sparse (a key the motion does not need stays at rest), with the lips weighted up by
`Motion.closure` so that a /p b m/ the network shut stays shut on the rig. In one objective,
with u the weights scaled so that every key's offset has unit size (below):

    sum_t  1/2 |A u_t - d_t|^2_(W_t)                  fit, W_t = face * (1 + gain c_t lips)
         + smoothness/2 * sum_t a_t |u_t+1 - u_t|^2   a_t = (1/30 s) / (t_t+1 - t_t)
         + lam * sum_t |u_t - rest|_1                 lam = sparsity * the motion's RMS (mm)
    subject to lo_k <= w_tk <= hi_k.

Nothing of size (T, V, 3) is ever made. The fit's normal equations need only A^T W A (K x K),
A^T W basis (K x J) and basis^T W basis (J x J), accumulated once over vertex chunks for the
face and for the lips; a frame's system is G_t = G_face + gain c_t G_lips and its right-hand
side (M_face + gain c_t M_lips) @ codes_t.

Why ADMM (consensus form: W fits, Y is smooth, Z is bounded and sparse, W = Z = Y):
- A rig's keys are strongly correlated (jawOpen vs mouthClose, left vs right halves, ICT's
  A^T A has a condition number in the thousands). Gradient methods (projected or accelerated)
  then need thousands of passes for 1e-3 weights; ADMM solves the correlated part exactly in
  its W step and only has to agree on the box and the L1, which are per entry.
- The W step is per frame, and exact for any closure amount: one generalised eigenproblem
  V^T (G_face + rho I) V = I, V^T G_lips V = diag(mu) turns every frame's
  (G_face + gain c_t G_lips + rho I)^-1 into V diag(1 / (1 + gain c_t mu)) V^T: two matrix
  products over all frames, no per-frame factorisation, no quantised closure levels.
- The Y step is the temporal term alone: one tridiagonal (T x T) system shared by all keys,
  O(T K) by a banded solve, so frames are solved jointly rather than one by one.
- The Z step is a clip of a soft threshold, entry by entry.
rho adapts by residual balancing (Boyd et al. 2011, 3.4.1); each change costs a K x K
eigenproblem. An L1 shrinks the weights it keeps, so a second pass refits with the L1 off on
the entries the first pass used, holding every other entry at rest (a relaxed lasso): keys the
motion does not need stay exactly at rest, and a motion the rig can make is recovered exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.linalg as sla
from numpy.typing import NDArray

from ..errors import BakeError, S2LError
from ..head.find_landmarks import resolve_landmarks
from ..head.hold_still import motion_weights
from ..head.landmarks import MOUTH, to_canonical
from ..motion import Motion

if TYPE_CHECKING:
    from ..bake.pipeline import BakeInputs
    from ..bake.plans import RigPlan
    from .target import RigTarget

F64 = NDArray[np.float64]
# How much more a lip vertex counts in a fully shut frame (closure 1) than elsewhere.
LIP_GAIN = 20.0
# Lip vertices: within about this share of the mouth's width (corner to corner) of a mouth
# landmark (a Gaussian of that width: the lips, not the cheeks).
LIP_REACH = 0.12
LIP_CUT = 1e-3  # lip weights below this are 0 (keeps the lip sums small)
SMOOTHNESS = 0.05  # temporal term, relative to a key's own size, per 1/30 s
SPARSITY = 0.02  # L1 weight, as a share of the motion's RMS over the face (mm)
REFERENCE_DT = 1.0 / 30.0
MAX_ITERATIONS = 3000
TOLERANCE = 1e-5  # ADMM's relative residuals
SUPPORT_LOOSER = 10.0  # the sparse pass's tolerance, relative to the refit's
CHUNK_VERTICES = 4096
PROBE_FRAMES = 32  # frames whose worst vertex is measured for the plan's max error
QUIET = 1e-12  # a key whose offset is below this share of the largest key's moves nothing


@dataclass
class RigSolve:
    """A solve's weights and how well they fit."""

    weights: NDArray[np.float32]  # (T, K) within each key's range
    rest: NDArray[np.float32]  # (K,) each key's value outside the take
    fit_rms_mm: NDArray[np.float64]  # (T,) RMS error over the face of each frame, mm
    iterations: int
    notes: list[str] = field(default_factory=list)


def _fail(message: str) -> BakeError:
    return BakeError(message)


def check_rig_arrays(deltas: NDArray[Any], ranges: NDArray[Any], n_vertices: int,
                     key_names: list[str] | None = None) -> tuple[NDArray[Any], F64]:
    """The rig's offsets (K, V, 3) as given and ranges (K, 2) as float64, or one sentence
    why not."""
    d = np.asarray(deltas)
    r = np.asarray(ranges)
    if d.ndim != 3 or d.shape[2] != 3 or d.shape[1] != n_vertices:
        raise _fail(f"The rig's shape keys must hold one offset per vertex ({n_vertices}); got "
                    f"shape {d.shape}.")
    k = d.shape[0]
    if k == 0:
        raise _fail("The rig has no shape keys to key.")
    if r.shape != (k, 2):
        raise _fail(f"The rig needs a slider range for each of its {k} keys; got shape {r.shape}.")
    names = key_names if key_names is not None else [f"key {i}" for i in range(k)]
    if len(names) != k:
        raise _fail(f"The rig names {len(names)} keys but holds {k} offsets.")
    for kind, arr in (("offsets", d), ("slider ranges", r)):
        if not np.issubdtype(arr.dtype, np.number):
            raise _fail(f"The rig's {kind} are not numbers.")
        bad = ~np.all(np.isfinite(arr.reshape(k, -1)), axis=1)
        if bad.any():
            raise _fail(f"The shape key '{names[int(np.flatnonzero(bad)[0])]}' has NaN or "
                        f"infinite {kind}; fix or remove it.")
    flipped = r[:, 0] > r[:, 1]
    if flipped.any():
        raise _fail(f"The shape key '{names[int(np.flatnonzero(flipped)[0])]}' has a slider "
                    "minimum above its maximum.")
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise _fail(f"The rig lists the shape key '{name}' twice; each key once.")
        seen.add(name)
    return d, r.astype(np.float64)


def region_weights(vertices: NDArray[np.floating[Any]], landmarks: NDArray[np.floating[Any]]
                   ) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """(face (V,), lips (V,)) weights in [0, 1] from the rest mesh and its 68 landmark positions.

    face: 1 on the head, fading to 0 from under the chin down (hold_still's neck rule).
    lips: a Gaussian of the distance to the nearest mouth landmark (iBUG 48-67), LIP_REACH of
    the mouth's width wide, so any topology's lips are found from its own landmarks.
    """
    v = np.asarray(vertices, dtype=np.float64)
    lm = np.asarray(landmarks, dtype=np.float64)
    sim = to_canonical(lm)
    face = motion_weights(sim.apply(v), sim.apply(lm))
    mouth = lm[MOUTH]
    width = float(np.linalg.norm(lm[48] - lm[54]))
    sigma = max(LIP_REACH * width, 1e-12)
    near = np.full(len(v), np.inf)
    for p in mouth:
        near = np.minimum(near, np.einsum("vc,vc->v", v - p, v - p))
    lips = np.exp(-0.5 * near / sigma**2)
    lips[lips < LIP_CUT] = 0.0
    return face, lips.astype(np.float32)


def _gram(deltas: NDArray[np.floating[Any]], basis: NDArray[np.floating[Any]],
          weight: NDArray[np.floating[Any]], scale: float) -> F64:
    """X^T W X for X = [keys; motion basis] ((K + J) x 3V) and the per-vertex weight W, in
    mm^2: its blocks are A^T W A (K x K), A^T W B (K x J) and B^T W B (J x J). One product
    per chunk of the vertices that count, in float64 (correlated keys need it)."""
    k, j = deltas.shape[0], basis.shape[0]
    gram = np.zeros((k + j, k + j))
    idx = np.flatnonzero(np.asarray(weight) > 0)
    for start in range(0, len(idx), CHUNK_VERTICES):
        sel = idx[start:start + CHUNK_VERTICES]
        if sel[-1] - sel[0] + 1 == len(sel):  # a run: slices, no gather
            run = slice(int(sel[0]), int(sel[-1]) + 1)
            parts = [deltas[:, run], basis[:, run]]
        else:
            parts = [np.take(deltas, sel, axis=1), np.take(basis, sel, axis=1)]
        x = np.concatenate([p.reshape(p.shape[0], -1) for p in parts]).astype(np.float64)
        x *= np.repeat(np.sqrt(np.asarray(weight, np.float64)[sel]), 3)[None, :]
        gram += x @ x.T
    out: F64 = gram * scale**2
    return out


@dataclass
class _Problem:
    """The solve in scaled units: u = w * size (mm), each key's offset of unit RMS size."""

    h: F64  # (K, K) face Gram, unit diagonal
    h_lips: F64  # (K, K) lip Gram, same scale
    b: F64  # (T, K) face right-hand sides
    b_lips: F64  # (T, K) lip right-hand sides
    gain: F64  # (T,) lip gain of each frame (LIP_GAIN * closure)
    lo: F64  # (K,) bounds and rest, scaled
    hi: F64
    rest: F64
    steps: F64  # (T-1,) the temporal term between frames t and t+1
    eps: float  # absolute tolerance (mm)

    def keys(self, keep: NDArray[np.bool_]) -> _Problem:
        """The problem in the keys `keep` alone, every other key held at rest."""
        held = ~keep
        shift = self.h[np.ix_(keep, held)] @ self.rest[held]
        shift_lips = self.h_lips[np.ix_(keep, held)] @ self.rest[held]
        return _Problem(self.h[np.ix_(keep, keep)], self.h_lips[np.ix_(keep, keep)],
                        self.b[:, keep] - shift, self.b_lips[:, keep] - shift_lips, self.gain,
                        self.lo[keep], self.hi[keep], self.rest[keep], self.steps, self.eps)


RELAX = 1.6  # over-relaxation (Boyd et al. 3.4.3): fewer passes for the same accuracy
CHECK_EVERY = 5  # passes between convergence checks (each costs a few norms)
ADAPT_EVERY = 10  # passes between rho updates (each costs a K x K eigenproblem)


def _admm(p: _Problem, z0: F64, lam: float, max_iterations: int, tolerance: float,
          dtype: type[np.floating[Any]] = np.float64) -> tuple[F64, int]:
    """Linearised ADMM (see the module's words) from Z = z0: the bounded, sparse Z it converges
    to, and the passes it took. Every pass works in preallocated buffers: (T, K) temporaries
    are big enough that allocating them each time costs more than the arithmetic."""
    t, k = z0.shape
    z = z0.astype(dtype)
    rhs = (p.b + p.gain[:, None] * p.b_lips).astype(dtype)
    u = np.zeros_like(z)
    w, tmp, tmp2, z_old = (np.empty_like(z) for _ in range(4))
    diff = np.empty((max(t - 1, 0), k), dtype)
    lo, hi, rest = (x.astype(dtype) for x in (p.lo, p.hi, p.rest))
    centred = bool(np.any(rest != 0))
    # The temporal term enters through its gradient, with a proximal weight tau at least its
    # Lipschitz constant (4 * max step), which keeps the linearised pass convergent.
    tau = 4.0 * float(p.steps.max()) if p.steps.size else 0.0
    ev = np.linalg.eigvalsh(p.h)
    rho = float(np.sqrt(max(ev[0], 1e-6 * ev[-1]) * ev[-1]))
    root_n = np.sqrt(t * k)

    def factors(rho: float) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any], NDArray[Any]]:
        mu, vec = sla.eigh(p.h_lips, p.h + rho * np.eye(k))
        inv = 1.0 / (1.0 + p.gain[:, None] * np.maximum(mu, 0.0)[None, :])
        steps = p.steps[:, None] / (rho + tau)
        return (vec.astype(dtype), (RELAX * vec.T).astype(dtype), inv.astype(dtype),
                steps.astype(dtype))

    vec, vec_t, inv, steps = factors(rho)
    it = 0
    while it < max_iterations:
        it += 1
        check = it % CHECK_EVERY == 0 or it == max_iterations
        # W: every frame's fit, exactly (G_t + rho I) w_t = rhs_t + rho (z_t - u_t), relaxed.
        np.subtract(z, u, out=tmp)
        tmp *= rho
        tmp += rhs
        np.matmul(tmp, vec, out=tmp2)
        tmp2 *= inv
        np.matmul(tmp2, vec_t, out=w)
        np.multiply(z, 1.0 - RELAX, out=tmp)
        w += tmp
        # Z: the temporal term's gradient step, then the L1's shrink and the box.
        if check:
            z_old[:] = z
        np.add(w, u, out=tmp)
        tmp *= rho / (rho + tau)
        if tau > 0:
            np.subtract(z[1:], z[:-1], out=diff)
            diff *= steps
            np.multiply(z, tau / (rho + tau), out=tmp2)
            tmp2[:-1] += diff
            tmp2[1:] -= diff
            tmp += tmp2
        if lam > 0:
            if centred:
                tmp -= rest
            np.abs(tmp, out=tmp2)
            tmp2 -= lam / (rho + tau)
            np.maximum(tmp2, 0.0, out=tmp2)
            np.copysign(tmp2, tmp, out=tmp)
            if centred:
                tmp += rest
        np.maximum(tmp, lo, out=tmp)
        np.minimum(tmp, hi, out=z)  # (np.clip is several times slower)
        # The scaled dual.
        u += w
        u -= z
        if not check:
            continue
        np.subtract(w, z, out=tmp)
        r_pri = float(np.linalg.norm(tmp)) / RELAX
        np.subtract(z, z_old, out=tmp)
        r_dual = (rho + tau) * float(np.linalg.norm(tmp))
        eps_pri = root_n * p.eps + tolerance * float(np.linalg.norm(z))
        eps_dual = root_n * p.eps + tolerance * rho * float(np.linalg.norm(u))
        if r_pri <= eps_pri and r_dual <= eps_dual:
            break
        if it % ADAPT_EVERY == 0 and (r_pri > 10 * r_dual or r_dual > 10 * r_pri):
            factor = 2.0 if r_pri > r_dual else 0.5
            rho *= factor
            u /= factor
            vec, vec_t, inv, steps = factors(rho)
    out: F64 = z.astype(np.float64)
    if dtype != np.float64:  # exact rest where the lower precision pass left a key alone
        out[z == rest] = np.broadcast_to(p.rest, out.shape)[z == rest]
    return out, it


def solve(
    motion: Motion,
    deltas: NDArray[np.floating[Any]],
    ranges: NDArray[np.floating[Any]],
    *,
    face: NDArray[np.floating[Any]] | None = None,
    lips: NDArray[np.floating[Any]] | None = None,
    lip_gain: float = LIP_GAIN,
    smoothness: float = SMOOTHNESS,
    sparsity: float = SPARSITY,
    key_names: list[str] | None = None,
    max_iterations: int = MAX_ITERATIONS,
    tolerance: float = TOLERANCE,
) -> RigSolve:
    """Weights (T, K) of the keys `deltas` (K, V, 3, mesh units) that best make `motion`.

    face: (V,) how much each vertex counts (default all 1; rig_plan leaves out the neck).
    lips: (V,) the lip vertices, weighted up by lip_gain * motion.closure in each frame.
    smoothness: the temporal term, relative to each key's size, per 1/30 s (0: none).
    sparsity: the L1 weight as a share of the motion's RMS over the face (0: none); a key
    comes in only where it explains more than that share.
    """
    names = key_names
    d, r = check_rig_arrays(deltas, ranges, motion.n_vertices, names)
    names = names if names is not None else [f"key {i}" for i in range(d.shape[0])]
    k = d.shape[0]
    n_frames = motion.n_frames
    if not (np.all(np.isfinite(motion.codes)) and np.all(np.isfinite(motion.basis))):
        raise _fail("The motion holds NaN or infinite values, so no rig weights were solved.")
    for what, value in (("lip gain", lip_gain), ("smoothness", smoothness),
                        ("sparsity", sparsity)):
        if not np.isfinite(value) or value < 0:
            raise _fail(f"The rig solve's {what} must be a number of 0 or more; got {value}.")
    f = np.ones(motion.n_vertices) if face is None else _vertex_weights(face, motion, "face")
    lip = np.zeros(motion.n_vertices) if lips is None else _vertex_weights(lips, motion, "lip")
    closure = (np.zeros(n_frames) if motion.closure is None
               else np.clip(np.nan_to_num(np.asarray(motion.closure, np.float64)), 0.0, 1.0))
    if closure.shape != (n_frames,):
        raise _fail(f"The motion's closure must have one value per frame ({n_frames}).")
    rest = np.clip(0.0, r[:, 0], r[:, 1])
    total = float(f.sum())
    if total <= 0:
        raise _fail("No vertex of the face counts in the rig solve (all face weights are 0).")
    mm = float(motion.mm_per_unit)
    basis = motion.basis.reshape(motion.basis.shape[0], -1, 3)
    gram = _gram(d, basis, f / total, mm)
    gram_l = _gram(d, basis, f * lip / total, mm)
    g, m, c = gram[:k, :k], gram[:k, k:], gram[k:, k:]
    g_l, m_l = gram_l[:k, :k], gram_l[:k, k:]
    size2 = np.diag(g).copy()
    notes: list[str] = []
    peak = float(size2.max())
    moving = size2 > QUIET * peak if peak > 0 else np.zeros(k, dtype=bool)
    for i in np.flatnonzero(~moving):
        notes.append(f"The shape key '{names[i]}' moves nothing on the face, so it stays at "
                     "rest.")
    active = moving & (r[:, 1] > r[:, 0])
    weights = np.broadcast_to(rest, (n_frames, k)).astype(np.float64)
    codes = motion.codes.astype(np.float64)
    energy = np.einsum("tj,jk,tk->t", codes, c, codes)
    rms = float(np.sqrt(max(energy.mean(), 0.0)))
    if not active.any():
        if not moving.any():
            raise _fail("None of the rig's shape keys moves the face, so there is nothing to "
                        "key.")
        return RigSolve(weights.astype(np.float32), rest.astype(np.float32),
                        np.sqrt(np.maximum(energy, 0.0)), 0, notes)
    if rms <= 0:
        return RigSolve(weights.astype(np.float32), rest.astype(np.float32),
                        np.zeros(n_frames), 0, notes)
    a = np.flatnonzero(active)
    size = np.sqrt(size2[a])
    outer = np.outer(size, size)
    dt = np.diff(np.asarray(motion.frame_times, np.float64))
    steps = smoothness * REFERENCE_DT / np.clip(dt, REFERENCE_DT / 100, None)
    prob = _Problem(
        h=g[np.ix_(a, a)] / outer, h_lips=g_l[np.ix_(a, a)] / outer,
        b=codes @ (m[a] / size[:, None]).T, b_lips=codes @ (m_l[a] / size[:, None]).T,
        gain=lip_gain * closure, lo=r[a, 0] * size, hi=r[a, 1] * size, rest=rest[a] * size,
        steps=steps if n_frames > 1 else np.zeros(0), eps=1e-3 * tolerance * rms)
    z = np.broadcast_to(prob.rest, (n_frames, len(a))).copy()
    lam = sparsity * rms
    # The first pass only has to find the keys the motion needs: looser, in single precision.
    z, iterations = ((_admm(prob, z, lam, max_iterations, tolerance * SUPPORT_LOOSER, np.float32))
                     if lam > 0 else _admm(prob, z, lam, max_iterations, tolerance))
    if lam > 0:  # refit without the L1's shrinking, in the keys the first pass used
        used = np.any(z != prob.rest[None, :], axis=0)
        if used.any():
            z[:, used], more = _admm(prob.keys(used), z[:, used], 0.0, max_iterations,
                                     tolerance)
            iterations += more
    weights[:, a] = z / size[None, :]
    weights = np.clip(weights, r[:, 0], r[:, 1])
    fit = (np.einsum("tk,kl,tl->t", weights, g, weights)
           - 2 * np.einsum("tk,kj,tj->t", weights, m, codes) + energy)
    return RigSolve(weights.astype(np.float32), rest.astype(np.float32),
                    np.sqrt(np.maximum(fit, 0.0)), iterations, notes)


def _vertex_weights(w: NDArray[np.floating[Any]], motion: Motion, what: str) -> F64:
    arr = np.asarray(w, dtype=np.float64)
    if arr.shape != (motion.n_vertices,) or not np.all(np.isfinite(arr)):
        raise _fail(f"The rig solve's {what} weights must be {motion.n_vertices} finite numbers.")
    out: F64 = np.clip(arr, 0.0, None)
    return out


def solve_weights(
    motion: Motion,
    deltas: NDArray[np.floating[Any]],
    ranges: NDArray[np.floating[Any]],
    **options: Any,
) -> NDArray[np.float32]:
    """(T, K) weights of the keys that best make the motion; options as `solve`'s."""
    return solve(motion, deltas, ranges, **options).weights


def max_error_mm(motion: Motion, deltas: NDArray[np.floating[Any]],
                 weights: NDArray[np.floating[Any]], face: NDArray[np.floating[Any]],
                 fit_rms_mm: NDArray[np.floating[Any]], probes: int = PROBE_FRAMES) -> float:
    """Worst vertex error (mm) on the face (face weight >= 0.5) over the frames whose RMS error
    is largest: dense only for those frames."""
    n = motion.n_frames
    order = np.argsort(np.asarray(fit_rms_mm))[::-1]
    rows = np.unique(np.concatenate([order[:probes], np.linspace(0, n - 1, min(n, 8))
                                     .astype(np.int64)]))
    sel = np.flatnonzero(np.asarray(face) >= 0.5)
    if len(sel) == 0:
        return 0.0
    basis = motion.basis[:, sel].reshape(motion.basis.shape[0], -1)
    d = np.asarray(deltas, np.float32)[:, sel].reshape(len(deltas), -1)
    resid = (motion.codes[rows] @ basis
             - np.asarray(weights, np.float32)[rows] @ d).reshape(len(rows), -1, 3)
    return float(np.sqrt(np.einsum("tvc,tvc->tv", resid, resid).max()) * motion.mm_per_unit)


def rig_plan(motion: Motion, inputs: BakeInputs) -> RigPlan:
    """The RIG mode's plan: the solve of `motion` onto `inputs.rig`, keyed at inputs.frames."""
    from ..bake.plans import RigPlan, check_frames

    rig: RigTarget | None = inputs.rig
    if rig is None:
        raise BakeError("The Rig Shape Keys mode needs the character's own shape keys (ARKit, "
                        "visemes or VRM), and this bake was given none.")
    frames = check_frames(motion, np.asarray(inputs.frames, dtype=np.float64))
    keys = list(rig.key_names)
    d, r = check_rig_arrays(rig.deltas, rig.ranges, motion.n_vertices, keys)
    try:
        lm, _, _ = resolve_landmarks(inputs.vertices, inputs.faces, inputs.landmarks68)
    except S2LError as exc:
        raise BakeError(f"The rig solve cannot find the mouth: {exc}") from None
    face, lips = region_weights(inputs.vertices, lm)
    result = solve(motion, d, r, face=face, lips=lips, key_names=keys)
    worst = max_error_mm(motion, d, result.weights, face, result.fit_rms_mm)
    return RigPlan(frames, motion, worst, keys, result.weights, result.rest,
                   canonical=list(rig.canonical), rig_set=rig.rig_set,
                   notes=[*rig.notes, *result.notes])
