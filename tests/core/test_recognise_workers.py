"""Recognise Words in helper processes: the same phones as in this process, Esc that stops at
once, and a bake that still hears every piece when a helper dies or none can start."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from blender_s2l.core.errors import Cancelled
from blender_s2l.core.speech import audio as audio_io
from blender_s2l.core.speech import recognise, workers
from blender_s2l.core.speech.recognise import chunk_bounds, recognise_phones

RATE = audio_io.SAMPLE_RATE


@pytest.fixture(autouse=True)
def _fresh_helpers() -> Iterator[None]:
    pytest.importorskip("pocketsphinx")
    workers.shutdown()
    yield
    workers.shutdown()


@pytest.fixture
def long_line(speech_dir: Path, monkeypatch: pytest.MonkeyPatch) -> np.ndarray:
    """Two real recordings with a pause, cut into 4 s pieces: several pieces, real words."""
    monkeypatch.setattr(recognise, "CHUNK_S", 4.0)
    monkeypatch.setattr(recognise, "SEARCH_S", 1.5)
    clips = [audio_io.load_audio(speech_dir / "cmu_arctic" / "arctic_a0009.wav"),
             audio_io.load_audio(speech_dir / "codetalker" / "man.wav")]
    wav = np.concatenate([clips[0], np.zeros(RATE // 2, np.float32), clips[1]])
    assert len(chunk_bounds(wav, 4.0, 1.5)) >= 3
    return wav


def test_helpers_hear_the_same_phones_as_this_process(long_line: np.ndarray) -> None:
    here = recognise_phones(long_line, processes=0)
    side_by_side = recognise_phones(long_line, processes=2)
    one_helper = recognise_phones(long_line, processes=1)
    assert sum(p.phone in {"P", "B", "M"} for p in here) >= 3
    assert side_by_side == here
    assert one_helper == here
    assert len(workers._POOL.helpers) == 2  # kept for the next line


def test_esc_kills_the_helpers_at_once(long_line: np.ndarray) -> None:
    started = time.perf_counter()
    pressed: list[float] = []

    def esc() -> bool:  # pressed 0.3 s in, while the helpers decode
        if time.perf_counter() - started > 0.3:
            pressed.append(time.perf_counter())
            return True
        return False

    helpers: list[workers._Helper] = []
    real_start = workers._Pool.start

    def remember(pool: workers._Pool, n: int) -> list[workers._Helper]:
        got = real_start(pool, n)
        helpers.extend(got)
        return got

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(workers._Pool, "start", remember)
        with pytest.raises(Cancelled):
            recognise_phones(long_line, cancel=esc, processes=2)
    stopped = time.perf_counter()
    assert len(helpers) == 2
    assert all(h.proc.poll() is not None for h in helpers)  # killed, not left decoding
    assert stopped - pressed[0] < 0.5
    assert workers._POOL.helpers == []


def test_a_helper_that_dies_mid_line_costs_no_piece(long_line: np.ndarray) -> None:
    here = recognise_phones(long_line, processes=0)
    killed: list[int] = []
    real_send = workers._Helper.send

    def send_then_die(helper: workers._Helper, msg: tuple[object, ...]) -> None:
        real_send(helper, msg)
        if not killed:  # the first piece sent: its helper dies while hearing it
            killed.append(helper.proc.pid)
            threading.Timer(0.05, helper.proc.kill).start()

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(workers._Helper, "send", send_then_die)
        assert recognise_phones(long_line, processes=2) == here
    assert killed


def test_no_helper_can_start_so_this_process_hears_it(
        long_line: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    here = recognise_phones(long_line, processes=0)
    workers.shutdown()
    monkeypatch.setattr(sys, "executable", str(Path(sys.prefix) / "no-such-python"))
    seen: list[float] = []
    assert recognise_phones(long_line, progress=seen.append, processes=2) == here
    assert workers._POOL.helpers == []
    assert seen[-1] == 1.0 and all(b >= a for a, b in pairwise(seen))


def test_a_farm_core_gets_one_helper(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert workers.usable_cores() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "not a number")
    assert workers.usable_cores() >= 1


def test_word_from_a_helper_that_ended_before_the_line_costs_no_helper(
        long_line: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    """A killed helper's reader says "gone" a moment after it is killed, possibly after the next
    line has begun: that word is about the old helper, and the new ones keep working."""
    here = recognise_phones(long_line, processes=2)
    old = list(workers._POOL.helpers)
    workers.shutdown()
    real_start = workers._Pool.start

    def start_then_stale(pool: workers._Pool, n: int) -> list[workers._Helper]:
        got = real_start(pool, n)
        for h in old:
            pool.replies.put((h, None))
        return got

    monkeypatch.setattr(workers._Pool, "start", start_then_stale)
    assert recognise_phones(long_line, processes=2) == here
    assert len(workers._POOL.helpers) == 2 and all(h.alive() for h in workers._POOL.helpers)
