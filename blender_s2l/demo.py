"""The demo: a spoken sentence baked onto the project's own head through the batch path.

    python -m blender_s2l.demo --out out

Writes out/demo.wav (flite or espeak-ng; never committed), out/demo_scene.blend (head + no
animation), out/demo.blend (the baked result, written by `batch.run_job`) and out/demo.png:
rendered frames of the face over time above the lip-gap curve g(t) (training/metrics.py) measured on
the evaluated mesh. Frames are rendered with Workbench, else Cycles on the CPU, else drawn
with matplotlib from the evaluated meshes (the PNG says which).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .core.errors import S2LError

SENTENCE = "Bob may pick a bright apple, then we will open the big window."
N_TILES = 8
LIP_TOP, LIP_BOTTOM, MOUTH_LEFT, MOUTH_RIGHT = 62, 66, 48, 54


def speak(text: str, wav: Path) -> str:
    """Render text with a Debian TTS engine; returns the engine used."""
    wav.parent.mkdir(parents=True, exist_ok=True)
    if shutil.which("flite"):
        subprocess.run(["flite", "-t", text, "-o", str(wav)], check=True)
        return "flite"
    if shutil.which("espeak-ng"):
        subprocess.run(["espeak-ng", "-w", str(wav), text], check=True)
        return "espeak-ng"
    raise S2LError("Neither flite nor espeak-ng is installed; run scripts/setup.sh first.")


def add_demo_head(name: str = "Head", subdivisions: int = 0) -> Any:
    """The demo head as a mesh object in the current scene, its landmarks stored: the scene of
    the demo, the batch and farm tests and the benchmarks."""
    import bpy

    from .blender.storage import store_landmarks
    from .demo_head.make import make_demo_head

    head = make_demo_head(subdivisions)
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(head.vertices.astype(np.float64).tolist(), [], [list(f) for f in head.faces])
    obj = bpy.data.objects.new(name, mesh)
    scene: Any = bpy.context.scene
    scene.collection.objects.link(obj)
    store_landmarks(obj, head.landmark_vertices)
    return obj


def build_scene(path: Path, subdivisions: int) -> None:
    """A fresh file with the demo head (landmarks stored), a camera and a light."""
    import bpy

    from .blender.storage import stored_landmarks

    bpy.ops.wm.read_homefile(use_empty=True)
    obj = add_demo_head("DemoHead", subdivisions)
    obj.data.shade_smooth()
    scene: Any = bpy.context.scene
    co = np.zeros(len(obj.data.vertices) * 3)
    obj.data.vertices.foreach_get("co", co)
    lm = co.reshape(-1, 3)[np.asarray(stored_landmarks(obj), dtype=np.int64)]
    mouth = lm[48:68].mean(0)
    cam_data = bpy.data.cameras.new("Camera")
    cam_data.lens = 85
    cam: Any = bpy.data.objects.new("Camera", cam_data)
    cam.location = (float(mouth[0]), float(mouth[1]) - 0.42, float(mouth[2]) + 0.03)
    cam.rotation_euler = (np.pi / 2, 0.0, 0.0)
    scene.collection.objects.link(cam)
    scene.camera = cam
    light = bpy.data.objects.new("Key", bpy.data.lights.new("Key", "SUN"))
    light.rotation_euler = (0.9, 0.2, -0.4)
    scene.collection.objects.link(light)
    scene.render.fps, scene.render.fps_base = 30, 1.0
    scene.render.resolution_x = scene.render.resolution_y = 200
    bpy.ops.wm.save_as_mainfile(filepath=str(path))


def lip_gap(obj: Any, frames: NDArray[np.int64], landmarks: NDArray[np.int64]) -> NDArray[Any]:
    """g(t): inner-lip distance over the mouth width at rest, on the evaluated mesh."""
    import bpy

    scene: Any = bpy.context.scene
    rest = np.zeros(len(obj.data.vertices) * 3)
    obj.data.vertices.foreach_get("co", rest)
    rest = rest.reshape(-1, 3)
    width = np.linalg.norm(rest[landmarks[MOUTH_LEFT]] - rest[landmarks[MOUTH_RIGHT]])
    out = []
    for f in frames:
        scene.frame_set(int(f))
        ev = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
        m = ev.to_mesh()
        a, b = m.vertices[int(landmarks[LIP_TOP])].co, m.vertices[int(landmarks[LIP_BOTTOM])].co
        out.append((a - b).length / width)
        ev.to_mesh_clear()
    return np.asarray(out)


def render_frames(frames: list[int], folder: Path) -> tuple[list[Path], str]:
    """Render each frame to a PNG; returns the files and how they were made."""
    import bpy

    scene: Any = bpy.context.scene
    for engine in ("BLENDER_WORKBENCH", "CYCLES"):
        try:
            scene.render.engine = engine
            if engine == "CYCLES":
                scene.cycles.device, scene.cycles.samples = "CPU", 8
            files = []
            for f in frames:
                scene.frame_set(f)
                scene.render.filepath = str(folder / f"frame_{f:05d}.png")
                bpy.ops.render.render(write_still=True)
                files.append(Path(scene.render.filepath))
            return files, engine.replace("BLENDER_", "").title()
        except Exception as exc:  # headless machines without GPU or Cycles
            print(f"demo: {engine} rendering failed ({exc}); trying the next way", flush=True)
    return [], "matplotlib"


def draw_png(out: Path, tiles: list[Any], labels: list[str], times: NDArray[Any],
             gap: NDArray[Any], how: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(2 * len(tiles), 5.2))
    for i, (tile, label) in enumerate(zip(tiles, labels, strict=True)):
        ax = fig.add_subplot(2, len(tiles), i + 1)
        ax.imshow(tile)
        ax.set_title(label, fontsize=9)
        ax.axis("off")
    ax = fig.add_subplot(2, 1, 2)
    ax.plot(times, gap, color="tab:red")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("lip gap / mouth width")
    ax.set_title(f"Lip gap on the evaluated mesh (frames: {how})", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def mesh_tiles(obj: Any, frames: list[int]) -> list[Any]:
    """Fallback pictures: front views of the evaluated mouth region drawn with matplotlib."""
    import bpy
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scene: Any = bpy.context.scene
    tiles = []
    for f in frames:
        scene.frame_set(f)
        ev = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
        m = ev.to_mesh()
        co = np.zeros(len(m.vertices) * 3)
        m.vertices.foreach_get("co", co)
        ev.to_mesh_clear()
        co = co.reshape(-1, 3)
        fig = plt.figure(figsize=(2, 2), dpi=80)
        ax = fig.add_axes((0, 0, 1, 1))
        front = co[:, 1] < np.percentile(co[:, 1], 40)
        ax.scatter(co[front, 0], co[front, 2], s=0.2, c=co[front, 1], cmap="gray")
        ax.set_aspect("equal")
        ax.axis("off")
        canvas: Any = fig.canvas
        canvas.draw()
        tiles.append(np.asarray(canvas.buffer_rgba()))
        plt.close(fig)
    return tiles


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="blender_s2l.demo", description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("out"))
    ap.add_argument("--text", default=SENTENCE)
    ap.add_argument("--subdivisions", type=int, default=1, help="demo head size 0-3")
    ap.add_argument("--mode", default="COMPACT", choices=["COMPACT", "PER_FRAME"])
    ap.add_argument("--weights", default="", help="model folder (default: bundled weights)")
    ap.add_argument("--no-render", action="store_true", help="draw with matplotlib only")
    args = ap.parse_args(argv)

    import bpy

    from . import batch
    from .blender.storage import stored_landmarks

    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    try:
        engine = speak(args.text, out / "demo.wav")
        build_scene(out / "demo_scene.blend", args.subdivisions)
        job = batch.Job(
            object="DemoHead", out=str(out / "demo.blend"),
            scene_file=str(out / "demo_scene.blend"), audio=str(out / "demo.wav"), take="demo",
            mode=args.mode, weights_dir=args.weights, frame_start=1,
        )
        summary = batch.run_job(job)
    except S2LError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    print(f"demo: voice by {engine}; baked {summary} in {time.perf_counter() - t0:.1f} s")

    bpy.ops.wm.open_mainfile(filepath=str(out / "demo.blend"))
    scene: Any = bpy.context.scene
    obj = bpy.data.objects["DemoHead"]
    strip = scene.sequence_editor.strips["demo"]
    frames = np.arange(strip.frame_final_start, strip.frame_final_end)
    landmarks = stored_landmarks(obj)
    assert landmarks is not None
    gap = lip_gap(obj, frames, landmarks)
    fps = scene.render.fps / scene.render.fps_base
    picks = [int(f) for f in np.linspace(frames[0], frames[-1], N_TILES).round()]
    files, how = ([], "matplotlib") if args.no_render else render_frames(picks, out / "frames")
    if files:
        import matplotlib.image as mpimg

        tiles = [mpimg.imread(str(p)) for p in files]
    else:
        tiles = mesh_tiles(obj, picks)
    labels = [f"{(f - frames[0]) / fps:.2f} s" for f in picks]
    draw_png(out / "demo.png", tiles, labels, (frames - frames[0]) / fps, gap, how)
    print(f"demo: wrote {out / 'demo.blend'} and {out / 'demo.png'} (frames by {how}); "
          f"lip gap mean {gap.mean():.3f}, max {gap.max():.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
