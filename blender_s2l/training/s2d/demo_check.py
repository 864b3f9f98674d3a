"""S2D on the project's demo head (no ground truth there): lips, tearing and a picture.

The demo head is a different, stylized topology built by `core.demo_head`. Driven by ICT landmark
motion, it must open its mouth like the ICT face does, keep each lip with its own landmarks, and
never tear (no edge stretched far beyond what the ICT truth itself stretches).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from ...core.head.inner_parts import InnerParts, JawModel
from ...core.head.landmarks import to_canonical
from ...core.head.mesh import triangulate
from ...core.head.mesh_features import mesh_features, on_face_mask, polygons_by_size
from ...core.models.s2d import S2D
from ...demo_head.make import build_canonical, resolution_for
from ..ict import ICTFace
from . import metrics as m
from .sampling import ExpressionSampler

POSES: tuple[tuple[str, dict[str, float]], ...] = (
    ("neutral", {}),
    ("jawOpen 0.8", {"jawOpen": 0.8}),
    ("smile + jaw", {"mouthSmile_L": 0.8, "mouthSmile_R": 0.8, "jawOpen": 0.3}),
    ("pucker", {"mouthPucker": 1.0}),
)


def mesh_edges(faces: Any) -> NDArray[np.int64]:
    parts = [np.stack([a, np.roll(a, -1, axis=1)], axis=-1).reshape(-1, 2)
             for a in polygons_by_size(faces).values()]
    e = np.sort(np.concatenate(parts), axis=1)
    out: NDArray[np.int64] = np.unique(e, axis=0)
    return out


def max_stretch(rest: NDArray[np.floating[Any]], moved: NDArray[np.floating[Any]],
                edges: NDArray[np.int64]) -> float:
    """Largest ratio of deformed to rest edge length (tearing shows up as a huge ratio)."""
    a = np.linalg.norm(rest[edges[:, 0]] - rest[edges[:, 1]], axis=1)
    b = np.linalg.norm(moved[edges[:, 0]] - moved[edges[:, 1]], axis=1)
    return float((b / np.maximum(a, 1e-6)).max())


def _weights(ict: ICTFace, pose: dict[str, float]) -> NDArray[np.float32]:
    w = np.zeros(len(ict.expression_names), dtype=np.float32)
    for name, val in pose.items():
        w[ict.expression_index(name)] = val
    return w


def _draw(ax: Any, verts: NDArray[np.floating[Any]], tris: NDArray[np.int64], title: str) -> None:
    from matplotlib.collections import PolyCollection

    p = verts[tris]
    normal = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-9)
    # Painter's algorithm, back to front; inner surfaces (mouth, cavity) are drawn darker.
    order = np.argsort(p[:, :, 2].mean(axis=1))
    light = (normal @ np.array([0.3, 0.4, 0.87]))[order]
    light = np.where(light > 0, light, 0.25 * np.abs(light))
    shade = np.stack([0.3 + 0.65 * light, 0.25 + 0.6 * light, 0.23 + 0.55 * light], axis=1)
    polys = list(p[order][:, :, :2])
    ax.add_collection(PolyCollection(polys, facecolors=shade, edgecolors="none"))
    ax.set_xlim(-85, 85)
    ax.set_ylim(-135, 45)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)


def demo_head_check(
    model: S2D,
    ict: ICTFace,
    png: Path | None = None,
    target_vertices: int = 11_000,
    jaw: JawModel | None = None,
) -> dict[str, float]:
    """Numbers (and optionally a picture) for S2D driven by ICT motion on the demo head; with a
    jaw model, eyeballs (and any other rigid parts) are also measured as `animate` moves them."""
    verts, faces, lm_idx, parts = build_canonical(resolution_for(target_vertices))
    sim = to_canonical(verts[lm_idx])
    v = sim.apply(verts)
    feats = torch.from_numpy(mesh_features(v, faces, v[lm_idx], lm_idx))
    ict_lm = ict.landmarks68.astype(np.int64)
    ict_sim = to_canonical(ict.neutral[ict_lm])
    ict_v = ict_sim.apply(ict.neutral)
    sampler = ExpressionSampler(ict.expression_names)
    rng = np.random.default_rng(5)
    w_seq = np.stack([sampler.lower(rng) for _ in range(120)]).astype(np.float32)
    w_seq = np.concatenate([w_seq, np.stack([_weights(ict, p) for _, p in POSES])])
    lm_seq = ict_sim.apply_vectors(np.tensordot(w_seq, ict.expression_deltas[:, ict_lm], axes=1))
    truth = ict_sim.apply_vectors(np.tensordot(w_seq, ict.expression_deltas, axes=1))
    with torch.no_grad():
        dense = model(feats, torch.from_numpy(lm_seq)).numpy()
    net = dense
    if jaw is not None:
        on_face = on_face_mask(feats.numpy())
        dense = InnerParts.of_mesh(v, faces, v[lm_idx], on_face, jaw).dense(dense, lm_seq)
    edges = mesh_edges(faces)
    eyes = np.concatenate([parts["eye_left"], parts["eye_right"]])
    ict_edges = mesh_edges(ict.faces)
    result = {
        "vertices": float(len(v)),
        "wrong_lip": m.wrong_lip_share(dense, lm_seq, _mask(parts["lip_upper"], len(v)),
                                       _mask(parts["lip_lower"], len(v))),
        "landmark_track_mm": float(np.linalg.norm(dense[:, lm_idx] - lm_seq, axis=-1).mean()),
        "max_stretch": max(max_stretch(v, v + d, edges) for d in dense),
        "ict_truth_max_stretch": max(max_stretch(ict_v, ict_v + d, ict_edges) for d in truth),
        "eyes_net_mean_mm": float(np.linalg.norm(net[:, eyes], axis=-1).mean()),
        "eyes_net_max_mm": float(np.linalg.norm(net[:, eyes], axis=-1).max()),
        "eyes_mean_mm": float(np.linalg.norm(dense[:, eyes], axis=-1).mean()),
        "eyes_max_mm": float(np.linalg.norm(dense[:, eyes], axis=-1).max()),
    }
    if png is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(2, len(POSES), figsize=(2.6 * len(POSES), 6.0))
        tri = triangulate(faces)
        ict_tri = ict.faces_tri.astype(np.int64)
        for k, (name, _) in enumerate(POSES):
            f = len(w_seq) - len(POSES) + k
            _draw(axes[0, k], ict_v + truth[f], ict_tri, f"ICT truth: {name}")
            _draw(axes[1, k], v + dense[f], tri, f"S2D demo head: {name}")
        fig.tight_layout()
        png.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(png, dpi=110)
        plt.close(fig)
    return result


def _mask(index: NDArray[np.int64], n: int) -> NDArray[np.bool_]:
    out = np.zeros(n, dtype=bool)
    out[index] = True
    return out
