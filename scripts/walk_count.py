"""Count the files a bake's inputs pass through, from the operator to the models and back.

    PYTHONPATH=. .venv/bin/python scripts/walk_count.py [--list]

Issue 16's yardstick for how far a newcomer must read to follow one bake. A bake runs in real
Blender (the bpy module, background mode, so the operator's synchronous path) on the demo head
with every bake option set to a value that occurs nowhere else (a sentinel), and every Python
call inside the package is traced. A call belongs to the walk when one of its arguments is such
a value, carries one as an attribute (a settings object, the operator, a job), or is one of the
bake's results on their way back (Motion, KeyPlan, TakeRecord). Each function counts once, at
its first call, in the order the bake first reaches it: that is the order a reader following
the inputs would open the code. The walk's length is the number of distinct files it enters;
its returns are the times it enters a file it had already left. `--options-only` follows the
bake options alone (the sentinels), not the snapshot of the mesh, sound and frame times.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bpy  # noqa: E402

PACKAGE = ROOT / "blender_s2l"
WEIGHTS_DIR = PACKAGE / "core" / "weights"
WEIGHTS = str(WEIGHTS_DIR) + "/"  # the bundled folder, spelled as nothing else spells it
RESULT_TYPES = ("Motion", "KeyPlan", "TakeRecord")
# Exact binary fractions, so a value copied through float32 or a Blender float property is the
# same number.
SENTINELS: dict[str, Any] = {
    "mouth_strength": 1.0625, "smoothing": 0.0625, "lip_closure": 0.9375,
    "closure_sensitivity": 0.5625, "seed": 4242,
}


def _demo_head() -> Any:
    for name in ("blender_s2l.demo_head.make", "blender_s2l.demo_head.make"):
        try:
            module = __import__(name, fromlist=["make_demo_head"])
            return module.make_demo_head(0)
        except ImportError:
            continue
    raise SystemExit("walk_count: no demo-head generator found")


def _scene(tmp: Path) -> tuple[str, str]:
    import soundfile as sf

    from blender_s2l.blender import storage

    bpy.ops.wm.read_homefile(use_empty=True)
    head = _demo_head()
    mesh = bpy.data.meshes.new("Head")
    mesh.from_pydata(head.vertices.astype(float).tolist(), [], [list(f) for f in head.faces])
    obj = bpy.data.objects.new("Head", mesh)
    bpy.context.scene.collection.objects.link(obj)
    storage.store_landmarks(obj, head.landmark_vertices)
    rate = 16000
    t = np.arange(2 * rate) / rate
    wav = tmp / "line.wav"
    sf.write(str(wav), (0.3 * np.sin(2 * np.pi * 180 * t)).astype(np.float32), rate)
    phones = tmp / "walk_sentinel_phones.lab"
    phones.write_text("0.0 0.5 sil\n0.5 0.7 m\n0.7 1.2 aa\n1.2 2.0 sil\n")
    scene = bpy.context.scene
    ed = scene.sequence_editor_create()
    ed.strips.new_sound("Voice", str(wav), 1, 1)
    return "Head", str(phones)


class Walk:
    def __init__(self, phones: str, follow_data: bool = True) -> None:
        self.follow_data = follow_data
        self.strings = {phones, "walkTake", WEIGHTS, "CPU", "cpu"}
        self.tracked: list[Any] = []  # the snapshot's arrays: followed by identity
        self.seen: set[Any] = set()
        self.order: list[tuple[str, str]] = []

    def _is_sentinel(self, value: Any) -> bool:
        if any(value is t for t in self.tracked):
            return True
        if isinstance(value, Path):
            value = str(value)
        if isinstance(value, str):
            return value in self.strings
        if isinstance(value, (float, int)) and not isinstance(value, bool):
            return any((value == s and type(s) is type(value)) or
                       (isinstance(s, float) and value == s) for s in SENTINELS.values())
        return False

    def _carries(self, value: Any) -> bool:
        if self._is_sentinel(value):
            return True
        if type(value).__name__ in RESULT_TYPES:
            return True
        if isinstance(value, (str, int, float, bool, bytes, type(None), np.ndarray)):
            return False
        for name in (*SENTINELS, "phones_file", "take"):
            try:
                inner = getattr(value, name, None)
            except Exception:
                continue
            if inner is not None and self._is_sentinel(inner):
                return True
        for name in ("params", "settings", "inputs", "options"):
            try:
                inner = getattr(value, name, None)
            except Exception:
                continue
            if inner is not None and inner is not value and self._carries_flat(inner):
                return True
        return False

    def _carries_flat(self, value: Any) -> bool:
        for name in (*SENTINELS, "phones_file", "take"):
            inner = getattr(value, name, None)
            if inner is not None and self._is_sentinel(inner):
                return True
        return False

    def _track(self, snapshot: Any) -> None:
        """The mesh, sound and timing a bake snapshots are its inputs too: follow them."""
        for holder in (snapshot, getattr(snapshot, "inputs", None)):
            if holder is None or not hasattr(holder, "__dict__"):
                continue
            for name, value in vars(holder).items():
                if isinstance(value, (np.ndarray, list)) and name != "params":
                    self.tracked.append(value)
            for path in (getattr(getattr(holder, "audio", None), "path", None),
                         getattr(holder, "audio_path", None)):
                if path is not None:
                    self.strings.add(str(path))

    def __call__(self, frame: FrameType, event: str, arg: Any) -> None:
        # The snapshot the bake takes of the scene (the mesh, the sound, the frame times).
        if event == "return" and self.follow_data and frame.f_code.co_name == "gather" \
                and Path(frame.f_code.co_filename).is_relative_to(PACKAGE):
            self._track(arg)
        if event != "call":
            return
        code = frame.f_code
        path = Path(code.co_filename)
        if not path.is_relative_to(PACKAGE) or code in self.seen:
            return
        names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
        values = [frame.f_locals.get(n) for n in names]
        if any(self._carries(v) for v in values):
            self.seen.add(code)
            self.order.append((str(path.relative_to(ROOT)), code.co_qualname))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--list", action="store_true", help="print every function in order")
    ap.add_argument("--options-only", action="store_true",
                    help="follow the bake options alone, not the mesh, sound and frame times")
    args = ap.parse_args()
    import blender_s2l

    blender_s2l.register()
    with tempfile.TemporaryDirectory() as tmp_name:
        obj, phones = _scene(Path(tmp_name))
        walk = Walk(phones, follow_data=not args.options_only)
        sys.setprofile(walk)
        try:
            result = bpy.ops.s2l.bake(
                object_name=obj, strip_name="Voice", take="walkTake", device="CPU",
                phones_file=phones, weights_dir=WEIGHTS, **SENTINELS,
            )
        finally:
            sys.setprofile(None)
    if result != {"FINISHED"}:
        raise SystemExit(f"walk_count: the bake did not finish: {result}")
    files: list[str] = []
    for path, _ in walk.order:
        if not files or files[-1] != path:
            files.append(path)
    distinct = list(dict.fromkeys(files))
    returns = len(files) - len(distinct)
    if args.list:
        for path, name in walk.order:
            print(f"  {path}: {name}")
    print("| files entered | returns to a file already left | functions |")
    print("|---|---|---|")
    print(f"| {len(distinct)} | {returns} | {len(walk.order)} |")
    print()
    for path in distinct:
        print(f"- {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
