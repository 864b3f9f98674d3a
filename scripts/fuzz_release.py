"""Release fuzz of the audio path: thousands of damaged sound files, outside Blender and in it.

    .venv/bin/python scripts/fuzz_release.py                     # 2400 files, seed 20, 2 jobs
    .venv/bin/python scripts/fuzz_release.py --files 20 --jobs 1 --out /tmp/fuzz.md
    .venv/bin/python scripts/fuzz_release.py --seed 20 --write 137 --keep /tmp/f   # one file

The suite's fuzz test (tests/core/test_audio_fuzz.py) tries a few hundred files in seconds on every
run; this is the longer run made before a release, with the same sources and mutations
(tests/audio_helpers.py) plus random bytes under many extensions. Every file is tried in two
settings, each in child processes so a crash in a C decoder (libsndfile, ffmpeg through
Blender's aud) costs one file, not the run:

- plain: `blender_s2l.core.speech.audio.load_audio` with bpy never imported (the CLI and batch
  tools);
- bpy: a fresh scene, the demo head with its 68 landmark vertices, the file as a sound strip,
  then the real bake (`blender.bake.run_sync`, COMPACT, CPU, bundled models, no word
  recognition), as the panel and batch run it.

Each file is ok (finite samples; for a bake, every shape key and keyframe finite), a clear error
(an S2LError of one sentence), an unclear error (an S2LError that is empty or several lines),
a traceback (any other exception, or one printed on stderr), a crash (the child died: the file
it was on is then re-run alone), a hang (past --timeout) or non-finite. A refused bake must
leave the scene, the sound file and the folders as they were. File i is made from its own
random stream (seed, i), so `--seed S --write i` rebuilds any file the report names.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "tests"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from audio_helpers import (  # noqa: E402
    MUTATIONS,
    Mutation,
    adts_noise,
    bad_floats,
    bases,
    encode,
    odd_header,
    tone,
)

SETTINGS = ("plain", "bpy")
# The sources come in every container Blender plays that the fixture makes; the last three
# kinds are whole files of their own (bad samples, lying headers, noise).
SOURCES = ("wav16", "f32wav", "f64wav", "flac", "ogg", "mp3", "aac")
KINDS = (*SOURCES, "bad_floats", "odd_header", "random")
SUFFIX = {"wav16": ".wav", "f32wav": ".wav", "f64wav": ".wav", "flac": ".flac", "ogg": ".ogg",
          "mp3": ".mp3", "aac": ".aac"}
BASE_KEY = {"wav16": ".wav", "f32wav": ".f32.wav", "f64wav": ".f64.wav", "flac": ".flac",
            "ogg": ".ogg", "mp3": ".mp3", "aac": ".aac"}
# Names a user's sound could have, the wrong one included: the loader picks its decoder by it.
EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aac", ".m4a", ".mp4", ".opus", ".aif", ".webm",
              ".txt", "")
# Real magic numbers in front of noise reach further into each parser than bare noise.
MAGICS = {"noise": b"", "riff": b"RIFF\x24\x08\x00\x00WAVEfmt ", "flac": b"fLaC\x00\x00\x00\x22",
          "ogg": b"OggS\x00\x02", "id3": b"ID3\x04\x00\x00\x00\x00\x00\x00",
          "mpeg": b"\xff\xfb\x90\x00", "adts": b"\xff\xf1\x50\x80",
          "aiff": b"FORM\x00\x00\x10\x00AIFF", "m4a": b"\x00\x00\x00\x20ftypM4A "}
RANDOM_SIZES = (0, 1, 4, 44, 100, 1000, 10_000, 100_000)
COLUMNS = ("tried", "ok", "clear error", "unclear error", "traceback", "crash", "hang",
           "non-finite", "not clean")
BAD = ("unclear error", "traceback", "crash", "hang", "non-finite", "not clean")
MARK = "@@fuzz"


# --- the files ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    """How file `index` was made: enough, with the seed, to name it in a report."""

    index: int
    kind: str
    mutation: str
    suffix: str
    note: str = ""  # the generator's own details, or "renamed" (a wrong extension or none)

    @property
    def name(self) -> str:
        note = f"_{self.note}" if self.note else ""
        return f"{self.index:05d}_{self.kind}_{self.mutation}{note}{self.suffix}"


def stacked(rng: np.random.Generator, data: bytes) -> bytes:
    """Two or three mutations in a row: damage rarely comes one fault at a time."""
    for _ in range(int(rng.integers(2, 4))):
        if not data:  # truncated to nothing: no byte left to damage
            break
        data = MUTATIONS[int(rng.integers(len(MUTATIONS)))](rng, data)
    return data


def varied_source(rng: np.random.Generator, kind: str) -> bytes:
    """A valid sound of the kind at a random rate, channel count and length (0.05-2 s): longer
    files put more of the damage in the samples rather than in the headers."""
    if kind == "aac":
        return adts_noise(int(rng.integers(2**31)), int(rng.integers(0, 16)),
                          int(rng.integers(0, 8)), int(rng.integers(1, 60)))
    rate = int(rng.choice([8000, 11025, 16000, 22050, 32000, 44100, 48000]))
    seconds = float(rng.uniform(0.05, 2.0))
    channels = int(rng.integers(1, 3))
    x = np.stack([tone(float(rng.uniform(80, 900)), seconds, rate) for _ in range(channels)], 1)
    fmt, subtype = {"wav16": ("WAV", "PCM_16"), "f32wav": ("WAV", "FLOAT"),
                    "f64wav": ("WAV", "DOUBLE"), "flac": ("FLAC", "PCM_24"),
                    "ogg": ("OGG", "VORBIS"), "mp3": ("MP3", "MPEG_LAYER_III")}[kind]
    return encode(x.astype(np.float64 if kind == "f64wav" else np.float32), rate, fmt, subtype)


def make_file(seed: int, index: int, fixed: dict[str, bytes]) -> tuple[Recipe, bytes]:
    """File `index` of the run: the kind cycles with the index, the rest comes from its seed."""
    rng = np.random.default_rng([seed, index])
    kind = KINDS[index % len(KINDS)]
    if kind == "bad_floats":
        name, data = bad_floats(rng)
        return Recipe(index, kind, kind, ".wav", name.removesuffix(".wav").strip("_")), data
    if kind == "odd_header":
        name, data = odd_header(rng)
        return Recipe(index, kind, kind, ".wav", name.removesuffix(".wav").strip("_")), data
    if kind == "random":
        magic = list(MAGICS)[int(rng.integers(len(MAGICS)))]
        size = int(rng.choice(RANDOM_SIZES))
        data = MAGICS[magic] + rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        suffix = EXTENSIONS[int(rng.integers(len(EXTENSIONS)))]
        return Recipe(index, kind, magic, suffix, f"{size}b"), data
    source = fixed[BASE_KEY[kind]] if rng.random() < 0.5 else varied_source(rng, kind)
    choices: list[tuple[str, Mutation | None]] = [("clean", None), ("stacked", stacked)]
    choices += [(m.__name__, m) for m in MUTATIONS]
    weights = np.array([0.3] + [1.0] * (len(choices) - 1))
    label, mutate = choices[int(rng.choice(len(choices), p=weights / weights.sum()))]
    data = mutate(rng, source) if mutate is not None else source
    suffix, note = SUFFIX[kind], ""
    if rng.random() < 0.1:  # the wrong name, or none: the loader trusts the extension first
        suffix, note = EXTENSIONS[int(rng.integers(len(EXTENSIONS)))], "renamed"
    return Recipe(index, kind, label, suffix, note), data


def write_files(seed: int, indices: list[int], folder: Path) -> list[tuple[Recipe, Path]]:
    folder.mkdir(parents=True, exist_ok=True)
    fixed = bases(seed)
    out = []
    for i in indices:
        recipe, data = make_file(seed, i, fixed)
        path = folder / recipe.name
        path.write_bytes(data)
        out.append((recipe, path))
    return out


# --- the children ------------------------------------------------------------------------------


def emit(**rec: Any) -> None:
    """One machine-readable line on stdout (Blender and the decoders print there too)."""
    print(MARK, json.dumps(rec), flush=True)


def mark_stderr(index: int) -> None:
    """One write, so a decoder's own stderr output cannot split the marker from its number."""
    sys.stderr.write(f"{MARK} start {index}\n")
    sys.stderr.flush()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"


def listing(tmp: Path, files: Path) -> list[str]:
    """What the child's temporary folder holds (all of it) and the names beside the sound."""
    return sorted(str(p) for p in tmp.rglob("*")) + sorted(os.listdir(files))


def error_record(exc: BaseException) -> dict[str, Any]:
    """A refusal is clear when it is an S2LError of one non-empty line; anything else is not."""
    from blender_s2l.core.errors import S2LError

    text = str(exc).strip()
    if isinstance(exc, S2LError):
        clear = bool(text) and "\n" not in text
        return {"result": "clear error" if clear else "unclear error",
                "error": f"{type(exc).__name__}: {text}"}
    return {"result": "traceback", "error": f"{type(exc).__name__}: {text}"[:2000]}


def plain_child(items: list[tuple[int, str]]) -> None:
    """load_audio outside Blender: finite mono float32 within ±MAX_SAMPLE, or one sentence."""
    from blender_s2l.core.speech.audio import MAX_SAMPLE, load_audio

    tmp = Path(tempfile.gettempdir())
    for index, name in items:
        path = Path(name)
        emit(start=index)
        mark_stderr(index)
        before, before_dirs, t0 = digest(path), listing(tmp, path.parent), time.perf_counter()
        rec: dict[str, Any] = {"index": index}
        try:
            y = load_audio(path)
            sane = y.dtype == np.float32 and y.ndim == 1 and y.size >= 1
            finite = bool(np.all(np.abs(y) <= MAX_SAMPLE))  # False for NaN and inf too
            rec.update(result="ok" if finite and sane else "non-finite",
                       detail=f"{y.size / 16000:.3f} s at 16 kHz")
        except Exception as exc:
            rec.update(error_record(exc))
        rec.update(seconds=time.perf_counter() - t0, bpy_loaded="bpy" in sys.modules,
                   clean=digest(path) == before and listing(tmp, path.parent) == before_dirs)
        emit(**rec)


def head_object(bpy: Any, head: Any, store_landmarks: Callable[..., None]) -> Any:
    mesh = bpy.data.meshes.new("Head")
    mesh.from_pydata(head.vertices.astype(float).tolist(), [], [list(f) for f in head.faces])
    obj = bpy.data.objects.new("Head", mesh)
    bpy.context.scene.collection.objects.link(obj)
    store_landmarks(obj, head.landmark_vertices)
    return obj


def scene_state(bpy: Any) -> dict[str, Any]:
    """Everything a refused bake must leave as it was: keys, their data, actions, properties."""
    out: dict[str, Any] = {"actions": sorted(a.name for a in bpy.data.actions),
                           "meshes": sorted(m.name for m in bpy.data.meshes),
                           "frames": (bpy.context.scene.frame_start, bpy.context.scene.frame_end)}
    for obj in bpy.data.objects:
        key = obj.data.shape_keys
        co = np.zeros(len(obj.data.vertices) * 3, dtype=np.float32)
        obj.data.vertices.foreach_get("co", co)
        out[obj.name] = ([k.name for k in key.key_blocks] if key else None, sorted(obj.keys()),
                         hashlib.sha256(co.tobytes()).hexdigest())
    return out


def take_finite(bpy: Any, obj: Any, keys: list[str]) -> bool:
    """Every shape key of the take and every keyframe value finite."""
    key = obj.data.shape_keys
    if key is None or not keys:
        return False
    co = np.zeros(len(obj.data.vertices) * 3, dtype=np.float32)
    for name in keys:
        key.key_blocks[name].data.foreach_get("co", co)
        if not np.all(np.isfinite(co)):
            return False
    for action in bpy.data.actions:
        for layer in action.layers:
            for strip in layer.strips:
                for bag in strip.channelbags:
                    for fc in bag.fcurves:
                        values = np.zeros(2 * len(fc.keyframe_points), dtype=np.float32)
                        fc.keyframe_points.foreach_get("co", values)
                        if not np.all(np.isfinite(values)):
                            return False
    return True


def bpy_child(items: list[tuple[int, str]]) -> None:
    """The bake inside Blender, each file on a fresh scene with the demo head."""
    import bpy

    from blender_s2l.blender import bake
    from blender_s2l.blender.storage import store_landmarks
    from blender_s2l.demo_head.make import make_demo_head

    head = make_demo_head(0)
    tmp = Path(tempfile.gettempdir())
    params = bake.BakeParams(object_name="Head", strip_name="Voice", mode="COMPACT",
                             device="CPU", recognise_words=False)
    for index, name in items:
        path = Path(name)
        emit(start=index)
        mark_stderr(index)
        t0 = time.perf_counter()
        rec: dict[str, Any] = {"index": index}
        bpy.ops.wm.read_homefile(use_empty=True)
        obj = head_object(bpy, head, store_landmarks)
        scene = bpy.context.scene
        before_file, before_dirs = digest(path), listing(tmp, path.parent)
        try:
            strip = scene.sequence_editor_create().strips.new_sound("Voice", str(path), 1, 1)
        except RuntimeError as exc:  # Blender's own refusal, before the add-on is involved
            rec.update(result="clear error", error=f"new_sound: {exc}", strip="refused")
        else:
            # the whole strip inside the scene, so the bake reaches the sound, however long
            scene.frame_end = max(scene.frame_end, int(strip.frame_final_end))
            rec["strip_frames"] = int(strip.frame_final_end - strip.frame_final_start)
            before = scene_state(bpy)
            try:
                took = bake.run_sync(bpy.context, params)
                finite = take_finite(bpy, obj, list(took.keys))
                rec.update(result="ok" if finite else "non-finite",
                           detail=f"{len(took.keys)} keys")
            except Exception as exc:
                rec.update(error_record(exc))
                rec["scene_same"] = scene_state(bpy) == before
        rec.update(seconds=time.perf_counter() - t0,
                   clean=digest(path) == before_file and listing(tmp, path.parent) == before_dirs)
        emit(**rec)


def child_main(setting: str, list_file: Path) -> int:
    items = [(int(i), str(p)) for i, p in json.loads(list_file.read_text())]
    (bpy_child if setting == "bpy" else plain_child)(items)
    return 0


# --- the parent --------------------------------------------------------------------------------


def lines_of(stream: Any, out: queue.Queue[str | None]) -> None:
    for line in stream:
        out.put(line)
    out.put(None)


def run_child(setting: str, items: list[tuple[int, Path]], work: Path, worker: str,
              timeout: float) -> Iterator[dict[str, Any]]:
    """Yield one record per file; a child that dies or stalls is replaced and the run goes on
    after the file it was on (recorded as a crash or hang)."""
    left = list(items)
    attempt = 0
    while left:
        attempt += 1
        tmp = work / "tmp" / f"{worker}.{attempt}"
        tmp.mkdir(parents=True)
        list_file = work / f"{worker}.{attempt}.json"
        list_file.write_text(json.dumps([(i, str(p)) for i, p in left]))
        env = {**os.environ, "TMPDIR": str(tmp), "PYTHONPATH": str(ROOT)}
        env.pop("BLENDER_S2L_WEIGHTS", None)  # the bundled models, as a user gets them
        err_path = work / f"{worker}.{attempt}.stderr"
        with open(err_path, "wb") as err:
            proc = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--child", setting,
                 str(list_file)], stdout=subprocess.PIPE, stderr=err, text=True,
                errors="replace", cwd=str(tmp), env=env)
            lines: queue.Queue[str | None] = queue.Queue()
            threading.Thread(target=lines_of, args=(proc.stdout, lines), daemon=True).start()
            current: int | None = None
            fate = ""
            while True:
                try:
                    line = lines.get(timeout=timeout if current is not None else 600)
                except queue.Empty:
                    proc.kill()
                    fate = "hang"
                    break
                if line is None:
                    break
                at = line.find(MARK + " ")  # a decoder's unfinished line may come first
                if at < 0:
                    continue
                rec = json.loads(line[at + len(MARK) + 1 :])
                if "start" in rec:
                    current = rec["start"]
                    continue
                current = None
                left = [(i, p) for i, p in left if i != rec["index"]]
                rec["stderr_file"] = str(err_path)
                yield rec
            code = proc.wait()
        if current is None and not left:
            return
        if current is None:  # died between files or before the first: not a file's doing
            raise RuntimeError(f"the {setting} child exited {code} outside any file; "
                               f"see {err_path}")
        if not fate:
            fate = "crash"
        yield {"index": current, "result": fate, "error": f"exit {code}", "seconds": timeout,
               "stderr_file": str(err_path)}
        left = [(i, p) for i, p in left if i != current]


def stderr_tracebacks(records: list[dict[str, Any]]) -> set[int]:
    """Files during which a child printed a Python traceback on stderr (a handler's, say)."""
    found: set[int] = set()
    for log in {r["stderr_file"] for r in records}:
        current = -1
        for line in Path(log).read_text(errors="replace").splitlines():
            started = re.search(re.escape(MARK) + r" start (\d+)", line)
            if started:
                current = int(started.group(1))
            if "Traceback (most recent call last)" in line and current >= 0:
                found.add(current)
    return found


def run_setting(setting: str, files: list[tuple[Recipe, Path]], jobs: int, work: Path,
                timeout: float) -> tuple[list[dict[str, Any]], float]:
    t0 = time.perf_counter()
    items = [(r.index, p) for r, p in files]
    parts = [items[k::jobs] for k in range(jobs)]
    results: list[list[dict[str, Any]]] = [[] for _ in parts]
    failures: list[BaseException] = []

    def work_on(k: int) -> None:
        try:
            results[k].extend(run_child(setting, parts[k], work, f"{setting}{k}", timeout))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work_on, args=(k,)) for k in range(len(parts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise failures[0]
    records = sorted((r for part in results for r in part), key=lambda r: int(r["index"]))
    printed = stderr_tracebacks(records)
    for r in records:
        if int(r["index"]) in printed and r["result"] in ("ok", "clear error"):
            r.update(result="traceback", error="a traceback printed on stderr")
    # A crash or hang is re-run alone in a fresh child: does the file do it by itself?
    by_index = {r.index: p for r, p in files}
    for r in records:
        if r["result"] in ("crash", "hang"):
            again = list(run_child(setting, [(int(r["index"]), by_index[int(r["index"])])],
                                   work, f"{setting}.alone{r['index']}", timeout))
            r["alone"] = again[0]["result"] if again else "?"
    return records, time.perf_counter() - t0


def classify(r: dict[str, Any]) -> str:
    """The column of one file; a clear error that changed the scene is no clear error."""
    if r["result"] in ("ok", "clear error") and not (r["clean"] and r.get("scene_same", True)):
        return "not clean"
    return str(r["result"])


def counts(records: list[dict[str, Any]]) -> dict[str, int]:
    c = Counter(classify(r) for r in records)
    return {col: len(records) if col == "tried" else c[col] for col in COLUMNS}


def shown_args() -> list[str]:
    """The command line without --keep DIR, which only keeps the files and changes no count."""
    args, out, skip = sys.argv[1:], [], False
    for a in args:
        if skip:
            skip = False
        elif a == "--keep":
            skip = True
        elif not a.startswith("--keep="):
            out.append(a)
    return out


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}")


def revision() -> str:
    """The commit the run tried, and whether the working tree differed from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "blender_s2l", "scripts",
                                "tests"], cwd=ROOT, check=True, capture_output=True,
                               text=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    return f"commit {head}" + (" with uncommitted changes" if dirty else "")


def bpy_version() -> str:
    try:
        out = subprocess.run([sys.executable, "-c", "import bpy; print(bpy.app.version_string)"],
                             capture_output=True, text=True, timeout=120, check=True)
        return out.stdout.strip().splitlines()[-1]
    except (subprocess.SubprocessError, IndexError):
        return "not importable"


WHAT_RAN = {
    "plain": "`core.audio.load_audio(path)` in child processes that never import bpy",
    "bpy": "fresh scene, demo head (68 landmark vertices), `strips.new_sound` (the scene's "
           "frame range stretched to hold the strip), `blender.bake.run_sync` COMPACT on CPU "
           "with the bundled models, recognise_words=False, the package imported from the "
           "working tree (tests/blender cover the installed zip)",
}


def report(args: argparse.Namespace, files: list[tuple[Recipe, Path]],
           runs: dict[str, tuple[list[dict[str, Any]], float]], wall: float) -> str:
    recipes = {r.index: r for r, _ in files}
    table = {s: counts(recs) for s, (recs, _) in runs.items()}
    met = all(table[s][col] == 0 for s in table for col in BAD)
    enough = all(table[s]["tried"] >= 2000 for s in table) and set(table) == set(SETTINGS)
    lines = [
        "# Release fuzz of the audio path",
        "",
        f"`{' '.join(['.venv/bin/python', 'scripts/fuzz_release.py', *shown_args()])}`",
        "",
        f"- seed {args.seed}, {len(files)} files, {args.jobs} jobs, per-file timeout "
        f"{args.timeout:g} s",
        f"- machine: {machine()}; bpy {bpy_version()}",
        f"- wall time: {wall:.0f} s in all ("
        + ", ".join(f"{s} {t:.0f} s" for s, (_, t) in runs.items()) + ")",
        f"- date: {time.strftime('%Y-%m-%d')}; code: {revision()}",
        "",
        "## Counts",
        "",
        "| setting | " + " | ".join(COLUMNS) + " |",
        "|---|" + "---|" * len(COLUMNS),
    ]
    for s, row in table.items():
        lines.append(f"| {s} | " + " | ".join(str(row[c]) for c in COLUMNS) + " |")
    lines += [
        "",
        f"Target (crash, traceback, hang, non-finite 0; every refusal one sentence that leaves "
        f"the scene and files unchanged): **{'met' if met else 'NOT met'}**"
        + ("" if enough else " (on fewer than 2,000 files in each setting: not a release run)")
        + ".",
        "",
        "What ran, for every file:",
        "",
        *[f"- {s}: {WHAT_RAN[s]}" for s in runs],
        *([f"- plain children that had bpy imported: "
           f"{sum(bool(r.get('bpy_loaded')) for r in runs['plain'][0])}"] if "plain" in runs
          else []),
        "",
        "Columns: ok = finite output (a bake: every shape key and keyframe finite); clear error "
        "= an S2LError of one sentence; unclear error = an S2LError empty or of several lines; "
        "traceback = any other exception, or a Python traceback on stderr; crash = the child "
        "died; hang = over the timeout; not clean = a file that left something in the temporary "
        "folder or beside the sound, or changed the sound file, or a refusal that changed the "
        "scene (shape keys, actions, mesh, custom properties, frame range), counted there and "
        "not under ok or clear error.",
        "",
        "## Files by kind",
        "",
        "| kind | files | clean | mutations (random: the magic number in front) | renamed |",
        "|---|---|---|---|---|",
    ]
    for kind in KINDS:
        rs = [r for r in recipes.values() if r.kind == kind]
        muts = Counter(r.mutation for r in rs)
        renamed = sum(r.note == "renamed" for r in rs)
        top = ", ".join(f"{m} {n}" for m, n in sorted(muts.items()) if m != "clean")
        lines.append(f"| {kind} | {len(rs)} | {muts['clean']} | {top} | {renamed} |")
    suffixes = Counter(r.suffix or "(none)" for r in recipes.values())
    lines += ["", "Extensions: " + ", ".join(f"{s} {n}" for s, n in sorted(suffixes.items())),
              "", "## Findings", ""]
    found = False
    for s, (recs, _) in runs.items():
        for r in recs:
            col = classify(r)
            if col in BAD:
                found = True
                rc = recipes[int(r["index"])]
                alone = f"; alone: {r['alone']}" if "alone" in r else ""
                what = r.get("error", r.get("detail", ""))
                lines.append(
                    f"- {s} {col}: seed {args.seed}, index {rc.index}, kind {rc.kind}, mutation "
                    f"{rc.mutation} {rc.note}, file `{rc.name}`: {what}{alone}. Rebuild: "
                    f"`scripts/fuzz_release.py --seed {args.seed} --write {rc.index} --keep DIR`")
    if not found:
        lines.append("None.")
    lines += ["", "## Most common refusals", ""]
    for s, (recs, _) in runs.items():
        texts = Counter(generic(str(r.get("error", ""))) for r in recs
                        if r["result"] == "clear error")
        lines.append(f"{s}:")
        lines.append("")
        lines += [f"- {n} x {t}" for t, n in texts.most_common(8)]
        lines.append("")
    if set(SETTINGS) <= set(runs):
        lines += differences(runs, recipes)
    lines += ["## Slowest files", "",
              "A child's first file decoded through librosa (outside Blender) pays its import.",
              ""]
    for s, (recs, _) in runs.items():
        slow = sorted(recs, key=lambda r: -float(r.get("seconds", 0)))[:3]
        lines.append(f"- {s}: " + ", ".join(
            f"`{recipes[int(r['index'])].name}` {float(r['seconds']):.1f} s ({r['result']}"
            + (f", a strip of {r['strip_frames']} frames" if "strip_frames" in r else "") + ")"
            for r in slow) + f"; mean {np.mean([float(r['seconds']) for r in recs]):.2f} s")
    return "\n".join(lines) + "\n"


def differences(runs: dict[str, tuple[list[dict[str, Any]], float]],
                recipes: dict[int, Recipe]) -> list[str]:
    """Files one setting reads and the other refuses: inside Blender aud decodes what
    libsndfile cannot, and Blender's own strip checks come first."""
    result = {s: {int(r["index"]): r["result"] for r in recs} for s, (recs, _) in runs.items()}
    lines = ["## Outside against inside Blender", "",
             "| kind | ok in both | refused in both | ok outside, refused inside | "
             "refused outside, ok inside |", "|---|---|---|---|---|"]
    for kind in KINDS:
        c: Counter[tuple[str, str]] = Counter(
            (result["plain"].get(i, "?"), result["bpy"].get(i, "?"))
            for i, r in recipes.items() if r.kind == kind)
        lines.append(f"| {kind} | {c['ok', 'ok']} | {c['clear error', 'clear error']} | "
                     f"{c['ok', 'clear error']} | {c['clear error', 'ok']} |")
    return [*lines, ""]


def generic(text: str) -> str:
    """A refusal with its file name and numbers blanked, so alike refusals count together."""
    text = re.sub(r"\S*\d{5}_[^\s:()]*?(?=\.?(\s|$|[:()]))", "<file>", text)
    text = re.sub(r"\d+(\.\d+)?(e[+-]?\d+)?", "N", text)
    return text[:220]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=2400)
    ap.add_argument("--seed", type=int, default=20)
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "fuzz.md")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per file")
    ap.add_argument("--settings", default="plain,bpy", help="plain, bpy or both (comma)")
    ap.add_argument("--keep", type=Path, help="keep the files and child logs in this folder")
    ap.add_argument("--write", type=int, nargs="+", metavar="INDEX",
                    help="only write these files into --keep (to reproduce a finding)")
    ap.add_argument("--child", nargs=2, metavar=("SETTING", "LIST"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child_main(args.child[0], Path(args.child[1]))
    if args.write:
        if args.keep is None:
            ap.error("--write needs --keep")
        for recipe, path in write_files(args.seed, args.write, args.keep):
            print(f"{path}  ({recipe.kind}, {recipe.mutation})")
        return 0
    settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    if not settings or any(s not in SETTINGS for s in settings):
        ap.error(f"--settings takes {', '.join(SETTINGS)}")
    work = Path(tempfile.mkdtemp(prefix="s2l_fuzz_")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    try:
        files = write_files(args.seed, list(range(args.files)), work / "files")
        print(f"{len(files)} files in {time.perf_counter() - t0:.1f} s", flush=True)
        runs: dict[str, tuple[list[dict[str, Any]], float]] = {}
        for s in settings:
            runs[s] = run_setting(s, files, max(1, args.jobs), work, args.timeout)
            print(s, counts(runs[s][0]), f"{runs[s][1]:.0f} s", flush=True)
            with open(work / f"results.{s}.jsonl", "w") as fh:
                fh.writelines(json.dumps(r) + "\n" for r in runs[s][0])
        text = report(args, files, runs, time.perf_counter() - t0)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out}")
    bad = sum(counts(recs)[c] for recs, _ in runs.values() for c in BAD)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
