"""A small z-buffer rasteriser in numpy: orthographic front views of meshes for README pictures.

matplotlib's painter's algorithm mis-orders overlapping triangles (lip corners, mouth inside)
and mplot3d is far too slow for 26k vertices; a per-pixel depth test with smoothly interpolated
normals is both right and fast enough (about a second for 50k triangles on one core).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
Box = tuple[float, float, float, float]  # x0, x1, y0, y1 in view units (the camera looks at -Z)

SKIN = np.array([0.87, 0.71, 0.61])
MOUTH = np.array([0.45, 0.16, 0.17])  # mouth cavity, gums, tongue
TEETH = np.array([0.93, 0.91, 0.84])
EYE = np.array([0.92, 0.92, 0.90])
INSIDE = np.array([0.32, 0.10, 0.11])  # surfaces seen from behind: the mouth's inside
BACKGROUND = np.array([1.0, 1.0, 1.0])
LIGHT = np.array([0.35, 0.45, 0.82]) / np.linalg.norm([0.35, 0.45, 0.82])
_CHUNK = 4_000_000  # candidate pixels per batch (bounds memory)


def vertex_normals(verts: F64, tris: I64) -> F64:
    """Area-weighted unit normals per vertex, oriented by the triangles' winding."""
    p = verts[tris]
    fn = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    vn = np.zeros_like(verts)
    for k in range(3):
        np.add.at(vn, tris[:, k], fn)
    out: F64 = vn / np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-12)
    return out


def facing_sign(verts: F64, tris: I64, points: F64, radius: float = 8.0) -> float:
    """+1 if triangles near the given points (on the face) are wound towards +Z, else -1."""
    p = verts[tris]
    c = p.mean(axis=1)
    near = np.min(np.linalg.norm(c[:, None] - points[None], axis=2), axis=1) < radius
    n = np.cross(p[near, 1] - p[near, 0], p[near, 2] - p[near, 0])
    return 1.0 if float(n[:, 2].sum()) >= 0 else -1.0


def _candidates(pix: F64, tris: I64, width: int, height: int) -> tuple[I64, I64, I64]:
    """(triangle, pixel x, pixel y) for every pixel centre in each triangle's bounding box."""
    p = pix[tris]
    lo = np.floor(p[:, :, :2].min(axis=1) - 0.5).astype(np.int64) + 1
    hi = np.floor(p[:, :, :2].max(axis=1) - 0.5).astype(np.int64)
    lo = np.maximum(lo, 0)
    hi = np.minimum(hi, [width - 1, height - 1])
    size = np.maximum(hi - lo + 1, 0)
    count = size[:, 0] * size[:, 1]
    tri = np.repeat(np.arange(len(tris)), count)
    start = np.repeat(np.cumsum(count) - count, count)
    local = np.arange(len(tri)) - start
    w = np.maximum(size[tri, 0], 1)
    return tri, lo[tri, 0] + local % w, lo[tri, 1] + local // w


def _hits(pix: F64, tris: I64, w: int, h: int) -> tuple[I64, I64, F64, F64]:
    """Pixel centres covered by each triangle: (triangle, pixel, barycentrics, 2 x area)."""
    t, px, py = _candidates(pix, tris, w, h)
    a, b, c = (pix[tris[t, k]] for k in range(3))
    area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    ok = np.abs(area) > 1e-12
    safe = np.where(ok, area, 1.0)
    qx, qy = px + 0.5, py + 0.5
    l1 = ((c[:, 0] - b[:, 0]) * (qy - b[:, 1]) - (c[:, 1] - b[:, 1]) * (qx - b[:, 0])) / safe
    l2 = ((a[:, 0] - c[:, 0]) * (qy - c[:, 1]) - (a[:, 1] - c[:, 1]) * (qx - c[:, 0])) / safe
    bary = np.stack([l1, l2, 1.0 - l1 - l2], axis=1)
    hit = ok & (bary.min(axis=1) >= 0)
    return t[hit], (py * w + px)[hit], bary[hit], np.abs(area[hit])


def _nearest_per_pixel(pixel: I64, depth: F64) -> I64:
    """Index of the nearest (largest z) candidate of each pixel."""
    order = np.lexsort((depth, pixel))
    last = np.ones(len(order), dtype=bool)
    last[:-1] = pixel[order][1:] != pixel[order][:-1]
    out: I64 = order[last]
    return out


def _shade(normals: F64, base: F64, front: NDArray[np.bool_]) -> F64:
    """Lambert-lit base colour for surfaces seen from the front, dark red seen from behind."""
    normals = normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    lam = normals @ LIGHT
    out: F64 = np.where(front[:, None], base * (0.22 + 0.78 * np.clip(lam, 0.0, 1.0))[:, None],
                        INSIDE * (0.55 + 0.45 * np.abs(lam))[:, None])
    return out


def render(
    verts: F64,
    tris: I64,
    box: Box,
    width: int,
    *,
    sign: float = 1.0,
    colours: F64 | None = None,
    edges: bool = False,
    supersample: int = 2,
) -> NDArray[np.float64]:
    """(H, W, 3) RGB image of the mesh seen along -Z, cropped to box, width pixels wide.

    sign flips the winding (see facing_sign) so that outward normals face the camera; colours
    are per-vertex base colours (default: skin).
    """
    base = np.tile(SKIN, (len(verts), 1)) if colours is None else colours
    x0, x1, y0, y1 = box
    scale = width * supersample / (x1 - x0)
    w, h = width * supersample, round((y1 - y0) * scale)
    pix = np.stack([(verts[:, 0] - x0) * scale, (verts[:, 1] - y0) * scale, verts[:, 2]], axis=1)
    lo, hi = pix[tris][:, :, :2].min(axis=1), pix[tris][:, :, :2].max(axis=1)
    tris = tris[(hi[:, 0] >= 0) & (lo[:, 0] < w) & (hi[:, 1] >= 0) & (lo[:, 1] < h)]
    normals = sign * vertex_normals(verts, tris)
    p = pix[tris]
    front = sign * np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])[:, 2] > 0
    span = np.maximum(np.ptp(p[:, :, :2], axis=1) + 2.0, 1.0)
    batch = np.cumsum(span[:, 0] * span[:, 1]) // _CHUNK
    best = np.full(w * h, -np.inf)
    colour = np.tile(BACKGROUND, (w * h, 1))
    for part in np.split(np.arange(len(tris)), np.nonzero(np.diff(batch))[0] + 1):
        t, pixel, bary, area2 = _hits(pix, tris[part], w, h)
        corners = tris[part][t]
        depth = np.einsum("pk,pk->p", bary, pix[corners, 2])
        win = _nearest_per_pixel(pixel, depth)
        win = win[depth[win] > best[pixel[win]]]
        rgb = _shade(np.einsum("pk,pkc->pc", bary[win], normals[corners[win]]),
                     np.einsum("pk,pkc->pc", bary[win], base[corners[win]]),
                     front[part][t[win]])
        if edges:
            rgb *= _edge_shade(bary[win], pix[corners[win]], area2[win], supersample)[:, None]
        best[pixel[win]] = depth[win]
        colour[pixel[win]] = rgb
    img = colour.reshape(h, w, 3)
    if supersample > 1:
        h2, w2 = h // supersample, w // supersample
        img = img[: h2 * supersample, : w2 * supersample]
        img = img.reshape(h2, supersample, w2, supersample, 3).mean(axis=(1, 3))
    out: NDArray[np.float64] = img[::-1]  # image rows run top-down
    return out


def _edge_shade(bary: F64, corners: F64, area2: F64, supersample: int) -> F64:
    """Darkening near triangle edges (a visible-only wireframe), about one output pixel wide."""
    xy = corners[:, :, :2]
    lengths = np.linalg.norm(xy[:, [2, 0, 1]] - xy[:, [1, 2, 0]], axis=2)  # edge opposite k
    dist = (bary * area2[:, None] / np.maximum(lengths, 1e-12)).min(axis=1)
    out: F64 = 0.6 + 0.4 * np.clip(dist / (0.7 * supersample), 0.0, 1.0)
    return out


def save_figure(fig: Any, out: Path, title: str, fontsize: float = 9.0) -> None:
    """Title, tight layout, write the PNG (folders made), close, and say where it went."""
    import matplotlib.pyplot as plt

    fig.suptitle(title, fontsize=fontsize)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    print(f"wrote {out}")
