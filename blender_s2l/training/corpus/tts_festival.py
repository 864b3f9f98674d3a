"""festival: a Scheme script synthesises, saves the wave and dumps the Segment relation."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from ...core.errors import S2LError
from .tts_types import Rendered, Voice, ends_to_intervals


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", " ").replace('"', " ") + '"'


def render_festival(text: str, voice: Voice, rate: float, pitch: float) -> Rendered:
    """Diphone voices: Duration_Stretch and a new F0 mean via int_lr_params; HTS: -r."""
    stretch = 1.0 / rate
    f0 = voice.base_f0 * pitch
    with tempfile.TemporaryDirectory(prefix="s2l_fest_") as tmp:
        wav = Path(tmp) / "out.wav"
        segs = Path(tmp) / "out.segs"
        lines = [f"({voice.engine_voice})", f"(Parameter.set 'Duration_Stretch {stretch:.4f})"]
        if "hts" in voice.engine_voice:
            # HTS ignores Duration_Stretch but honours hts_engine's -r (its -fm/-a did nothing
            # measurable here, so HTS pitch is not varied).
            lines.append(f'(set! hts_engine_params (append hts_engine_params (list (list "-r" '
                         f'{rate:.4f}))))')
        elif voice.can_shift_pitch:
            lines.append(
                f"(set! int_lr_params '((target_f0_mean {f0:.2f}) (target_f0_std {0.13 * f0:.2f})"
                " (model_f0_mean 170) (model_f0_std 34)))"
            )
        lines += [
            f"(set! u (Utterance Text {_scheme_string(text)}))",
            "(utt.synth u)",
            f'(utt.save.wave u "{wav}" \'riff)',
            f'(utt.save.segs u "{segs}")',
        ]
        script = Path(tmp) / "run.scm"
        script.write_text("\n".join(lines) + "\n")
        res = subprocess.run(["festival", "-b", str(script)], capture_output=True, text=True,
                             timeout=300, check=False)
        if not wav.is_file() or not segs.is_file():
            raise S2LError(f"festival failed for {voice.engine_voice}: {res.stderr.strip()[:200]}")
        audio, sr = sf.read(wav, dtype="float32", always_2d=True)
        ends: list[tuple[str, float]] = []
        for line in segs.read_text().splitlines():
            parts = line.split()
            if len(parts) == 3 and not line.startswith("#"):
                ends.append((parts[2], float(parts[0])))
    settings = {"duration_stretch": stretch, "f0_mean": f0 if voice.can_shift_pitch else 0.0}
    if "hts" in voice.engine_voice:
        settings = {"hts_rate": rate, "f0_mean": 0.0}
    return Rendered(np.ascontiguousarray(audio[:, 0]), int(sr), ends_to_intervals(ends), settings)
