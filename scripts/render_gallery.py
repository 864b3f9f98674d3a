#!/usr/bin/env python3
"""README pictures: one speech clip animating three different head meshes, plus a lip close-up.

    .venv/bin/python scripts/render_gallery.py --audio speech.wav \
        --out docs/images/three_heads.png [--weights DIR] [--frames 6]

Rows are meshes, all driven through the public API (`Animator.animate`) by the same clip:
  1. the demo head (landmark vertices known by construction),
  2. the demo head rebuilt at another resolution, triangulated, stretched non-uniformly, turned
     and with its vertex and face order shuffled; its 68 landmarks come from `fit_landmarks` on
     ten key points (the path a user's own head takes),
  3. the ICT FaceKit head with a random identity (recognised as a preset; only when
     ../shared/data is there, otherwise skipped with a note).
Columns are frames where the mouth is most open or most closed during speech, then the lip gap
over time measured on the mesh's own vertices (solid) against the landmark target (dashed).
Also writes demo_head_closeup.png beside --out: the demo head's mouth at rest, open and closed,
front and three-quarter view with the mesh edges, to judge the lip seam by eye.
Frames are drawn by scripts/mesh_raster.py (a numpy z-buffer, smooth Lambert shading) in the
canonical front view, so every mesh is seen the same way whatever its own scale and orientation;
surfaces seen from behind (the mouth's inside) are dark. Everything runs on the CPU in about a
minute for an 11 s clip; `--scale` trades resolution for time.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "scripts"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from mesh_raster import EYE, MOUTH, SKIN, TEETH, Box, facing_sign, render  # noqa: E402

from blender_s2l.core.animate import Animator, Motion  # noqa: E402
from blender_s2l.core.errors import S2LError  # noqa: E402
from blender_s2l.core.head.fitting import fit_landmarks  # noqa: E402
from blender_s2l.core.head.keypoints import OPTIONAL, REQUIRED  # noqa: E402
from blender_s2l.core.head.landmarks import Similarity, to_canonical  # noqa: E402
from blender_s2l.core.head.mesh import triangulate, unique_edges  # noqa: E402
from blender_s2l.core.speech.audio import load_audio  # noqa: E402
from blender_s2l.demo_head.make import make_demo_head  # noqa: E402

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
LIP_POINTS = (48, 54, 62, 66)  # mouth corners, inner-lip midpoints (iBUG)
# Render-only layers of the ICT head (semi-transparent in its own renderer): hidden here.
ICT_HIDDEN = ("eye_blend", "eye_occlusion", "lacrimal_fluid", "eyelashes")
SPEECH_REACH_S = 0.15  # a "closed" frame must have voice this close before and after it


@dataclass
class GalleryMesh:
    """One head to animate: neutral mesh, where its 68 landmarks come from, how to label it."""

    label: str
    vertices: F64
    faces: Any  # list of polygons or a padded (F, K) array
    landmarks68: NDArray[Any] | None  # indices, positions, or None for a preset
    lip_vertices: I64  # vertex ids of LIP_POINTS, to measure the lips on the mesh itself
    hidden: NDArray[np.bool_] | None = None  # vertices not drawn
    colours: F64 | None = None  # per-vertex base colour (skin, eyes, mouth inside, teeth)


@dataclass
class Animated:
    mesh: GalleryMesh
    motion: Motion
    to_view: Similarity  # mesh space -> canonical mm (front view)
    gap_mesh: F64  # (T,) lip gap of the mesh's own vertices / rest mouth width
    gap_target: F64  # (T,) the same from the predicted landmarks
    seconds: float


# --- the meshes ---------------------------------------------------------------------------------


def part_colours(n_vertices: int, parts: dict[str, NDArray[Any]]) -> F64:
    """Skin everywhere, eyes white, mouth inside dark red, teeth ivory (by part name)."""
    out = np.tile(SKIN, (n_vertices, 1))
    for name, idx in parts.items():
        if name.startswith(("eye_left", "eye_right", "eyeball")):
            out[idx] = EYE
        elif name.startswith(("mouth", "gums")):
            out[idx] = MOUTH
        elif name == "teeth":
            out[idx] = TEETH
    return out


def demo_mesh(target_vertices: int) -> GalleryMesh:
    head = make_demo_head(target_vertices=target_vertices)
    lm = head.landmark_vertices
    return GalleryMesh(
        f"demo head\n{len(head.vertices):,} vertices, quads\nlandmarks known\nby construction",
        head.vertices.astype(np.float64), head.faces, lm.copy(), lm[list(LIP_POINTS)].copy(),
        colours=part_colours(len(head.vertices), head.parts),
    )


def remeshed_mesh(target_vertices: int, seed: int) -> GalleryMesh:
    """Another topology of a differently proportioned head; landmarks fitted from key points."""
    head = make_demo_head(target_vertices=target_vertices)
    rng = np.random.default_rng(seed)
    tris = triangulate(head.faces)
    # Non-uniform stretch (object space: x across, -y forward, z up), then a turn and new units.
    verts = head.vertices.astype(np.float64) * np.array([1.12, 0.92, 1.10])
    a = np.deg2rad(25.0)
    turn = np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])
    verts = 100.0 * verts @ turn.T + np.array([3.0, -2.0, 150.0])  # centimetres, off-centre
    order = rng.permutation(len(verts))  # new vertex i is old vertex order[i]
    new_id = np.empty_like(order)
    new_id[order] = np.arange(len(order))
    tris = new_id[tris][rng.permutation(len(tris))]
    verts = verts[order]
    old_lm = head.landmark_vertices
    keypoints = {k: int(new_id[old_lm[k]]) for k in (*REQUIRED, *OPTIONAL)}
    fitted = fit_landmarks(verts, tris, keypoints)
    true = verts[new_id[old_lm]]  # the landmark vertices the generator built
    miss = np.linalg.norm(fitted - true, axis=1).mean() * to_canonical(true).scale
    return GalleryMesh(
        f"re-topologised demo head\n{len(verts):,} vertices, triangles,\nshuffled, stretched, "
        f"turned\nlandmarks fitted from\n{len(keypoints)} key points\n"
        f"(mean miss {miss:.1f} mm)",
        verts, tris, fitted, np.array([keypoints[k] for k in LIP_POINTS], dtype=np.int64),
        colours=part_colours(len(verts), {k: new_id[v] for k, v in head.parts.items()}),
    )


def ict_mesh(identity_seed: int) -> GalleryMesh | None:
    """ICT FaceKit neutral with a random identity, or None (with a note) without ../shared."""
    from blender_s2l.training.ict import ict_path, load_ict

    if not ict_path().is_file():
        print(f"note: no ICT FaceKit pack at {ict_path()}; the ICT row is skipped")
        return None
    from blender_s2l.core.head.presets import match_preset
    from blender_s2l.training.corpus.identity import sample_identity

    ict = load_ict()
    verts = ict.identity(sample_identity(ict, np.random.default_rng(identity_seed)))
    preset = match_preset(verts, ict.faces)
    if preset is None:
        raise S2LError("The ICT identity was not recognised as the ICT preset.")
    hidden = np.zeros(len(verts), dtype=bool)
    parts = {}
    for name in ict.region_names:
        idx = np.arange(len(verts))[ict.region(name)]
        parts[name] = idx
        if name.startswith(ICT_HIDDEN):
            hidden[idx] = True
    return GalleryMesh(
        f"ICT FaceKit head\nrandom identity #{identity_seed}\n{len(verts):,} vertices, "
        "quads + tris\nlandmarks from the\nICT preset",
        verts.astype(np.float64), ict.faces, None,
        preset.landmark_vertices[list(LIP_POINTS)].copy(), hidden,
        part_colours(len(verts), parts),
    )


# --- animation and frame choice -----------------------------------------------------------------


def lip_gap(points: F64, rest: F64) -> F64:
    """|62 - 66| over the rest mouth width |48 - 54|; points are (T, 4, 3) in LIP_POINTS order."""
    width = float(np.linalg.norm(rest[1] - rest[0]))
    return np.asarray(np.linalg.norm(points[:, 2] - points[:, 3], axis=-1) / width)


def neutral_landmarks(mesh: GalleryMesh) -> F64:
    """The mesh's 68 rest landmarks, found the same way `animate` finds them."""
    from blender_s2l.core.head.head_mesh import resolve_landmarks

    return resolve_landmarks(mesh.vertices, mesh.faces, mesh.landmarks68)[0].astype(np.float64)


def animate(anim: Animator, audio: Path, mesh: GalleryMesh, fps: float, seed: int) -> Animated:
    start = time.perf_counter()
    mo = anim.animate(audio, mesh.vertices, mesh.faces, landmarks68=mesh.landmarks68, fps=fps,
                      seed=seed)
    seconds = time.perf_counter() - start
    rest = mesh.vertices[mesh.lip_vertices]
    moved = rest[None] + np.einsum("tj,jvc->tvc", mo.codes, mo.basis[:, mesh.lip_vertices])
    lm_rest = neutral_landmarks(mesh)
    return Animated(
        mesh=mesh,
        motion=mo,
        to_view=to_canonical(lm_rest),
        gap_mesh=lip_gap(moved, rest),
        gap_target=lip_gap(mo.landmarks[:, list(LIP_POINTS)].astype(np.float64),
                           lm_rest[list(LIP_POINTS)]),
        seconds=seconds,
    )


def speaking_frames(wav: NDArray[np.float32], times: F64, sr: int = 16_000) -> NDArray[np.bool_]:
    """Frames with voice within SPEECH_REACH_S both before and after (pauses are not "closed")."""
    hop = sr // 100
    n = max(1, len(wav) // hop)
    rms = np.sqrt(np.mean(wav[: n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1))
    voiced = (np.nonzero(rms > 0.1 * np.percentile(rms, 95))[0] + 0.5) / 100.0
    if len(voiced) == 0:
        return np.ones(len(times), dtype=bool)
    i = np.searchsorted(voiced, times)
    before = (i > 0) & (times - voiced[np.maximum(i - 1, 0)] <= SPEECH_REACH_S)
    after = (i < len(voiced)) & (voiced[np.minimum(i, len(voiced) - 1)] - times <= SPEECH_REACH_S)
    return np.asarray(before & after)


def pick_frames(
    gap: F64, speaking: NDArray[np.bool_], n: int, min_sep: int
) -> list[tuple[int, str]]:
    """About half the most open and half the most closed speech frames, min_sep apart, in order."""
    pool = np.nonzero(speaking)[0] if speaking.any() else np.arange(len(gap))
    picked: list[tuple[int, str]] = []

    def take(order: I64, k: int, label: str) -> None:
        got = 0
        for f in order.tolist():
            if got == k:
                break
            if all(abs(f - g) >= min_sep for g, _ in picked):
                picked.append((int(f), label))
                got += 1

    take(pool[np.argsort(-gap[pool], kind="stable")], (n + 1) // 2, "open")
    take(pool[np.argsort(gap[pool], kind="stable")], n - len(picked), "closed")
    return sorted(picked)


# --- drawing ------------------------------------------------------------------------------------

def turn(yaw_deg: float, pitch_deg: float) -> F64:
    """View rotation: yaw about +Y (positive shows the subject's right cheek), then pitch."""
    a, b = np.deg2rad(yaw_deg), np.deg2rad(pitch_deg)
    yaw = np.array([[np.cos(a), 0.0, np.sin(a)], [0.0, 1.0, 0.0], [-np.sin(a), 0.0, np.cos(a)]])
    pitch = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(b), -np.sin(b)], [0.0, np.sin(b), np.cos(b)]])
    out: F64 = pitch @ yaw
    return out


def show(ax: Any, img: NDArray[np.float64], box: Box) -> None:
    ax.imshow(img, extent=box, interpolation="antialiased")
    ax.set_axis_off()


def _tris(mesh: GalleryMesh) -> I64:
    tris = triangulate(mesh.faces)
    if mesh.hidden is not None:
        tris = tris[~mesh.hidden[tris].any(axis=1)]
    return tris


def _frame_verts(a: Animated, frame: int | None) -> F64:
    """Mesh vertices at a frame (None = rest), in the canonical front view (mm)."""
    v = a.mesh.vertices
    if frame is not None:
        v = v + a.motion.dense_frame(frame).astype(np.float64)
    return a.to_view.apply(v).astype(np.float64)


FACE_BOX: Box = (-84.0, 84.0, -126.0, 44.0)
TILE_PX, CLOSEUP_PX = 280, 420


def draw_gallery(out: Path, results: list[Animated], picks: list[tuple[int, str]],
                 title: str, scale: float = 1.0) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_img = 1 + len(picks)
    widths = [1.25] + [1.0] * n_img + [0.12, 2.3]
    fig = plt.figure(figsize=(1.75 * sum(widths), 1.95 * len(results) + 1.0))
    grid = fig.add_gridspec(len(results), len(widths), width_ratios=widths, wspace=0.03,
                            hspace=0.12, left=0.005, right=0.955, top=0.9, bottom=0.16)
    times = results[0].motion.frame_times
    ymax = 1.08 * max(max(r.gap_mesh.max(), r.gap_target.max()) for r in results)
    ymax = max(ymax, 1e-3)
    for row, r in enumerate(results):
        tris = _tris(r.mesh)
        rest = _frame_verts(r, None)
        lm_view = r.to_view.apply(neutral_landmarks(r.mesh)).astype(np.float64)
        sign = facing_sign(rest, tris, lm_view)
        label_ax = fig.add_subplot(grid[row, 0])
        label_ax.set_axis_off()
        label_ax.text(0.0, 0.5, r.mesh.label, fontsize=7.5, va="center", ha="left",
                      transform=label_ax.transAxes)
        for col, (frame, what) in enumerate([(None, "rest"), *picks]):
            ax = fig.add_subplot(grid[row, 1 + col])
            v = rest if frame is None else _frame_verts(r, frame)
            img = render(v, tris, FACE_BOX, round(TILE_PX * scale), sign=sign,
                         colours=r.mesh.colours)
            show(ax, img, FACE_BOX)
            if row == 0:
                head = what if frame is None else f"{what}\nt = {times[frame]:.2f} s"
                ax.set_title(head, fontsize=8.5)
        ax = fig.add_subplot(grid[row, -1])
        if row > 0:
            ax.plot(times, results[0].gap_mesh, color="0.75", lw=0.8, label="demo head (row 1)")
        ax.plot(times, r.gap_mesh, color="tab:red", lw=1.1, label="this mesh (vertices)")
        ax.plot(times, r.gap_target, color="tab:blue", lw=0.9, ls="--",
                label="landmark target")
        for frame, what in picks:
            ax.axvline(times[frame], color="tab:green" if what == "open" else "0.3", lw=0.6,
                       ls=":")
        corr = _corr(r.gap_mesh, r.gap_target)
        ax.text(0.99, 0.95, f"corr(mesh, target) {corr:.2f}", transform=ax.transAxes,
                fontsize=7, ha="right", va="top")
        ax.set_ylim(0.0, ymax)
        ax.set_xlim(times[0], times[-1])
        ax.tick_params(labelsize=7)
        ax.yaxis.tick_right()
        ax.yaxis.set_label_position("right")
        ax.set_ylabel("lip gap / mouth width", fontsize=7.5)
        if row == 0:
            ax.set_title("lip gap over time", fontsize=8.5)
        if row == len(results) - 1:
            ax.set_xlabel("time (s)", fontsize=7.5)
            ax.legend(fontsize=6.5, loc="upper center", bbox_to_anchor=(0.5, -0.26), ncol=2,
                      frameon=False)
        else:
            ax.set_xticklabels([])
    fig.suptitle(title, fontsize=10)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def _corr(a: F64, b: F64) -> float:
    if a.std() < 1e-12 or b.std() < 1e-12:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def lip_region_edges(a: Animated, reach_mm: float = 25.0) -> I64:
    """Edges whose ends both lie within reach_mm of a mouth landmark at rest."""
    rest = _frame_verts(a, None)
    mouth = a.to_view.apply(neutral_landmarks(a.mesh)[48:68]).astype(np.float64)
    near = np.min(np.linalg.norm(rest[:, None] - mouth[None], axis=2), axis=1) < reach_mm
    e = unique_edges(a.mesh.faces)
    out: I64 = e[near[e].all(axis=1)]
    return out


def clip_stretch(a: Animated) -> float:
    """Largest lip-region edge stretch over the whole clip (mesh space; ratios are unitless)."""
    edges = lip_region_edges(a)
    used, local = np.unique(edges, return_inverse=True)
    rest = a.mesh.vertices[used]
    moved = rest[None] + np.einsum("tj,jvc->tvc", a.motion.codes, a.motion.basis[:, used])
    e = local.reshape(-1, 2)
    r = np.linalg.norm(rest[e[:, 0]] - rest[e[:, 1]], axis=-1)
    m = np.linalg.norm(moved[:, e[:, 0]] - moved[:, e[:, 1]], axis=-1)
    return float((m / np.maximum(r, 1e-12)).max())


def max_stretch(rest: F64, moved: F64, edges: I64) -> float:
    """Largest deformed/rest edge length ratio (a tear shows as a large ratio)."""
    r = np.linalg.norm(rest[edges[:, 0]] - rest[edges[:, 1]], axis=1)
    m = np.linalg.norm(moved[edges[:, 0]] - moved[edges[:, 1]], axis=1)
    return float((m / np.maximum(r, 1e-9)).max())


def draw_closeup(out: Path, a: Animated, frames: list[tuple[int | None, str]],
                 scale: float = 1.0) -> None:
    """Mouth close-ups with edges, front and three-quarter, with measured gap and stretch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tris = _tris(a.mesh)
    edges = lip_region_edges(a)
    lm = a.to_view.apply(neutral_landmarks(a.mesh)).astype(np.float64)
    rest = _frame_verts(a, None)
    views = (("front", turn(0.0, 0.0)), ("three-quarter", turn(35.0, 10.0)))
    fig, axes = plt.subplots(len(views), len(frames), figsize=(3.1 * len(frames), 5.4),
                             squeeze=False)
    lip = a.mesh.lip_vertices
    for col, (frame, what) in enumerate(frames):
        v = _frame_verts(a, frame)
        gap = float(np.linalg.norm(v[lip[2]] - v[lip[3]]))
        head = what if frame is None else f"{what}, t = {a.motion.frame_times[frame]:.2f} s"
        head += f"\ninner-lip gap {gap:.1f} mm"
        if frame is not None:
            head += f", lip edges stretch <= {max_stretch(rest, v, edges):.2f}x"
        for row, (name, rot) in enumerate(views):
            mouth = lm[48:68] @ rot.T
            x0, y0 = mouth[:, :2].min(axis=0) - 12.0
            x1, y1 = mouth[:, :2].max(axis=0) + 12.0
            sign = facing_sign(rest @ rot.T, tris, lm @ rot.T)
            ax = axes[row, col]
            box = (float(x0), float(x1), float(y0), float(y1))
            show(ax, render(v @ rot.T, tris, box, round(CLOSEUP_PX * scale), sign=sign,
                                  colours=a.mesh.colours, edges=True), box)
            ax.set_title(f"{head}\n({name})" if row == 0 else f"({name})", fontsize=8)
    fig.suptitle(f"Lip seam close-up: {a.mesh.label.splitlines()[0]}, "
                 f"{len(a.mesh.vertices):,} vertices (mm, canonical view)", fontsize=9.5)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


# --- command line -------------------------------------------------------------------------------


def weights_note(folder: Path | None) -> str:
    from blender_s2l.core.models.load import weights_path
    from blender_s2l.core.models.npz_weights import load_npz

    meta = load_npz(weights_path("s2d", folder), "s2d").metadata
    return "RANDOM (untrained) weights" if meta.get("random") else "trained weights"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--audio", type=Path, required=True, help="speech clip (wav, flac, ...)")
    ap.add_argument("--out", type=Path, default=Path("docs/images/three_heads.png"))
    ap.add_argument("--closeup", type=Path, default=None,
                    help="default: demo_head_closeup.png beside --out")
    ap.add_argument("--weights", type=Path, default=None, help="default: the bundled weights")
    ap.add_argument("--frames", type=int, default=6, help="frame columns (open / closed)")
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=0, help="upper-face seed and remesh shuffle")
    ap.add_argument("--identity-seed", type=int, default=7, help="random ICT identity")
    ap.add_argument("--demo-vertices", type=int, default=11_000)
    ap.add_argument("--remesh-vertices", type=int, default=5_000)
    ap.add_argument("--skip-ict", action="store_true", help="leave out the ICT FaceKit row")
    ap.add_argument("--scale", type=float, default=1.0, help="image resolution factor")
    ap.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = ap.parse_args(argv)
    if args.frames < 1:
        ap.error("--frames must be at least 1")
    if not 0.1 <= args.scale <= 4.0:
        ap.error("--scale must be between 0.1 and 4")
    import torch

    torch.set_num_threads(max(1, args.threads))
    closeup = args.closeup or args.out.with_name("demo_head_closeup.png")
    try:
        wav = load_audio(args.audio)
        anim = Animator.load(device=args.device, weights_dir=args.weights)
        note = weights_note(args.weights)
        meshes = [demo_mesh(args.demo_vertices), remeshed_mesh(args.remesh_vertices, args.seed)]
        ict = None if args.skip_ict else ict_mesh(args.identity_seed)
        if ict is not None:
            meshes.append(ict)
        results = []
        for mesh in meshes:
            r = animate(anim, args.audio, mesh, args.fps, args.seed)
            results.append(r)
            name = mesh.label.splitlines()[0]
            print(f"{name}: {len(mesh.vertices)} vertices, landmarks {r.motion.landmark_source},"
                  f" animate {r.seconds:.2f} s, max gap mesh {r.gap_mesh.max():.3f} / target "
                  f"{r.gap_target.max():.3f}, corr {_corr(r.gap_mesh, r.gap_target):.3f}, "
                  f"lip edges stretch <= {clip_stretch(r):.2f}x")
    except S2LError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    times = results[0].motion.frame_times
    speaking = speaking_frames(wav, times)
    picks = pick_frames(results[0].gap_target, speaking, args.frames,
                        max(1, round(0.2 * args.fps)))
    print("frames: " + ", ".join(f"{times[f]:.2f} s {w}" for f, w in picks))
    title = (f"One clip ({args.audio.name}, {times[-1]:.1f} s) through Animator.animate on "
             f"{len(results)} different meshes, {note}")
    draw_gallery(args.out, results, picks, title, args.scale)
    opened = [f for f, w in picks if w == "open"]
    closed = [f for f, w in picks if w == "closed"]
    frames: list[tuple[int | None, str]] = [(None, "rest")]
    if opened:
        frames.append((max(opened, key=lambda f: results[0].gap_mesh[f]), "most open"))
    if closed:
        frames.append((min(closed, key=lambda f: results[0].gap_mesh[f]), "most closed"))
    draw_closeup(closeup, results[0], frames, args.scale)
    print(f"wrote {args.out} and {closeup}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
