"""Bake lip sync from the command line, in Blender or with the bpy module.

    blender -b scene.blend --python <extension dir>/batch.py -- --object Head --strip Voice \
        --out baked.blend
    python -m blender_s2l.batch scene.blend --object Head --audio voice.wav --out baked.blend
    python -m blender_s2l.batch scene.blend --jobs manifest.csv

A jobs manifest is CSV with a header: object, strip or audio, out, and optionally scene, take,
mode, seed, device, mouth_strength, smoothing, lip_closure, closure_sensitivity, keypoints,
export (the take's weights, as --export-weights), jaw_bone (mode
RIG: the armature's jaw bone, as --jaw-bone), phones (an alignment file) or transcript (the
line's words) for key poses. A line with neither gets the
key poses of the words pocketsphinx hears in it (a few
seconds a minute of speech; --no-recognise-words turns that off; without pocketsphinx installed the
lines use the audio alone and say so, unless --recognise-words demands it). Every job starts
from the freshly opened scene; a failing job prints one line with its reason and the others go
on; the exit code is 1 when any job failed, 2 on bad command-line usage, 0 otherwise. A line is
refused on its own, before any bake, for a bad value or an `out` that an earlier line already
writes. "ok" is printed only once the output is in place and reads back as a whole .blend.

--export-weights (or a line's export cell) writes the baked take's weights once the .blend is
saved: a .csv (Live Link Face columns) or .json file name, put beside the .blend when relative;
`csv` or `json` alone names the file after the .blend (baked.blend -> baked.csv).

--rows A-B (manifest lines, header = line 1) or --shard K/N (the K-th of N equal slices of the
job lines) runs part of a manifest; a line whose out already reads back as a whole .blend is
skipped ("skip line N: output exists") unless --force; --summary FILE.jsonl appends one JSON
record per processed line, and --merge-summaries DIR folds such files into one report
(core/bake/shard.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NoReturn

if __name__ == "__main__" and not __package__:  # `blender --python .../batch.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from blender_s2l.batch import main as _main

    sys.exit(_main())

from .core.bake import manifest, shard
from .core.bake.settings import OPTIONS, PATH_SUBTYPES, BakeSettings, Option, settings_of
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
    cut_mouth: bool = False  # cut a fused mouth open before the bake (blender/mouth.py) ...
    mouth_bag: bool = True  # ... with an inner lip roll and a mouth bag
    export_weights: str = ""  # the take's weights after the bake: see export_path
    label: str = ""
    line: int | None = None  # the manifest line (header = line 1); None for a single job
    problem: str = ""  # why this manifest line is refused without baking


def _argv() -> list[str]:
    """Arguments after `--` inside Blender, the usual ones otherwise."""
    if "--" in sys.argv:
        return sys.argv[sys.argv.index("--") + 1 :]
    return sys.argv[1:]


class _OneLineParser(argparse.ArgumentParser):
    """Bad usage is one line, as every other refusal of the command is; a pipeline's log reads
    the reason, not a 20-line usage block ahead of it."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (--help lists the options)\n")


def parser() -> argparse.ArgumentParser:
    ap = _OneLineParser(prog="blender_s2l.batch", description="Bake lip sync in batch.")
    ap.add_argument("scene", nargs="?", default="", help=".blend to open (default: the open one)")
    ap.add_argument("--object", default="", help="mesh object to animate")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--strip", default="", help="sound strip already in the scene")
    src.add_argument("--audio", default="", help="sound file to add as a new strip")
    ap.add_argument("--frame-start", type=int, default=None, help="where --audio starts")
    ap.add_argument("--out", default="", help=".blend to write")
    ap.add_argument("--jobs", default="", help="CSV manifest: object,strip|audio,out[,...]")
    ap.add_argument("--all-strips", action="store_true",
                    help="bake every sound strip of the scene onto its character (the strip's "
                         "s2l_character property, else the mesh named like the strip's name "
                         "before its first '.'), and save once to --out")
    for option in OPTIONS:
        if option.flag:
            _add_flag(ap, option)
    ap.add_argument("--keypoints", default="",
                    help='JSON {"36": vertex, ...}: fit landmarks on the object before baking')
    ap.add_argument("--cut-mouth", action="store_true",
                    help="before baking, cut the object's mouth open along the inner-lip line "
                         "when its lips share polygons (an open mouth is left as it is)")
    ap.add_argument("--no-mouth-bag", dest="mouth_bag", action="store_false",
                    help="with --cut-mouth: no inner lip roll and mouth bag, only the cut")
    ap.add_argument("--export-weights", default="", metavar="FILE",
                    help="after the bake, write the take's weights to FILE (.csv: Live Link "
                         "Face, .json: every key), beside the .blend when relative; csv or "
                         "json alone names it after the .blend")
    part = ap.add_mutually_exclusive_group()
    part.add_argument("--rows", default="", metavar="A-B",
                      help="with --jobs: run only manifest lines A to B (the header is line 1)")
    part.add_argument("--shard", default="", metavar="K/N",
                      help="with --jobs: run only the K-th of N equal slices of the job lines")
    ap.add_argument("--force", action="store_true",
                    help="with --jobs: bake a line even when its output already exists whole")
    ap.add_argument("--summary", default="", metavar="FILE.jsonl",
                    help="append one JSON record per processed line to FILE (flushed per line)")
    ap.add_argument("--merge-summaries", nargs="+", default=None, metavar="DIR|FILE",
                    help="fold every *.jsonl summary into one report (stdout and "
                         "DIR/summary.json) and exit")
    return ap


def _add_flag(ap: argparse.ArgumentParser, option: Option[Any]) -> None:
    """The option's flag, spelled and typed as its declaration says."""
    spelling, _, negated = option.flag.partition("/")
    help_text = option.flag_help or None
    if option.kind == "bool":
        if negated:  # tri-state: None (not given) keeps the default, and says it was not asked
            ap.add_argument(spelling, dest=option.name, action=argparse.BooleanOptionalAction,
                            default=None, help=help_text)
        else:
            ap.add_argument(spelling, dest=option.name, help=help_text,
                            action="store_false" if option.default else "store_true")
    elif option.kind == "enum":
        ap.add_argument(spelling, dest=option.name, default=option.default, type=str.upper,
                        choices=option.ids, help=help_text)
    else:
        ap.add_argument(spelling, dest=option.name, default=option.default, help=help_text,
                        type=_flag_type(option),
                        metavar=spelling.lstrip("-").upper().replace("-", "_"))


def _flag_type(option: Option[Any]) -> Callable[[str], Any]:
    """Whole numbers as a manifest cell reads them, so a bad seed is one sentence either way."""
    if option.kind == "float":
        return float
    if option.kind == "str":
        return str

    def whole(text: str) -> Any:
        try:
            return manifest.cell_value(option, text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return whole


def _flag_value(option: Option[Any], given: Any) -> Any:
    value = option.default if given is None else given
    return option.cli_value(value) if option.cli_value is not None else value


def jobs_from_args(args: argparse.Namespace) -> tuple[list[Job], list[str]]:
    """The jobs to run and the notes to print before them."""
    base = Job(
        object=args.object, out=args.out, scene_file=args.scene, strip=args.strip,
        audio=args.audio, frame_start=args.frame_start, keypoints=args.keypoints,
        cut_mouth=args.cut_mouth, mouth_bag=args.mouth_bag, export_weights=args.export_weights,
        **{o.name: _flag_value(o, getattr(args, o.name)) for o in OPTIONS if o.flag},
    )
    if args.export_weights:
        problem = export_problem(args.export_weights)
        if problem:
            raise BakeError(f"--export-weights: {problem}")
    if not args.jobs:
        if not args.object or not args.out:
            raise BakeError("Give --object and --out (or --jobs manifest.csv).")
        return [replace(base, label="job 1")], []
    read = manifest.read(Path(args.jobs))
    return [manifest_job(row, Path(args.jobs), base) for row in read.rows], read.notes


def manifest_job(row: manifest.Row, path: Path, base: Job) -> Job:
    """The job of one manifest line; a bad cell refuses this line alone (Job.problem)."""
    label = f"line {row.line}"
    base = replace(base, line=row.line)
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
        chosen: dict[str, Any] = {}
        for option in (o for o in OPTIONS if o.column):
            text = cell(option.column, "")
            if option.subtype in PATH_SUBTYPES:  # the command line's path too, as before
                chosen[option.name] = beside_manifest(text or getattr(base, option.name))
            elif option.name == "transcript" and text.startswith("@"):  # the file's words
                from .core.speech.align import transcript_arg  # the audio stack: only if asked

                chosen[option.name] = transcript_arg(text, path.parent)
            elif text:
                chosen[option.name] = manifest.cell_value(option, text)
        if cell("export") and export_problem(cell("export", "")):
            raise ValueError(f"its export cell: {export_problem(cell('export', ''))}")
    except (ValueError, S2LError) as exc:
        return replace(base, label=label, problem=_sentence(str(exc)))
    return replace(
        base, object=cell("object", ""), out=beside_manifest(cell("out", "")),
        strip=cell("strip", ""), audio=beside_manifest(cell("audio", "")),
        scene_file=beside_manifest(cell("scene", "")) or base.scene_file,
        keypoints=beside_manifest(cell("keypoints", "") or base.keypoints), label=label,
        export_weights=cell("export", "") or base.export_weights, **chosen,
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


_EXPORT_FORMATS = ("csv", "json")


def export_problem(value: str) -> str:
    """Why an export value names no weights file, or "" (see export_path)."""
    if value.strip().lower().lstrip(".") in _EXPORT_FORMATS:
        return ""
    if Path(value).suffix.lower() not in (f".{f}" for f in _EXPORT_FORMATS):
        return (f"'{value}' is neither a .csv nor a .json file name (nor csv or json alone, "
                "for a file named after the .blend)")
    return ""


def export_path(job: Job) -> Path | None:
    """Where a job writes its take's weights: None without an export; a bare format names the
    file after the .blend; a relative name lies beside the .blend."""
    value = job.export_weights.strip()
    if not value or not job.out:
        return None
    out = Path(job.out).resolve()
    if value.lower().lstrip(".") in _EXPORT_FORMATS:
        return out.with_suffix("." + value.lower().lstrip("."))
    path = Path(value)
    return path if path.is_absolute() else out.parent / path


def refuse_shared_exports(jobs: list[Job]) -> list[Job]:
    """Refuse the later lines whose weights file an earlier line writes (or is a .blend)."""
    outs = {_path_key(j.out): j.label for j in jobs if j.out and not j.problem}
    first: dict[str, str] = {}
    checked = []
    for job in jobs:
        path = None if job.problem else export_path(job)
        key = _path_key(str(path)) if path is not None else ""
        if key in outs:
            job = replace(job, problem=f"Its weights file {path} is the out of {outs[key]}; "
                                       "name the export differently.")
        elif key in first:
            job = replace(job, problem=f"Its weights file {path} is already written by "
                                       f"{first[key]}; each line needs its own export.")
        elif key:
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


def run_job(job: Job) -> str:
    """Open, bake, save; returns a one-line summary or raises S2LError."""
    from .blender.batch_job import bake_job
    from .core.speech.phones import key_pose_source

    if not job.object or not job.out:
        raise BakeError("The job needs an object and an output file.")
    if not (job.strip or job.audio):
        raise BakeError("The job needs a strip name or an audio file.")
    record, out = bake_job(
        scene_file=job.scene_file, object_name=job.object, strip=job.strip, audio=job.audio,
        frame_start=job.frame_start, take=job.take, keypoints=job.keypoints, out=job.out,
        settings=BakeSettings(**settings_of(job)), cut_mouth=job.cut_mouth,
        mouth_bag=job.mouth_bag,
        warn=lambda note: print(f"note: {job.label}: {note}", flush=True),
    )
    exported = _export_weights(job, record.take, out)
    notes = "".join(f"; note: {n}" for n in record.notes)
    return (
        f"{record.take}: {record.written} ({record.mode.lower()}), "
        f"frames {record.frame_start + 1}-{record.frame_end - 1}, key poses: "
        f"{key_pose_source(job.phones_file, job.transcript, job.recognise_words)} -> {out}"
        f"{exported}{notes}"
    )


def _export_weights(job: Job, take: str, out: Path) -> str:
    """Write the baked take's weights where the job asks; the summary's words for it."""
    path = export_path(job)
    if path is None:
        return ""
    from .blender.rig_export import export_baked_take

    try:
        notes = export_baked_take(job.object, take, path)
    except S2LError as exc:
        raise BakeError(f"The take was baked and saved to {out}, but its weights were not "
                        f"exported: {exc}") from None
    return f", weights -> {path}" + "".join(f"; note: {n}" for n in notes)


def _slice_of(args: argparse.Namespace) -> shard.Slice | None:
    """The --rows or --shard slice asked for, or None; BakeError for a bad or misplaced one."""
    if (args.rows or args.shard or args.force) and not args.jobs:
        flag = "--rows" if args.rows else "--shard" if args.shard else "--force"
        raise BakeError(f"{flag} works on a manifest; give --jobs manifest.csv too.")
    if args.rows:
        return shard.parse_rows(args.rows)
    if args.shard:
        return shard.parse_shard(args.shard)
    return None


def output_in_place(job: Job) -> str:
    """Why a manifest line's output does not stand as a whole .blend, or "" when it does (its
    weights file too, when the line exports one)."""
    from .blender.blend_file import blend_problem

    out = Path(job.out)
    if not out.is_file():
        return "does not exist"
    problem = blend_problem(out, job.object)
    if problem:
        return problem
    path = export_path(job)
    if path is not None and not path.is_file():
        return f"has no weights file {path} beside it"
    return ""


def merge_main(paths: list[str]) -> int:
    """--merge-summaries: one report of the slices' summaries, on stdout and in summary.json."""
    import json

    from .core.files import write_atomic

    try:
        files, folder = shard.summary_files(paths)
    except S2LError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    report = shard.merge(files)
    text = json.dumps(report, indent=2, ensure_ascii=False)
    print(text, flush=True)
    target = folder / "summary.json"
    try:
        write_atomic(target, lambda out: out.write((text + "\n").encode("utf-8")))
    except OSError as exc:
        print(f"error: {target} cannot be written: {exc.strerror}", file=sys.stderr)
        return EXIT_FAILED
    for bad in report["damaged"]:
        print(f"note: {bad['file']} line {bad['line_in_file']}: {bad['problem']}",
              file=sys.stderr)
    return EXIT_FAILED if report["failed"] else 0


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    try:
        args = ap.parse_args(_argv() if argv is None else argv)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code else 0
    if args.merge_summaries:
        return merge_main(args.merge_summaries)
    if args.all_strips:
        return all_strips_main(args)
    try:
        part = _slice_of(args)
        jobs, notes = jobs_from_args(args)
        chosen = list(range(len(jobs))) if part is None else \
            shard.select([j.line or 0 for j in jobs], part)
        notes = [*notes, *_language_flag(args, jobs)]
    except S2LError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for note in notes:
        print(f"note: {note}", flush=True)
    if part is not None and not chosen:
        print(f"note: {part.describe()} of {args.jobs} holds no job lines; nothing to do.",
              flush=True)
        return 0
    if _words_missing(args, [jobs[i] for i in chosen if not jobs[i].problem]):
        return EXIT_USAGE
    try:
        summary_file = shard.SummaryFile(Path(args.summary), args.jobs) if args.summary \
            else None
    except S2LError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return _run(args, jobs, chosen, summary_file)
    finally:
        if summary_file is not None:
            summary_file.close()


def _language_flag(args: argparse.Namespace, jobs: list[Job]) -> list[str]:
    """--language is checked before any job runs (a code espeak-ng does not know is a usage
    error, as a bad flag is), and said to change nothing where no line has a transcript."""
    option = next(o for o in OPTIONS if o.name == "language")
    code = _flag_value(option, getattr(args, "language", None))
    if code == option.default:  # not given (argparse fills in the default), or English
        return []
    from .core.speech.languages import check_language

    said = next((j.transcript for j in jobs if j.transcript.strip()), "")
    check_language(code, said)
    return [] if said else ["--language is the transcript's language; no line has a transcript, "
                            "so it changes nothing."]


def _words_missing(args: argparse.Namespace, jobs: list[Job]) -> bool:
    """Without pocketsphinx: True (after the error) when --recognise-words demands it, else a
    note when some job would have listened for words."""
    from .core.speech import recognise
    from .core.speech.phones import NO_POCKETSPHINX, wants_words

    if recognise.pocketsphinx_available() or not any(
        wants_words(j.phones_file, j.transcript, j.recognise_words) for j in jobs
    ):
        return False
    if args.recognise_words:
        print("error: --recognise-words needs the pocketsphinx package "
              "(pip install pocketsphinx in this Python).", file=sys.stderr)
        return True
    print(f"note: {NO_POCKETSPHINX}", flush=True)
    return False


_NOT_WITH_ALL_STRIPS = ("object", "strip", "audio", "jobs", "frame_start", "keypoints",
                        "cut_mouth", "export_weights", "summary", "rows", "shard", "force")


def all_strips_main(args: argparse.Namespace) -> int:
    """--all-strips: every strip with a character, one ok/FAIL line each, the strips without a
    character, one summary; the file is saved once at the end; exit 1 if any strip failed."""
    from .blender.batch_job import bake_all_strips, opened_file

    given = [n for n in _NOT_WITH_ALL_STRIPS if getattr(args, n) not in ("", None, False)]
    scene_file = args.scene or opened_file()
    problem = (f"--all-strips bakes the scene's own strips; leave out "
               f"--{given[0].replace('_', '-')}." if given
               else "--all-strips needs --out." if not args.out
               else "--all-strips needs a scene file." if not scene_file else "")
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    base = Job(out=args.out, scene_file=scene_file, label="all strips",
               **{o.name: _flag_value(o, getattr(args, o.name)) for o in OPTIONS if o.flag})
    try:
        for note in _language_flag(args, [base]):
            print(f"note: {note}", flush=True)
    except S2LError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if _words_missing(args, [base]):
        return EXIT_USAGE
    t0 = time.perf_counter()

    def done(strip: Any, record: Any, why: str) -> None:
        seconds = time.perf_counter() - t0
        if record is None:
            print(f"FAIL {strip.label}: {why}", flush=True)
        else:
            print(f"ok   {strip.label}: {strip.character} <- take {record.take}: "
                  f"{record.written} ({record.mode.lower()}), frames {record.frame_start + 1}-"
                  f"{record.frame_end - 1} ({seconds:.1f} s)"
                  + "".join(f"; note: {n}" for n in record.notes), flush=True)

    try:
        result, out = bake_all_strips(
            scene_file=scene_file, out=args.out, settings=BakeSettings(**settings_of(base)),
            done=done, warn=lambda note: print(f"note: {note}", flush=True))
    except S2LError as exc:
        print(f"FAIL all strips: {exc}", flush=True)
        return EXIT_FAILED
    for strip in result.unassigned:
        print(f"no character: {strip.label}", flush=True)
    total = len(result.baked) + len(result.failed)
    where = f" -> {out}" if out is not None else "; nothing was written"
    print(f"summary: {len(result.baked)} of {total} strips baked, {len(result.failed)} failed, "
          f"{len(result.unassigned)} without a character{where}", flush=True)
    return EXIT_FAILED if result.failed or not result.baked else 0


def _run(args: argparse.Namespace, jobs: list[Job], chosen: list[int],
         summary_file: shard.SummaryFile | None) -> int:
    """Bake the chosen jobs (refused lines are checked against the whole manifest)."""
    from .blender.batch_job import opened_file

    def record(job: Job, status: str, reason: str, seconds: float) -> None:
        if summary_file is not None:
            summary_file.add(job.line, job.label, status, reason, seconds, job.out)

    opened = opened_file()  # `blender -b scene.blend`: every job starts from this file
    jobs = [job if job.scene_file or not opened else replace(job, scene_file=opened)
            for job in jobs]
    if args.jobs:
        jobs = refuse_shared_outputs(jobs)
    jobs = refuse_shared_exports(jobs)
    jobs = [jobs[i] for i in chosen]  # refused as the whole manifest refuses them
    failed = [job.label for job in jobs if job.problem]
    skipped: list[str] = []
    for job in jobs:  # all at once, so a long batch can be stopped and its manifest mended
        if job.problem:
            print(f"FAIL {job.label}: {job.problem}", flush=True)
            record(job, "fail", job.problem, 0.0)
    for job in jobs:
        if job.problem:
            continue
        t0 = time.perf_counter()
        if args.jobs and not args.force:
            standing = output_in_place(job)
            if not standing:
                skipped.append(job.label)
                print(f"skip {job.label}: output exists", flush=True)
                record(job, "skip", "output exists", time.perf_counter() - t0)
                continue
            if standing != "does not exist":
                print(f"note: {job.label}: its output {job.out} {standing}; baking it again",
                      flush=True)
        try:
            summary = run_job(job)
            print(f"ok   {job.label}: {summary} ({time.perf_counter() - t0:.1f} s)", flush=True)
            record(job, "ok", "", time.perf_counter() - t0)
        except S2LError as exc:
            failed.append(job.label)
            print(f"FAIL {job.label}: {exc}", flush=True)
            record(job, "fail", str(exc), time.perf_counter() - t0)
        except Exception as exc:  # one broken job must not stop the others
            failed.append(job.label)
            print(f"FAIL {job.label}: unexpected {type(exc).__name__}: {exc}", flush=True)
            record(job, "fail", f"unexpected {type(exc).__name__}: {exc}",
                   time.perf_counter() - t0)
    if len(jobs) > 1:
        failed_set = set(failed)
        failed = [job.label for job in jobs if job.label in failed_set]  # in the file's order
        named = ", ".join(failed[:20]) + (f" and {len(failed) - 20} more" if len(failed) > 20
                                          else "")
        baked = len(jobs) - len(failed) - len(skipped)
        print(f"summary: {baked} of {len(jobs)} jobs baked, "
              + (f"{len(skipped)} skipped (output exists), " if skipped else "")
              + f"{len(failed)} failed" + (f" ({named})" if failed else ""), flush=True)
    return EXIT_FAILED if failed else 0


if __name__ == "__main__":
    sys.exit(main())
