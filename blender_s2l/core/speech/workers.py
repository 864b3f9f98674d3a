"""Hearing a line's pieces side by side, in helper processes.

pocketsphinx holds Python's GIL while it decodes, so threads would take turns on one core; a
helper process a core hears the pieces of a line at the same time. It also keeps the bake's own
process free: Blender's window stays responsive, and Esc ends a piece at once (the helpers are
killed) instead of after it.

A helper is this Python (`sys.executable`: Blender's own interpreter inside Blender) running
`serve()` with the parent's module path, so it finds the same numpy and pocketsphinx wherever
Blender installed them; it loads its decoders once, is kept for the next line, and leaves when
its parent does or after IDLE_S without work. Where no helper can start (a Python that cannot be
run, a locked-down machine), or one dies, the pieces left are heard in this process: slower,
the same phones.
"""

from __future__ import annotations

import json
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray

from ..errors import Cancelled
from ..progress import CANCELLED, Task
from .audio import SAMPLE_RATE
from .phones import Phone

IDLE_S = 300.0  # a helper with nothing to do for this long exits
POLL_S = 0.05  # how often the wait looks at Esc and moves the bar
GUESS_S_PER_S = 0.3  # decode time per second of audio assumed until a piece has been timed
BOOT = ("import sys, json, importlib; sys.path[:0] = json.loads(sys.argv[1]); "
        "importlib.import_module(sys.argv[2]).serve()")
_HEADER = struct.Struct("<Q")


def usable_cores() -> int:
    """Cores this process may use: its CPU affinity, capped by OMP_NUM_THREADS when that is set
    (a farm running one Blender a core sets it to 1, and then a line is heard in one helper)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        n = os.cpu_count() or 1
    limit = os.environ.get("OMP_NUM_THREADS", "").strip()
    if limit.isdigit() and int(limit) > 0:
        n = min(n, int(limit))
    return max(1, n)


def hear_pieces(pieces: Sequence[NDArray[np.float32]], task: Task,
                processes: int | None = None) -> list[list[Phone]]:
    """Each piece's phones (seconds from its start), in order: in up to `processes` helpers
    (None: one a usable core; 0: none), else here."""
    from .recognise import hear_piece, local_decoders

    heard: dict[int, list[Phone]] = {}
    total = float(sum(len(p) for p in pieces)) or 1.0
    n = min(len(pieces), usable_cores() if processes is None else processes)
    if n > 0:
        heard = _POOL.hear(pieces, n, task, total)
    for i, piece in enumerate(pieces):  # what no helper heard (none started, or one died)
        if i in heard:
            continue
        task.check()
        heard[i] = hear_piece(piece, local_decoders())
        task(sum(len(pieces[k]) for k in heard) / total)
    return [heard[i] for i in range(len(pieces))]


def shutdown() -> None:
    """End the helpers now (tests; the helpers otherwise end with this process)."""
    _POOL.close()


def serve() -> None:
    """A helper's life: read pieces, answer their phones, until the parent closes the pipe."""
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a stray print never enters a reply
    from .recognise import Decoders, hear_piece

    decoders = Decoders()
    idle = _exit_after(IDLE_S)
    while True:
        try:
            msg = _receive(sys.stdin.buffer)
        except (EOFError, OSError):
            return
        idle.cancel()
        call, index, samples = msg
        try:
            phones = hear_piece(np.frombuffer(samples, np.float32), decoders)
            reply: tuple[Any, ...] = (call, index, [tuple(p) for p in phones])
        except Exception as exc:  # the parent hears the piece itself instead
            reply = (call, index, f"{type(exc).__name__}: {exc}")
        _send(replies, reply)
        idle = _exit_after(IDLE_S)


class _Helper:
    """One helper process and the thread that reads its replies into the pool's queue."""

    def __init__(self, replies: queue.Queue[tuple[_Helper, Any]]) -> None:
        package = Path(__file__).resolve().parents[2]  # the add-on's folder, whatever its name
        paths = [str(package.parent), *sys.path]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-c", BOOT, json.dumps(paths),
             f"{package.name}.core.speech.workers"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
            creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),
        )
        self.busy: tuple[int, float] | None = None  # (piece, when it was sent)
        self.replies = replies
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stdout = self.proc.stdout
        try:
            while stdout is not None:
                self.replies.put((self, _receive(stdout)))
        except (EOFError, OSError, pickle.UnpicklingError):
            self.replies.put((self, None))  # gone

    def send(self, msg: tuple[Any, ...]) -> None:
        assert self.proc.stdin is not None
        _send(self.proc.stdin, msg)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


class _Pool:
    """The helpers of this process, started when first needed and kept for the next line."""

    def __init__(self) -> None:
        self.helpers: list[_Helper] = []
        self.replies: queue.Queue[tuple[_Helper, Any]] = queue.Queue()
        self.lock = threading.Lock()
        self.calls = 0

    def hear(self, pieces: Sequence[NDArray[np.float32]], n: int, task: Task,
             total: float) -> dict[int, list[Phone]]:
        """The pieces the helpers heard (all, unless one died or none could start); raises
        Cancelled, with the helpers killed, when the task is cancelled."""
        with self.lock:
            self.calls += 1
            call = self.calls
            helpers = self.start(n)
            # Longest first: the last piece to finish is a short one, so no core waits long.
            todo = sorted(range(len(pieces)), key=lambda i: -len(pieces[i]))
            heard: dict[int, list[Phone]] = {}
            seconds_per_sample = GUESS_S_PER_S / SAMPLE_RATE
            shown = 0.0
            try:
                while helpers and (todo or any(h.busy for h in helpers)):
                    for h in helpers:
                        if h.busy is None and todo:
                            i = todo.pop(0)
                            h.send((call, i, np.ascontiguousarray(pieces[i], np.float32)
                                    .tobytes()))
                            h.busy = (i, time.perf_counter())
                    if task.cancelled():
                        self._kill_all()
                        raise Cancelled(CANCELLED)
                    try:
                        helper, msg = self.replies.get(timeout=POLL_S)
                    except queue.Empty:
                        helper, msg = None, None
                    if helper not in helpers:  # a helper ended before this call began
                        helper = None
                    if helper is not None and (msg is None or not helper.alive()):
                        if helper.busy is not None:
                            todo.insert(0, helper.busy[0])  # heard here instead
                        helper.kill()
                        helpers.remove(helper)
                        self.helpers.remove(helper)
                    elif helper is not None and msg[0] == call and helper.busy is not None:
                        i, sent = helper.busy
                        helper.busy = None
                        if isinstance(msg[2], str):  # failed in the helper: heard here
                            continue
                        heard[i] = [Phone(*p) for p in msg[2]]
                        seconds_per_sample = (time.perf_counter() - sent) / max(len(pieces[i]), 1)
                    shown = max(shown, self._fraction(pieces, heard, helpers,
                                                      seconds_per_sample, total))
                    task(shown)
            except (OSError, ValueError):  # a pipe broke while sending: the rest is heard here
                self._kill_all()
                helpers = []
            finally:
                for h in helpers:
                    h.busy = None
            return heard

    @staticmethod
    def _fraction(pieces: Sequence[NDArray[np.float32]], heard: dict[int, list[Phone]],
                  helpers: list[_Helper], seconds_per_sample: float, total: float) -> float:
        """How far the hearing is: the pieces heard, plus the busy ones by the time they have
        taken against the time pieces have taken so far (never all of a piece until heard)."""
        done = float(sum(len(pieces[i]) for i in heard))
        now = time.perf_counter()
        for h in helpers:
            if h.busy is not None:
                i, sent = h.busy
                expected = max(len(pieces[i]) * seconds_per_sample, 1e-3)
                done += len(pieces[i]) * min((now - sent) / expected, 0.95)
        return done / total

    def start(self, n: int) -> list[_Helper]:
        """n live helpers (fewer when some cannot start), stale replies dropped."""
        self.helpers = [h for h in self.helpers if h.alive()]
        while not self.replies.empty():
            self.replies.get_nowait()
        while len(self.helpers) < n:
            try:
                self.helpers.append(_Helper(self.replies))
            except (OSError, ValueError, subprocess.SubprocessError):
                break
        return list(self.helpers[:n])

    def _kill_all(self) -> None:
        for h in self.helpers:
            h.kill()
        self.helpers = []

    def close(self) -> None:
        with self.lock:
            self._kill_all()


_POOL = _Pool()


def _send(stream: IO[bytes], msg: tuple[Any, ...]) -> None:
    data = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _receive(stream: IO[bytes]) -> Any:
    size = _HEADER.unpack(_read_exactly(stream, _HEADER.size))[0]
    return pickle.loads(_read_exactly(stream, size))


def _read_exactly(stream: IO[bytes], n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def _exit_after(seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, os._exit, (0,))
    timer.daemon = True
    timer.start()
    return timer
