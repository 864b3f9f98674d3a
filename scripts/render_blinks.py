#!/usr/bin/env python3
"""Picture: an eye at rest, at the network's full blink, and at the bake's half and full blink.

    .venv/bin/python scripts/render_blinks.py [--out docs/images/blinks.png]

Rows are heads of scripts/measure_blinks.py (the ICT mean and a re-meshed copy need
../shared/data; the demo head and its re-meshed 1.5k-vertex copy do not); the subject's left eye,
front view, edges drawn. Titles give the worst gap and crossing of the upper lid's edge over
the lower lid's at that pose (mm, both eyes), read as measure_blinks.py reads them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "scripts"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from measure_blinks import Animator, blinks, heads, open_and_crossed  # noqa: E402
from mesh_raster import EYE, SKIN, facing_sign, render, save_figure  # noqa: E402

from blender_s2l.core.head.mesh import triangulate  # noqa: E402

ROWS = ("ICT mean (", "ICT mean re-meshed into 5 mm cells, seed 1", "demo head (",
        "demo head re-meshed into 10 mm cells, seed 1")


def short(name: str) -> str:
    """A row's head in a few words: what it is and how many vertices it has."""
    count = name.rsplit("(", 1)[1].split(" ")[0]
    kind = "ICT mean" if name.startswith("ICT") else "demo head"
    return f"{kind}{', re-meshed' if 're-meshed' in name else ''} ({count} vertices)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "blinks.png")
    ap.add_argument("--width", type=int, default=260)
    args = ap.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    anim = Animator.load("cpu")
    chosen = [h for h in heads() if h[0].startswith(ROWS)]
    fig, axes = plt.subplots(len(chosen), 4, figsize=(12, 2.5 * len(chosen)), squeeze=False)
    for r, (name, v, faces, lm) in enumerate(chosen):
        b = blinks(anim, v, faces, lm)
        tris = triangulate(faces)
        sign = facing_sign(b.vertices, tris, b.landmarks[[30]])
        colours = np.where(b.on_face[:, None], SKIN[None], EYE[None])
        c = b.landmarks[42:48].mean(axis=0)
        box = (float(c[0] - 20), float(c[0] + 20), float(c[1] - 12), float(c[1] + 12))
        shots = (("rest", b.vertices), ("the network's full blink", b.network),
                 ("the bake's half blink", b.now(0.5)), ("the bake's full blink", b.now(1.0)))
        for k, (label, pos) in enumerate(shots):
            ax = axes[r, k]
            ax.imshow(render(pos, tris, box, args.width, sign=sign, colours=colours,
                             edges=True))
            ax.set_axis_off()
            title = f"{short(name)}: {label}"
            if k in (1, 3):
                gap, crossed = open_and_crossed(b, pos)
                title += f"\nlids {gap:.2f} mm apart, {crossed:.2f} mm crossed at worst"
            ax.set_title(title, fontsize=7)
    save_figure(fig, args.out, "Blinks on the mesh's own lids (subject's left eye, front view)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
