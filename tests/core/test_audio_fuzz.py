"""Fuzz the audio loader with a few hundred damaged files made here from short generated sounds.

Each file must load as finite mono float32 within ±MAX_SAMPLE and of a plausible length, or be
refused with one AudioError sentence: no other exception, no crash, no hang. Decoding runs in
child processes, in chunks, so a crash in a C decoder (libsndfile, ffmpeg via Blender's aud)
fails the test naming the file instead of killing pytest. Inside Blender the loader falls back
to aud, so the children import bpy when it is installed. The seed is fixed: a failure reproduces.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from audio_helpers import MUTATIONS, bad_floats, bases, odd_header

SEED = 20
N_PER_BASE = 30
CHUNKS = 4
CHUNK_TIMEOUT_S = 60

DRIVER = r"""
import json, sys
if sys.argv[1] == "bpy":
    import bpy  # noqa: F401  (makes `aud` importable: the loader's fallback inside Blender)
import numpy as np
from blender_s2l.core.speech.audio import MAX_SAMPLE, audio_duration, load_audio
from blender_s2l.core.errors import AudioError

for path in sys.argv[2:]:
    print("start", path, flush=True)
    for fn in (audio_duration, load_audio):
        rec = {"file": path, "fn": fn.__name__}
        try:
            y = np.asarray(fn(path))
            if fn is load_audio:
                sane = (y.dtype == np.float32 and y.ndim == 1 and y.size >= 1
                        and bool(np.all(np.abs(y) <= MAX_SAMPLE)))  # False for NaN too
            else:
                sane = bool(np.isfinite(y) and y >= 0)
            seconds = y.size / 16000 if fn is load_audio else float(y)
            rec.update(result="ok", sane=sane, seconds=seconds)
        except AudioError as e:
            text = str(e)
            rec.update(result="refused", one_line=bool(text) and "\n" not in text, text=text)
        except BaseException as e:
            rec.update(result="other", error=f"{type(e).__name__}: {e}")
        print(json.dumps(rec), flush=True)
"""


def make_files(folder: Path) -> list[Path]:
    rng = np.random.default_rng(SEED)
    files: dict[str, bytes] = {}
    for suffix, data in bases(SEED).items():
        files[f"clean{suffix}"] = data
        for i in range(N_PER_BASE):
            mutate = MUTATIONS[i % len(MUTATIONS)]
            files[f"{mutate.__name__}_{i:02d}{suffix}"] = mutate(rng, data)
    for i in range(30):
        name, data = bad_floats(rng)
        files[f"{i:02d}{name}"] = data
    for i in range(30):
        name, data = odd_header(rng)
        files[f"{i:02d}{name}"] = data
    paths = []
    for name, data in files.items():
        (folder / name).write_bytes(data)
        paths.append(folder / name)
    return paths


def run_chunks(chunks: list[list[Path]], mode: str) -> list[dict[str, object]]:
    """All chunks at once (each child pays ~1 s importing bpy); a crash or hang names the file
    the child was on."""
    procs = [subprocess.Popen([sys.executable, "-c", DRIVER, mode, *map(str, paths)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for paths in chunks]
    records: list[dict[str, object]] = []
    try:
        for proc in procs:
            try:
                out, err = proc.communicate(timeout=CHUNK_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
                started = [ln for ln in out.splitlines() if ln.startswith("start")]
                pytest.fail(f"the loader hung on {started[-1] if started else 'its first file'}")
            started = [ln for ln in out.splitlines() if ln.startswith("start")]
            assert proc.returncode == 0, (
                f"the loader crashed (exit {proc.returncode}) on "
                f"{started[-1] if started else 'its first file'}: {err[-1500:]}"
            )
            records += [json.loads(ln) for ln in out.splitlines() if ln.startswith("{")]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return records


def test_damaged_files_load_finite_or_are_refused_in_one_sentence(tmp_path: Path) -> None:
    paths = make_files(tmp_path)
    assert len(paths) >= 250
    mode = "bpy" if importlib.util.find_spec("bpy") is not None else "plain"
    records = run_chunks([paths[k::CHUNKS] for k in range(CHUNKS)], mode)
    assert len(records) == 2 * len(paths)
    other = [r for r in records if r["result"] == "other"]
    assert other == [], other[:5]
    insane = [r for r in records if r["result"] == "ok" and not r["sane"]]
    assert insane == [], insane[:5]
    multi = [r for r in records if r["result"] == "refused" and not r["one_line"]]
    assert multi == [], multi[:5]
    # Sources last 0.25 s: a damaged header may change the rate, never invent minutes of sound.
    long = [r for r in records if r["fn"] == "load_audio" and float(r.get("seconds", 0)) > 60]
    assert long == [], long[:5]
    outcome = {Path(str(r["file"])).name: r["result"] for r in records if r["fn"] == "load_audio"}
    assert all(outcome[f"clean{s}"] == "ok" for s in bases(SEED) if s != ".aac")
    # the fuzz reached both ends: damage that still decodes, and damage that is refused
    counts = Counter(outcome.values())
    assert counts["ok"] > 50 and counts["refused"] > 50, counts
    for name, result in outcome.items():
        header = re.fullmatch(r"\d+_rate(\d+)_ch(\d+)\.wav", name)
        if header:
            rate, channels = (int(v) for v in header.groups())
            if not (1000 <= rate <= 768000 and 1 <= channels <= 1024):
                assert result == "refused", name
