"""Nothing computed twice for the same line: the phones a line yields and the S2L track.

Recognising words (pocketsphinx) is most of a default bake, and the speech model most of the
rest; neither depends on Mouth Strength, Smoothing, Upper Face, Lip Closure, Closure
Sensitivity, the mode, the take or the mesh. So both are kept, keyed by a SHA-256 of the decoded
samples (after `load_audio`, so the same sound in another container hits and a changed file
misses) and of only what changes them:

- phones: the source (transcript or recognised words), the transcript, the recogniser's
  settings and version (a phones file is read every time: cheap, and never stale);
- S2L: the loudness-normalised samples, the weights (a digest of their arrays and config, the
  same content the .npz header's sha256 seals), the engine and the acoustic gate's version
  (`lip_closure.ACOUSTIC_GATE_ID`: the entry holds the gate beside the closure probability).

Entries live in memory for the session and, where a folder is given, on disk: one .npz each,
written to a temp file and renamed into place, read with allow_pickle=False, and checked
(kind, key, shapes, finite values, a SHA-256 over the arrays) before use. A damaged entry is
ignored and removed; a folder that cannot be read or written (read-only, full, deleted) turns
the disk off for the rest of the bake with one note, and the bake goes on without it. The
oldest entries (by last use) go once the folder is over its limit.

The same folder keeps what a bake finds on a mesh (`mesh_fact`: its features, S2D basis, lids,
lip contact, parts; core/head/head_mesh.py), so a new process re-baking the same mesh reads
them instead of finding them again. Such an entry is keyed by the caller (the mesh's arrays,
the model, the code that found it) and goes through the same checks; its arrays stay out of
memory here, where the HeadMesh keeps them already.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from ..files import write_atomic
from ..models.inference import S2LTrack
from ..speech.phones import LinePhones, Phone

FORMAT = 1
PREFIX = "s2l-cache-"
SUFFIX = ".npz"
META = "__meta__"
DEFAULT_LIMIT_MB = 1024
MEMORY_LIMIT_BYTES = 256 * 1024 * 1024
# Bump when recognition or alignment changes what it returns for the same sound and words.
PHONES_VERSION = 3  # 2: each piece heard with its own cepstral mean; 3: transcripts in pieces
MAX_META_BYTES = 1024 * 1024

Arrays = dict[str, NDArray[Any]]
T = TypeVar("T")


class _Damaged(Exception):
    """An entry on disk that must not be used."""


def audio_digest(wav: NDArray[Any]) -> str:
    """SHA-256 of samples as little-endian float32: the decoded sound, whatever its container."""
    a = np.ascontiguousarray(wav, dtype="<f4")
    h = hashlib.sha256(f"samples {a.shape}\0".encode())
    h.update(a.tobytes())
    return h.hexdigest()


def model_identity(runner: Any) -> str:
    """What an S2L runner computes with: its config and every array (numpy runtime), or the
    torch module's state, plus the engine (numpy and CUDA differ in the last bits)."""
    config = runner.config
    cfg = asdict(config) if is_dataclass(config) and not isinstance(config, type) else config
    h = hashlib.sha256(json.dumps({"config": cfg, "engine": type(runner).__name__},
                                  sort_keys=True, default=str).encode())
    params = getattr(runner, "params", None)
    if params is None:  # a torch module behind TorchS2L
        params = {k: v.detach().cpu().numpy() for k, v in runner.model.state_dict().items()}
    for name in sorted(params):
        a = np.ascontiguousarray(params[name], dtype="<f4")
        h.update(f"\0{name}\0{a.shape}\0".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def recogniser_identity() -> dict[str, Any]:
    """The recogniser's settings and version: a change in either misses."""
    from importlib import metadata

    from ..speech import recognise

    try:
        version = metadata.version("pocketsphinx")
    except metadata.PackageNotFoundError:
        version = "none"
    return {"pocketsphinx": version, "decoder": recognise.DECODER_SETTINGS,
            "chunk_s": recognise.CHUNK_S, "search_s": recognise.SEARCH_S,
            "quiet_db": recognise.QUIET_DB, "version": PHONES_VERSION}


def _key(kind: str, parts: dict[str, Any]) -> str:
    text = json.dumps({"kind": kind, "format": FORMAT, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _arrays_digest(meta: dict[str, Any], arrays: Arrays) -> str:
    h = hashlib.sha256(json.dumps(meta, sort_keys=True).encode())
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"\0{name}\0{a.dtype.str}\0{a.shape}\0".encode())
        h.update(a.data)  # the same bytes as tobytes(), not copied
    return h.hexdigest()


def _nbytes(arrays: Arrays) -> int:
    return sum(int(a.nbytes) for a in arrays.values())


class BakeCache:
    """Phones and S2L tracks of lines already heard; one per folder for the session
    (`session_cache`). Thread-safe; a bake calls `start_bake` and reads `take_notes` after."""

    def __init__(self, folder: str | Path | None = None,
                 limit_mb: float = DEFAULT_LIMIT_MB) -> None:
        self.folder = Path(folder) if folder else None
        self.limit_bytes = int(max(0.0, float(limit_mb)) * 1024 * 1024)
        self._memory: OrderedDict[str, tuple[Arrays, dict[str, Any]]] = OrderedDict()
        self._lock = threading.RLock()
        self._disk_ok = True
        self._notes: list[str] = []
        self.hits = 0
        self.misses = 0
        self.mesh_hits = 0  # mesh_fact's, apart: a bake looks up several facts of one mesh
        self.mesh_misses = 0

    # -- one bake --------------------------------------------------------------------------
    def start_bake(self) -> None:
        """A fresh bake tries the folder again (it may have been mended) and says new things."""
        with self._lock:
            self._notes = []
            self._disk_ok = self.folder is not None
            if self.folder is not None:
                try:
                    self.folder.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    self._disk_failed(exc)

    def take_notes(self) -> tuple[str, ...]:
        with self._lock:
            notes, self._notes = tuple(self._notes), []
            return notes

    def _note(self, text: str) -> None:
        if text not in self._notes:
            self._notes.append(text)

    def _disk_failed(self, exc: OSError) -> None:
        if self._disk_ok:
            a_file = self.folder is not None and self.folder.is_file()
            reason = "it is a file, not a folder" if a_file else (
                exc.strerror or type(exc).__name__)
            self._note(f"The cache folder {self.folder} could not be used ({reason}), so this "
                       "bake ran without it; check the folder in the add-on preferences or "
                       "--cache-dir.")
        self._disk_ok = False

    # -- what is cached ----------------------------------------------------------------------
    def phones(self, raw_wav: NDArray[Any], source: str, transcript: str,
               compute: Callable[[], LinePhones]) -> LinePhones:
        """The phones of a line from a transcript or recognised words, computed once (with
        what the user was told about them, so a re-bake tells it again)."""
        parts = {"audio": audio_digest(raw_wav), "source": source,
                 "transcript": transcript if source == "transcript" else "",
                 "recogniser": recogniser_identity()}
        key = _key("phones", parts)
        found = self._get(key, "phones", _check_phones)
        if found is not None:
            arrays, meta = found
            aligned = meta.get("aligned")
            return LinePhones(
                [Phone(float(s), float(e), str(p)) for s, e, p in
                 zip(arrays["start"], arrays["end"], meta["labels"], strict=True)],
                float(aligned) if isinstance(aligned, (int, float)) else None,
                tuple(str(n) for n in meta.get("notes", [])))
        line = compute()
        if line.phones is None:
            return line
        arrays = {"start": np.array([p[0] for p in line.phones], np.float64),
                  "end": np.array([p[1] for p in line.phones], np.float64)}
        self._put(key, "phones", arrays, {"labels": [str(p[2]) for p in line.phones],
                                          "aligned": line.aligned, "notes": list(line.notes)})
        return line

    def s2l_track(self, wav: NDArray[Any], model_id: str, n_landmarks: int,
                  compute: Callable[[], S2LTrack]) -> S2LTrack:
        """The S2L output (before any setting is applied) of loudness-normalised samples."""
        key = _key("s2l", {"audio": audio_digest(wav), "model": model_id})

        def check(arrays: Arrays, meta: dict[str, Any]) -> None:
            _check_track(arrays, meta, n_landmarks)

        found = self._get(key, "s2l", check)
        if found is not None:
            arrays, meta = found
            closure, gate = (arrays[k].copy() if meta.get(k) else None
                             for k in ("closure", "gate"))
            return S2LTrack(arrays["disp"].copy(), closure, gate)
        track = compute()
        arrays = {"disp": np.ascontiguousarray(track.disp, np.float32)}
        for name in ("closure", "gate"):
            value = getattr(track, name)
            if value is not None:
                arrays[name] = np.ascontiguousarray(value, np.float32)
        self._put(key, "s2l", arrays, {"closure": track.closure is not None,
                                       "gate": track.gate is not None})
        return track

    def mesh_fact(self, parts: dict[str, Any], compute: Callable[[], T],
                  encode: Callable[[T], tuple[Arrays, dict[str, Any]]],
                  decode: Callable[[Arrays, dict[str, Any]], T]) -> T:
        """Something found on a mesh, from the folder when an entry for exactly `parts` is
        there and decodes, else computed and written. `decode` raises on anything it cannot
        read back whole (a damaged entry: ignored, removed, computed again); `encode` returns
        None-free arrays and JSON meta. Only the folder is used: no folder, nothing kept."""
        key = _key("mesh", parts)
        decoded: list[T] = []

        def check(arrays: Arrays, meta: dict[str, Any]) -> None:
            try:
                decoded.append(decode(arrays, meta.get("fact", {})))
            except Exception as exc:  # whatever does not decode is not the fact
                raise _Damaged(f"mesh fact: {type(exc).__name__}") from exc

        with self._lock:
            if self._read(key, "mesh", check) is not None and decoded:
                self.mesh_hits += 1
                return decoded[0]
            self.mesh_misses += 1
        value = compute()
        arrays, meta = encode(value)
        if all(a.dtype.kind != "f" or np.all(np.isfinite(a)) for a in arrays.values()):
            with self._lock:  # a fact with NaN in it is found afresh each time, never stored
                self._write(key, arrays, {"fact": meta, "kind": "mesh", "key": key,
                                          "format": FORMAT})
        return value

    # -- memory and disk ---------------------------------------------------------------------
    def _get(self, key: str, kind: str, check: Callable[[Arrays, dict[str, Any]], None]
             ) -> tuple[Arrays, dict[str, Any]] | None:
        with self._lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                self.hits += 1
                return self._memory[key]
            found = self._read(key, kind, check)
            if found is None:
                self.misses += 1
                return None
            self.hits += 1
            self._remember(key, *found)
            return found

    def _put(self, key: str, kind: str, arrays: Arrays, meta: dict[str, Any]) -> None:
        with self._lock:
            meta = {**meta, "kind": kind, "key": key, "format": FORMAT}
            self._remember(key, arrays, meta)
            self._write(key, arrays, meta)

    def _remember(self, key: str, arrays: Arrays, meta: dict[str, Any]) -> None:
        self._memory[key] = (arrays, meta)
        self._memory.move_to_end(key)
        total = sum(_nbytes(a) for a, _ in self._memory.values())
        while total > MEMORY_LIMIT_BYTES and len(self._memory) > 1:
            _, (old, _) = self._memory.popitem(last=False)
            total -= _nbytes(old)

    def _path(self, key: str) -> Path:
        assert self.folder is not None
        return self.folder / f"{PREFIX}{key}{SUFFIX}"

    def _read(self, key: str, kind: str, check: Callable[[Arrays, dict[str, Any]], None]
              ) -> tuple[Arrays, dict[str, Any]] | None:
        if not self._disk_ok or self.folder is None:
            return None
        path = self._path(key)
        try:
            if not path.is_file():
                return None
            arrays, meta = _load_entry(path)
            if meta.get("kind") != kind or meta.get("key") != key:
                raise _Damaged("not the entry it is named for")
            check(arrays, meta)
        except _Damaged:
            self._note("A damaged cache entry was ignored (and removed); it was computed again.")
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        except OSError as exc:
            self._disk_failed(exc)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # last use, for eviction
        return arrays, meta

    def _write(self, key: str, arrays: Arrays, meta: dict[str, Any]) -> None:
        if not self._disk_ok or self.folder is None or self.limit_bytes <= 0:
            return
        try:
            if not self.folder.is_dir():
                raise FileNotFoundError(2, "the folder is missing", str(self.folder))
            _save_entry(self._path(key), arrays, meta)
            self._evict()
        except OSError as exc:
            self._disk_failed(exc)

    def _entries(self) -> list[Path]:
        if self.folder is None or not self.folder.is_dir():
            return []
        return [p for p in self.folder.iterdir()
                if p.name.startswith(PREFIX) and p.name.endswith(SUFFIX) and p.is_file()]

    def _evict(self) -> None:
        """Oldest (least recently used) first, until the folder is within its limit."""
        stats = []
        for p in self._entries():
            try:
                st = p.stat()
            except OSError:
                continue
            stats.append((st.st_mtime, st.st_size, p))
        stats.sort()
        total = sum(size for _, size, _ in stats)
        for _, size, p in stats:
            if total <= self.limit_bytes:
                break
            try:
                p.unlink()
                total -= size
            except FileNotFoundError:
                total -= size

    def size_bytes(self) -> int:
        """What the entries take on disk."""
        total = 0
        for p in self._entries():
            with contextlib.suppress(OSError):
                total += p.stat().st_size
        return total

    def clear(self) -> int:
        """Forget everything: memory, and this cache's own files in the folder (nothing else
        there is touched). Returns how many files were removed."""
        with self._lock:
            self._memory.clear()
            removed = 0
            for p in self._entries():
                try:
                    p.unlink()
                    removed += 1
                except OSError:
                    pass
            temps = (self.folder.glob(f".{PREFIX}*")
                     if self.folder is not None and self.folder.is_dir() else [])
            for p in temps:
                with contextlib.suppress(OSError):  # temp files a crash left behind
                    p.unlink()
            return removed


def _save_entry(path: Path, arrays: Arrays, meta: dict[str, Any]) -> None:
    meta = {**meta, "digest": _arrays_digest(meta, arrays)}
    blob = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), np.uint8)
    # Zipped in memory first: a zip file left open by a write that failed (a full disk) would
    # print "Exception ignored ... seek of closed file" when collected, in the farm's log.
    packed = io.BytesIO()
    np.savez(packed, **{META: blob}, **arrays)
    write_atomic(path, lambda f: f.write(packed.getbuffer()), prefix=f".{PREFIX}")


def _load_entry(path: Path) -> tuple[Arrays, dict[str, Any]]:
    """An entry's arrays and meta, or _Damaged; OSError where the folder itself fails."""
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as z:
            names = list(z.files)
            if META not in names:
                raise _Damaged("no meta")
            blob = z[META]
            if blob.dtype != np.uint8 or blob.ndim != 1 or blob.size > MAX_META_BYTES:
                raise _Damaged("bad meta")
            meta = json.loads(blob.tobytes().decode())
            arrays = {n: z[n] for n in names if n != META}
    except (ValueError, EOFError, zipfile.BadZipFile, KeyError, UnicodeDecodeError) as exc:
        raise _Damaged(type(exc).__name__) from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise _Damaged("unknown format")
    digest = meta.pop("digest", None)
    if digest != _arrays_digest(meta, arrays):
        raise _Damaged("digest")
    for a in arrays.values():
        if a.dtype.kind not in "fiub" or (a.dtype.kind == "f" and not np.all(np.isfinite(a))):
            raise _Damaged("values")
    return arrays, meta


def _check_phones(arrays: Arrays, meta: dict[str, Any]) -> None:
    start, end, labels = arrays.get("start"), arrays.get("end"), meta.get("labels")
    if (start is None or end is None or not isinstance(labels, list)
            or start.dtype.kind != "f" or end.dtype.kind != "f"
            or start.ndim != 1 or start.shape != end.shape or len(labels) != len(start)
            or not all(isinstance(x, str) for x in labels) or np.any(end < start)):
        raise _Damaged("phones")


def _check_track(arrays: Arrays, meta: dict[str, Any], n_landmarks: int) -> None:
    disp = arrays.get("disp")
    if disp is None or disp.dtype != np.float32 or disp.ndim != 3 \
            or disp.shape[1:] != (n_landmarks, 3):
        raise _Damaged("disp")
    for name in ("closure", "gate"):
        value = arrays.get(name)
        if bool(meta.get(name)) != (value is not None):
            raise _Damaged(name)
        if value is not None and (value.dtype != np.float32 or value.shape != disp.shape[:1]
                                  or not np.all((value >= 0) & (value <= 1))):
            raise _Damaged(name)


_SESSION: dict[str, BakeCache] = {}
_SESSION_LOCK = threading.Lock()


def session_cache(folder: str | Path | None, limit_mb: float = DEFAULT_LIMIT_MB) -> BakeCache:
    """One cache per folder for the session (its memory survives from bake to bake)."""
    name = os.path.abspath(os.fspath(folder)) if folder else ""
    with _SESSION_LOCK:
        cache = _SESSION.get(name)
        if cache is None:
            cache = _SESSION[name] = BakeCache(name or None, limit_mb)
        cache.limit_bytes = int(max(0.0, float(limit_mb)) * 1024 * 1024)
        return cache


def forget_session_caches() -> None:
    """Drop every session cache's memory (tests; Clear)."""
    with _SESSION_LOCK:
        for cache in _SESSION.values():
            with cache._lock:
                cache._memory.clear()
        _SESSION.clear()
