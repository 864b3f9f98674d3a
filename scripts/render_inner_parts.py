#!/usr/bin/env python3
"""Model-card picture: a held-out ICT head's mouth under a few poses, as the ICT shapes move it
(truth), as the S2D network alone moves it, and with rigid inner parts (what `animate` ships).

    .venv/bin/python scripts/render_inner_parts.py [--out docs/images/ict_inner_parts.png]

The network alone bends the upper teeth down with the jaw; with rigid parts they stay with the
skull and the lower teeth follow the jaw map. Needs ../shared/data (the ICT FaceKit pack).
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

from mesh_raster import facing_sign, render, save_figure  # noqa: E402
from render_gallery import part_colours  # noqa: E402

from blender_s2l.core.head.inner_parts import InnerParts, load_jaw  # noqa: E402
from blender_s2l.core.head.landmarks import MOUTH  # noqa: E402
from blender_s2l.core.head.mesh import triangulate  # noqa: E402
from blender_s2l.core.head.mesh_features import on_face_mask  # noqa: E402
from blender_s2l.core.models.load import weights_file  # noqa: E402
from blender_s2l.training.checkpoint import checkpoint_file, load_s2d  # noqa: E402

POSES: tuple[tuple[str, dict[str, float]], ...] = (
    ("jawOpen 0.3", {"jawOpen": 0.3}),
    ("jawOpen 0.6", {"jawOpen": 0.6}),
    ("funnel + jaw", {"mouthFunnel": 0.6, "jawOpen": 0.3}),
    ("smile + jaw", {"mouthSmile_L": 0.7, "mouthSmile_R": 0.7, "jawOpen": 0.3}),
)
WEIGHTS = checkpoint_file("s2d")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("docs/images/ict_inner_parts.png"))
    ap.add_argument("--identity", type=int, default=1, help="held-out identity (0-9)")
    ap.add_argument("--width", type=int, default=300, help="pixels per picture")
    args = ap.parse_args(argv)
    from blender_s2l.training.ict import ict_path, load_ict
    from blender_s2l.training.s2d.data import EVAL_ID_SEED0, build_variant, ict_labels
    from blender_s2l.training.s2d.evaluate import s2d_predict

    if not ict_path().is_file():
        print(f"error: needs the ICT FaceKit pack at {ict_path()}", file=sys.stderr)
        return 2
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ict = load_ict()
    v = build_variant(ict, EVAL_ID_SEED0 + args.identity, ict_labels(ict))
    weights = np.zeros((len(POSES), len(ict.expression_names)), np.float32)
    for k, (_, pose) in enumerate(POSES):
        for name, value in pose.items():
            weights[k, ict.expression_index(name)] = value
    lm = v.landmark_motion(weights)
    net = s2d_predict(load_s2d(WEIGHTS, "cpu"), v.features, lm)
    on_face = on_face_mask(v.features)
    jaw = load_jaw(weights_file("jaw"))
    parts = InnerParts.of_mesh(v.vertices, v.faces, v.landmarks, on_face, jaw)
    rows = (("ICT truth", v.dense_motion(weights)), ("S2D network alone", net),
            ("with rigid inner parts", parts.dense(net, lm)))
    regions = {n: np.arange(len(v.vertices))[ict.region(n)] for n in ict.region_names}
    colours = part_colours(len(v.vertices), regions)
    tris = triangulate(v.faces)
    (x0, y0), (x1, y1) = v.landmarks[MOUTH, :2].min(0) - 12, v.landmarks[MOUTH, :2].max(0) + 12
    box = (float(x0), float(x1), float(y0), float(y1))
    sign = facing_sign(v.vertices, tris, v.landmarks)
    fig, axes = plt.subplots(len(rows), len(POSES), figsize=(3.2 * len(POSES), 2.4 * len(rows)),
                             squeeze=False)
    for r, (label, motion) in enumerate(rows):
        for c, (pose, _) in enumerate(POSES):
            ax = axes[r, c]
            ax.imshow(render(v.vertices + motion[c], tris, box, args.width, sign=sign,
                             colours=colours))
            ax.set_axis_off()
            ax.set_title(f"{label}: {pose}", fontsize=8)
    save_figure(fig, args.out, f"Held-out ICT identity {EVAL_ID_SEED0 + args.identity}: teeth "
                "and tongue (canonical front view)", 9.5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
