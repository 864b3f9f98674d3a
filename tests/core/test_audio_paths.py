"""Odd audio paths (issue #20 item 7): a pipe, an over-long name, a folder, a file without an
extension. Each is a quick AudioError sentence or a normal load, never a hang or an OSError."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from audio_helpers import adts_noise, tone

from blender_s2l.core.errors import AudioError
from blender_s2l.core.speech import audio
from blender_s2l.core.speech.audio import audio_duration, load_audio, sniff_container

ROOT = Path(__file__).resolve().parents[2]


def _refused(fn: object, path: Path, match: str) -> str:
    start = time.perf_counter()
    with pytest.raises(AudioError, match=match) as info:
        fn(path)  # type: ignore[operator]
    assert time.perf_counter() - start < 2.0
    text = str(info.value)
    assert "\n" not in text and text.endswith(".")
    return text


def test_a_named_pipe_is_refused_without_blocking(tmp_path: Path) -> None:
    """In a child process with a timeout: the old loader blocked for ever opening the pipe."""
    fifo = tmp_path / "voice.wav"
    os.mkfifo(fifo)
    code = ("import sys\nfrom blender_s2l.core.speech.audio import audio_duration, load_audio\n"
            "from blender_s2l.core.errors import AudioError\n"
            "for fn in (load_audio, audio_duration):\n"
            "    try:\n        fn(sys.argv[1])\n    except AudioError as e:\n        print(e)\n")
    out = subprocess.run([sys.executable, "-c", code, str(fifo)], cwd=ROOT, timeout=60,
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(out) == 2 and all("not a regular file" in line for line in out), out


def test_an_over_long_path_is_a_sentence(tmp_path: Path) -> None:
    long = tmp_path / ("a" * 300 + ".wav")  # one name over the 255-byte limit
    for fn in (load_audio, audio_duration):
        text = _refused(fn, long, "cannot be opened")
        assert "too long" in text
    deep = tmp_path.joinpath(*["b" * 200] * 40, "c.wav")  # a path over PATH_MAX
    _refused(load_audio, deep, "cannot be opened|does not exist")


def test_a_folder_says_it_is_a_folder(tmp_path: Path) -> None:
    for fn in (load_audio, audio_duration):
        _refused(fn, tmp_path, "is a folder")


def test_unknown_content_without_extension_is_refused_quickly(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """librosa's ffmpeg fallback took 5-27 s on such files; it is not even tried now."""
    def no_librosa(path: Path, max_seconds: float) -> np.ndarray:
        raise AssertionError(f"librosa was tried on {path.name}")

    monkeypatch.setattr(audio, "_decode_librosa", no_librosa)
    monkeypatch.setattr(audio, "_aud", lambda: None)  # outside Blender, where librosa is next
    rng = np.random.default_rng(3)
    noise = tmp_path / "noise"
    noise.write_bytes(b"\0" + rng.integers(0, 256, 300_000, dtype=np.uint8).tobytes())
    text = tmp_path / "notes"
    text.write_text("not a sound\n" * 1000)
    cut_wav = tmp_path / "cut"  # a wav header soundfile refused: ffmpeg cannot do better
    good = tmp_path / "good.wav"
    sf.write(good, tone(220, 0.5, 16000), 16000)
    cut_wav.write_bytes(good.read_bytes()[:30])
    for path in (noise, text, cut_wav):
        assert sniff_container(path) in (None, "WAV")
        _refused(load_audio, path, "could not be decoded")


def test_sound_without_extension_still_loads(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    plain = tmp_path / "take1"
    sf.write(plain, tone(220, 0.5, 16000), 16000, format="WAV")
    assert sniff_container(plain) == "WAV"
    assert len(load_audio(plain)) == 8000
    flac = tmp_path / "take2"
    sf.write(flac, tone(220, 0.5, 16000), 16000, format="FLAC")
    assert sniff_container(flac) == "FLAC" and len(load_audio(flac)) == 8000
    # A container only ffmpeg reads still reaches the fallback, extension or not.
    aac = tmp_path / "take3"
    aac.write_bytes(adts_noise(0, 4, 1))
    assert sniff_container(aac) == "AAC"
    m4a = tmp_path / "take4"
    m4a.write_bytes(b"\0\0\0\x20ftypM4A " + bytes(64))
    assert sniff_container(m4a) == "MP4"
    tried: list[str] = []

    def fake_librosa(path: Path, max_seconds: float) -> np.ndarray:
        tried.append(path.name)
        return tone(220, 0.5, 16000)

    monkeypatch.setattr(audio, "_decode_librosa", fake_librosa)
    monkeypatch.setattr(audio, "_aud", lambda: None)
    assert len(load_audio(aac)) == 8000 and len(load_audio(m4a)) == 8000
    assert tried == ["take3", "take4"]
