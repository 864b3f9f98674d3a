"""flite: `-psdur` prints every segment with its end time, so timings come from the engine."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from ...core.errors import S2LError
from .tts_types import Rendered, Voice, ends_to_intervals


def render_flite(text: str, voice: Voice, rate: float, pitch: float) -> Rendered:
    """rate > 1 speaks faster (duration_stretch = 1/rate); pitch multiplies the mean F0."""
    stretch = 1.0 / rate
    f0 = voice.base_f0 * pitch
    with tempfile.TemporaryDirectory(prefix="s2l_flite_") as tmp:
        wav = Path(tmp) / "out.wav"
        cmd = ["flite", "-voice", voice.engine_voice, "-t", text, "-o", str(wav), "-psdur",
               "--setf", f"duration_stretch={stretch:.4f}"]
        if voice.can_shift_pitch:
            cmd += ["--setf", f"int_f0_target_mean={f0:.2f}"]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if res.returncode != 0 or not wav.is_file():
            raise S2LError(f"flite failed for voice {voice.engine_voice}: {res.stderr.strip()}")
        audio, sr = sf.read(wav, dtype="float32", always_2d=True)
    ends: list[tuple[str, float]] = []
    for tok in res.stdout.split():
        label, _, t = tok.rpartition(":")
        if label:
            ends.append((label, float(t)))
    settings = {"duration_stretch": stretch, "f0_mean": f0 if voice.can_shift_pitch else 0.0}
    return Rendered(np.ascontiguousarray(audio[:, 0]), int(sr), ends_to_intervals(ends), settings)
