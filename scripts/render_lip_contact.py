#!/usr/bin/env python3
"""Picture: the mouth at a /p/ and at an open vowel on four heads whose lips rest differently.

    .venv/bin/python scripts/render_lip_contact.py [--out docs/images/lip_contact.png]

Rows are panel heads from sealed to 5 mm apart (training/head_panel.py); columns are the
neutral, the /p/ of "sharply" in ARCTIC a0009 with the landmark motion alone (lip_contact=False,
what every bake did before), the same frame as baked now, and the open /aa/ before it. Key poses
come from the clip's true phones. Needs ../shared/data (ICT pack and the ARCTIC clip).
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

from mesh_raster import MOUTH, SKIN, TEETH, facing_sign, render, save_figure  # noqa: E402

from blender_s2l.core.head.landmarks import MOUTH as MOUTH_LM  # noqa: E402
from blender_s2l.core.head.landmarks import to_canonical  # noqa: E402
from blender_s2l.core.head.mesh import (  # noqa: E402
    components,
    fan_triangles,
    padded_faces,
    triangulate,
)
from blender_s2l.training.head_panel import PanelHead, inner_lip_gaps_mm  # noqa: E402

HEADS = ("ict-sealed", "ict-mean", "ict-9093", "ict-apart5")
FPS = 30.0


def colours(v_c: np.ndarray, faces: np.ndarray, lm_c: np.ndarray) -> np.ndarray:
    """Skin, a dark mouth inside (skin behind the inner lips) and ivory teeth (separate parts
    behind the lips), so a gap or a lip through a lip shows."""
    out = np.tile(SKIN, (len(v_c), 1))
    labels = components(len(v_c), fan_triangles(padded_faces(faces)))
    skin_label = np.bincount(labels[np.argmin(np.linalg.norm(v_c - lm_c[62], axis=1))][None])
    lip_z = float(lm_c[60:68, 2].mean())
    corners = 0.9 * lm_c[[60, 64], 0] + 0.1 * lm_c[62, 0]
    inside = (v_c[:, 0] > corners.min()) & (v_c[:, 0] < corners.max())
    behind = inside & (v_c[:, 2] < lip_z - 3.0)
    out[behind] = MOUTH
    out[behind & (labels != int(skin_label.argmax()))] = TEETH
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("docs/images/lip_contact.png"))
    ap.add_argument("--width", type=int, default=240, help="pixels per picture")
    args = ap.parse_args(argv)
    from blender_s2l.core.animate import Animator
    from blender_s2l.core.speech.phones import read_phones
    from blender_s2l.training.head_panel import head_panel
    from blender_s2l.training.ict import ict_path, shared_data_dir

    clip = shared_data_dir() / "speech" / "cmu_arctic"
    if not ict_path().is_file() or not (clip / "arctic_a0009.wav").is_file():
        print("error: needs ../shared/data (the ICT pack and the ARCTIC clip)", file=sys.stderr)
        return 2
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    phones = read_phones(clip / "arctic_a0009_phone.lab")
    p_phone = next(p for p in phones if p.phone == "P")
    vowel = max((p for p in phones if p.phone == "AA" and p.end <= p_phone.start),
                key=lambda p: p.start)
    times = np.arange(0.0, 3.09, 1.0 / FPS)
    anim = Animator.load("cpu")
    heads = {h.name: h for h in head_panel()}
    fig, axes = plt.subplots(len(HEADS), 4, figsize=(4 * 2.6, len(HEADS) * 2.0),
                             squeeze=False)
    for r, name in enumerate(HEADS):
        h = heads[name]
        kw = {"frame_times": times, "phones": [(p.start, p.end, p.phone) for p in phones],
              "upper_face": False}
        with_contact = anim.animate(clip / "arctic_a0009.wav", h.vertices, h.faces,
                                    h.landmarks68, **kw)
        without = anim.animate(clip / "arctic_a0009.wav", h.vertices, h.faces, h.landmarks68,
                               lip_contact=False, **kw)
        sim = to_canonical(h.landmark_points.astype(np.float32))
        gaps_with = np.asarray([_gap(h, with_contact.dense_frame(i)) for i in range(len(times))])
        sel = (times >= p_phone.start - 1 / FPS) & (times < p_phone.end + 1 / FPS)
        f_p = int(np.flatnonzero(sel)[np.argmin(gaps_with[sel])])
        sel_v = (times >= vowel.start) & (times < vowel.end)
        f_v = int(np.flatnonzero(sel_v)[np.argmax(gaps_with[sel_v])])
        tris = triangulate(h.faces)
        v_c = sim.apply(h.vertices)
        lm_c = sim.apply(h.landmark_points)
        cols = colours(v_c, h.faces, lm_c)
        (x0, y0), (x1, y1) = lm_c[MOUTH_LM, :2].min(0) - 8, lm_c[MOUTH_LM, :2].max(0) + 8
        box = (float(x0), float(x1), float(y0), float(y1))
        sign = facing_sign(v_c, tris, lm_c)
        shots = (("neutral", np.zeros_like(h.vertices), h.neutral_gap_mm),
                 ("/p/, landmark motion alone", without.dense_frame(f_p),
                  _gap(h, without.dense_frame(f_p))),
                 ("/p/, as baked", with_contact.dense_frame(f_p), gaps_with[f_p]),
                 ("open /aa/, as baked", with_contact.dense_frame(f_v), gaps_with[f_v]))
        for c, (label, motion, gap) in enumerate(shots):
            ax = axes[r, c]
            ax.imshow(render(sim.apply(h.vertices + motion), tris, box, args.width, sign=sign,
                             colours=cols))
            ax.set_axis_off()
            ax.set_title(f"{name}: {label}\ninner-lip gap {gap:+.2f} mm", fontsize=7.5)
    save_figure(fig, args.out, "ARCTIC a0009 with its phones: lips meet on /p/ whatever their "
                "rest gap (front view; dark = inside the mouth)", 9)
    return 0


def _gap(head: PanelHead, motion: np.ndarray) -> float:
    """Mean inner-lip gap (mm) of the three pairs on the moved head (vertex landmarks)."""
    return float(np.mean(inner_lip_gaps_mm(head.vertices + motion, head.landmarks68,
                                           head.mm_per_unit, head.up)))


if __name__ == "__main__":
    raise SystemExit(main())
