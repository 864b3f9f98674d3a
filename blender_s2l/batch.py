"""Bake lip sync from the command line, in Blender or with the bpy module.

    blender -b scene.blend --python <extension dir>/batch.py -- --object Head --strip Voice \
        --out baked.blend
    python -m blender_s2l.batch scene.blend --object Head --audio voice.wav --out baked.blend
    python -m blender_s2l.batch scene.blend --jobs manifest.csv

A jobs manifest is CSV with a header: object, strip or audio, out, and optionally scene, take,
mode, seed, device, keypoints, phones (an alignment file) or transcript (the line's words) for
key poses. A line with neither gets the key poses of the words pocketsphinx hears in it (about
0.25x real time per line; --no-recognise-words turns that off; without pocketsphinx installed the
lines use the audio alone and say so, unless --recognise-words demands it). Every job starts
from the freshly opened scene; a failing job prints one line with its reason and the others go
on; the exit code is 1 when any job failed, 2 on bad command-line usage, 0 otherwise. A line is
refused on its own, before any bake, for a bad value or an `out` that an earlier line already
writes. "ok" is printed only once the output is in place and reads back as a whole .blend.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

if __name__ == "__main__" and not __package__:  # `blender --python .../batch.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from blender_s2l.batch import main as _main

    sys.exit(_main())

from .core import manifest
from .core.align import transcript_arg
from .core.bake_settings import BakeSettings, settings_of
from .core.errors import BakeError, S2LError

EXIT_FAILED, EXIT_USAGE = 1, 2


@dataclass(frozen=True)
class Job(BakeSettings):
    """One bake: the settings plus where the scene, mesh, sound and result are."""

    object: str = ""
    out: str = ""
    scene_file: str = ""
    strip: str = ""
    audio: str = ""
    take: str = ""
    frame_start: int | None = None
    keypoints: str = ""
    label: str = ""
    problem: str = ""  # why this manifest line is refused without baking


def _argv() -> list[str]:
    """Arguments after `--` inside Blender, the usual ones otherwise."""
    if "--" in sys.argv:
        return sys.argv[sys.argv.index("--") + 1 :]
    return sys.argv[1:]


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="blender_s2l.batch", description="Bake lip sync in batch.")
    ap.add_argument("scene", nargs="?", default="", help=".blend to open (default: the open one)")
    ap.add_argument("--object", default="", help="mesh object to animate")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--strip", default="", help="sound strip already in the scene")
    src.add_argument("--audio", default="", help="sound file to add as a new strip")
    ap.add_argument("--frame-start", type=int, default=None, help="where --audio starts")
    ap.add_argument("--out", default="", help=".blend to write")
    ap.add_argument("--jobs", default="", help="CSV manifest: object,strip|audio,out[,...]")
    ap.add_argument("--take", default="")
    ap.add_argument("--replace", action="store_true", help="replace a take of the same name")
    ap.add_argument("--mode", default="COMPACT", type=str.upper, choices=manifest.MODES)
    ap.add_argument("--device", default="AUTO", type=str.upper, choices=manifest.DEVICES)
    ap.add_argument("--seed", type=_seed_arg, default=0)
    ap.add_argument("--mouth-strength", type=float, default=1.0)
    ap.add_argument("--no-upper-face", action="store_true")
    ap.add_argument("--smoothing", type=float, default=0.0)
    ap.add_argument("--lip-closure", type=float, default=1.0,
                    help="0-1: how firmly the lips meet on p/b/m (default 1)")
    ap.add_argument("--closure-sensitivity", type=float, default=0.5,
                    help="0-1: how sure the model must be of a p/b/m before the lips meet "
                         "(default 0.5; higher closes more, some inside vowels)")
    ap.add_argument("--phones", default="",
                    help="phone alignment of the line (.lab/TextGrid/.tsv): key poses on p/b/m")
    ap.add_argument("--transcript", default="",
                    help="words of the line (or @file), aligned to the audio for key poses")
    ap.add_argument("--recognise-words", action=argparse.BooleanOptionalAction, default=None,
                    help="lines without --phones/--transcript: key poses on the p/b/m of the "
                         "words pocketsphinx hears (many more real closures; about 0.25x real "
                         "time). Default: on where pocketsphinx is installed; "
                         "--recognise-words fails without it")
    ap.add_argument("--weights", default="", help="folder with the model files")
    ap.add_argument("--keypoints", default="",
                    help='JSON {"36": vertex, ...}: fit landmarks on the object before baking')
    return ap


def _seed_arg(text: str) -> int:
    try:
        return manifest.seed_value(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def jobs_from_args(args: argparse.Namespace) -> tuple[list[Job], list[str]]:
    """The jobs to run and the notes to print before them."""
    base = Job(
        object=args.object, out=args.out, scene_file=args.scene, strip=args.strip,
        audio=args.audio, take=args.take, mode=args.mode, seed=args.seed, device=args.device,
        replace=args.replace, mouth_strength=args.mouth_strength,
        upper_face=not args.no_upper_face, smoothing=args.smoothing,
        lip_closure=args.lip_closure, closure_sensitivity=args.closure_sensitivity,
        weights_dir=args.weights,
        phones_file=args.phones, transcript=transcript_arg(args.transcript),
        recognise_words=args.recognise_words is not False,
        frame_start=args.frame_start, keypoints=args.keypoints,
    )
    if not args.jobs:
        if not args.object or not args.out:
            raise BakeError("Give --object and --out (or --jobs manifest.csv).")
        return [replace(base, label="job 1")], []
    read = manifest.read(Path(args.jobs))
    return [manifest_job(row, Path(args.jobs), base) for row in read.rows], read.notes


def manifest_job(row: manifest.Row, path: Path, base: Job) -> Job:
    """The job of one manifest line; a bad cell refuses this line alone (Job.problem)."""
    label = f"line {row.line}"
    if row.problem:
        return replace(base, label=label, problem=_sentence(row.problem))
    cell = row.values.get

    def beside_manifest(value: str) -> str:
        return str((path.parent / value).resolve()) if value and not Path(value).is_absolute() \
            else value

    try:
        for column in ("object", "out"):
            if not cell(column):
                raise ValueError(f"the {column} cell is empty")
        if cell("strip") and cell("audio"):
            raise ValueError("it has both a strip and an audio file; give one of them")
        if not (cell("strip") or cell("audio")):
            raise ValueError("it has neither a strip nor an audio file")
        mode = manifest.choice_value(cell("mode", ""), "mode", manifest.MODES) \
            if cell("mode") else base.mode
        device = manifest.choice_value(cell("device", ""), "device", manifest.DEVICES) \
            if cell("device") else base.device
        seed = manifest.seed_value(cell("seed", "")) if cell("seed") else base.seed
    except ValueError as exc:
        return replace(base, label=label, problem=_sentence(str(exc)))
    return replace(
        base, object=cell("object", ""), out=beside_manifest(cell("out", "")),
        strip=cell("strip", ""), audio=beside_manifest(cell("audio", "")),
        scene_file=cell("scene", "") or base.scene_file, take=cell("take", "") or base.take,
        mode=mode, seed=seed, device=device,
        keypoints=beside_manifest(cell("keypoints", "") or base.keypoints),
        phones_file=beside_manifest(cell("phones", "") or base.phones_file),
        transcript=cell("transcript", "") or base.transcript, label=label,
    )


def refuse_shared_outputs(jobs: list[Job]) -> list[Job]:
    """Refuse, before anything bakes, the later lines whose out an earlier line writes.

    Both would bake and print "ok" while only the last survived; and a line writing the scene
    that the lines open would change what every later line starts from.
    """
    first: dict[str, str] = {}
    scenes = {_path_key(j.scene_file): j.scene_file for j in jobs if j.scene_file}
    checked = []
    for job in jobs:
        key = _path_key(job.out) if job.out else ""
        if job.problem or not key:
            checked.append(job)
        elif key in first:
            checked.append(replace(job, problem=f"Its out {job.out} is already written by "
                                                f"{first[key]}; each line needs its own out."))
        elif key in scenes:
            checked.append(replace(job, problem=f"Its out {job.out} is the scene file the "
                                                "lines open; write the result elsewhere."))
        else:
            first[key] = job.label
            checked.append(job)
    return checked


def _path_key(path: str) -> str:
    """One key per file, however a line spells its path (case too where the OS ignores it)."""
    key = os.path.normcase(os.path.abspath(path))
    return key.casefold() if sys.platform == "darwin" else key


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "?")) else ".")


def open_scene(path: str) -> None:
    import bpy

    if path:
        if not Path(path).is_file():
            raise BakeError(f"The scene file {path} does not exist.")
        bpy.ops.wm.open_mainfile(filepath=str(Path(path).resolve()))


def add_audio_strip(audio: str, frame_start: int | None, name: str) -> str:
    """Add the sound as a strip (extending the scene to fit it) and return the strip's name."""
    import bpy

    from .blender.strips import all_strips, top_strips
    from .core.audio import check_audio_path

    path = Path(audio)
    check_audio_path(path)  # a folder, a pipe or a missing file: one sentence each
    scene: Any = bpy.context.scene
    if scene is None:
        raise BakeError("The file has no scene to add the sound to.")
    ed = scene.sequence_editor or scene.sequence_editor_create()
    used = {s.channel for s in all_strips(ed)}
    channel = next(c for c in range(1, 129) if c not in used)
    start = scene.frame_start if frame_start is None else frame_start
    strip = top_strips(ed).new_sound(name or path.stem, str(path.resolve()), channel, start)
    if strip.frame_final_end - 1 > scene.frame_end:
        scene.frame_end = strip.frame_final_end - 1
    return str(strip.name)


def fit_from_file(object_name: str, path: str) -> None:
    """Store the key points of a JSON file on the object and fit its 68 landmarks."""
    import bpy

    from .blender.landmarks import check_editable, fit_object
    from .blender.storage import write_keypoints
    from .core.keypoints import load_keypoints_json

    obj = bpy.data.objects.get(object_name)
    if obj is None:
        raise BakeError(f"There is no object named '{object_name}'.")
    check_editable(obj)
    write_keypoints(obj, load_keypoints_json(path))
    fit_object(obj)


def run_job(job: Job) -> str:
    """Open, bake, save; returns a one-line summary or raises S2LError."""
    import bpy

    from .blender import bake
    from .blender.blend_file import save_verified
    from .blender.names import take_from_label
    from .core.key_poses import key_pose_source

    if not job.object or not job.out:
        raise BakeError("The job needs an object and an output file.")
    if not (job.strip or job.audio):
        raise BakeError("The job needs a strip name or an audio file.")
    open_scene(job.scene_file)
    strip = job.strip
    if job.audio:
        strip = add_audio_strip(job.audio, job.frame_start, job.take or Path(job.audio).stem)
    if job.keypoints:
        fit_from_file(job.object, job.keypoints)
    params = bake.BakeParams(
        object_name=job.object, strip_name=strip, take=job.take or take_from_label(strip),
        **settings_of(job),
    )
    out = Path(job.out).resolve()
    if out.is_dir():  # before the bake, which may take minutes
        raise BakeError(f"The output {out} is a folder, not a file name.")
    record = bake.run_sync(bpy.context, params,
                           warn=lambda note: print(f"note: {job.label}: {note}", flush=True))
    save_verified(out, job.object)
    notes = "".join(f"; note: {n}" for n in record.notes)
    return (
        f"{record.take}: {len(record.keys)} shape keys ({record.mode.lower()}), "
        f"frames {record.frame_start + 1}-{record.frame_end - 1}, key poses: "
        f"{key_pose_source(job.phones_file, job.transcript, job.recognise_words)} -> {out}"
        f"{notes}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    try:
        args = ap.parse_args(_argv() if argv is None else argv)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code else 0
    try:
        jobs, notes = jobs_from_args(args)
    except S2LError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for note in notes:
        print(f"note: {note}", flush=True)
    from .core import recognise
    from .core.key_poses import NO_POCKETSPHINX, wants_words

    if not recognise.pocketsphinx_available() and any(
        wants_words(j.phones_file, j.transcript, j.recognise_words) for j in jobs
        if not j.problem
    ):
        if args.recognise_words:
            print("error: --recognise-words needs the pocketsphinx package "
                  "(pip install pocketsphinx in this Python).", file=sys.stderr)
            return EXIT_USAGE
        print(f"note: {NO_POCKETSPHINX}", flush=True)
    import bpy

    opened = bpy.data.filepath  # `blender -b scene.blend`: every job starts from this file
    jobs = [job if job.scene_file or not opened else replace(job, scene_file=opened)
            for job in jobs]
    if args.jobs:
        jobs = refuse_shared_outputs(jobs)
    failed = [job.label for job in jobs if job.problem]
    for job in jobs:  # all at once, so a long batch can be stopped and its manifest mended
        if job.problem:
            print(f"FAIL {job.label}: {job.problem}", flush=True)
    for job in jobs:
        if job.problem:
            continue
        t0 = time.perf_counter()
        try:
            summary = run_job(job)
            print(f"ok   {job.label}: {summary} ({time.perf_counter() - t0:.1f} s)", flush=True)
        except S2LError as exc:
            failed.append(job.label)
            print(f"FAIL {job.label}: {exc}", flush=True)
        except Exception as exc:  # one broken job must not stop the others
            failed.append(job.label)
            print(f"FAIL {job.label}: unexpected {type(exc).__name__}: {exc}", flush=True)
    if len(jobs) > 1:
        failed_set = set(failed)
        failed = [job.label for job in jobs if job.label in failed_set]  # in the file's order
        named = ", ".join(failed[:20]) + (f" and {len(failed) - 20} more" if len(failed) > 20
                                          else "")
        print(f"summary: {len(jobs) - len(failed)} of {len(jobs)} jobs baked, {len(failed)} "
              f"failed" + (f" ({named})" if failed else ""), flush=True)
    return EXIT_FAILED if failed else 0


if __name__ == "__main__":
    sys.exit(main())
