"""The Flamenco job type (farm/flamenco/s2l_bake.js, #21 item 3), compiled by a stand-in for the
Manager's job compiler under Node, and every task it makes run here for real on the bpy module.

The Manager, its API and its Workers are simulated in flamenco_sim.py; `blender` is
blender_shim.py, which reads Blender's command line and runs batch.py on this Python's bpy.
Skipped without node.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import re
import shutil
import signal
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flamenco_sim import (
    NODE,
    ROOT,
    CompileError,
    command_line,
    compile_job,
    describe,
    fake_manager,
    in_dependency_order,
    run_task,
    task_process,
    write_blender,
)

from blender_s2l import batch
from blender_s2l.core.bake.settings import OPTIONS

if NODE is None:
    pytest.skip("needs node (the job type is JavaScript run by Flamenco Manager)",
                allow_module_level=True)


def _load_submit() -> Any:
    """farm/flamenco/submit.py (a script, not a package) under a name of its own."""
    spec = importlib.util.spec_from_file_location("flamenco_submit",
                                                  ROOT / "farm" / "flamenco" / "submit.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


submit = _load_submit()

BATCH_PY = ROOT / "blender_s2l" / "batch.py"
GOOD = 30  # job lines that bake; four more fail (their manifest lines; the header is line 1):
MISSING_AUDIO, NO_OBJECT = 9, 20  # found when their bake starts
DUPLICATE_OUT, BAD_MODE = 33, 34  # refused before any bake: line 12's out, a mode "SIDEWAYS"
BAD = (MISSING_AUDIO, NO_OBJECT, DUPLICATE_OUT, BAD_MODE)
LAST = GOOD + len(BAD) + 1  # 34 job lines: 2..35


def job(settings: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """A SubmittedJob of this job type."""
    base = {"manifest": "/farm/lines/jobs.csv", "rows": "2-33",
            "summary_dir": "/farm/lines/summaries", "batch_script": "/ext/blender_s2l/batch.py"}
    return {"name": "lines", "type": "s2l-bake", "priority": 50, "submitter_platform": "linux",
            "settings": {**base, **settings}, **extra}


def spans(tasks: list[dict[str, Any]]) -> list[tuple[int, int]]:
    out = []
    for task in tasks[:-1]:
        m = re.fullmatch(r"bake-rows-(\d+)-(\d+)", task["name"])
        assert m, task["name"]
        out.append((int(m.group(1)), int(m.group(2))))
    return out


def batch_args(task: Mapping[str, Any]) -> list[str]:
    """What batch.py reads of a task's command line: everything after `--`."""
    args: list[str] = task["commands"][0]["parameters"]["args"]
    assert args[:3] == ["--python", args[1], "--"]
    return args[3:]


# ---------------------------------------------------------------------------------- compiling


def test_the_job_type_offers_the_extensions_options(tmp_path: Path) -> None:
    """Defaults, choices and bounds are the extension's, and every flag parses in batch.py."""
    settings = {s["key"]: s for s in describe()["settings"]}
    options = {o.name: o for o in OPTIONS}
    for key in ("mode", "device"):
        assert settings[key]["choices"] == list(options[key].ids), key
        assert settings[key]["default"] == options[key].default, key
    for key in ("mouth_strength", "smoothing", "lip_closure", "closure_sensitivity", "seed"):
        assert settings[key]["default"] == options[key].default, key
        assert settings[key]["propargs"]["min"] == options[key].min, key
        if options[key].max is not None:
            assert settings[key]["propargs"]["max"] == options[key].max, key
    assert settings["seed"]["propargs"]["max"] == 2**31 - 1
    assert settings["upper_face"]["default"] is options["upper_face"].default is True
    assert settings["rows_per_task"]["propargs"]["min"] == 1
    assert {k for k, s in settings.items() if s.get("required")} == {
        "manifest", "rows", "summary_dir", "batch_script"}

    compiled = compile_job(job({
        "mode": "PER_FRAME", "device": "CPU", "recognise_words": "off",
        "mouth_strength": 0.8, "upper_face": False, "seed": 7, "smoothing": 0.25,
        "lip_closure": 0.5, "closure_sensitivity": 0.75, "rig_map": "/farm/map.json",
        "cache_dir": "/farm/cache", "force": True}), tmp_path)
    args = batch.parser().parse_args(batch_args(compiled["tasks"][0]))
    assert (args.mode, args.device, args.recognise_words, args.mouth_strength, args.upper_face,
            args.seed, args.smoothing, args.lip_closure, args.closure_sensitivity, args.rig_map,
            args.cache_dir, args.force) == ("PER_FRAME", "CPU", False, 0.8, False, 7, 0.25, 0.5,
                                            0.75, "/farm/map.json", "/farm/cache", True)
    assert (args.jobs, args.rows, args.summary) == (
        "/farm/lines/jobs.csv", "2-21", "/farm/lines/summaries/rows_2-21.jsonl")

    # the defaults leave batch.py its own: the same values, and recognition left to it
    plain = compile_job(job({}), tmp_path)
    args = batch.parser().parse_args(batch_args(plain["tasks"][0]))
    for o in OPTIONS:
        if o.flag and o.name not in ("recognise_words", "transcript"):
            assert getattr(args, o.name) == o.default, o.name
    assert args.recognise_words is None and not args.force
    assert "--recognise-words" not in batch_args(plain["tasks"][0])
    # and the job's page shows what the tasks were given
    assert plain["settings"]["rows_per_task"] == 20 and plain["settings"]["mode"] == "COMPACT"
    assert plain["settings"]["blender_exe"] == "{blender}"


@pytest.mark.parametrize(("rows", "per_task"), [("2-33", 8), ("2-33", 5), ("2", 20),
                                                 ("5-104", 7), ("2-33", 100), ("2-3", 1)])
def test_tasks_cover_every_row_once_and_the_merge_waits_for_all(
    tmp_path: Path, rows: str, per_task: int
) -> None:
    compiled = compile_job(job({"rows": rows, "rows_per_task": per_task,
                                "blendfile": "/farm/scene.blend"}), tmp_path)
    tasks = compiled["tasks"]
    first, _, last = rows.partition("-")
    wanted = list(range(int(first), int(last or first) + 1))
    covered = [n for a, b in spans(tasks) for n in range(a, b + 1)]
    assert covered == wanted  # contiguous, in order, each row once
    assert all(b - a + 1 <= per_task for a, b in spans(tasks))
    assert len(tasks) - 1 == -(-len(wanted) // per_task)
    *bakes, merge = tasks
    assert merge["name"] == "merge-summaries"
    assert sorted(merge["dependencies"]) == sorted(t["uuid"] for t in bakes)
    assert all(t["dependencies"] == [] and t["type"] == "blender" for t in bakes)
    assert in_dependency_order(tasks)[-1] is merge
    summaries = set()
    for task, (a, b) in zip(bakes, spans(tasks), strict=True):
        (command,) = task["commands"]
        assert command["name"] == "blender-render"
        p = command["parameters"]
        assert (p["exe"], p["exeArgs"], p["blendfile"]) == (
            "{blender}", "{blenderArgs}", "/farm/scene.blend")
        assert p["argsBefore"] == ["--background", "--python-exit-code", "1"]
        assert p["args"][:3] == ["--python", "/ext/blender_s2l/batch.py", "--"]
        args = batch.parser().parse_args(batch_args(task))
        assert (args.jobs, args.rows) == ("/farm/lines/jobs.csv", f"{a}-{b}")
        summaries.add(args.summary)
    assert summaries == {f"/farm/lines/summaries/rows_{a}-{b}.jsonl" for a, b in spans(tasks)}
    p = merge["commands"][0]["parameters"]
    assert p["blendfile"] == "" and batch_args(merge) == [
        "--merge-summaries", "/farm/lines/summaries"]


@pytest.mark.parametrize(("settings", "words"), [
    ({"manifest": None}, '"manifest" is required'),
    ({"batch_script": "  "}, '"batch_script" must not be empty'),
    ({"rows": "1-5"}, "from line 2 or later"),
    ({"rows": "9-3"}, "from line 2 or later"),
    ({"rows": "two-five"}, "is not a range of manifest lines"),
    ({"rows_per_task": 0}, '"rows_per_task" is 0, below 1'),
    ({"rows_per_task": 2.5}, "must be a whole number"),
    ({"mouth_strength": 4}, '"mouth_strength" is 4, above 3'),
    ({"lip_closure": "1"}, "must be a number"),
    ({"mode": "SIDEWAYS"}, "it must be one of COMPACT, PER_FRAME, RIG"),
    ({"recognise_words": "yes"}, "one of auto, on, off"),
    ({"upper_face": "false"}, "must be true or false"),
])
def test_bad_settings_refuse_the_job_at_submission(
    tmp_path: Path, settings: dict[str, Any], words: str
) -> None:
    submitted = job({})
    submitted["settings"].update(settings)
    submitted["settings"] = {k: v for k, v in submitted["settings"].items() if v is not None}
    with pytest.raises(CompileError) as err:
        compile_job(submitted, tmp_path)
    assert err.value.returncode == 2 and words in str(err.value), err.value


@pytest.mark.parametrize(("script", "words"), [
    ('const JOB_TYPE = {label: "x", settings: []};\n'
     'function compileJob(job) { const t = author.Task("a", "misc");\n'
     '  t.addCommand(author.Command("exec", {exe: "x"})); t.setEnv("A", "1"); }',
     'has no property "setEnv"'),
    ('const JOB_TYPE = {label: "x", settings: []};\n'
     'function compileJob(job) { job.addTasks([]); }', 'job has no property "addTasks"'),
    ('const JOB_TYPE = {label: "x", settings: []};\n'
     'function compileJob(job) { author.Job("a"); }', 'author has no property "Job"'),
    ('const JOB_TYPE = {label: "x", settings: []};\n'
     'function compileJob(job) { console.log("hi"); }', "console is not defined"),
    ('const JOB_TYPE = {label: "x", settings: []};\n'
     'function compileJob(job) { frameChunker("1-9", 3); }', "does not implement it"),
    ('const JOB_TYPE = {label: "x", settings: [{key: "a", type: "int"}]};\n'
     "function compileJob(job) {}", "type int is not one of Flamenco's"),
    ('const JOB_TYPE = {label: "x", settings: [{key: "a", type: "string", hidden: true}]};\n'
     "function compileJob(job) {}", '"hidden" is not part of AvailableJobSetting'),
    ('const JOB_TYPE = {label: "x", settings: []};\n'
     "function compileJob(job) { undeclared = 1; }", "undeclared is not defined"),
    ('const JOB_TYPE = {label: "x", settings: []};', "does not define a compileJob"),
])
def test_the_harness_refuses_what_flamenco_does_not_have(
    tmp_path: Path, script: str, words: str
) -> None:
    path = tmp_path / "s2l_bake.js"  # named as the job type, so the job's type matches
    path.write_text(script)
    with pytest.raises(CompileError) as err:
        compile_job(job({}), tmp_path, script=path)
    assert words in str(err.value), err.value


def test_a_task_changed_after_add_task_keeps_what_it_had(tmp_path: Path) -> None:
    """As in the Manager, job.addTask copies the task: later commands and dependencies are
    lost (so s2l_bake.js adds the merge task last, after its dependencies)."""
    path = tmp_path / "s2l_bake.js"
    path.write_text('const JOB_TYPE = {label: "x", settings: []};\n'
                    "function compileJob(job) {\n"
                    '  const a = author.Task("a", "misc"); job.addTask(a);\n'
                    '  const b = author.Task("b", "misc"); job.addTask(b);\n'
                    '  b.addDependency(a); b.addCommand(author.Command("echo", {message: "m"}));\n'
                    "}")
    compiled = compile_job(job({}), tmp_path, script=path)
    assert [(t["name"], t["commands"], t["dependencies"]) for t in compiled["tasks"]] == [
        ("a", [], []), ("b", [], [])]


# ------------------------------------------------------------------------- submitting (API)


def test_submit_reads_the_rows_and_posts_a_job(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    manifest = tmp_path / "jobs.csv"  # Excel's sep= line, blank lines, a quoted line break
    manifest.write_text('sep=;\nobject;audio;out;transcript\n\nHead;a.wav;a.blend;"two\nlines"\n'
                        "Head;b.wav;b.blend;\n\n")
    common = ["--manifest", str(manifest), "--summary-dir", "/farm/s", "--batch-script",
              "{s2l_batch}", "--rows-per-task", "1", "--no-upper-face", "--recognise-words"]
    assert submit.main([*common, "--dry-run"]) == 0
    sent = json.loads(capsys.readouterr().out)
    assert sent["type"] == "s2l-bake" and sent["submitter_platform"] == platform.system().lower()
    assert sent["settings"] == {
        "manifest": str(manifest), "rows": "4-6", "summary_dir": "/farm/s",
        "batch_script": "{s2l_batch}", "rows_per_task": 1, "upper_face": False,
        "recognise_words": "on"}
    with fake_manager(tmp_path) as (url, jobs):
        assert submit.main([*common, "--manager", url, "--check"]) == 0
        assert jobs == []
        assert submit.main([*common, "--manager", url, "--mouth-strength", "9"]) == 1
        assert '"mouth_strength" is 9, above 3' in capsys.readouterr().err
        assert submit.main([*common, "--manager", url]) == 0
    (made,) = jobs
    assert [t["name"] for t in made["tasks"]] == [
        "bake-rows-4-4", "bake-rows-5-5", "bake-rows-6-6", "merge-summaries"]
    assert f"Submitted job {made['jobID']}" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text("nothing,here\n1,2\n")
    assert submit.main(["--manifest", str(bad), "--summary-dir", "s", "--batch-script", "b",
                        "--dry-run"]) == 2


# ------------------------------------------------------------------------- running (for real)


def _wav(path: Path, seconds: float, seed: int) -> None:
    import soundfile as sf

    rate = 16000
    t = np.arange(int(seconds * rate)) / rate
    f0 = 120 + 6 * seed
    x = 0.3 * np.sin(2 * np.pi * f0 * t) * np.clip(np.sin(2 * np.pi * 3.3 * t), 0, None)
    sf.write(str(path), x.astype(np.float32), rate)


@pytest.fixture
def lines(tmp_path: Path) -> Path:
    """A scene (the demo head, landmarks stored) and a 34-line manifest of 1 s lines: 30 that
    bake, and four bad ones (see BAD)."""
    bpy = pytest.importorskip("bpy", reason="needs the bpy module (real Blender)")
    from blender_s2l.demo import add_demo_head

    folder = tmp_path / "lines"
    (folder / "audio").mkdir(parents=True)
    bpy.ops.wm.read_homefile(use_empty=True)
    add_demo_head()
    bpy.ops.wm.save_as_mainfile(filepath=str(folder / "scene.blend"))
    rows = []
    for line in range(2, LAST + 1):
        name = f"line_{line:02d}"
        if line != MISSING_AUDIO:
            _wav(folder / "audio" / f"{name}.wav", 1.0, line)
        obj = "Nobody" if line == NO_OBJECT else "Head"
        out = "line_12" if line == DUPLICATE_OUT else name
        mode = "SIDEWAYS" if line == BAD_MODE else ""
        rows.append(f"{obj},audio/{name}.wav,out/{out}.blend,{mode}")
    (folder / "jobs.csv").write_text("object,audio,out,mode\n" + "\n".join(rows) + "\n")
    return folder


def mend(manifest: Path) -> None:
    """The four bad lines made good, every line where it was."""
    text = manifest.read_text().replace("Nobody,", "Head,").replace(",SIDEWAYS", ",")
    lines = text.splitlines()
    lines[DUPLICATE_OUT - 1] = lines[DUPLICATE_OUT - 1].replace("out/line_12.", "out/line_33.")
    manifest.write_text("\n".join(lines) + "\n")


def oks(log: str) -> list[int]:
    return [int(n) for n in re.findall(r"^ok   line (\d+):", log, re.M)]


def skips(log: str) -> list[int]:
    return [int(n) for n in re.findall(r"^skip line (\d+): output exists$", log, re.M)]


def summary_records(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln.endswith("}")]


@pytest.mark.blender
@pytest.mark.slow
def test_every_compiled_task_runs_for_real_and_a_killed_task_resumes(
    lines: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import bpy

    from blender_s2l.blender.storage import read_takes

    sums = lines / "summaries"
    with fake_manager(tmp_path) as (url, jobs):
        assert submit.main(["--manager", url, "--manifest", str(lines / "jobs.csv"),
                            "--summary-dir", str(sums), "--batch-script", str(BATCH_PY),
                            "--scene", str(lines / "scene.blend"), "--rows-per-task", "10",
                            "--no-recognise-words"]) == 0
    capsys.readouterr()
    (compiled,) = jobs
    *bakes, merge = in_dependency_order(compiled["tasks"])
    assert spans(compiled["tasks"]) == [(2, 11), (12, 21), (22, 31), (32, 35)]
    # The Manager's variables for a Linux worker, and the worker's own environment and folder.
    variables = {"blender": str(write_blender(tmp_path)), "blenderArgs": "-b -y"}
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    worker = tmp_path / "worker"
    worker.mkdir()
    out = lines / "out"
    good = [n for n in range(2, LAST + 1) if n not in BAD]
    argv = command_line(bakes[0]["commands"][0], variables)
    assert argv[:5] == [variables["blender"], "-b", "-y", "--background", "--python-exit-code"]
    assert argv[6:9] == [str(lines / "scene.blend"), "--python", str(BATCH_PY)]

    # The first task is killed (SIGKILL, as a lost worker's Blender) once three lines are done.
    proc = task_process(bakes[0], variables, worker, env)
    first_summary = sums / "rows_2-11.jsonl"
    deadline = time.monotonic() + 120
    while len(summary_records(first_summary)) < 3 and proc.poll() is None:
        assert time.monotonic() < deadline, "the first task made no progress"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    killed_log, _ = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, killed_log
    whole = {n for n in good if (out / f"line_{n:02d}.blend").is_file()}
    before = {n: (out / f"line_{n:02d}.blend").stat().st_mtime_ns for n in whole}
    assert set(oks(killed_log)) <= whole and len(oks(killed_log)) >= 3
    assert len(whole - set(oks(killed_log))) <= 1  # killed between its rename and its "ok"
    assert MISSING_AUDIO not in oks(killed_log)

    # Flamenco runs it again (a retry, on this or another worker), then the other tasks.
    logs = {"killed": killed_log}
    codes = {}
    for task in bakes:
        codes[task["name"]], logs[task["name"]] = run_task(task, variables, worker, env)
    assert codes == {"bake-rows-2-11": 1, "bake-rows-12-21": 1, "bake-rows-22-31": 0,
                     "bake-rows-32-35": 1}, logs
    retry = logs["bake-rows-2-11"]
    assert sorted(skips(retry)) == sorted(whole)  # nothing baked twice ...
    assert {n: (out / f"line_{n:02d}.blend").stat().st_mtime_ns for n in whole} == before
    baked = Counter(n for log in logs.values() for n in oks(log))
    assert sorted(baked) == sorted(set(good) - (whole - set(oks(killed_log))))
    assert set(baked.values()) == {1}  # ... and every line once
    assert re.search(rf"^FAIL line {MISSING_AUDIO}: The audio file .* does not exist", retry,
                     re.M), retry
    assert f"FAIL line {NO_OBJECT}: There is no object named 'Nobody'." in \
        logs["bake-rows-12-21"]
    assert "summary: 9 of 10 jobs baked, 1 failed (line 20)" in logs["bake-rows-12-21"]
    # refused before any bake; the duplicate's first writer is in another task
    last = logs["bake-rows-32-35"]
    assert re.search(rf"^FAIL line {DUPLICATE_OUT}: Its out .*line_12.blend is already written "
                     r"by line 12; each line needs its own out\.$", last, re.M), last
    assert re.search(rf"^FAIL line {BAD_MODE}: .*SIDEWAYS", last, re.M), last
    assert "summary: 2 of 4 jobs baked, 2 failed (line 33, line 34)" in last

    # The merge (Flamenco runs it once every bake task is done; here it runs regardless).
    code, merge_log = run_task(merge, variables, worker, env)
    assert code == 1, merge_log  # lines are still failed
    report = json.loads((sums / "summary.json").read_text())
    unreported = len(whole - set(oks(killed_log)))
    assert report["counts"] == {"ok": GOOD - unreported, "fail": len(BAD), "skip": unreported}
    assert report["lines"] == GOOD + len(BAD) and report["damaged"] == []
    assert [(f["line"], Path(f["file"]).name) for f in report["failed"]] == [
        (MISSING_AUDIO, "rows_2-11.jsonl"), (NO_OBJECT, "rows_12-21.jsonl"),
        (DUPLICATE_OUT, "rows_32-35.jsonl"), (BAD_MODE, "rows_32-35.jsonl")]
    assert "does not exist" in report["failed"][0]["reason"]
    assert "Nobody" in report["failed"][1]["reason"]
    assert {d["line"] for d in report["duplicates"]} >= set(oks(killed_log))

    # Every output is whole and holds its take; nothing else but a killed save's temp file.
    for n in good:
        bpy.ops.wm.open_mainfile(filepath=str(out / f"line_{n:02d}.blend"))
        assert list(read_takes(bpy.data.objects["Head"])) == [f"line_{n:02d}"], n
    strays = sorted(p.name for p in out.iterdir() if not re.fullmatch(r"line_\d\d\.blend", p.name))
    assert len(strays) <= 1 and all(s.endswith(".s2l-tmp") for s in strays), strays

    # Mend the bad lines (every line where it was) and requeue what failed: only they bake.
    shutil.copy(lines / "audio" / "line_02.wav", lines / "audio" / f"line_{MISSING_AUDIO:02d}.wav")
    manifest = lines / "jobs.csv"
    mend(manifest)
    for task, mended in ((bakes[0], [MISSING_AUDIO]), (bakes[1], [NO_OBJECT]),
                         (bakes[3], [DUPLICATE_OUT, BAD_MODE])):
        code, log = run_task(task, variables, worker, env)
        assert code == 0 and oks(log) == mended, log
    code, merge_log = run_task(merge, variables, worker, env)
    assert code == 0, merge_log
    report = json.loads((sums / "summary.json").read_text())
    assert report["counts"] == {"ok": GOOD + len(BAD) - unreported, "fail": 0,
                                "skip": unreported}
    for n in BAD:
        bpy.ops.wm.open_mainfile(filepath=str(out / f"line_{n:02d}.blend"))
        assert list(read_takes(bpy.data.objects["Head"])) == [f"line_{n:02d}"], n

    # A range starting past the manifest's end (a --rows typed by hand) fails its task alone.
    past = compile_job(job({"manifest": str(manifest), "rows": "30-40", "rows_per_task": 6,
                            "summary_dir": str(tmp_path / "past"),
                            "batch_script": str(BATCH_PY)}), tmp_path)
    code, log = run_task(past["tasks"][1], variables, worker, env)
    assert code == 2 and "starts past the end of the manifest, whose last job line is 35" in log

