"""`evaluate`: the yardsticks of `metrics.py` on synthetic held-out voices and labelled real speech.

Every row of a table comes from the same run: the model next to the baselines (still face,
loudness-driven jaw, the phone-rule teacher on the true phones).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ..core.animate import Animator
from ..core.head.landmarks import canonical_neutral
from ..core.speech import audio as audio_io
from ..core.speech.phones import Phone, find_alignment, read_phones
from ..core.speech.recognise import recognise_phones
from .baselines import loudness_jaw, still_face, teacher_landmarks
from .corpus.visemes import phones_to_expression_weights
from .ict import load_ict
from .metrics import landmark_metrics, lip_gap, real_speech_metrics

FPS = 30.0
Track = NDArray[np.float32]


@dataclass
class Row:
    clip: str
    method: str
    metrics: dict[str, float]


def expression_landmark_deltas() -> NDArray[np.float32]:
    ict = load_ict()
    return ict.expression_deltas[:, ict.landmarks68].astype(np.float32)


def loudness_jaw_track(wav: NDArray[np.float32], times: NDArray[np.float64]) -> Track:
    """Baseline: the jaw opens with loudness (ICT jawOpen at the landmarks, up to 0.4)."""
    jaw = expression_landmark_deltas()[load_ict().expression_index("jawOpen")]
    return loudness_jaw(wav, times, jaw, amplitude=0.4)


def teacher_track(phones: Sequence[Phone], times: NDArray[np.float64]) -> Track:
    """The phone-rule teacher that made the training targets, on the true phones."""
    return teacher_landmarks(phones, times, expression_landmark_deltas(),
                             phones_to_expression_weights)


def rest_width() -> float:
    lm = canonical_neutral()
    return float(np.linalg.norm(lm[48] - lm[54]))


def alignment_for(wav: Path, extra_dir: Path | None) -> Path | None:
    """An alignment beside the wav, or extra_dir/<folder>/<stem>.lab made by `align`."""
    found = find_alignment(wav)
    if found is None and extra_dir is not None:
        cand = extra_dir / wav.parent.name / f"{wav.stem}.lab"
        found = cand if cand.is_file() else None
    return found


def evaluate_real(
    anim: Animator,
    wavs: Sequence[Path],
    plot_dir: Path | None,
    alignments: Path | None = None,
    recognise: bool = False,
) -> list[Row]:
    """Every real clip with an alignment: the model, the baselines and, with recognise, the
    model with key poses from the words pocketsphinx hears (Recognise Words; never the labels)."""
    rows: list[Row] = []
    for wav_path in wavs:
        lab = alignment_for(wav_path, alignments)
        if lab is None:
            continue
        phones = read_phones(lab)
        wav = audio_io.load_audio(wav_path)
        times = np.arange(int(len(wav) / audio_io.SAMPLE_RATE * FPS) + 1) / FPS
        tracks = {"model (S2L)": anim.landmarks(wav_path, fps=FPS)}
        if recognise:
            heard = recognise_phones(wav)
            tracks["model + recognised words"] = anim.landmarks(wav_path, fps=FPS, phones=heard)
        tracks |= {
            "still face": still_face(times),
            "loudness jaw": loudness_jaw_track(wav, times),
            "teacher (true phones)": teacher_track(phones, times),
        }
        for name, tr in tracks.items():
            metrics = real_speech_metrics(tr, phones, times, rest_width())
            rows.append(Row(f"{wav_path.parent.name}/{wav_path.name}", name, metrics))
        if plot_dir is not None:
            png = plot_dir / f"{wav_path.parent.name}_{wav_path.stem}_timeline.png"
            plot_timeline(png, tracks, phones, times)
    return rows


def plot_timeline(
    out: Path, tracks: dict[str, Track], phones: Sequence[Phone], times: NDArray[np.float64]
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..core.speech.phones import BILABIALS, OPEN_VOWELS

    out.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(12, 3.6), dpi=110)
    for p in phones:
        color = "#f4c7c3" if p.phone in BILABIALS else "#c6e5c3" if p.phone in OPEN_VOWELS else None
        if color:
            ax.axvspan(p.start, p.end, color=color, lw=0)
        ax.text((p.start + p.end) / 2, 1.02, p.phone, ha="center", va="bottom", fontsize=6,
                transform=ax.get_xaxis_transform())
    for name, tr in tracks.items():
        if name != "still face":
            ax.plot(times, lip_gap(tr, rest_width()), label=name, lw=1.3)
    ax.set_xlabel("seconds")
    ax.set_ylabel("lip gap / mouth width")
    ax.legend(loc="upper right", fontsize=7)
    ax.set_title(f"{out.stem}: red = /p b m/, green = open vowels", fontsize=9, pad=14)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def evaluate_synthetic(anim: Animator, corpus: Path, limit: int = 60) -> list[Row]:
    """S2L landmarks vs the corpus truth on held-out voices, beside the loudness-jaw baseline."""
    from .corpus.manifest import load_corpus

    deltas = expression_landmark_deltas()
    held = [u for u in load_corpus(corpus) if u.split != "train"][:limit]
    acc: dict[str, list[dict[str, float]]] = {"model (S2L)": [], "loudness jaw": [],
                                              "still face": []}
    for u in held:
        wav, sr = u.audio()
        wav16 = audio_io.load_audio(wav, sr)
        w = u.expression_weights
        times = np.arange(len(w)) / 100.0
        truth = np.tensordot(w, deltas, axes=1).astype(np.float32)
        neutral = canonical_neutral()[None]
        preds = {
            "model (S2L)": anim.landmarks(wav16, fps=100.0, sample_rate=audio_io.SAMPLE_RATE,
                                          frame_times=times) - neutral,
            "loudness jaw": loudness_jaw_track(wav16, times) - neutral,
            "still face": np.zeros_like(truth),
        }
        for name, p in preds.items():
            acc[name].append(landmark_metrics(p, truth, 100.0))
    return [
        Row(f"synthetic held-out ({len(held)} utts)", name,
            {k: float(np.nanmean([m[k] for m in ms])) for k in ms[0]})
        for name, ms in acc.items() if ms
    ]


def markdown(rows: Sequence[Row], keys: Sequence[str]) -> str:
    head = "| clip | method | " + " | ".join(keys) + " |"
    sep = "|---|---|" + "---|" * len(keys)
    lines = [head, sep]
    for r in rows:
        vals = " | ".join(f"{r.metrics.get(k, float('nan')):.3f}" for k in keys)
        lines.append(f"| {r.clip} | {r.method} | {vals} |")
    return "\n".join(lines)


REAL_KEYS = ("bilabial_closure", "false_closure", "spurious_per_min", "open_vowel_auc",
             "lag_frames", "lag_ms", "rest_gap", "rest_speed_mm_s", "n_bilabial", "n_open_vowel")
SYNTH_KEYS = ("lm_err_mm", "mouth_err_mm", "lip_lve_mm", "angle_deg", "jitter_pred")
