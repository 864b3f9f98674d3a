#!/usr/bin/env python3
"""Blinks on the mesh: how far the upper lid edge stays from the lower lid edge at full blink.

    .venv/bin/python scripts/measure_blinks.py [--out reports/blinks.md]

For each head, both eyes at blink weight 1 (brows still): *before* is the network's blink (the
upper-face landmark motion expanded by S2D, eyeballs rigid, as every bake did before
core/head/eyelids.py); *after* is the bake's blink now. Both are read on the lid edges that
core/head/eyelids.py finds on the neutral: every upper-edge vertex's height above the lower
edge at its place across the eye, along the eye's up axis, in mm. "open" is the largest such
height (the lids do not meet there), "crossed" the largest depth below (the upper lid is under
the lower one). Heads: the ICT mean (needs ../shared/data), the demo head as `make demo` builds
it and at its coarsest grid, and the ICT mean with its eyes closed (eyeBlink_L/R = 1 in the
neutral), which must get no blink.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from blender_s2l.core.animate import Animator  # noqa: E402
from blender_s2l.core.head.eyelids import Eye, Eyelids  # noqa: E402
from blender_s2l.core.head.inner_parts import InnerParts  # noqa: E402
from blender_s2l.core.head.landmarks import to_canonical  # noqa: E402
from blender_s2l.core.head.mesh_features import mesh_features, on_face_mask  # noqa: E402
from blender_s2l.core.models.upper_face import (  # noqa: E402
    BLINK_COLUMNS,
    UPPER_EXPRESSIONS,
    sample_upper_face_weights,
)
from blender_s2l.demo_head.make import (  # noqa: E402
    SIZE_TARGETS,
    build_canonical,
    resolution_for,
)
from blender_s2l.training.head_panel import _retopo_landmarks  # noqa: E402
from blender_s2l.training.s2d.remesh import voronoi_remesh  # noqa: E402

F64 = NDArray[np.float64]
COARSEST = 20  # the demo head's grid at about the low-poly head size
DEMO_CELL_MM, ICT_CELL_MM = 10.0, 5.0  # cells that leave the eye a few vertices wide
DECIMATE_SEEDS = (1, 2)
BROW_FRAMES = 60  # the frames of largest brow motion read at full blink


def remeshed(v: F64, faces: Any, lm: NDArray[np.int64], cell_mm: float,
             seed: int) -> tuple[F64, Any, F64]:
    """The head re-meshed into surface Voronoi cells (irregular triangles, as a decimated or
    re-topologised head has), with its landmark points carried onto the new surface."""
    pattern = voronoi_remesh(v, faces, cell_mm, np.random.default_rng(seed))
    new = pattern.apply(v).astype(np.float64)
    cluster = np.asarray(pattern.averaging.T.tocsr()[lm].argmax(axis=1)).reshape(-1)
    return new, pattern.faces, _retopo_landmarks(new, pattern.faces, cluster, v[lm])


def heads() -> list[tuple[str, F64, Any, NDArray[Any]]]:
    """(name, vertices, faces, landmark vertices or points) of every head built here."""
    out: list[tuple[str, F64, Any, NDArray[Any]]] = []
    v, faces, lm, _ = build_canonical(resolution_for(SIZE_TARGETS[0]))
    out.append((f"demo head ({len(v)} vertices, as `make demo` builds it)", v, faces, lm))
    c = build_canonical(COARSEST)
    out.append((f"demo head on its coarsest grid ({len(c[0])} vertices)", c[0], c[1], c[2]))
    for seed in DECIMATE_SEEDS:
        d = remeshed(v, faces, lm, DEMO_CELL_MM, seed)
        out.append((f"demo head re-meshed into {DEMO_CELL_MM:g} mm cells, seed {seed} "
                    f"({len(d[0])} vertices)", *d))
    from blender_s2l.core.errors import S2LError
    from blender_s2l.training.head_panel import _ict_parts
    from blender_s2l.training.ict import load_ict

    try:
        ict = load_ict()
    except S2LError as exc:  # the shared data is optional here
        print(f"ICT heads skipped: {exc}")
        return out
    parts = _ict_parts(ict)
    v = ict.neutral[parts.keep].astype(np.float64)
    out.insert(0, (f"ICT mean ({len(v)} vertices)", v, parts.faces, parts.landmarks68))
    for seed in DECIMATE_SEEDS:
        d = remeshed(v, parts.faces, parts.landmarks68, ICT_CELL_MM, seed)
        out.insert(1 + seed - DECIMATE_SEEDS[0], (
            f"ICT mean re-meshed into {ICT_CELL_MM:g} mm cells, seed {seed} ({len(d[0])} "
            "vertices)", *d))
    closed = v + sum(ict.expression_deltas[ict.expression_index(n)][parts.keep]
                     for n in ("eyeBlink_L", "eyeBlink_R"))
    out.append(("ICT mean, eyes closed in the neutral", closed, parts.faces, parts.landmarks68))
    return out


@dataclass(frozen=True)
class Blinks:
    """One head in canonical mm: its neutral, its lids, and its network blink at weight 1."""

    vertices: F64
    landmarks: F64
    faces: Any
    on_face: NDArray[np.bool_]
    lids: Eyelids
    network: F64  # (V, 3) vertices at the network's full blink (brows still)

    @property
    def eyes(self) -> list[Eye]:
        return [e for e in self.lids.eyes if isinstance(e, Eye)]

    def now(self, weight: float) -> F64:
        """Vertices at the bake's blink of this weight, both eyes (brows still)."""
        out: F64 = self.vertices + sum((weight * e.fields[0] + weight**2 * e.fields[1]
                                        for e in self.eyes), np.zeros_like(self.vertices))
        return out


def blinks(anim: Animator, v: F64, faces: Any, lm: NDArray[Any]) -> Blinks:
    """The head aligned to the canonical face, as a bake sees it, with both blinks."""
    idx = lm if np.issubdtype(lm.dtype, np.integer) else None
    points = v[lm] if idx is not None else lm
    sim = to_canonical(points)
    vc = sim.apply(v).astype(np.float64)
    lmc = sim.apply(points).astype(np.float64)
    feats = mesh_features(vc, faces, lmc, idx)
    on_face = on_face_mask(feats)
    lids = Eyelids.of_mesh(vc, faces, lmc, idx, on_face)
    weights = np.zeros((1, len(UPPER_EXPRESSIONS)), np.float32)
    weights[:, list(BLINK_COLUMNS)] = 1.0
    disp = anim.upper.motion_of(weights)
    basis = anim.s2d.mesh_basis(feats)
    codes = anim.s2d.codes(disp)
    if anim.jaw is not None:
        parts = InnerParts.of_mesh(vc, faces, lmc, on_face, anim.jaw)
        basis, codes = parts.extend(basis, codes, disp)
    net = vc + np.einsum("tj,jvc->tvc", codes, basis)[0]
    return Blinks(vc, lmc, faces, on_face, lids, net)


def open_and_crossed(b: Blinks, positions: F64) -> tuple[float, float]:
    """The largest height of an upper-edge vertex above the lower edge, and the largest depth
    below it (mm, both eyes)."""
    gaps = np.concatenate([e.edge_gaps(positions) for e in b.eyes])
    return max(0.0, float(gaps.max())), max(0.0, -float(gaps.min()))


def with_brows(anim: Animator, b: Blinks, lm: NDArray[Any]) -> tuple[float, float]:
    """Open / crossed at full blink while the brows move: the frames of a minute of the
    upper-face model's brows (seed 0, 30 fps) whose codes are largest, through the bake's own
    step (Eyelids.extend with the network's basis for this mesh)."""
    times = np.arange(0.0, 60.0, 1.0 / 30.0)
    weights = sample_upper_face_weights(times, 0)
    weights[:, list(BLINK_COLUMNS)] = 0.0
    idx = lm if np.issubdtype(lm.dtype, np.integer) else None
    basis = anim.s2d.mesh_basis(mesh_features(b.vertices, b.faces, b.landmarks, idx))
    codes = anim.s2d.codes(anim.upper.motion_of(weights))
    codes = codes[np.argsort(-np.abs(codes).sum(axis=1))[:BROW_FRAMES]]
    basis, codes, _, _ = b.lids.extend(basis, codes, np.ones((len(codes), 2)))
    worst = (0.0, 0.0)
    for frame in codes:
        gap, crossed = open_and_crossed(b, b.vertices + np.einsum("j,jvc->vc", frame, basis))
        worst = (max(worst[0], gap), max(worst[1], crossed))
    return worst


def measure(anim: Animator, v: F64, faces: Any, lm: NDArray[Any]) -> dict[str, Any]:
    """Both eyes at full blink, as the network made it and as the bake makes it now."""
    b = blinks(anim, v, faces, lm)
    row: dict[str, Any] = {"eyes": [e if isinstance(e, str) else "found" for e in b.lids.eyes],
                           "notes": b.lids.notes()}
    if not b.eyes:
        return row
    row["before"] = open_and_crossed(b, b.network)
    row["after"] = open_and_crossed(b, b.now(1.0))
    row["brows"] = with_brows(anim, b, lm)
    row["edge"] = [len(e.upper) for e in b.eyes]
    row["rest"] = float(max(e.edge_gaps(b.vertices).max() for e in b.eyes))
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "reports" / "blinks.md"))
    args = ap.parse_args()
    anim = Animator.load("cpu")
    lines = [
        "# Blinks on the mesh at full blink",
        "",
        "Written by `scripts/measure_blinks.py` (its docstring says how each number is read).",
        "Both eyes at blink weight 1, brows still; mm along the eye's up axis, on the lid edges",
        "found on the neutral. open: the largest height of an upper-edge vertex above the lower",
        "edge; crossed: the largest depth below it. The last column reads the bake's full blink on",
        f"the {BROW_FRAMES} frames of a minute of sampled brows (seed 0) whose motion is largest.",
        "",
        "| head | upper-edge vertices (right, left) | widest rest opening | network blink: open / "
        "crossed | bake now: open / crossed | bake now, brows moving: open / crossed |",
        "|---|---|---|---|---|---|",
    ]
    for name, v, faces, lm in heads():
        row = measure(anim, v, faces, lm)
        if "before" in row:
            b, a = row["before"], row["after"]
            lines.append(f"| {name} | {', '.join(map(str, row['edge']))} | {row['rest']:.2f} mm "
                         f"| {b[0]:.2f} / {b[1]:.2f} mm | {a[0]:.3f} / {a[1]:.3f} mm "
                         f"| {row['brows'][0]:.3f} / {row['brows'][1]:.3f} mm |")
        else:
            lines.append(f"| {name} | eyes: {', '.join(row['eyes'])} | - | - | no blink: "
                         f"{' '.join(row['notes'])} | - |")
        print(lines[-1], flush=True)
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
