#!/usr/bin/env python3
"""Submit a blender_s2l manifest to a Flamenco Manager as one "s2l-bake" job.

    python farm/flamenco/submit.py --manager http://flamenco.local:8080 \
        --manifest /shared/lines/manifest.csv --summary-dir /shared/lines/summaries \
        --batch-script '{s2l_batch}' [--rows-per-task 20] [--scene /shared/scene.blend] \
        [--no-recognise-words --mouth-strength 0.8 ...] [--check | --dry-run]

It reads the manifest here (with the extension's own reader, so the line numbers are the ones
batch.py --rows uses: the header is line 1), fills in the job's `rows` setting with its first to
last job line, asks the Manager for the job type's etag (so an outdated s2l_bake.js is refused),
and posts the job to the Manager's REST API (POST /api/v3/jobs). --check only asks the Manager to
compile it (POST /api/v3/jobs/check); --dry-run prints the job and sends nothing. Bake options
are spelled as batch.py spells them; the ones not given keep the job type's defaults. Paths are
sent as written (the manifest made absolute): they must be the paths the workers see, or paths
the Manager's two-way variables translate. Needs only the Python standard library and this
repository's blender_s2l package (no Blender).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

JOB_TYPE = "s2l-bake"  # the file name s2l_bake.js, as the Manager names its job types
EXIT_FAILED, EXIT_USAGE = 1, 2


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description="Submit a manifest as a Flamenco s2l-bake job.")
    ap.add_argument("--manager", default="", help="Manager URL, e.g. http://flamenco.local:8080")
    ap.add_argument("--manifest", required=True, help="the CSV jobs manifest")
    ap.add_argument("--summary-dir", required=True, help="this job's summary folder")
    ap.add_argument("--batch-script", required=True,
                    help="batch.py of the installed extension, as the workers see it")
    ap.add_argument("--blender", default="", help="Blender on the workers (default {blender})")
    ap.add_argument("--scene", default="", help=".blend every line opens (default: none)")
    ap.add_argument("--rows", default="", metavar="A-B",
                    help="manifest lines to bake (default: all job lines of the manifest)")
    ap.add_argument("--rows-per-task", type=int, default=None, metavar="N")
    ap.add_argument("--name", default="", help="job name (default: s2l <manifest name>)")
    ap.add_argument("--priority", type=int, default=50)
    opts = ap.add_argument_group("bake options (as batch.py spells them)")
    opts.add_argument("--mode", type=str.upper, choices=("COMPACT", "PER_FRAME", "RIG"))
    opts.add_argument("--device", type=str.upper, choices=("AUTO", "CPU", "CUDA"))
    opts.add_argument("--recognise-words", action=argparse.BooleanOptionalAction, default=None)
    opts.add_argument("--mouth-strength", type=float)
    opts.add_argument("--no-upper-face", action="store_true")
    opts.add_argument("--seed", type=int)
    opts.add_argument("--smoothing", type=float)
    opts.add_argument("--lip-closure", type=float)
    opts.add_argument("--closure-sensitivity", type=float)
    opts.add_argument("--rig-map", default="")
    opts.add_argument("--cache-dir", default="")
    opts.add_argument("--force", action="store_true")
    how = ap.add_mutually_exclusive_group()
    how.add_argument("--check", action="store_true",
                     help="let the Manager compile the job without creating it")
    how.add_argument("--dry-run", action="store_true", help="print the job and send nothing")
    return ap


def manifest_rows(path: Path) -> tuple[str, list[str]]:
    """'first-last' job line of the manifest, and the reader's notes; BakeError when unreadable."""
    from blender_s2l.core.bake import manifest

    read = manifest.read(path)
    lines = [row.line for row in read.rows]
    return f"{min(lines)}-{max(lines)}", read.notes


def job_settings(args: argparse.Namespace, manifest: Path, rows: str) -> dict[str, Any]:
    """The job's settings: what was given; the rest is the job type's default."""
    settings: dict[str, Any] = {
        "manifest": str(manifest), "rows": rows, "summary_dir": args.summary_dir,
        "batch_script": args.batch_script,
    }
    given: dict[str, Any] = {
        "rows_per_task": args.rows_per_task, "blender_exe": args.blender or None,
        "blendfile": args.scene or None, "mode": args.mode, "device": args.device,
        "mouth_strength": args.mouth_strength, "seed": args.seed, "smoothing": args.smoothing,
        "lip_closure": args.lip_closure, "closure_sensitivity": args.closure_sensitivity,
        "rig_map": args.rig_map or None, "cache_dir": args.cache_dir or None,
        "upper_face": False if args.no_upper_face else None,
        "force": True if args.force else None,
        "recognise_words": None if args.recognise_words is None
        else "on" if args.recognise_words else "off",
    }
    settings.update({k: v for k, v in given.items() if v is not None})
    return settings


def submitted_job(args: argparse.Namespace, settings: dict[str, Any],
                  manifest: Path) -> dict[str, Any]:
    """A SubmittedJob of the Manager's API."""
    return {
        "name": args.name or f"s2l {manifest.name}",
        "type": JOB_TYPE,
        "priority": args.priority,
        "submitter_platform": platform.system().lower(),
        "settings": settings,
        "metadata": {"s2l.manifest": str(manifest), "s2l.rows": settings["rows"]},
    }


def call(manager: str, method: str, route: str, body: dict[str, Any] | None = None) -> Any:
    """One request to the Manager's API; its JSON answer (None when it has none)."""
    data = None if body is None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(manager.rstrip("/") + route, data=data, method=method,
                                     headers={"Content-Type": "application/json",
                                              "Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        text = response.read().decode("utf-8")
    return json.loads(text) if text.strip() else None


def api_error(exc: urllib.error.HTTPError) -> str:
    """The Manager's own message of a refused request (its Error schema), else the status."""
    try:
        message = json.loads(exc.read().decode("utf-8")).get("message", "")
    except (ValueError, AttributeError, OSError):
        message = ""
    return f"HTTP {exc.code}" + (f": {message}" if message else "")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not args.dry_run and not args.manager:
        print("error: give --manager URL (or --dry-run)", file=sys.stderr)
        return EXIT_USAGE
    from blender_s2l.core.errors import S2LError

    manifest = Path(args.manifest).resolve()
    try:
        rows, notes = manifest_rows(manifest)
    except S2LError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    job = submitted_job(args, job_settings(args, manifest, args.rows or rows), manifest)
    if args.dry_run:
        print(json.dumps(job, indent=2, ensure_ascii=False))
        return 0
    try:
        job_type = call(args.manager, "GET", f"/api/v3/jobs/type/{JOB_TYPE}")
        job["type_etag"] = job_type["etag"]
        if args.check:
            call(args.manager, "POST", "/api/v3/jobs/check", job)
            print(f"The Manager compiled the job (lines {job['settings']['rows']}); "
                  "nothing was created.")
            return 0
        created = call(args.manager, "POST", "/api/v3/jobs", job)
    except urllib.error.HTTPError as exc:
        hint = " (is s2l_bake.js in the Manager's scripts folder?)" if exc.code == 404 else ""
        print(f"error: the Manager refused the request: {api_error(exc)}{hint}", file=sys.stderr)
        return EXIT_FAILED
    except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError) as exc:
        print(f"error: no usable answer from {args.manager}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"Submitted job {created.get('id', '?')} '{job['name']}': manifest lines "
          f"{job['settings']['rows']}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
