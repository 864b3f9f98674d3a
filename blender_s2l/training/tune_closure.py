"""`tune-closure`: pick the closure head's probability range on synthetic held-out voices.

The range (lip_closure.CLOSURE_LOW/HIGH) trades missed /p b m/ closures against lips shut in
vowels (false closures). It is chosen here, on held-out TTS voices and identities with their true
phones, never on the real-speech clips that judge the model.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core.animate import Animator
from ..core.head.landmarks import MOUTH, canonical_neutral
from ..core.speech import audio as audio_io
from ..core.speech.phones import Phone, normalise_phone
from .evaluate import FPS, expression_landmark_deltas, rest_width
from .metrics import real_speech_metrics

# Lips shut in the middle of a vowel are the visible failure of an eager closure step: with
# more than 2 % of such frames (the truth has none) the mouth snaps shut within words.
MAX_FALSE_CLOSURE = 0.02
DEFAULT_RANGES = (
    (0.02, 0.2), (0.05, 0.3), (0.1, 0.4), (0.15, 0.45), (0.2, 0.5), (0.25, 0.6), (0.35, 0.7),
    (0.45, 0.8), (0.55, 0.9), (1.1, 1.2),
)


@dataclass
class RangeScore:
    low: float
    high: float
    bilabial_closure: float
    false_closure: float
    open_vowel_auc: float
    mouth_err_mm: float
    spurious_per_min: float = float("nan")  # lips shut on other sounds (reported, not judged)

    @property
    def allowed(self) -> bool:
        return self.false_closure <= MAX_FALSE_CLOSURE

    @property
    def score(self) -> float:
        """Both real-speech yardsticks count equally; mouth error breaks ties."""
        return self.bilabial_closure + self.open_vowel_auc - 0.01 * self.mouth_err_mm


def best_range(scores: Sequence[RangeScore]) -> RangeScore:
    """The best score among ranges that shut at most MAX_FALSE_CLOSURE of vowel frames."""
    allowed = [s for s in scores if s.allowed] or [max(scores, key=lambda s: s.low)]
    return max(allowed, key=lambda s: s.score)


def _phones(utt: Any) -> list[Phone]:
    return [Phone(s, e, normalise_phone(p)) for s, e, p in utt.phones]


def score_ranges(
    anim: Animator, utterances: Sequence[Any], ranges: Sequence[tuple[float, float]]
) -> list[RangeScore]:
    deltas = expression_landmark_deltas()
    neutral = canonical_neutral()[None]
    width = rest_width()
    clips = []  # audio, frame times, true landmarks and phones: read once, scored per range
    for u in utterances:
        wav, sr = u.audio()
        weights = u.expression_weights
        times = np.arange(int(len(weights) / 100.0 * FPS)) / FPS
        truth_100 = np.tensordot(weights, deltas, axes=1)
        idx = np.minimum(np.round(times * 100).astype(int), len(truth_100) - 1)
        clips.append((audio_io.load_audio(wav, sr), times, neutral + truth_100[idx], _phones(u)))
    out = []
    for low, high in ranges:
        anim.closure_range = (low, high)
        closure, false, auc, err = [], [], [], []
        spurious, speech_s = 0.0, 0.0
        for wav16, times, truth, phones in clips:
            lm = anim.landmarks(wav16, sample_rate=audio_io.SAMPLE_RATE, frame_times=times)
            m = real_speech_metrics(lm, phones, times, width)
            closure.append(m["bilabial_closure"])
            false.append(m["false_closure"])
            auc.append(m["open_vowel_auc"])
            spurious += m["spurious_closures"]
            speech_s += m["speech_s"]
            err.append(float(np.linalg.norm(lm[:, MOUTH] - truth[:, MOUTH], axis=-1).mean()))
        out.append(RangeScore(low, high, float(np.nanmean(closure)), float(np.nanmean(false)),
                              float(np.nanmean(auc)), float(np.mean(err)),
                              60.0 * spurious / speech_s if speech_s > 0 else float("nan")))
    return out


def markdown(scores: Sequence[RangeScore]) -> str:
    best = best_range(scores)
    lines = ["| closure range | bilabial_closure | false_closure | closures elsewhere / min "
             "| open_vowel_auc | mouth_err_mm |",
             "|---|---|---|---|---|---|"]
    for s in scores:
        label = f"{s.low:.2f}-{s.high:.2f}" + (" (off)" if s.low >= 1 else "")
        label += " **best**" if s is best else ("" if s.allowed else " (too many)")
        lines.append(f"| {label} | {s.bilabial_closure:.3f} | {s.false_closure:.3f} "
                     f"| {s.spurious_per_min:.1f} | "
                     f"{s.open_vowel_auc:.3f} | {s.mouth_err_mm:.3f} |")
    return "\n".join(lines)


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("tune-closure",
                              help="choose the closure head's range on synthetic held-out voices")
    p.add_argument("--weights", type=Path, default=None,
                   help="weights folder (s2l, s2d, upper_face, jaw .npz)")
    p.add_argument("--corpus", type=Path, default=Path("cache/corpus"))
    # All of them by default, slower but steady: on 80 utterances the best range flipped
    # between "off" and 0.35-0.7 on differences worth less than one bilabial.
    p.add_argument("--limit", type=int, default=None,
                   help="use only the first N held-out utterances (default: all)")
    p.add_argument("--out", type=Path, default=None, help="also write the table to this .md")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .corpus.manifest import load_corpus

    anim = Animator.load(device="cpu", weights_dir=args.weights)
    if not anim.s2l.config.closure_head:
        print("These S2L weights have no closure head; nothing to tune.")
        return 1
    held = [u for u in load_corpus(args.corpus) if u.split != "train"][: args.limit]
    table = markdown(score_ranges(anim, held, DEFAULT_RANGES))
    print(table)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            f"## Closure range on {len(held)} synthetic held-out utterances (30 fps, true phones)"
            f"\n\n{table}\n"
        )
    return 0
