"""The bake cache (core/bake/cache.py): what hits, what misses, and a bad folder never fails a bake.

Calls to the recogniser, the aligner and S2L are counted by monkeypatched wrappers, so a hit is
proved by a call that did not happen."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from blender_s2l.core import animate as animate_mod
from blender_s2l.core.bake import cache as cache_mod
from blender_s2l.core.bake import pipeline
from blender_s2l.core.bake.cache import BakeCache, session_cache
from blender_s2l.core.bake.pipeline import BakeInputs, infer
from blender_s2l.core.bake.settings import BakeSettings
from blender_s2l.core.errors import S2LError
from blender_s2l.core.speech import line_align, recognise
from blender_s2l.core.speech.line_align import LineAlignment
from blender_s2l.core.speech.phones import LinePhones, Phone
from blender_s2l.demo_head.make import make_demo_head

FAKE_PHONES = [Phone(0.10, 0.20, "M"), Phone(0.20, 0.40, "AA"), Phone(0.50, 0.60, "P")]


@pytest.fixture(scope="module")
def head():  # type: ignore[no-untyped-def]
    return make_demo_head(target_vertices=2000)


def _speech(seconds: float, f0: float = 180.0, sr: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    env = np.clip(np.sin(2 * np.pi * 3.0 * t), 0, None) ** 2
    return (0.3 * env * np.sin(2 * np.pi * f0 * t)).astype(np.float32)


class Calls:
    def __init__(self) -> None:
        self.recognise = 0
        self.align = 0
        self.s2l = 0


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    """Count the recogniser (a stand-in: pocketsphinx need not be installed), the aligner and
    S2L."""
    c = Calls()
    real_s2l = animate_mod.run_s2l

    def fake_recognise(wav: Any, progress: Any = None, cancel: Any = None) -> list[Phone]:
        c.recognise += 1
        return list(FAKE_PHONES)

    def fake_align(wav: Any, transcript: str, *args: Any) -> LineAlignment:
        c.align += 1
        return LineAlignment([Phone(0.1, 0.3, "B"), Phone(0.3, 0.5, "IY")], 0.75,
                             ("aligned to 75%",))

    def counting_s2l(*args: Any, **kwargs: Any) -> Any:
        c.s2l += 1
        return real_s2l(*args, **kwargs)

    monkeypatch.setattr(recognise, "recognise_phones", fake_recognise)
    monkeypatch.setattr(recognise, "pocketsphinx_available", lambda: True)
    monkeypatch.setattr(line_align, "align_line", fake_align)
    monkeypatch.setattr(animate_mod, "run_s2l", counting_s2l)
    return c


@pytest.fixture
def wav(tmp_path: Path) -> Path:
    p = tmp_path / "line.wav"
    sf.write(p, _speech(1.5), 16000)
    return p


def _mesh(head: Any) -> tuple[Any, Any, Any]:
    return head.vertices, head.face_array(), head.landmark_vertices


def _inputs(head: Any, audio: Path, weights: Path, cache: BakeCache | None,
            **choices: Any) -> BakeInputs:
    s = BakeSettings(device="CPU", weights_dir=str(weights), **choices)
    times = np.arange(40) / 30.0
    return BakeInputs(settings=s, audio_path=audio, vertices=head.vertices.astype(np.float64),
                      faces=head.face_array(),
                      frames=np.arange(40, dtype=np.int64), times=times,
                      landmarks68=head.landmark_vertices, label="line", cache=cache)


def test_downstream_settings_hit_and_the_motion_is_the_same(
        head: Any, wav: Path, random_weights_dir: Path, calls: Calls, tmp_path: Path) -> None:
    plain = infer(_inputs(head, wav, random_weights_dir, None))
    assert (calls.recognise, calls.s2l) == (1, 1)
    cache = BakeCache(tmp_path / "cache")
    first = infer(_inputs(head, wav, random_weights_dir, cache))
    assert (calls.recognise, calls.s2l) == (2, 2)
    np.testing.assert_array_equal(first.motion.landmarks, plain.motion.landmarks)
    assert not first.motion.notes or "cache" not in " ".join(first.motion.notes)
    for choice in ({"mouth_strength": 0.5}, {"smoothing": 0.6}, {"mode": "PER_FRAME"},
                   {"lip_closure": 0.3}, {"closure_sensitivity": 0.9}, {"upper_face": False},
                   {"seed": 4}):
        again = infer(_inputs(head, wav, random_weights_dir, cache, **choice))
        assert (calls.recognise, calls.s2l) == (2, 2), choice
        expected = infer(_inputs(head, wav, random_weights_dir, None, **choice))
        calls.recognise = calls.s2l = 2  # the uncached bake to compare with counts not
        np.testing.assert_array_equal(again.motion.landmarks, expected.motion.landmarks)
    calls.recognise = calls.s2l = 0
    # A new session: the memory is gone, the folder remembers.
    fresh = BakeCache(tmp_path / "cache")
    infer(_inputs(head, wav, random_weights_dir, fresh, mouth_strength=2.0))
    assert (calls.recognise, calls.s2l) == (0, 0)
    assert fresh.misses == 0 and fresh.hits >= 2  # S2L is looked up twice


def test_the_networks_run_while_the_words_are_heard(
        head: Any, wav: Path, random_weights_dir: Path, calls: Calls, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The recogniser's helpers decode while this process loads the models and runs S2L into
    the cache; the bake then uses that S2L output instead of running it again."""
    s2l_when_heard: list[int] = []

    def slow_recognise(wav: Any, progress: Any = None, cancel: Any = None) -> list[Phone]:
        deadline = time.monotonic() + 20.0
        while calls.s2l == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        s2l_when_heard.append(calls.s2l)
        return list(FAKE_PHONES)

    monkeypatch.setattr(recognise, "recognise_phones", slow_recognise)
    plan = infer(_inputs(head, wav, random_weights_dir, BakeCache(tmp_path / "cache")))
    assert s2l_when_heard == [1] and calls.s2l == 1
    plain = infer(_inputs(head, wav, random_weights_dir, None))
    np.testing.assert_array_equal(plan.motion.landmarks, plain.motion.landmarks)


def test_models_that_fail_to_load_while_words_are_heard_say_so(
        head: Any, wav: Path, calls: Calls, tmp_path: Path) -> None:
    with pytest.raises(S2LError, match="weights"):
        infer(_inputs(head, wav, tmp_path / "no-weights-here", BakeCache(tmp_path / "cache")))


def test_the_same_sound_in_another_container_hits_and_a_changed_sound_misses(
        head: Any, wav: Path, random_weights_dir: Path, calls: Calls, tmp_path: Path) -> None:
    cache = BakeCache(tmp_path / "cache")
    infer(_inputs(head, wav, random_weights_dir, cache))
    flac = tmp_path / "line.flac"
    sf.write(flac, sf.read(wav, dtype="float32")[0], 16000)
    infer(_inputs(head, flac, random_weights_dir, BakeCache(tmp_path / "cache")))
    assert (calls.recognise, calls.s2l) == (1, 1)
    sf.write(wav, _speech(1.5, f0=150.0), 16000)  # the same file name, new sound
    infer(_inputs(head, wav, random_weights_dir, cache))
    assert (calls.recognise, calls.s2l) == (2, 2)


def test_a_new_transcript_misses_the_phones_but_not_the_speech_model(
        head: Any, wav: Path, random_weights_dir: Path, calls: Calls, tmp_path: Path) -> None:
    cache = BakeCache(tmp_path / "cache")
    first = infer(_inputs(head, wav, random_weights_dir, cache, transcript="bee"))
    again = infer(_inputs(head, wav, random_weights_dir, cache, transcript="bee",
                          mouth_strength=0.4))
    assert (calls.align, calls.s2l, calls.recognise) == (1, 1, 0)
    for plan in (first, again):  # a re-bake tells how much was aligned, as the first did
        assert plan.motion.aligned == 0.75
        assert "aligned to 75%" in plan.motion.notes
    infer(_inputs(head, wav, random_weights_dir, cache, transcript="a bee"))
    assert (calls.align, calls.s2l) == (2, 1)
    infer(_inputs(head, wav, random_weights_dir, cache))  # recognised words: another source
    assert (calls.recognise, calls.align, calls.s2l) == (1, 2, 1)


def test_a_changed_phones_file_is_never_stale(wav: Path, calls: Calls, tmp_path: Path) -> None:
    cache = BakeCache(tmp_path / "cache")
    lab = tmp_path / "line.lab"
    lab.write_text("0.0 0.1 sil\n0.1 0.2 m\n0.2 0.4 aa\n")
    s = BakeSettings(phones_file=str(lab))
    task = pipeline.as_task(None, None)
    first = pipeline.line_phones(s, str(wav), task, cache).phones or []
    lab.write_text("0.0 0.1 sil\n0.1 0.3 b\n0.3 0.4 iy\n")
    second = pipeline.line_phones(s, str(wav), task, cache).phones or []
    assert [p.phone for p in first] != [p.phone for p in second]
    assert [p.phone for p in second][1] == "B"


def test_different_weights_miss(head: Any, wav: Path, random_weights_dir: Path, calls: Calls,
                                tmp_path: Path) -> None:
    anim = animate_mod.Animator.load(device="cpu", weights_dir=random_weights_dir)
    cache = BakeCache(tmp_path / "cache")
    anim.animate(wav, *_mesh(head), cache=cache)
    anim.animate(wav, *_mesh(head), cache=cache, mouth_strength=0.3)
    assert calls.s2l == 1
    params = dict(anim.s2l.params)
    params["head.bias"] = params["head.bias"] + np.float32(0.01)
    other = animate_mod.Animator(anim.s2l.with_params(params), anim.s2d, anim.upper, "cpu",
                                 anim.jaw)
    other.animate(wav, *_mesh(head), cache=cache)
    assert calls.s2l == 2
    assert other.s2l_identity != anim.s2l_identity


def line_entries(folder: Path) -> list[Path]:
    """The folder's entries of a line (phones, S2L track): a bake also keeps there what it
    found on the mesh (tests/core/test_mesh_facts_cache.py)."""
    return sorted(p for p in folder.glob("*.npz")
                  if cache_mod._load_entry(p)[1].get("kind") in ("phones", "s2l"))


def _bake_notes(head: Any, wav: Path, weights: Path, cache: BakeCache) -> tuple[str, ...]:
    return tuple(n for n in infer(_inputs(head, wav, weights, cache)).motion.notes
                 if "cache" in n.lower())


@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_a_folder_that_cannot_be_written_is_said_once_and_the_bake_runs(
        head: Any, wav: Path, random_weights_dir: Path, calls: Calls, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, err: int) -> None:
    tried = []

    def failing_save(path: Path, arrays: Any, meta: Any) -> None:
        tried.append(path)
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(cache_mod, "_save_entry", failing_save)
    cache = BakeCache(tmp_path / "cache")
    notes = _bake_notes(head, wav, random_weights_dir, cache)
    assert len(notes) == 1 and os.strerror(err) in notes[0], notes
    assert len(tried) == 1  # after the first failure the bake leaves the folder alone
    # The memory still spares the next bake its work; a later bake tries the folder again:
    # the plan's R of the mesh's basis is kept in the folder alone, so its write fails and
    # the bake says so, once.
    notes = _bake_notes(head, wav, random_weights_dir, cache)
    assert (calls.recognise, calls.s2l) == (1, 1)
    assert len(notes) == 1 and os.strerror(err) in notes[0] and len(tried) == 2, notes


def test_a_disk_full_at_the_last_write_leaves_no_temp_file(
        head: Any, wav: Path, random_weights_dir: Path, calls: Calls, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    real_savez = np.savez
    n = {"writes": 0}

    def savez_full(f: Any, **arrays: Any) -> None:
        n["writes"] += 1
        if n["writes"] == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_savez(f, **arrays)

    monkeypatch.setattr(cache_mod.np, "savez", savez_full)
    folder = tmp_path / "cache"
    notes = _bake_notes(head, wav, random_weights_dir, BakeCache(folder))
    assert len(notes) == 1 and "No space" in notes[0]
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []
    assert len(list(folder.glob("*.npz"))) == 1


def test_a_read_only_folder(head: Any, wav: Path, random_weights_dir: Path, calls: Calls,
                            tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("this user writes into read-only folders (root); covered by EROFS")
        notes = _bake_notes(head, wav, random_weights_dir, BakeCache(folder))
        assert len(notes) == 1
    finally:
        folder.chmod(0o700)


def test_a_folder_deleted_mid_bake(head: Any, wav: Path, random_weights_dir: Path,
                                   calls: Calls, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    folder = tmp_path / "cache"

    def recognise_then_delete(wav: Any, progress: Any = None, cancel: Any = None) -> list[Phone]:
        calls.recognise += 1
        # S2L runs on a second thread meanwhile and may be writing its entry into the folder:
        # delete again what appeared while the folder was being emptied, as a user would.
        for _ in range(100):
            shutil.rmtree(folder, ignore_errors=True)
            if not folder.exists():
                break
            time.sleep(0.01)
        assert not folder.exists()
        return list(FAKE_PHONES)

    monkeypatch.setattr(recognise, "recognise_phones", recognise_then_delete)
    cache = BakeCache(folder)
    notes = _bake_notes(head, wav, random_weights_dir, cache)
    assert len(notes) == 1 and "without it" in notes[0]
    assert not folder.exists()
    # The next bake makes the folder again and fills it.
    monkeypatch.setattr(recognise, "recognise_phones", lambda *a, **k: list(FAKE_PHONES))
    assert _bake_notes(head, wav, random_weights_dir, BakeCache(folder)) == ()
    assert len(line_entries(folder)) == 2


def _damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncated":
        path.write_bytes(bytes(data[: len(data) // 2]))
    elif how == "garbage":
        path.write_bytes(b"not a zip at all")
    elif how == "flipped":  # a stored (uncompressed) array byte: only the digest sees it
        data[len(data) // 3] ^= 0x40
        path.write_bytes(bytes(data))
    elif how == "nan":
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        for k in arrays:
            if k != cache_mod.META:
                arrays[k] = np.full_like(arrays[k], np.nan)
        with open(path, "wb") as f:
            np.savez(f, **arrays)
    elif how == "pickle":
        np.savez(path.with_suffix(""), obj=np.array([{"x": 1}], dtype=object))
        os.replace(path.with_suffix("").with_suffix(".npz"), path)


@pytest.mark.parametrize("how", ["truncated", "garbage", "flipped", "nan", "pickle"])
def test_damaged_entries_are_ignored_removed_and_said_once(
        head: Any, wav: Path, random_weights_dir: Path, calls: Calls, tmp_path: Path,
        how: str) -> None:
    folder = tmp_path / "cache"
    infer(_inputs(head, wav, random_weights_dir, BakeCache(folder)))
    entries = line_entries(folder)
    assert len(entries) == 2
    for p in entries:
        _damage(p, how)
    clean = infer(_inputs(head, wav, random_weights_dir, None))
    cache = BakeCache(folder)
    plan = infer(_inputs(head, wav, random_weights_dir, cache))
    notes = [n for n in plan.motion.notes if "cache" in n.lower()]
    assert len(notes) == 1 and "damaged" in notes[0]
    assert (calls.recognise, calls.s2l) == (3, 3)  # first, clean, and the damaged one again
    np.testing.assert_array_equal(plan.motion.landmarks, clean.motion.landmarks)
    # Removed and written again whole: the next session hits.
    again = BakeCache(folder)
    infer(_inputs(head, wav, random_weights_dir, again))
    assert again.misses == 0 and (calls.recognise, calls.s2l) == (3, 3)


def test_the_limit_evicts_the_oldest_and_clear_removes_only_the_caches_files(
        tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    folder.mkdir()
    mine = folder / "keep-me.txt"
    mine.write_text("the user's own file")
    track = cache_mod.S2LTrack(np.zeros((1000, 68, 3), np.float32), None)
    entry = 1000 * 68 * 3 * 4
    cache = BakeCache(folder, limit_mb=2.5 * entry / 2**20)
    cache.start_bake()
    for i in range(4):
        cache.s2l_track(_speech(0.1 + i * 0.01), "model", 68, lambda: track)
        for k, p in enumerate(sorted(folder.glob("*.npz"), key=os.path.getmtime)):
            os.utime(p, (1000 + k, 1000 + k))
    assert len(list(folder.glob("*.npz"))) == 2
    assert cache.size_bytes() <= cache.limit_bytes
    newest = _speech(0.13)
    cache.s2l_track(newest, "model", 68, lambda: pytest.fail("the newest must be kept"))
    assert cache.clear() == 2
    assert list(folder.iterdir()) == [mine]
    calls = []

    def counted() -> cache_mod.S2LTrack:
        calls.append(1)
        return track

    cache.s2l_track(newest, "model", 68, counted)
    assert calls == [1]


def test_session_cache_is_one_per_folder_and_no_cache_is_today(
        head: Any, wav: Path, random_weights_dir: Path, calls: Calls, tmp_path: Path) -> None:
    a = session_cache(tmp_path / "c")
    assert session_cache(str(tmp_path / "c")) is a
    assert session_cache(tmp_path / "d") is not a
    infer(_inputs(head, wav, random_weights_dir, None))
    infer(_inputs(head, wav, random_weights_dir, None, mouth_strength=0.5))
    assert (calls.recognise, calls.s2l) == (2, 2)
    cache_mod.forget_session_caches()


def test_cached_phones_come_back_as_they_went_in(wav: Path, tmp_path: Path) -> None:
    raw = sf.read(wav, dtype="float32")[0]
    cache = BakeCache(tmp_path / "cache")
    cache.start_bake()
    cache.phones(raw, "transcript", "words", lambda: LinePhones(list(FAKE_PHONES), 0.5, ("n",)))
    got = BakeCache(tmp_path / "cache").phones(raw, "transcript", "words",
                                               lambda: pytest.fail("must hit"))
    assert got == LinePhones(FAKE_PHONES, 0.5, ("n",))
    assert replace(BakeSettings(), mouth_strength=0.2)  # settings stay frozen dataclasses


def test_a_cached_speech_track_keeps_its_gate_and_a_bad_gate_is_computed_again(
        wav: Path, tmp_path: Path) -> None:
    raw = sf.read(wav, dtype="float32")[0]
    rng = np.random.default_rng(0)
    track = cache_mod.S2LTrack(rng.normal(size=(50, 68, 3)).astype(np.float32),
                               rng.uniform(size=50).astype(np.float32),
                               rng.uniform(size=50).astype(np.float32))
    cache = BakeCache(tmp_path / "cache")
    cache.start_bake()
    cache.s2l_track(raw, "model", 68, lambda: track)
    got = BakeCache(tmp_path / "cache").s2l_track(raw, "model", 68,
                                                   lambda: pytest.fail("must hit"))
    assert got.gate is not None and got.closure is not None
    np.testing.assert_array_equal(got.gate, track.gate)
    np.testing.assert_array_equal(got.closure, track.closure)
    # A gate that is not a share (here 1.5) is a damaged entry: computed again, never used.
    bad = cache_mod.S2LTrack(track.disp, track.closure, np.full(50, 1.5, np.float32))
    other = raw[::-1].copy()
    cache.s2l_track(other, "model", 68, lambda: bad)
    again = BakeCache(tmp_path / "cache").s2l_track(other, "model", 68, lambda: track)
    assert again is track
    # A model without the posteriors has no gate, and none comes back.
    plain = cache_mod.S2LTrack(track.disp, track.closure)
    third = raw * 0.5
    cache.s2l_track(third, "model", 68, lambda: plain)
    back = BakeCache(tmp_path / "cache").s2l_track(third, "model", 68,
                                                    lambda: pytest.fail("must hit"))
    assert back.gate is None and back.closure is not None


@pytest.mark.skipif(sys.platform == "win32", reason="needs RLIMIT_FSIZE (POSIX)")
def test_a_write_cut_short_by_the_disk_prints_nothing_on_stderr(tmp_path: Path) -> None:
    """A cache write past the file-size limit (as on a full disk) left numpy's zip file open,
    and collecting it printed "Exception ignored in: ZipFile.__del__ ... seek of closed file"
    into the farm's log, for a failure the bake already reports as a note."""
    script = f"""
import gc, resource, signal, numpy as np
from pathlib import Path
from blender_s2l.core.bake import cache
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, resource.RLIM_INFINITY))
try:
    cache._save_entry(Path({str(tmp_path / 'entry.npz')!r}), {{"x": np.zeros(500_000)}}, {{}})
except OSError as exc:
    print("refused:", exc.errno)
gc.collect()
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2], timeout=120)
    assert done.stdout.startswith("refused:") and done.stderr == ""
    assert list(tmp_path.iterdir()) == []


def test_a_cache_folder_that_is_a_file_is_said_to_be_one(
        head: Any, wav: Path, random_weights_dir: Path, calls: Calls, tmp_path: Path) -> None:
    """The note said "(File exists)" for a folder name that is an existing file."""
    a_file = tmp_path / "cache"
    a_file.write_text("mine")
    (note,) = _bake_notes(head, wav, random_weights_dir, BakeCache(a_file))
    assert "(it is a file, not a folder)" in note
    assert a_file.read_text() == "mine"
