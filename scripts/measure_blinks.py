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
from blender_s2l.core.models.upper_face import BLINK_COLUMNS, UPPER_EXPRESSIONS  # noqa: E402
from blender_s2l.demo_head.make import (  # noqa: E402
    SIZE_TARGETS,
    build_canonical,
    resolution_for,
)

F64 = NDArray[np.float64]
COARSEST = 20  # the demo head's smallest grid resolution (resolution_for's lower bound is 12)


def heads() -> list[tuple[str, F64, Any, NDArray[np.int64]]]:
    """(name, vertices, faces, landmark vertices) of every head that can be built here."""
    out = []
    for label, res in ((f"demo head ({SIZE_TARGETS[0]} target)", resolution_for(SIZE_TARGETS[0])),
                       ("demo head, coarsest grid", COARSEST)):
        v, faces, lm, _ = build_canonical(res)
        out.append((f"{label}, {len(v)} vertices", v, faces, lm))
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
    out.insert(0, (f"ICT mean, {len(v)} vertices", v, parts.faces, parts.landmarks68))
    closed = v + sum(ict.expression_deltas[ict.expression_index(n)][parts.keep]
                     for n in ("eyeBlink_L", "eyeBlink_R"))
    out.append(("ICT mean, eyes closed in the neutral", closed, parts.faces, parts.landmarks68))
    return out


def measure(anim: Animator, v: F64, faces: Any, lm: NDArray[np.int64]) -> dict[str, Any]:
    sim = to_canonical(v[lm])
    vc = sim.apply(v).astype(np.float64)
    lmc = vc[lm]
    feats = mesh_features(vc, faces, lmc, lm)
    on_face = on_face_mask(feats)
    lids = Eyelids.of_mesh(vc, faces, lmc, lm, on_face)
    weights = np.zeros((1, len(UPPER_EXPRESSIONS)), np.float32)
    weights[:, list(BLINK_COLUMNS)] = 1.0
    disp = anim.upper.motion_of(weights)
    basis = anim.s2d.mesh_basis(feats)
    codes = anim.s2d.codes(disp)
    if anim.jaw is not None:
        parts = InnerParts.of_mesh(vc, faces, lmc, on_face, anim.jaw)
        basis, codes = parts.extend(basis, codes, disp)
    net = vc + np.einsum("tj,jvc->tvc", codes, basis)[0]
    row: dict[str, Any] = {"eyes": [e if isinstance(e, str) else "found" for e in lids.eyes],
                           "notes": lids.notes()}
    eyes = [e for e in lids.eyes if isinstance(e, Eye)]
    if not eyes:
        return row
    now = vc + sum(e.fields[0] + e.fields[1] for e in eyes)
    for key, pos in (("before", net), ("after", now)):
        gaps = np.concatenate([e.edge_gaps(pos) for e in eyes])
        row[key] = (max(0.0, float(gaps.max())), max(0.0, -float(gaps.min())))
    row["edge"] = [len(e.upper) for e in eyes]
    row["rest"] = float(max(e.edge_gaps(vc).max() for e in eyes))
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
        "edge; crossed: the largest depth below it.",
        "",
        "| head | upper-edge vertices (right, left) | widest rest opening | network blink: open / "
        "crossed | bake now: open / crossed |",
        "|---|---|---|---|---|",
    ]
    for name, v, faces, lm in heads():
        row = measure(anim, v, faces, lm)
        if "before" in row:
            b, a = row["before"], row["after"]
            lines.append(f"| {name} | {', '.join(map(str, row['edge']))} | {row['rest']:.2f} mm "
                         f"| {b[0]:.2f} / {b[1]:.2f} mm | {a[0]:.3f} / {a[1]:.3f} mm |")
        else:
            lines.append(f"| {name} | eyes: {', '.join(row['eyes'])} | - | - | no blink: "
                         f"{' '.join(row['notes'])} |")
        print(lines[-1], flush=True)
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
