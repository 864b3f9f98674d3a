"""Build the Blender extension zip(s) with Blender's own extension builder.

    python build.py --audio                 # one zip per platform and Python 3.11/3.13: all a
                                            # CPU bake needs (numpy runtime, no torch)
    python build.py --lean                  # dist/blender_s2l-<ver>.zip, no wheels: scipy and
                                            # soundfile must be importable by Blender's Python
    python build.py --torch cuda --audio --platforms linux-x64 --python 3.11   # + CUDA device

Steps: stage the package (without training/, .pt checkpoints, tests and caches) + manifest into
build/stage, optionally `pip download` wheels into wheels/<platform>-py<ver>/ and list them in the
staged manifest, then run `blender_ext.py build` (with --split-platforms when wheels are bundled)
and `blender_ext.py validate` on every zip. The builder ships inside the bpy wheel and runs under
plain Python, so no Blender binary is needed. The lean build never touches the network.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent
PACKAGE = ROOT / "blender_s2l"
MANIFEST = ROOT / "blender_manifest.toml"
EXCLUDE_DIRS = {"training", "demo_head", "demo.py", "__pycache__", ".mypy_cache", ".pytest_cache",
                ".ruff_cache"}
TOP_LEVEL_ONLY = {"training", "demo_head"}  # the package's own folders, not same-named ones below
# .pt checkpoints are training files (every bake reads .npz): one left in the package by a
# training run must not ship.
EXCLUDE_SUFFIXES = {".pyc", ".pyo", ".pt"}
TORCH_VERSION = "2.13.0"
TORCH_INDEX = {
    "cpu": "https://download.pytorch.org/whl/cpu",
    "cuda": "https://download.pytorch.org/whl/cu128",
}
# Blender bundles numpy: wheels must never bring their own copy.
NEVER_BUNDLE = re.compile(r"^numpy-", re.IGNORECASE)
# The audio stack the core uses at run time (librosa is training-only; Blender has `aud`), and
# pocketsphinx (with its US-English model, ~29 MB) for Transcript and Recognise Words.
AUDIO_PACKAGES = ["scipy", "soundfile", "cffi", "pycparser", "soxr", "pocketsphinx==5.1.1"]


@dataclass(frozen=True)
class Platform:
    blender: str  # Blender's platform name in the manifest
    pip: tuple[str, ...]  # pip --platform tags, most specific first


PLATFORMS = {
    "linux-x64": Platform("linux-x64", ("manylinux_2_28_x86_64", "manylinux2014_x86_64")),
    "windows-x64": Platform("windows-x64", ("win_amd64",)),
    "macos-arm64": Platform("macos-arm64", ("macosx_14_0_arm64", "macosx_11_0_arm64")),
}
PYTHONS = ("3.11", "3.13")  # Blender 5.0 ships Python 3.11, 5.1 and later 3.13


def blender_ext_path() -> Path:
    """The extension CLI inside the installed bpy wheel (found without importing bpy)."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("build: the bpy module is not installed; pass --blender-ext PATH.")
    for base in spec.submodule_search_locations:
        hits = sorted(Path(base).glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
        if hits:
            return hits[-1]
    raise SystemExit("build: blender_ext.py not found inside the bpy module.")


def stage(dest: Path) -> None:
    """Copy the runtime package + manifest; training code and checkpoints, tests and caches stay
    out."""
    if dest.exists():
        shutil.rmtree(dest)

    def ignore(folder: str, entries: list[str]) -> set[str]:
        rel = Path(folder).relative_to(PACKAGE)
        skipped = {e for e in entries
                   if e in EXCLUDE_DIRS and (e not in TOP_LEVEL_ONLY or rel == Path())}
        return skipped | {e for e in entries if Path(e).suffix in EXCLUDE_SUFFIXES}

    shutil.copytree(PACKAGE, dest, ignore=ignore)
    shutil.copy2(MANIFEST, dest / "blender_manifest.toml")


def download_wheels(torch: str | None, audio: bool, plat: Platform, py: str, out: Path) -> None:
    """pip download binary wheels for one platform/Python into `out` (dependencies resolved)."""
    out.mkdir(parents=True, exist_ok=True)
    base = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--dest", str(out),
            "--python-version", py, "--implementation", "cp"]
    for tag in plat.pip:
        base += ["--platform", tag]
    if torch:
        # macOS has no CUDA: a "cuda" bundle gets the CPU/Metal build there.
        index = TORCH_INDEX["cpu" if plat.blender.startswith("macos") else torch]
        cmd = [*base, f"torch=={TORCH_VERSION}", "--extra-index-url", index]
        subprocess.run(cmd, check=True)
    if audio:
        subprocess.run([*base, "--no-deps", *AUDIO_PACKAGES], check=True)
    for whl in out.glob("*.whl"):
        if NEVER_BUNDLE.match(whl.name):
            whl.unlink()


def add_wheels_to_manifest(staged: Path, wheels: list[Path], platforms: list[str]) -> None:
    """Copy wheels into the stage and list them (and the platforms) in its manifest."""
    wheel_dir = staged / "wheels"
    wheel_dir.mkdir(exist_ok=True)
    names = []
    for whl in wheels:
        if not (wheel_dir / whl.name).exists():
            shutil.copy2(whl, wheel_dir / whl.name)
            names.append(whl.name)
    text = (staged / "blender_manifest.toml").read_text()
    lines = ",\n".join(f'  "./wheels/{n}"' for n in sorted(names))
    plats = ", ".join(f'"{p}"' for p in platforms)
    extra = f"\nplatforms = [{plats}]\n\nwheels = [\n{lines},\n]\n"
    head, sep, tail = text.partition("\n[permissions]")
    (staged / "blender_manifest.toml").write_text(head + extra + sep + tail)


def run_builder(cli: Path, staged: Path, out: Path, split: bool) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    before = set(out.glob("*.zip"))
    cmd = [sys.executable, str(cli), "build", "--source-dir", str(staged), "--output-dir", str(out)]
    if split:
        cmd.append("--split-platforms")
    subprocess.run(cmd, check=True)
    built = sorted(set(out.glob("*.zip")) - before) or sorted(out.glob("*.zip"))
    for zp in built:
        subprocess.run([sys.executable, str(cli), "validate", str(zp)], check=True)
    return built


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--lean", action="store_true",
                    help="no wheels: use the scipy/soundfile (and torch) Blender's Python has")
    ap.add_argument("--torch", choices=sorted(TORCH_INDEX),
                    help="bundle torch: only the CUDA device needs it (CPU runs numpy)")
    ap.add_argument("--audio", action="store_true",
                    help="bundle scipy, soundfile, soxr, pocketsphinx")
    ap.add_argument("--platforms", default=",".join(PLATFORMS), help="comma-separated")
    ap.add_argument("--python", default=",".join(PYTHONS), help="Python versions, comma-separated")
    ap.add_argument("--out", type=Path, default=ROOT / "dist")
    ap.add_argument("--blender-ext", type=Path, default=None, help="path to blender_ext.py")
    args = ap.parse_args(argv)

    bundling = bool(args.torch or args.audio)
    if args.lean and bundling:
        ap.error("--lean cannot be combined with --torch/--audio")
    cli = args.blender_ext or blender_ext_path()
    if bundling:
        staged = ROOT / "build" / "stage" / "blender_s2l"
        stage(staged)
        plats = [p.strip() for p in args.platforms.split(",") if p.strip()]
        unknown = [p for p in plats if p not in PLATFORMS]
        if unknown:
            ap.error(f"unknown platform(s) {unknown}; choose from {sorted(PLATFORMS)}")
        wheels: list[Path] = []
        for name in plats:
            for py in [v.strip() for v in args.python.split(",") if v.strip()]:
                folder = ROOT / "wheels" / f"{name}-py{py}-{args.torch or 'notorch'}"
                download_wheels(args.torch, args.audio, PLATFORMS[name], py, folder)
                wheels += sorted(folder.glob("*.whl"))
        add_wheels_to_manifest(staged, wheels, plats)
        built = run_builder(cli, staged, args.out, split=True)
    else:
        staged = ROOT / "build" / "stage_lean" / "blender_s2l"
        stage(staged)
        built = run_builder(cli, staged, args.out, split=False)
    for zp in built:
        print(f"build: {zp} ({zp.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
