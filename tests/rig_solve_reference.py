"""The rig solve's ADMM as it was before its passes were made faster (issue 17, commit 47171f2),
kept verbatim as the reference the faster one must match: the same passes on the same problem
to rounding (tests/core/test_rig_solve.py). Numpy's norm and one (T, K)(K, K) product a
pass, float64 throughout; its constants frozen here so that tuning solve.py's cannot move it."""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
from numpy.typing import NDArray

from blender_s2l.core.rig.solve import _Problem

F64 = NDArray[np.float64]
RELAX = 1.6
CHECK_EVERY = 5
ADAPT_EVERY = 10


def reference_admm(p: _Problem, z0: F64, lam: float, max_iterations: int, tolerance: float,
                   single: bool = False) -> tuple[F64, int]:
    """Linearised ADMM (see the module's words) from Z = z0: the bounded, sparse Z it converges
    to, and the passes it took. Every pass works in preallocated buffers: (T, K) temporaries
    are big enough that allocating them each time costs more than the arithmetic. (single:
    solve.py's float32 switch, ignored: the reference is float64 throughout.)"""
    t, k = z0.shape
    z = z0.copy()
    rhs = p.b + p.gain[:, None] * p.b_lips
    u = np.zeros_like(z)
    w, tmp, tmp2, z_old = (np.empty_like(z) for _ in range(4))
    diff = np.empty((max(t - 1, 0), k))
    steps = p.steps[:, None]
    centred = bool(np.any(p.rest != 0))
    # The temporal term enters through its gradient, with a proximal weight tau at least its
    # Lipschitz constant (4 * max step), which keeps the linearised pass convergent.
    tau = 4.0 * float(p.steps.max()) if p.steps.size else 0.0
    # rho per frame, rho_t = rho (1 + gamma c_t): a shut frame's system is stiffer by about
    # sqrt(1 + |G_shut| / |G_face|) (the seal), and one rho for all frames takes ten times the
    # passes.
    ev = np.linalg.eigvalsh(p.h)
    gamma = np.sqrt(1.0 + max(float(np.linalg.eigvalsh(p.h_lips)[-1]), 0.0) / ev[-1]) - 1.0
    rho = float(np.sqrt(max(ev[0], 1e-6 * ev[-1]) * ev[-1]))
    share = 1.0 + gamma * p.gain[:, None]
    root_n = np.sqrt(t * k)

    def factors(rho: float) -> tuple[F64, F64, F64, F64, F64, F64, F64]:
        # One generalised eigenproblem makes every frame's W step two products (module words).
        mu, vec = sla.eigh(p.h_lips + rho * gamma * np.eye(k), p.h + rho * np.eye(k))
        inv = 1.0 / (1.0 + p.gain[:, None] * np.maximum(mu, 0.0)[None, :])
        rho_t = rho * share
        return (vec, RELAX * vec.T, inv, rho_t, rho_t / (rho_t + tau), 1.0 / (rho_t + tau),
                rho_t + tau)

    vec, vec_t, inv, rho_t, keep, prox, stiff = factors(rho)
    it = 0
    while it < max_iterations:
        it += 1
        check = it % CHECK_EVERY == 0 or it == max_iterations
        # W: every frame's fit, exactly (G_t + rho_t I) w_t = rhs_t + rho_t (z_t - u_t), relaxed.
        np.subtract(z, u, out=tmp)
        tmp *= rho_t
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
        tmp *= keep
        if tau > 0:
            np.subtract(z[1:], z[:-1], out=diff)
            diff *= steps
            np.multiply(z, tau, out=tmp2)
            tmp2[:-1] += diff
            tmp2[1:] -= diff
            tmp2 *= prox
            tmp += tmp2
        if lam > 0:
            if centred:
                tmp -= p.rest
            np.abs(tmp, out=tmp2)
            tmp2 -= lam * prox
            np.maximum(tmp2, 0.0, out=tmp2)
            np.copysign(tmp2, tmp, out=tmp)
            if centred:
                tmp += p.rest
        np.maximum(tmp, p.lo, out=tmp)
        np.minimum(tmp, p.hi, out=z)  # (np.clip is several times slower)
        # The scaled dual.
        u += w
        u -= z
        if not check:
            continue
        # Done when the fit and the bounded copy agree, and the bounded copy has stopped
        # moving, both within `tolerance` of its size (in mm of each key's RMS motion).
        np.subtract(w, z, out=tmp)
        r_pri = float(np.linalg.norm(tmp)) / RELAX
        np.subtract(z, z_old, out=tmp)
        r_move = float(np.linalg.norm(tmp))
        tmp *= stiff
        r_dual = float(np.linalg.norm(tmp))
        eps = root_n * p.eps + tolerance * float(np.linalg.norm(z))
        if r_pri <= eps and r_move <= eps:
            break
        if it % ADAPT_EVERY == 0 and (r_pri > 10 * r_dual or r_dual > 10 * r_pri):
            factor = 2.0 if r_pri > r_dual else 0.5
            rho *= factor
            u /= factor
            vec, vec_t, inv, rho_t, keep, prox, stiff = factors(rho)
    return z, it
