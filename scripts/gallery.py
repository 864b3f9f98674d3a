#!/usr/bin/env python3
"""A gallery of real heads made by other people, baked through the real Blender path.

    .venv/bin/python scripts/gallery.py [--heads DIR] [--out reports/gallery.md]
        [--picture reports/gallery.png]

Each head of HEADS is imported with Blender's own importer as a user would, its ten key points
(vertex indices of the imported file, picked once on a front view) are written to a JSON file,
and `blender_s2l.batch` bakes arctic_a0009 with its phones file, `--keypoints` (Fit) and
`--cut-mouth`, bundled weights, seed 0. The demo head is baked the same way (its landmarks are
stored by construction). The baked .blend is read back frame by frame (evaluated mesh) and
four things are measured, in the canonical face's millimetres (the similarity that takes the
head's fitted landmarks onto the canonical face: any unit, any size, so "mm" is relative to
face size):

  sheet:  after Cut Mouth, is the mouth still fused (mouth_slit's test), and at the most open
          frame the largest lengthening of any edge near the mouth divided by the inner-lip
          opening there (an edge spanning the lips lengthens by the whole opening: ~1; skin ~0);
  blink:  the bake's blink at weight 1 on this mesh's own lids (as scripts/measure_blinks.py
          reads it): the largest gap left open and the largest crossing, or why no blink;
  below:  the largest motion over the clip of any vertex more than 0.8 eyes-to-chin distances
          below the chin (where the README says nothing moves);
  open:   the inner-lip opening (62 to 66, on the baked surface, less the rest gap) at its
          largest over the frames of the open vowels aa, ae, ah, ao, and its ratio to the demo
          head's.

Heads are read from --heads (default $BLENDER_S2L_GALLERY, else ../gallery_heads beside the
checkout); a head whose file is absent is left out with a note. Nothing of them is copied into
the repository. The picture shows each head at rest, at its widest open vowel and at the
middle of the /p/ of "sharply", front view of the canonical face (scripts/mesh_raster.py).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "scripts"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
OPEN_VOWELS = ("aa", "ae", "ah", "ao")
CLIP = "cmu_arctic/arctic_a0009"
BELOW_CHIN = 0.8  # eyes-to-chin distances below the chin: README's "nothing moves" line
MOUTH_REACH = 1.0  # edges this many mouth widths from the mouth centre are "near the mouth"


@dataclass(frozen=True)
class GalleryHead:
    name: str
    file: str  # relative to the gallery folder
    source: str
    licence: str
    keypoints: dict[int, int] = field(default_factory=dict)  # iBUG -> imported vertex


HEADS = (
    GalleryHead(
        "Demosthenes (photoscan of a bust, re-meshed)", "demosthenes/demosthenes-low-res.obj",
        "github.com/odedstein/meshes objects/demosthenes @835213277571d625722d25880c9c3010c6f45a5a"
        " (by ryanfb, sketchfab)", "CC BY 4.0",
        {36: 3909, 39: 2651, 42: 1698, 45: 1175, 30: 2252, 48: 3656, 54: 1393, 8: 2697,
         62: 2311, 66: 2311}),
    GalleryHead(
        "Nefertiti (scan of the bust)", "nefertiti/nefertiti-lowres.obj",
        "github.com/odedstein/meshes objects/nefertiti @835213277571d625722d25880c9c3010c6f45a5a"
        " (scan by N. Al-Badri and J. N. Nelles)", "public domain",
        {36: 27192, 39: 27824, 42: 11271, 45: 8389, 30: 33416, 48: 34628, 54: 32649, 8: 34623,
         62: 33359, 66: 33359}),
    GalleryHead(
        "MediaPipe canonical face (468 vertices, face only)",
        "mediapipe_face/canonical_face_model.obj",
        "github.com/google/mediapipe mediapipe/modules/face_geometry/data (copy in "
        "jim-jiang-github/mediapipe @024214754f0898e0f94a451dc00f0b99f1e3e28e)", "Apache-2.0",
        {36: 33, 39: 133, 42: 362, 45: 263, 30: 1, 48: 61, 54: 291, 8: 152, 62: 13, 66: 14}),
)


def gallery_dir(arg: str | None = None) -> Path:
    if arg:
        return Path(arg)
    env = os.environ.get("BLENDER_S2L_GALLERY")
    return Path(env) if env else ROOT.parent / "gallery_heads"


# Heads whose licence allows it are committed here (each with its licence), so CI bakes them.
COMMITTED = ROOT / "tests" / "data" / "heads"


def head_path(head: GalleryHead, arg: str | None = None) -> Path:
    """The head's file in the gallery folder, else its committed copy (which may not exist)."""
    path = gallery_dir(arg) / head.file
    return path if path.exists() else COMMITTED / head.file


def surface_point(v: F64, tris: I64, p: F64) -> tuple[int, F64]:
    """(triangle, barycentric weights) of the point of the mesh closest to p."""
    from blender_s2l.core.head.mesh import closest_on_triangles

    a, b, c = v[tris[:, 0]], v[tris[:, 1]], v[tris[:, 2]]
    q = closest_on_triangles(np.broadcast_to(p, a.shape).copy(), a, b, c)
    t = int(np.argmin(np.linalg.norm(q - p, axis=1)))
    m = np.stack([b[t] - a[t], c[t] - a[t]], axis=1)
    uv, *_ = np.linalg.lstsq(m, q[t] - a[t], rcond=None)
    return t, np.array([1.0 - uv[0] - uv[1], uv[0], uv[1]])


def edge_stretch(rest: F64, now: F64, edges: I64, opening: float) -> float:
    """Largest lengthening of an edge (rest -> now) divided by the lip opening."""
    if opening <= 1e-9 or len(edges) == 0:
        return 0.0
    d0 = np.linalg.norm(rest[edges[:, 0]] - rest[edges[:, 1]], axis=1)
    d1 = np.linalg.norm(now[edges[:, 0]] - now[edges[:, 1]], axis=1)
    return float((d1 - d0).max() / opening)


def below_neck(v_canon: F64, lm_canon: F64) -> NDArray[np.bool_]:
    """Vertices more than BELOW_CHIN eyes-to-chin distances below the chin (canonical +Y up)."""
    from blender_s2l.core.head.landmarks import EYES

    chin = float(lm_canon[8, 1])
    span = float(lm_canon[list(EYES), 1].mean()) - chin
    out: NDArray[np.bool_] = v_canon[:, 1] < chin - BELOW_CHIN * span
    return out


@dataclass
class Baked:
    """A head as baked: neutral after Cut Mouth, frames, landmarks, and frame times."""

    name: str
    rest: F64
    frames: F64  # (T, V, 3)
    times: F64
    faces: list[list[int]]
    tris: I64
    edges: I64
    landmarks: F64  # (68, 3) mesh space, on the neutral
    notes: str


def bake_head(name: str, wav: Path, lab: Path, work: Path,
              build: Any, keypoints: dict[int, int] | None) -> Baked:
    """Build the scene with build(), bake it with batch.py and read every frame back."""
    import bpy

    from blender_s2l import batch
    from blender_s2l.blender import storage

    bpy.ops.wm.read_homefile(use_empty=True)
    build()
    scene = work / "scene.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(scene))
    args = [str(scene), "--object", "Head", "--audio", str(wav), "--phones", str(lab),
            "--cut-mouth", "--seed", "0", "--out", str(work / "baked.blend")]
    if keypoints:
        kp = work / "keypoints.json"
        kp.write_text(json.dumps({str(k): v for k, v in keypoints.items()}), encoding="utf-8")
        args += ["--keypoints", str(kp)]
    said = io.StringIO()
    with contextlib.redirect_stdout(said):
        code = batch.main(args)
    print(said.getvalue(), end="", flush=True)
    if code != 0:
        raise RuntimeError(f"batch failed on {name}")
    bpy.ops.wm.open_mainfile(filepath=str(work / "baked.blend"))
    obj = bpy.data.objects["Head"]
    sc = bpy.context.scene
    strip = next(iter(sc.sequence_editor.strips_all))
    fps = sc.render.fps / sc.render.fps_base
    mesh = obj.data
    n = len(mesh.vertices)
    rest = np.zeros(3 * n)
    mesh.vertices.foreach_get("co", rest)
    faces = [list(p.vertices) for p in mesh.polygons]
    mesh.calc_loop_triangles()
    tris = np.zeros(3 * len(mesh.loop_triangles), dtype=np.int64)
    mesh.loop_triangles.foreach_get("vertices", tris)
    edges = np.zeros(2 * len(mesh.edges), dtype=np.int64)
    mesh.edges.foreach_get("vertices", edges)
    idx = storage.stored_landmarks(obj)
    rest = rest.reshape(-1, 3)
    lm = rest[idx] if idx is not None and idx.ndim == 1 else idx
    if lm is None:
        raise RuntimeError(f"{name}: no landmarks after the bake")
    frame_range = range(int(strip.frame_final_start), int(strip.frame_final_end))
    out = np.zeros((len(frame_range), n, 3))
    for i, f in enumerate(frame_range):
        sc.frame_set(f)
        ev = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
        m = ev.to_mesh()
        co = np.zeros(3 * n)
        m.vertices.foreach_get("co", co)
        ev.to_mesh_clear()
        out[i] = co.reshape(-1, 3)
    times = (np.array(frame_range, dtype=np.float64) - strip.frame_start) / fps
    notes = " ".join(line.split(": ", 2)[-1] for line in said.getvalue().splitlines()
                     if line.startswith("note:"))
    return Baked(name, rest, out, times, faces, tris.reshape(-1, 3), edges.reshape(-1, 2),
                 np.asarray(lm, np.float64), notes)


def measure(b: Baked, anim: Any, phones: list[Any]) -> dict[str, Any]:
    from measure_blinks import blinks, open_and_crossed

    from blender_s2l.core.head.head_mesh import mouth_note
    from blender_s2l.core.head.landmarks import to_canonical

    sim = to_canonical(b.landmarks)
    rest_c = sim.apply(b.rest).astype(np.float64)
    frames_c = np.stack([sim.apply(f) for f in b.frames]).astype(np.float64)
    lm_c = sim.apply(b.landmarks).astype(np.float64)
    row: dict[str, Any] = {"name": b.name, "vertices": len(b.rest), "notes": b.notes}
    row["fused"] = mouth_note(b.rest, b.faces, b.landmarks, "Head") is not None
    # inner-lip opening 62-66 on the baked surface
    t62, w62 = surface_point(rest_c, b.tris, lm_c[62])
    t66, w66 = surface_point(rest_c, b.tris, lm_c[66])
    up = frames_c[:, b.tris[t62]].transpose(0, 2, 1) @ w62
    lo = frames_c[:, b.tris[t66]].transpose(0, 2, 1) @ w66
    rest_gap = float(np.linalg.norm(rest_c[b.tris[t62]].T @ w62 - rest_c[b.tris[t66]].T @ w66))
    opening = np.linalg.norm(up - lo, axis=1) - rest_gap
    labels = _labels(phones, b.times)
    vowel = np.array([lab.lower() in OPEN_VOWELS for lab in labels])
    k_open = int(np.flatnonzero(vowel)[np.argmax(opening[vowel])])
    row["open_mm"] = float(opening[k_open])
    row["open_frame"] = k_open
    p_frames = np.flatnonzero(np.array([lab.lower() == "p" for lab in labels]))
    row["p_frame"] = int(p_frames[len(p_frames) // 2]) if len(p_frames) else 0
    row["p_gap_mm"] = float(opening[row["p_frame"]] + rest_gap)
    centre = lm_c[[48, 54]].mean(axis=0)
    width = float(np.linalg.norm(lm_c[48] - lm_c[54]))
    near = np.linalg.norm(rest_c - centre, axis=1) < MOUTH_REACH * width
    mouth_edges = b.edges[near[b.edges].all(axis=1)]
    row["stretch"] = edge_stretch(rest_c, frames_c[k_open], mouth_edges, row["open_mm"])
    below = below_neck(rest_c, lm_c)
    row["below_n"] = int(below.sum())
    row["below_mm"] = (float(np.linalg.norm(frames_c[:, below] - rest_c[below], axis=2).max())
                       if below.any() else None)
    bl = blinks(anim, b.rest, b.faces, b.landmarks)
    if bl.eyes:
        row["blink"] = open_and_crossed(bl, bl.now(1.0))
        row["eyes"] = len(bl.eyes)
    else:
        row["blink"] = None
        row["blink_note"] = " ".join(bl.lids.notes())
    row["canon"] = (rest_c, frames_c, lm_c)
    return row


def _labels(phones: list[Any], times: F64) -> list[str]:
    from blender_s2l.core.speech.phones import phone_at_times

    return phone_at_times(phones, times)


def import_head(path: Path) -> None:
    """Blender's own importer, the imported mesh renamed 'Head' (as a user would have it)."""
    import bpy

    if path.suffix.lower() == ".obj":
        bpy.ops.wm.obj_import(filepath=str(path))
    else:
        raise ValueError(f"no importer for {path.suffix}")
    obj = next(o for o in bpy.data.objects if o.type == "MESH")
    obj.name = "Head"
    obj.data.materials.clear()


def demo_head() -> None:
    import bpy

    from blender_s2l.blender import storage
    from blender_s2l.demo_head.make import make_demo_head

    head = make_demo_head(0)
    mesh = bpy.data.meshes.new("Head")
    mesh.from_pydata(head.vertices.astype(float).tolist(), [], [list(f) for f in head.faces])
    obj = bpy.data.objects.new("Head", mesh)
    bpy.context.scene.collection.objects.link(obj)
    storage.store_landmarks(obj, head.landmark_vertices)


def picture(rows: list[dict[str, Any]], out: Path, width: int = 200) -> None:
    """Rows of heads; columns rest, widest open vowel, /p/ (canonical front view)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from mesh_raster import facing_sign, render, save_figure

    fig, axes = plt.subplots(len(rows), 3, figsize=(3 * width / 80, len(rows) * width / 80 * 1.1))
    axes = np.atleast_2d(axes)
    for r, row in enumerate(rows):
        rest, frames, lm = row["canon"]
        tris = row["tris"]
        x0, x1 = lm[:, 0].min() - 25.0, lm[:, 0].max() + 25.0
        y0, y1 = lm[:, 1].min() - 20.0, lm[:, 1].max() + 30.0
        sign = facing_sign(rest, tris, lm)
        shots = (("rest", rest), (f"open vowel (+{row['open_mm']:.1f} mm)",
                                  frames[row["open_frame"]]),
                 (f"/p/ (gap {row['p_gap_mm']:.1f} mm)", frames[row["p_frame"]]))
        for c, (title, v) in enumerate(shots):
            ax = axes[r, c]
            ax.imshow(render(v, tris, (x0, x1, y0, y1), width, sign=sign))
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(title, fontsize=8)
            if c == 0:
                ax.set_ylabel(row["short"], fontsize=8)
    save_figure(fig, out, "arctic_a0009 with its phones, bundled weights, seed 0")


def _fmt(x: float | None, f: str = ".3f") -> str:
    return "-" if x is None else format(x, f)


def table(rows: list[dict[str, Any]], demo_open: float) -> list[str]:
    lines = [
        "| head | vertices after Cut Mouth | fused after Cut Mouth | sheet: edge stretch / "
        "opening | blink at weight 1: open / crossed | below the neck: vertices, largest "
        "motion | open vowel: opening, ratio to demo |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        blink = (f"{row['blink'][0]:.3f} / {row['blink'][1]:.3f} mm" if row["blink"] is not None
                 else f"no blink: {row['blink_note']}")
        below = (f"{row['below_n']}, {_fmt(row['below_mm'])} mm" if row["below_mm"] is not None
                 else "none (no neck)")
        lines.append(
            f"| {row['name']} | {row['vertices']} | {'yes' if row['fused'] else 'no'} "
            f"| {row['stretch']:.2f} | {blink} | {below} "
            f"| {row['open_mm']:.2f} mm, {row['open_mm'] / demo_open:.2f} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--heads", default=None, help="gallery folder (default: $BLENDER_S2L_GALLERY "
                    "or ../gallery_heads)")
    ap.add_argument("--out", default=str(ROOT / "reports" / "gallery.md"))
    ap.add_argument("--picture", default=str(ROOT / "reports" / "gallery.png"))
    args = ap.parse_args(argv)
    from blender_s2l.core.animate import Animator
    from blender_s2l.core.speech.phones import read_phones
    from blender_s2l.training.ict import shared_data_dir

    speech = shared_data_dir() / "speech"
    wav, lab = speech / f"{CLIP}.wav", speech / f"{CLIP}_phone.lab"
    if not wav.exists():
        print(f"needs {wav} (../shared/data)")
        return 2
    phones = read_phones(lab)
    anim = Animator.load("cpu")
    todo: list[tuple[str, str, Any, dict[int, int] | None]] = [
        ("demo head (ours)", "demo head", demo_head, None)]
    missing = []
    for h in HEADS:
        path = head_path(h, args.heads)
        if path.exists():
            todo.append((h.name, h.name.split(" (")[0], lambda p=path: import_head(p),
                         h.keypoints))
        else:
            missing.append(f"{h.name}: {path} absent")
    rows = []
    for name, short, build, kp in todo:
        with tempfile.TemporaryDirectory() as tmp:
            b = bake_head(name, wav, lab, Path(tmp), build, kp)
        row = measure(b, anim, phones)
        row["short"], row["tris"] = short, b.tris
        rows.append(row)
        print(name, {k: v for k, v in row.items() if k not in ("canon", "tris")}, flush=True)
    demo_open = rows[0]["open_mm"]
    lines = ["# A gallery of real heads", "",
             "Written by `scripts/gallery.py` (its docstring says how each number is read): "
             "arctic_a0009 (3.1 s, CMU ARCTIC) with its phones file, baked by `blender_s2l.batch` "
             "with `--keypoints` and `--cut-mouth`, bundled weights, seed 0; canonical-face mm "
             "(relative to face size).", "",
             *table(rows, demo_open), "", "Heads:", ""]
    lines += [f"- {h.name}: {h.source}; licence {h.licence}." for h in HEADS]
    lines += [f"- left out: {m}" for m in missing]
    lines += ["", "Notes of each bake:", ""]
    lines += [f"- {r['name']}: {r['notes'] or '(none)'}" for r in rows]
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    picture(rows, Path(args.picture))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
