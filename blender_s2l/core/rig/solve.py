"""Dense motion -> weights of the character's own shape keys (the RIG bake mode).

Every frame's dense motion (codes_t @ basis, in the mesh's units) is fitted by a mix of the
rig's key offsets over the face, each weight within its key's slider range, smooth in time and
sparse (a key the motion does not need stays at rest), with the lips weighted up by
`Motion.closure` so that a /p b m/ the network shut stays shut on the rig. In one objective,
with u the weights scaled so that every key's offset has unit RMS size over the face (mm):

    sum_t  1/2 |A u_t - d_t|^2_(G_t)                  the fit, G_t = G_face + c_t G_shut
         + smoothness/2 * sum_t a_t |u_t+1 - u_t|^2   a_t = (1/30 s) / (time_t+1 - time_t)
         + lam * sum_t |u_t - rest|_1                 lam = sparsity * the motion's RMS (mm)
    subject to lo_k <= w_tk <= hi_k,

where G_face weighs every vertex by `FaceRegions.face` (nothing from the neck down) and
G_shut = lip_gain * (the lips' vertices) + seal_gain * (the gap between the facing inner-lip
landmark vertices 61-67, 62-66, 63-65): in a shut frame the rig must close the lips as the
dense motion does, whatever else it gives up. Nothing of size (T, V, 3) is ever made: the fit
needs only [A; B] W [A; B]^T for the keys A and the motion's basis B, accumulated once over
vertex chunks (the blocks A^T W A (K x K), A^T W B (K x J), B^T W B (J x J)); each frame's
right-hand side is (M_face + c_t M_shut) @ codes_t.

The solver is linearised ADMM (Z = W: W fits, Z is bounded and sparse), all frames at once:
- The keys are strongly correlated (ICT's 53 over the face: condition number about 2000 with
  unit diagonal), and a shut frame's system is far stiffer than an open one's (the seal: its
  largest eigenvalue some 4,600 times larger on the benchmark head). A projected or
  accelerated gradient's step is bound by the stiffest frame and direction;
  ADMM's W step solves every frame's correlated system exactly and leaves only the per-entry
  box and L1 to its Z step.
- The W step costs two (T x K)(K x K) products for all frames, for any closure amount: one
  generalised eigenproblem V^T (G_face + rho I) V = I, V^T (G_shut + rho gamma I) V =
  diag(mu) turns every (G_face + c_t G_shut + rho_t I)^-1, rho_t = rho (1 + gamma c_t), into
  V diag(1 / (1 + c_t mu)) V^T. rho_t grows with the closure because shut frames are stiffer
  (one rho for all frames took over ten times the passes).
- The temporal term (a tridiagonal coupling of the frames) enters the Z step through its
  gradient with a proximal weight tau = 4 max a_t, at least its Lipschitz constant (linearised
  ADMM), so the Z step stays entry-wise: soft threshold, then clip. A separate smooth copy
  solved by a banded (tridiagonal) system each pass was measured slower: the banded solve cost
  more than the rest of a pass, for no fewer passes at these smoothness weights.
- rho adapts by residual balancing (Boyd et al. 2011, 3.4.1) at a K x K eigenproblem a time;
  passes run in preallocated buffers (allocating (T, K) temporaries cost more than the
  arithmetic), with what is fixed between rho updates folded into per-frame factors.
- A pass is small work many times over (the benchmark: 490 passes on up to 901 x 53), so it is
  kept off OpenBLAS's threads: its products go in row blocks and its norms in pieces that
  OpenBLAS runs on one thread. Two threads on products this small cost more in hand-overs
  than they save (the whole solve was faster with one BLAS thread than with numpy's default
  two), and a busy machine makes that many times worse.
An L1 shrinks what it keeps, so the sparse pass (on frames 1/15 s apart, to a looser tolerance:
it only has to find the keys the motion needs) is followed by a refit of every frame without
the L1 in the keys it used (a relaxed lasso), and a key whose largest part stays under the L1's
threshold is dropped and the rest refitted: keys the motion does not need stay exactly at rest,
and a motion the rig can make is recovered (to the smoothness term's small bias). Each ADMM
runs in float32 where the keys' conditioning leaves float32's rounding well inside its
tolerance (`_single_enough`): half the memory traffic for the same passes, weights within
1.5e-5 of float64's on the benchmark (the refit's own distance to the exact optimum is some
1e-3), entries on a bound or at rest mapped back to the float64 value exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..errors import BakeError, S2LError
from ..head.head_mesh import nearest_vertices, resolve_landmarks
from ..head.hold_still import motion_weights
from ..head.landmarks import MOUTH, to_canonical
from ..head.lip_contact import LOWER_INNER, UPPER_INNER
from ..motion import Motion
from .jaw import (
    SKIN_MIN,
    BoneTrack,
    bone_track,
    check_jaw_rig,
    skinned_jaw_motion,
    without_skinning,
)

if TYPE_CHECKING:
    from ..bake.pipeline import BakeInputs
    from ..bake.plans import RigPlan
    from .target import RigTarget

F64 = NDArray[np.float64]
Floats = NDArray[np.floating[Any]]  # float64, or float32 in a float32 ADMM
# How much more a lip vertex counts in a fully shut frame (closure 1) than elsewhere.
LIP_GAIN = 20.0
# Lip vertices: within about this share of the mouth's width (corner to corner) of a mouth
# landmark (a Gaussian of that width: the lips, not the cheeks).
LIP_REACH = 0.12
LIP_CUT = 1e-3  # lip weights below this are 0 (keeps the lip sums small)
# How much the inner lips' gap counts in a fully shut frame: its error over the three facing
# pairs (61-67, 62-66, 63-65) weighs as much as the mean error of this many face vertices.
SEAL_GAIN = 200.0
SMOOTHNESS = 0.005  # temporal term, relative to a key's own size, per 1/30 s
SPARSITY = 0.02  # L1 weight, as a share of the motion's RMS over the face (mm)
REFERENCE_DT = 1.0 / 30.0
MAX_ITERATIONS = 3000
TOLERANCE = 1e-5  # ADMM stops when its residuals are this share of the weights' size
SUPPORT_LOOSER = 10.0  # the sparse pass's tolerance, relative to the refit's
SUPPORT_RATE_HZ = 15.0  # the sparse pass's frames, per second at least
CHUNK_VERTICES = 4096
PROBE_FRAMES = 32  # frames whose worst vertex is measured for the plan's max error
# A head skinned to its jaw bone: the bone's motion is fitted to the skinned vertices' dense
# motion (core/rig/jaw.py:skinned_jaw_motion) rather than taken from the jaw map.
JAW_FROM_SKIN = True
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


@dataclass
class FaceRegions:
    """Where a rig solve looks on the mesh (see `face_regions`)."""

    face: NDArray[np.float32]  # (V,) how much each vertex counts, 0 from the neck down
    lips: NDArray[np.float32]  # (V,) the lips, weighted up by lip_gain * closure
    seal: NDArray[np.int64]  # (2, P) upper and lower inner-lip vertices that meet when shut


def face_regions(vertices: NDArray[np.floating[Any]], landmarks: NDArray[np.floating[Any]],
                 landmark_vertices: NDArray[np.int64] | None = None) -> FaceRegions:
    """The regions of any head, from its rest mesh and its 68 landmark positions.

    face: 1 on the head, fading to 0 from under the chin down (hold_still's neck rule).
    lips: a Gaussian of the distance to the nearest mouth landmark (iBUG 48-67), LIP_REACH of
    the mouth's width wide, so any topology's lips are found from its own landmarks.
    seal: the vertices of the inner-lip landmarks facing each other (61-67, 62-66, 63-65):
    landmark_vertices when the landmarks are vertices, else the nearest vertices.
    """
    v = np.asarray(vertices, dtype=np.float64)
    lm = np.asarray(landmarks, dtype=np.float64)
    sim = to_canonical(lm)
    face = motion_weights(sim.apply(v), sim.apply(lm))
    width = float(np.linalg.norm(lm[48] - lm[54]))
    sigma = max(LIP_REACH * width, 1e-12)
    near = np.full(len(v), np.inf)
    for p in lm[MOUTH]:
        near = np.minimum(near, np.einsum("vc,vc->v", v - p, v - p))
    lips = np.exp(-0.5 * near / sigma**2)
    lips[lips < LIP_CUT] = 0.0
    ids = (nearest_vertices(v, lm) if landmark_vertices is None
           else np.asarray(landmark_vertices, dtype=np.int64))
    seal = np.stack([ids[list(UPPER_INNER)], ids[list(LOWER_INNER)]])
    return FaceRegions(face, lips.astype(np.float32), seal[:, seal[0] != seal[1]])


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


def _seal_gram(deltas: NDArray[np.floating[Any]], basis: NDArray[np.floating[Any]],
               seal: NDArray[np.int64], scale: float) -> F64:
    """X^T X of the facing inner-lip pairs' relative motion (upper minus lower), as `_gram`'s
    blocks, averaged over the pairs: how a key and a code open or shut the lips."""
    parts = [np.take(x, seal[0], axis=1).astype(np.float64) - np.take(x, seal[1], axis=1)
             for x in (deltas, basis)]
    x = np.concatenate([p.reshape(p.shape[0], -1) for p in parts])
    out: F64 = (x @ x.T) * scale**2 / max(seal.shape[1], 1)
    return out


@dataclass
class _Problem:
    """The solve in scaled units: u = w * size (mm), each key's offset of unit RMS size."""

    h: F64  # (K, K) face Gram, unit diagonal
    h_lips: F64  # (K, K) what a shut frame adds (lips and seal at their gains), same scale
    b: F64  # (T, K) face right-hand sides
    b_lips: F64  # (T, K) what a shut frame adds to them
    gain: F64  # (T,) how shut each frame is (Motion.closure)
    lo: F64  # (K,) bounds and rest, scaled
    hi: F64
    rest: F64
    steps: F64  # (T-1,) the temporal term between frames t and t+1
    eps: float  # absolute tolerance (mm)

    def frames(self, rows: NDArray[np.int64], smoothness: float, times: F64) -> _Problem:
        """The problem on the frames `rows` alone."""
        return _Problem(self.h, self.h_lips, self.b[rows], self.b_lips[rows], self.gain[rows],
                        self.lo, self.hi, self.rest, _steps(times[rows], smoothness), self.eps)

    def keys(self, keep: NDArray[np.bool_]) -> _Problem:
        """The problem in the keys `keep` alone, every other key held at rest."""
        held = ~keep
        shift = self.h[np.ix_(keep, held)] @ self.rest[held]
        shift_lips = self.h_lips[np.ix_(keep, held)] @ self.rest[held]
        return _Problem(self.h[np.ix_(keep, keep)], self.h_lips[np.ix_(keep, keep)],
                        self.b[:, keep] - shift, self.b_lips[:, keep] - shift_lips, self.gain,
                        self.lo[keep], self.hi[keep], self.rest[keep], self.steps, self.eps)


def _steps(times: NDArray[np.floating[Any]], smoothness: float) -> F64:
    """The temporal term's weight between consecutive frames: smoothness per 1/30 s, so that
    it means the same at any frame rate (a squared velocity)."""
    dt = np.diff(np.asarray(times, np.float64))
    out: F64 = smoothness * REFERENCE_DT / np.clip(dt, REFERENCE_DT / 100, None)
    return out


def _support_rows(times: NDArray[np.floating[Any]]) -> NDArray[np.int64]:
    """Every n-th frame, n the most that keeps frames at least SUPPORT_RATE_HZ, and the last."""
    t = np.asarray(times, np.float64)
    dt = float(np.median(np.diff(t))) if len(t) > 1 else 1.0
    n = max(1, int(1.0 / (SUPPORT_RATE_HZ * dt)) if dt > 0 else 1)
    rows: NDArray[np.int64] = np.unique(np.append(np.arange(0, len(t), n), len(t) - 1))
    return rows


RELAX = 1.6  # over-relaxation (Boyd et al. 3.4.3): fewer passes for the same accuracy
CHECK_EVERY = 5  # passes between convergence checks (each costs a few norms)
ADAPT_EVERY = 10  # passes between rho updates (each costs a K x K eigenproblem)
# OpenBLAS runs a product of at most 4 * 65536 multiply-adds (M N K) on one thread and a larger
# one on all of them; the W step's (T x K)(K x K) products are a few million, and two threads
# on them cost more in hand-overs than they save (measured: the whole solve faster with one
# BLAS thread than with numpy's default two), so they go in row blocks under that size.
ONE_THREAD_MACS = 4 * 65536
ONE_THREAD_DOT = 8192  # and a dot of at most 10,000 entries on one thread


def _norm(x: NDArray[Any]) -> float:
    """|x| (Frobenius) in pieces that OpenBLAS's dot runs on one thread (ONE_THREAD_DOT):
    np.linalg.norm of a whole (T, K) array is one threaded dot, measured 30 times slower
    than the pieces on a busy machine."""
    flat = x.reshape(-1)
    total = 0.0
    for start in range(0, flat.size, ONE_THREAD_DOT):
        piece = flat[start:start + ONE_THREAD_DOT]
        total += float(np.dot(piece, piece))
    return float(np.sqrt(total))


class _Admm:
    """Linearised ADMM (see the module's words) on one problem, from Z = z0. Every pass works
    in preallocated buffers ((T, K) temporaries are big enough that allocating them each time
    costs more than the arithmetic), and what is fixed between rho updates is folded into
    factors once, so a pass is two row-blocked products and a dozen entry-wise operations.
    The per-frame factors stay (T, 1) columns: whole (T, K) copies make each operation
    faster alone but the pass slower, its arrays no longer fitting the cache (measured)."""

    def __init__(self, p: _Problem, z0: F64, lam: float, single: bool = False) -> None:
        t, k = z0.shape
        self.p, self.lam, self.iterations = p, lam, 0
        # single: the passes in float32 (see `_single_enough`); the problem's data and the
        # factors' derivation stay float64, only what a pass reads and writes is float32.
        self.dtype: type[np.floating[Any]] = np.float32 if single else np.float64
        self.z: Floats = z0.astype(self.dtype)
        self.u: Floats = np.zeros_like(self.z)
        self.w, self.tmp, self.tmp2, self.z_old = (np.empty_like(self.z) for _ in range(4))
        self.rhs = p.b + p.gain[:, None] * p.b_lips
        rows = ONE_THREAD_MACS // max(k * k, 1)
        # (A rig of hundreds of keys: products big enough to be worth the threads, whole.)
        self.blocks = ([slice(0, t)] if rows < 8 else
                       [slice(s, min(s + rows, t)) for s in range(0, t, rows)])
        # The temporal term enters through its gradient, with a proximal weight tau at least
        # its Lipschitz constant (4 * max step), which keeps the linearised pass convergent.
        self.tau = 4.0 * float(p.steps.max()) if p.steps.size else 0.0
        steps = np.zeros((t + 1, 1))
        steps[1:-1, 0] = p.steps
        self.step_next, self.step_prev = steps[1:], steps[:-1]  # (T, 1): to t+1, to t-1
        # rho per frame, rho_t = rho (1 + gamma c_t): a shut frame's system is stiffer by about
        # sqrt(1 + |G_shut| / |G_face|) (the seal), and one rho for all frames takes ten times
        # the passes.
        ev = np.linalg.eigvalsh(p.h)
        self.gamma = (np.sqrt(1.0 + max(float(np.linalg.eigvalsh(p.h_lips)[-1]), 0.0) / ev[-1])
                      - 1.0)
        self.share = 1.0 + self.gamma * p.gain[:, None]
        self.root_n = float(np.sqrt(t * k))
        # The box and the L1 in one clip where every key rests at its minimum (or maximum):
        # soft threshold around rest, then clip, is then clip(x -+ lam_t, lo, hi).
        self.rest_at = ("lo" if np.all(p.rest == p.lo) else
                        "hi" if np.all(p.rest == p.hi) else "inside")
        self.lo: Floats = p.lo.astype(self.dtype)
        self.hi: Floats = p.hi.astype(self.dtype)
        self.rest: Floats = p.rest.astype(self.dtype)
        self._factors(float(np.sqrt(max(ev[0], 1e-6 * ev[-1]) * ev[-1])))

    def _factors(self, rho: float) -> None:
        """Everything a pass needs that changes only with rho. One generalised eigenproblem
        makes every frame's W step two products (module words): w_t = RELAX V diag(inv_t)
        V^T (rhs_t + rho_t (z_t - u_t)) + (1 - RELAX) z_t, with rhs_t V diag(inv_t) and
        rho_t inv_t kept per frame."""
        import scipy.linalg as sla

        p, k, tau = self.p, self.z.shape[1], self.tau
        self.rho = rho
        mu, vec = sla.eigh(p.h_lips + rho * self.gamma * np.eye(k), p.h + rho * np.eye(k))
        inv = 1.0 / (1.0 + p.gain[:, None] * np.maximum(mu, 0.0)[None, :])
        rho_t = rho * self.share
        self.vec = vec.astype(self.dtype, order="C")
        self.vec_t = (RELAX * vec.T).astype(self.dtype, order="C")
        self.scale = (rho_t * inv).astype(self.dtype)
        base = np.empty(self.z.shape)
        self._product(self.rhs, vec, base)
        base *= inv
        self.base = base.astype(self.dtype)
        prox = 1.0 / (rho_t + tau)
        self.keep = (rho_t * prox).astype(self.dtype)
        # The temporal gradient step tau z + (the smoothness' pull), times prox, per frame.
        self.own = (prox * (tau - self.step_next - self.step_prev)).astype(self.dtype)
        self.pull_next = (prox * self.step_next)[:-1].astype(self.dtype)
        self.pull_prev = (prox * self.step_prev)[1:].astype(self.dtype)
        self.shrink = (self.lam * prox).astype(self.dtype)
        self.stiff = (rho_t + tau).astype(self.dtype)

    def _product(self, a: NDArray[Any], b: NDArray[Any], out: NDArray[Any]) -> None:
        """out = a @ b in row blocks that OpenBLAS runs on one thread (ONE_THREAD_MACS)."""
        for rows in self.blocks:
            np.matmul(a[rows], b, out=out[rows])

    def run(self, max_iterations: int, tolerance: float) -> F64:
        """Passes until the residuals are within `tolerance` or `max_iterations` passes in
        all; the bounded, sparse Z, float64, an entry on a bound or at rest exactly there."""
        p, z, u, w, tmp, tmp2 = self.p, self.z, self.u, self.w, self.tmp, self.tmp2
        lo, hi, rest = self.lo, self.hi, self.rest
        while self.iterations < max_iterations:
            self.iterations += 1
            it = self.iterations
            check = it % CHECK_EVERY == 0 or it == max_iterations
            # W: every frame's fit, exactly (G_t + rho_t I) w_t = rhs_t + rho_t (z_t - u_t),
            # relaxed.
            np.subtract(z, u, out=tmp)
            self._product(tmp, self.vec, tmp2)
            tmp2 *= self.scale
            tmp2 += self.base
            self._product(tmp2, self.vec_t, w)  # w less its (1 - RELAX) z
            # Z: the temporal term's gradient step, then the L1's shrink and the box, from
            # w + u: gathered in u, which the dual update needs anyway.
            if check:
                self.z_old[:] = z
            u += w
            np.multiply(z, 1.0 - RELAX, out=tmp2)
            u += tmp2
            np.multiply(u, self.keep, out=tmp)
            if self.tau > 0:
                np.multiply(z, self.own, out=tmp2)
                tmp += tmp2
                np.multiply(z[1:], self.pull_next, out=tmp2[:-1])
                tmp[:-1] += tmp2[:-1]
                np.multiply(z[:-1], self.pull_prev, out=tmp2[1:])
                tmp[1:] += tmp2[1:]
            if self.lam > 0 and self.rest_at == "lo":
                tmp -= self.shrink
            elif self.lam > 0 and self.rest_at == "hi":
                tmp += self.shrink
            elif self.lam > 0:  # soft threshold around rest, then the box
                np.add(tmp, self.shrink, out=tmp2)
                np.maximum(tmp2, lo, out=tmp2)
                np.minimum(tmp2, rest, out=tmp2)
                tmp -= self.shrink
                np.maximum(tmp, rest, out=tmp)
                tmp += tmp2
                tmp -= rest
            np.maximum(tmp, lo, out=tmp)
            np.minimum(tmp, hi, out=z)  # (np.clip is several times slower)
            # The scaled dual (u already holds u + w).
            u -= z
            if not check:
                continue
            # Done when the fit and the bounded copy agree, and the bounded copy has stopped
            # moving, both within `tolerance` of its size (in mm of each key's RMS motion).
            np.multiply(self.z_old, 1.0 - RELAX, out=tmp)
            tmp += w
            tmp -= z
            r_pri = _norm(tmp) / RELAX
            np.subtract(z, self.z_old, out=tmp)
            r_move = _norm(tmp)
            tmp *= self.stiff
            r_dual = _norm(tmp)
            eps = self.root_n * p.eps + tolerance * _norm(z)
            if r_pri <= eps and r_move <= eps:
                break
            if it % ADAPT_EVERY == 0 and (r_pri > 10 * r_dual or r_dual > 10 * r_pri):
                factor = 2.0 if r_pri > r_dual else 0.5
                u /= factor
                self._factors(self.rho * factor)
        if self.dtype == np.float64:
            exact64: F64 = z.astype(np.float64)
            return exact64
        # float32 bounds and rest are the float64 ones rounded: map them back exactly, so that
        # an entry at rest is at the float64 rest (the sparse pass's support is "not at rest").
        out = z.astype(np.float64)
        for mine, exact in ((self.lo, p.lo), (self.hi, p.hi), (self.rest, p.rest)):
            at = z == mine
            out[at] = np.broadcast_to(exact, z.shape)[at]
        return out


def _admm(p: _Problem, z0: F64, lam: float, max_iterations: int, tolerance: float,
          single: bool = False) -> tuple[F64, int]:
    """`_Admm` run once: the bounded, sparse Z it converges to, and the passes it took."""
    solver = _Admm(p, z0, lam, single)
    return solver.run(max_iterations, tolerance), solver.iterations


SINGLE_EPS = float(np.finfo(np.float32).eps)
# float32 where its estimated rounding is at most this share of the tolerance. The estimate is
# conservative: on the benchmark's three problems (estimates 4e-6, 2e-6, 1e-6) float32 passes
# matched float64's pass for pass down to a tolerance of 1e-6 and parted only at 3e-7.
SINGLE_SHARE = 0.5


def _single_enough(p: _Problem, tolerance: float) -> bool:
    """Whether float32 passes reach `tolerance`: a float32 W step is off by about float32's
    epsilon times the condition number of G + rho I, which with rho = sqrt(lambda_min
    lambda_max) is about sqrt(lambda_max / lambda_min) of the face Gram; float32 where that
    is SINGLE_SHARE of the tolerance or less. Half the memory traffic of float64 for the
    same passes; keys that are near copies of each other keep float64."""
    ev = np.linalg.eigvalsh(p.h)
    if ev[0] <= 0:
        return False
    return bool(SINGLE_EPS * np.sqrt(ev[-1] / ev[0]) <= tolerance * SINGLE_SHARE)


def solve(
    motion: Motion,
    deltas: NDArray[np.floating[Any]],
    ranges: NDArray[np.floating[Any]],
    *,
    regions: FaceRegions | None = None,
    lip_gain: float = LIP_GAIN,
    seal_gain: float = SEAL_GAIN,
    smoothness: float = SMOOTHNESS,
    sparsity: float = SPARSITY,
    key_names: list[str] | None = None,
    max_iterations: int = MAX_ITERATIONS,
    tolerance: float = TOLERANCE,
) -> RigSolve:
    """Weights (T, K) of the keys `deltas` (K, V, 3, mesh units) that best make `motion`.

    regions: where to look (`face_regions`); None counts every vertex alike, lips unknown.
    lip_gain, seal_gain: how much more the lips, and the gap between the inner lips, count in
    a frame whose lips must be shut (times motion.closure); 0 turns either off.
    smoothness: the temporal term, relative to each key's size, per 1/30 s (0: none).
    sparsity: the L1 weight as a share of the motion's RMS over the face (0: none); a key
    comes in only where it explains more than that share of the motion.
    """
    d, r = check_rig_arrays(deltas, ranges, motion.n_vertices, key_names)
    k = d.shape[0]
    names = key_names if key_names is not None else [f"key {i}" for i in range(k)]
    n_frames = motion.n_frames
    closure = _check_motion(motion, lip_gain, seal_gain, smoothness, sparsity)
    f, lip, seal = _check_regions(regions, motion.n_vertices)
    rest = np.clip(0.0, r[:, 0], r[:, 1])
    mm = float(motion.mm_per_unit)
    basis = motion.basis
    gram = _gram(d, basis, f / f.sum(), mm)
    shut = (lip_gain * _gram(d, basis, f * lip / f.sum(), mm) if lip_gain and lip.any()
            else np.zeros_like(gram))
    if seal_gain and seal.size:
        shut += seal_gain * _seal_gram(d, basis, seal, mm)
    g, m, c = gram[:k, :k], gram[:k, k:], gram[k:, k:]
    size2 = np.diag(g).copy()
    peak = float(size2.max())
    moving = size2 > QUIET * peak if peak > 0 else np.zeros(k, dtype=bool)
    if not moving.any():
        raise _fail("None of the rig's shape keys moves the face, so there is nothing to key.")
    notes = [f"The shape key '{names[i]}' moves nothing on the face, so it stays at rest."
             for i in np.flatnonzero(~moving)]
    a = np.flatnonzero(moving & (r[:, 1] > r[:, 0]))
    weights = np.broadcast_to(rest, (n_frames, k)).astype(np.float64)
    codes = motion.codes.astype(np.float64)
    # Each frame's quadratic forms as a product then a row sum: a three-operand einsum runs
    # its own loops, measured ten times slower on 1,800 frames.
    energy = np.maximum(np.einsum("tj,tj->t", codes @ c, codes), 0.0)
    rms = float(np.sqrt(energy.mean()))
    iterations = 0
    if len(a) and rms > 0:
        size = np.sqrt(size2[a])
        outer = np.outer(size, size)
        prob = _Problem(
            h=g[np.ix_(a, a)] / outer, h_lips=shut[np.ix_(a, a)] / outer,
            b=codes @ (m[a] / size[:, None]).T,
            b_lips=codes @ (shut[a, k:] / size[:, None]).T,
            gain=closure, lo=r[a, 0] * size, hi=r[a, 1] * size, rest=rest[a] * size,
            steps=_steps(motion.frame_times, smoothness), eps=1e-3 * tolerance * rms)
        z = np.broadcast_to(prob.rest, (n_frames, len(a))).copy()
        lam = sparsity * rms
        if lam > 0:
            # The sparse pass only has to find the keys the motion needs, so it runs on frames
            # SUPPORT_RATE_HZ apart and to a looser tolerance; then a refit of every frame
            # without the L1's shrinking, in the keys it used.
            rows = _support_rows(motion.frame_times)
            loose = tolerance * SUPPORT_LOOSER
            coarse, iterations = _admm(prob.frames(rows, smoothness, motion.frame_times),
                                       z[rows], lam, max_iterations, loose,
                                       _single_enough(prob, loose))
            used = np.any(coarse != prob.rest[None, :], axis=0)
            times = motion.frame_times
            start = np.stack([np.interp(times, times[rows], c) for c in coarse.T], axis=1)
            while used.any():
                z[:, ~used] = prob.rest[~used]
                sub = prob.keys(used)
                z[:, used], more = _admm(sub, start[:, used], 0.0, max_iterations, tolerance,
                                         _single_enough(sub, tolerance))
                iterations += more
                # Small weights driven to rest: a key whose largest part of the motion is under
                # the L1's threshold is not needed; refit without it (from where this fit is).
                weak = used & (np.abs(z - prob.rest).max(axis=0) < lam)
                if not weak.any():
                    break
                used &= ~weak
                start = z
        else:
            z, iterations = _admm(prob, z, 0.0, max_iterations, tolerance)
        weights[:, a] = z / size[None, :]
        weights = np.clip(weights, r[:, 0], r[:, 1])
    fit = (np.einsum("tk,tk->t", weights @ g - 2 * (codes @ m.T), weights) + energy)
    lo32, hi32 = _inside32(r[:, 0], 1), _inside32(r[:, 1], -1)
    fixed = lo32 > hi32  # a range of one value: that value, as float32
    lo32[fixed] = hi32[fixed] = r[fixed, 0].astype(np.float32)
    return RigSolve(np.clip(weights.astype(np.float32), lo32, hi32),
                    np.clip(rest.astype(np.float32), lo32, hi32),
                    np.sqrt(np.maximum(fit, 0.0)), iterations, notes)


def _inside32(bound: F64, inward: int) -> NDArray[np.float32]:
    """A float64 bound as float32, rounded towards the inside of its range (inward +1 for a
    minimum, -1 for a maximum), so float32 weights never leave a float64 range."""
    b = bound.astype(np.float32)
    out = (b < bound) if inward > 0 else (b > bound)
    nudged: NDArray[np.float32] = np.where(out, np.nextafter(b, np.float32(inward * np.inf)), b)
    return nudged


def _check_motion(motion: Motion, *gains: float) -> F64:
    """The motion's closure (T,) in [0, 1] (0 where unknown), or one sentence why the motion or
    a gain cannot be solved."""
    if not (np.all(np.isfinite(motion.codes)) and np.all(np.isfinite(motion.basis))):
        raise _fail("The motion holds NaN or infinite values, so no rig weights were solved.")
    if motion.codes.shape != (motion.n_frames, motion.basis.shape[0]) or motion.n_frames == 0:
        raise _fail("The motion's codes do not match its frames and basis.")
    for value in gains:
        if not np.isfinite(value) or value < 0:
            raise _fail(f"The rig solve's gains and weights must be 0 or more; got {value}.")
    if motion.closure is None:
        return np.zeros(motion.n_frames)
    closure = np.asarray(motion.closure, np.float64)
    if closure.shape != (motion.n_frames,):
        raise _fail(f"The motion's closure must have one value per frame ({motion.n_frames}).")
    out: F64 = np.clip(np.nan_to_num(closure), 0.0, 1.0)
    return out


def _check_regions(regions: FaceRegions | None, n_vertices: int
                   ) -> tuple[F64, F64, NDArray[np.int64]]:
    if regions is None:
        return np.ones(n_vertices), np.zeros(n_vertices), np.zeros((2, 0), np.int64)
    out = []
    for what, w in (("face", regions.face), ("lip", regions.lips)):
        arr = np.asarray(w, dtype=np.float64)
        if arr.shape != (n_vertices,) or not np.all(np.isfinite(arr)):
            raise _fail(f"The rig solve's {what} weights must be {n_vertices} finite numbers.")
        out.append(np.clip(arr, 0.0, None))
    if out[0].sum() <= 0:
        raise _fail("No vertex of the face counts in the rig solve (all face weights are 0).")
    seal = np.asarray(regions.seal, dtype=np.int64).reshape(2, -1)
    if seal.size and (seal.min() < 0 or seal.max() >= n_vertices):
        raise _fail("The rig solve's inner-lip vertices are outside the mesh.")
    return out[0], out[1], seal


def solve_weights(motion: Motion, deltas: NDArray[np.floating[Any]],
                  ranges: NDArray[np.floating[Any]], **options: Any) -> NDArray[np.float32]:
    """(T, K) weights of the keys that best make the motion: `solve`'s weights alone, with
    `solve`'s keyword options."""
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
    basis, d = motion.basis, np.asarray(deltas, np.float32)
    span = slice(int(sel[0]), int(sel[-1]) + 1)
    if 2 * len(sel) >= span.stop - span.start:
        # Most of the span counts: its vertices as views, the rest masked out after. Gathering
        # the face's vertices from the keys and the basis (K + J copies of the face) cost four
        # times the products on the benchmark head.
        inside = sel - span.start
        basis, d = basis[:, span], d[:, span]
    else:
        inside = np.arange(len(sel))
        basis, d = basis[:, sel], d[:, sel]
    resid = (motion.codes[rows] @ basis.reshape(len(basis), -1)
             - np.asarray(weights, np.float32)[rows] @ d.reshape(len(d), -1)
             ).reshape(len(rows), -1, 3)
    err = np.einsum("tvc,tvc->tv", resid, resid)[:, inside]
    return float(np.sqrt(err.max()) * motion.mm_per_unit)


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
        lm, ids, _ = resolve_landmarks(inputs.vertices, inputs.faces, inputs.landmarks68)
    except S2LError as exc:
        raise BakeError(f"The rig solve cannot find the mouth: {exc}") from None
    regions = face_regions(inputs.vertices, lm, ids)
    target, track, notes = jaw_target(motion, rig, inputs)
    result = solve(target, d, r, regions=regions, key_names=keys)
    worst = max_error_mm(target, d, result.weights, regions.face, result.fit_rms_mm)
    return RigPlan(frames, motion, worst, keys, result.weights, result.rest,
                   canonical=list(rig.canonical), rig_set=rig.rig_set,
                   notes=[*rig.notes, *notes, *result.notes], jaw=track)


def jaw_target(motion: Motion, rig: RigTarget, inputs: BakeInputs
               ) -> tuple[Motion, BoneTrack | None, list[str]]:
    """(the motion the shape keys must make, the jaw bone's track or None, notes): with a jaw
    bone the dense motion minus what the bone moves through skinning (core/rig/jaw.py)."""
    if rig.jaw is None:
        return motion, None, []
    if motion.jaw is None:
        return motion, None, [f"The jaw bone '{rig.jaw.bone}' is not keyed: this bake has no "
                              "jaw motion (the jaw map jaw.npz is missing from the weights)."]
    check_jaw_rig(rig.jaw, motion.n_vertices)
    jaw = motion.jaw
    if JAW_FROM_SKIN and np.count_nonzero(np.asarray(rig.jaw.skin) > SKIN_MIN) >= 3:
        head = np.linalg.inv(np.asarray(rig.jaw.to_bone, dtype=np.float64))[:3, 3]
        jaw = skinned_jaw_motion(motion, inputs.vertices, rig.jaw.skin,
                                 jaw.pivot if rig.jaw.translate else head, rig.jaw.translate)
    track = bone_track(jaw, rig.jaw, motion.mm_per_unit)
    target = without_skinning(motion, track, inputs.vertices, rig.jaw.skin)
    skinned = target is not motion
    angle = float(np.degrees(np.arccos(np.clip(
        (np.trace(track.rotation, axis1=1, axis2=2) - 1.0) / 2.0, -1.0, 1.0))).max())
    how = (f"to move the skin weighted to it as the bake does (up to {angle:.1f} degrees); "
           "the shape keys make the rest" if skinned
           else f"from the lower teeth's fitted jaw motion (up to {angle:.1f} degrees)")
    return target, track, [f"The jaw bone '{rig.jaw.bone}' is keyed {how}.", *track.notes]
