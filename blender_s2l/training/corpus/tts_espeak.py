"""espeak-ng through libespeak-ng: its phoneme events carry the audio position of each phone.

The command line has no phone timings (--pho needs MBROLA voices), but the library reports a
PHONEME event at the start of every phone, in the same synchronous pass that produces the
samples, so timings and audio cannot drift apart. The library keeps random state between
utterances (same text, different samples), so every render runs in a fresh child process
(`python -m ...tts_espeak`), which makes it deterministic.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from ...core.errors import S2LError
from .tts_types import Rendered, Voice

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 0x0001
_EV_END_OF_LIST, _EV_MSG_TERMINATED, _EV_PHONEME = 0, 6, 7
_P_RATE, _P_PITCH = 1, 3
_POS_CHARACTER = 1
_DEFAULT_WPM = 175.0


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int), ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.POINTER(_Event))


class _Engine:
    """One libespeak-ng instance per process (the library is a global singleton)."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            self.lib = ctypes.CDLL(name)
        except OSError as exc:
            raise S2LError("libespeak-ng is not installed (apt install espeak-ng).") from exc
        self.sample_rate = int(self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 500, None,
                                                          _INIT_PHONEME_EVENTS))
        if self.sample_rate <= 0:
            raise S2LError("libespeak-ng failed to initialise.")
        self.chunks: list[np.ndarray[Any, np.dtype[np.int16]]] = []
        self.events: list[tuple[int, str]] = []  # (sample, phoneme)
        self._cb = _CALLBACK(self._on_audio)
        self.lib.espeak_SetSynthCallback(self._cb)

    def _on_audio(self, wav: Any, n: int, events: Any) -> int:
        if n > 0:
            self.chunks.append(np.ctypeslib.as_array(wav, (n,)).copy())
        i = 0
        while events[i].type != _EV_END_OF_LIST:
            ev = events[i]
            if ev.type == _EV_PHONEME:
                self.events.append((int(ev.sample), bytes(ev.id).split(b"\0")[0].decode()))
            elif ev.type == _EV_MSG_TERMINATED:
                self.events.append((int(ev.sample), "_END"))
            i += 1
        return 0

    def synth(self, text: str, voice: str, wpm: float, pitch: int) -> Rendered:
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise S2LError(f"espeak-ng has no voice {voice!r}.")
        self.lib.espeak_SetParameter(_P_RATE, int(wpm), 0)
        self.lib.espeak_SetParameter(_P_PITCH, int(pitch), 0)
        self.chunks, self.events = [], []
        data = text.encode()
        self.lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, 0, None, None)
        self.lib.espeak_Synchronize()
        audio = (np.concatenate(self.chunks).astype(np.float32) / 32768.0 if self.chunks
                 else np.zeros(0, np.float32))
        sr = self.sample_rate
        phones: list[tuple[float, float, str]] = []
        marks = [(s, p) for s, p in self.events if p and p[0] not in ";,'"]
        end = len(audio)
        for k, (s, p) in enumerate(marks):
            if p == "_END":
                break
            nxt = marks[k + 1][0] if k + 1 < len(marks) else end
            nxt = min(nxt, end)
            if nxt > s:
                phones.append((s / sr, nxt / sr, p))
        if phones and phones[0][0] > 0:
            phones.insert(0, (0.0, phones[0][0], "_"))
        if phones and phones[-1][1] < end / sr - 1e-3:
            phones.append((phones[-1][1], end / sr, "_"))
        return Rendered(audio, sr, phones)


def render_espeak(text: str, voice: Voice, rate: float, pitch: float) -> Rendered:
    """rate multiplies the default 175 words/min; pitch moves espeak's 0-100 pitch around 50."""
    wpm = _DEFAULT_WPM * rate
    p = int(np.clip(50 + (pitch - 1.0) * 120, 10, 90))
    with tempfile.TemporaryDirectory(prefix="s2l_espeak_") as tmp:
        wav = Path(tmp) / "out.wav"
        cmd = [sys.executable, "-m", __name__, voice.engine_voice, f"{wpm:.2f}", str(p),
               str(wav), text]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if res.returncode != 0 or not wav.is_file():
            msg = res.stderr.strip()[-200:]
            raise S2LError(f"espeak-ng failed for {voice.engine_voice}: {msg}")
        audio, sr = sf.read(wav, dtype="float32")
    phones = [(float(a), float(b), str(c)) for a, b, c in json.loads(res.stdout)]
    return Rendered(np.asarray(audio, dtype=np.float32), int(sr), phones,
                    {"wpm": wpm, "pitch": float(p)})


def _child(argv: list[str]) -> int:
    voice, wpm, pitch, out, text = argv
    r = _Engine().synth(text, voice, float(wpm), int(pitch))
    sf.write(out, r.audio, r.sample_rate, subtype="FLOAT")
    print(json.dumps(r.phones))
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
