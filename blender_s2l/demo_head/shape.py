"""Implicit shape of the demo head in canonical mm, and the ray cast that turns it into a surface.

The head is a smooth union of simple solids (skull, jaw, neck, nose, lips, chin) minus the eye
sockets. Every primitive is hand-placed from ordinary adult proportions; the surface is found by
casting rays from a point inside the head, which keeps the result a single sheet (star-shaped)
that a latitude/longitude grid can cover without folds.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]

# Rays start here (canonical mm): deep inside the skull, behind the mouth.
RAY_ORIGIN = np.array([0.0, -20.0, -90.0])
_RHO_MIN, _RHO_MAX, _COARSE, _BISECT = 40.0, 290.0, 34, 14


Box = tuple[tuple[float, float, float], tuple[float, float, float]]
Prim = Callable[[F64], F64]


def _ellipsoid(centre: tuple[float, float, float], axes: tuple[float, float, float]) -> Prim:
    """Approximate signed distance (exact on the surface, good near it)."""
    cx, cy, cz = centre
    ax, ay, az = axes

    def f(p: F64) -> F64:
        qx, qy, qz = (p[:, 0] - cx) / ax, (p[:, 1] - cy) / ay, (p[:, 2] - cz) / az
        k0 = np.sqrt(qx * qx + qy * qy + qz * qz)
        k1 = np.sqrt((qx / ax) ** 2 + (qy / ay) ** 2 + (qz / az) ** 2)
        out: F64 = k0 * (k0 - 1.0) / np.maximum(k1, 1e-9)
        return out

    return f


def _superellipsoid(
    centre: tuple[float, float, float], axes: tuple[float, float, float], power: float
) -> Prim:
    c, a = np.asarray(centre), np.asarray(axes)

    def f(p: F64) -> F64:
        q = np.abs((p - c) / a)
        out: F64 = (np.sum(q**power, axis=-1) ** (1.0 / power) - 1.0) * float(a.min())
        return out

    return f


def _cone(a: tuple[float, float, float], b: tuple[float, float, float],
          ra: float, rb: float) -> Prim:
    """Capsule whose radius goes linearly from ra at a to rb at b."""
    pa0, ba = np.asarray(a), np.asarray(b) - np.asarray(a)

    def f(p: F64) -> F64:
        pa = p - pa0
        t = np.clip(pa @ ba / float(ba @ ba), 0.0, 1.0)
        d = np.linalg.norm(pa - t[:, None] * ba, axis=-1)
        out: F64 = d - (ra + t * (rb - ra))
        return out

    return f


def _neck(p: F64) -> F64:
    r = np.sqrt((p[:, 0] / 55.0) ** 2 + ((p[:, 2] + 78.0) / 58.0) ** 2)
    out: F64 = np.maximum((r - 1.0) * 55.0, np.maximum(-(p[:, 1] + 215.0), p[:, 1] + 40.0))
    return out


def _smin(a: F64, b: F64, k: float) -> F64:
    """Smooth union: blends the two solids over about k mm."""
    h = np.maximum(k - np.abs(a - b), 0.0) / k
    out: F64 = np.minimum(a, b) - h * h * k * 0.25
    return out


def _cut(a: F64, b: F64, k: float) -> F64:
    """Smooth subtraction of solid b from solid a."""
    return -_smin(-a, b, k)


def _box(c: tuple[float, float, float], a: tuple[float, float, float]) -> Box:
    return (c[0] - a[0], c[1] - a[1], c[2] - a[2]), (c[0] + a[0], c[1] + a[1], c[2] + a[2])


def _feature(
    c: tuple[float, float, float], a: tuple[float, float, float]
) -> tuple[Prim, Box]:
    return _ellipsoid(c, a), _box(c, a)


# Local features: (union or cut, primitive, its box in mirrored coordinates |x|, blend k mm).
_NOSE_BOX: Box = ((0.0, -50.0, -14.0), (20.0, 4.0, 24.0))
_FEATURES: list[tuple[bool, Prim, Box, float]] = [
    (True, *_feature((44.0, -30.0, -36.0), (22.0, 18.0, 22.0)), 14.0),  # cheekbones
    (True, *_feature((28.0, 21.0, -13.0), (24.0, 9.0, 10.0)), 12.0),  # brow ridge
    (False, *_feature((31.0, -3.0, -1.0), (19.0, 11.0, 10.0)), 9.0),  # orbit
    (False, *_feature((31.5, -2.5, -9.5), (13.0, 4.3, 8.0)), 1.5),  # eye opening
    (True, *_feature((0.0, -65.0, -2.0), (24.0, 6.5, 13.0)), 4.0),  # upper lip
    (True, *_feature((0.0, -77.0, -4.0), (20.0, 7.0, 12.5)), 4.0),  # lower lip
    (False, *_feature((0.0, -71.0, -2.0), (26.0, 2.0, 7.0)), 2.5),  # lip line
    (False, *_feature((27.0, -73.0, 0.0), (7.0, 5.0, 7.0)), 3.0),  # mouth corners
    (False, *_feature((0.0, 0.0, 2.0), (9.0, 7.0, 5.0)), 4.0),  # nasion
    (True, *_feature((0.0, -101.0, -12.0), (19.0, 13.0, 14.0)), 6.0),  # chin
]
_skull = _ellipsoid((0.0, 5.0, -97.0), (76.0, 103.0, 100.0))
_jaw = _superellipsoid((0.0, -70.0, -62.0), (56.0, 42.0, 56.0), 3.0)
_muzzle = _ellipsoid((0.0, -76.0, -25.0), (36.0, 34.0, 30.0))
_nose_parts = (
    _cone((0.0, -4.0, -7.0), (0.0, -31.0, 13.5), 6.0, 9.5),
    _ellipsoid((0.0, -42.0, 8.0), (8.0, 6.0, 9.0)),
    _ellipsoid((11.0, -43.0, 0.0), (8.0, 6.5, 8.0)),
)


_FACE_BOX: Box = ((0.0, -125.0, -64.0), (76.0, 40.0, 40.0))


def _in_box(m: F64, box: Box, margin: float) -> NDArray[np.bool_]:
    (x0, y0, z0), (x1, y1, z1) = box
    x, y, z = m[:, 0], m[:, 1], m[:, 2]
    out: NDArray[np.bool_] = (
        (x >= x0 - margin) & (x <= x1 + margin) & (y >= y0 - margin) & (y <= y1 + margin)
        & (z >= z0 - margin) & (z <= z1 + margin)
    )
    return out


def _face_features(m: F64, f: F64) -> F64:
    """Nose, brows, eyes, lips and chin on the points inside the face box."""
    sel = _in_box(m, _NOSE_BOX, 8.0)
    if sel.any():
        nose = _smin(_nose_parts[0](m[sel]), _nose_parts[1](m[sel]), 4.0)
        nose = _smin(nose, _nose_parts[2](m[sel]), 4.0)
        f[sel] = _smin(f[sel], nose, 5.0)
    for union, prim, box, k in _FEATURES:
        sel = _in_box(m, box, 2.0 * k + 2.0)
        if not sel.any():
            continue
        f[sel] = _smin(f[sel], prim(m[sel]), k) if union else _cut(f[sel], prim(m[sel]), k)
    return f


def head_field(p: F64) -> F64:
    """Negative inside the head, positive outside; p is (N, 3) canonical mm.

    Local features are only evaluated near their box: farther than the blend width they cannot
    change the sign of the field, and the sign is all the ray cast needs.
    """
    m = p.copy()
    m[:, 0] = np.abs(m[:, 0])  # the head is mirror-symmetric: model the subject's left side
    f = _smin(_smin(_skull(p), _jaw(p), 18.0), _muzzle(p), 12.0)
    f = _smin(f, _neck(p), 22.0)
    face = np.flatnonzero(_in_box(m, _FACE_BOX, 14.0))
    if len(face):
        f[face] = _face_features(m[face], f[face])
    return f


def cast_rays(directions: F64) -> F64:
    """Distance from RAY_ORIGIN to the outermost surface crossing along each unit direction."""
    d = np.asarray(directions, dtype=np.float64)
    steps = np.linspace(_RHO_MIN, _RHO_MAX, _COARSE)
    pts = np.asarray(RAY_ORIGIN + steps[None, :, None] * d[:, None, :], dtype=np.float64)
    inside = (head_field(pts.reshape(-1, 3)) < 0.0).reshape(len(d), _COARSE)
    # Last inside sample: the surface lies between it and the next sample.
    last = _COARSE - 1 - np.argmax(inside[:, ::-1], axis=1)
    lo: F64 = steps[np.minimum(last, _COARSE - 2)]
    hi: F64 = lo + (steps[1] - steps[0])
    for _ in range(_BISECT):
        mid: F64 = 0.5 * (lo + hi)
        probe: F64 = RAY_ORIGIN + mid[:, None] * d
        neg = head_field(probe) < 0.0
        lo = np.where(neg, mid, lo)
        hi = np.where(neg, hi, mid)
    out: F64 = 0.5 * (lo + hi)
    return out
