"""`evaluate-mesh`: the real-speech yardstick on the baked mesh of a panel of heads.

Every head of `head_panel` is animated through `Animator.animate` (the function a bake calls;
tests/blender/test_real_animator.py proves the evaluated mesh in Blender equals its output) on
every real clip with a phone alignment, three ways: key poses from the true phones (what a phones
file or transcript gives), the audio alone, and Recognise Words. Beside the mesh numbers stand
the canonical-landmark numbers of the same clips, labelled as such.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..core.animate import Animator
from ..core.speech import audio as audio_io
from ..core.speech.phones import Phone, read_phones
from .evaluate import FPS, alignment_for, rest_width
from .ict import shared_data_dir
from .mesh_lips import REST_NEAR_MM, LipHead, mesh_lip_metrics, quiet_frames, read_mesh_lips
from .metrics import auc, real_speech_metrics
from .pooled import wilson_interval

KEY_POSES, AUDIO_ONLY, RECOGNISED = "key poses (true phones)", "audio only", "recognised words"
MODES = (KEY_POSES, AUDIO_ONLY, RECOGNISED)


@dataclass(frozen=True)
class Clip:
    name: str
    path: Path
    phones: list[Phone]
    times: NDArray[np.float64]
    heard: list[tuple[float, float, str]] | None  # Recognise Words' phones, None: not run
    quiet: NDArray[np.bool_]  # frames of silence (mesh_lips.quiet_frames)

    def phones_for(self, mode: str) -> list[tuple[float, float, str]] | None:
        if mode == KEY_POSES:
            return [(p.start, p.end, p.phone) for p in self.phones]
        return self.heard if mode == RECOGNISED else []


def load_clips(
    folders: Sequence[Path], alignments: Path | None, recognise: bool
) -> list[Clip]:
    from ..core.speech.recognise import recognise_phones

    clips = []
    for wav_path in [w for d in folders if d.is_dir() for w in sorted(d.rglob("*.wav"))]:
        lab = alignment_for(wav_path, alignments)
        if lab is None:
            continue
        wav = audio_io.load_audio(wav_path)
        times = np.arange(int(len(wav) / audio_io.SAMPLE_RATE * FPS) + 1) / FPS
        heard = None
        if recognise:
            heard = [(p.start, p.end, p.phone) for p in recognise_phones(wav)]
        clips.append(Clip(f"{wav_path.parent.name}/{wav_path.name}", wav_path,
                          read_phones(lab), times, heard,
                          quiet_frames(wav, audio_io.SAMPLE_RATE, times)))
    return clips


def modes_of(clips: Sequence[Clip]) -> tuple[str, ...]:
    return tuple(m for m in MODES if m != RECOGNISED or all(c.heard is not None for c in clips))


def evaluate_head(
    anim: Animator, name: str, head: LipHead, clips: Sequence[Clip], **options: Any
) -> list[dict[str, Any]]:
    rows = []
    for clip in clips:
        for mode in modes_of(clips):
            mo = anim.animate(clip.path, head.vertices, head.faces, head.landmarks68,
                              frame_times=clip.times, phones=clip.phones_for(mode), **options)
            metrics = mesh_lip_metrics(read_mesh_lips(mo, head), clip.phones, clip.times,
                                       clip.quiet)
            rows.append({"head": name, "clip": clip.name, "mode": mode, **metrics,
                         "notes": list(mo.notes)})
    return rows


def canonical_rows(anim: Animator, clips: Sequence[Clip]) -> list[dict[str, Any]]:
    rows = []
    for clip in clips:
        for mode in modes_of(clips):
            lm = anim.landmarks(clip.path, frame_times=clip.times, phones=clip.phones_for(mode))
            m = real_speech_metrics(lm, clip.phones, clip.times, rest_width())
            rows.append({"clip": clip.name, "mode": mode, **m})
    return rows


def _pool(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    n = sum(r["n_bilabial"] for r in rows)
    hits = sum(r["n_meet"] for r in rows)
    lo, hi = wilson_interval(round(hits), round(n))
    finite = [r for r in rows if not math.isnan(r["rest_mean_mm"])]
    paused = [r for r in rows if not math.isnan(r["pause_mean_mm"])]
    return {
        "hits": hits, "n": n, "share": hits / n if n else float("nan"), "lo": lo, "hi": hi,
        "crossing": max(r["worst_crossing_mm"] for r in rows),
        "auc_min": min(r["open_vowel_auc"] for r in rows if not math.isnan(r["open_vowel_auc"])),
        "auc_pooled": auc(np.array([x for r in rows for x in r["open_vowel_peaks_mm"]]),
                          np.array([x for r in rows for x in r["bilabial_lows_mm"]])),
        "rest_mean": float(np.mean([r["rest_mean_mm"] for r in finite])) if finite else math.nan,
        "rest_max": max((r["rest_max_mm"] for r in finite), default=math.nan),
        "rest_near": (sum(r["rest_frames_near"] for r in finite)
                      / max(sum(r["rest_frames"] for r in finite), 1.0)) if finite else math.nan,
        "pause_mean": float(np.mean([r["pause_mean_mm"] for r in paused])) if paused
        else math.nan,
        "elsewhere": sum(r["closures_elsewhere"] for r in rows),
    }


def summary_table(rows: Sequence[dict[str, Any]], gaps: dict[str, float]) -> str:
    out = ["| head | neutral gap (mm) | mode | lips meet on /p b m/ | share (95 % interval) "
           "| closures on other sounds | worst crossing (mm) "
           "| open-vowel AUC: pooled / lowest clip "
           f"| rest in silence: mean / worst (mm) | silent frames within {REST_NEAR_MM:g} mm "
           "| in all labelled pauses: mean (mm) |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    heads = list(dict.fromkeys(r["head"] for r in rows))
    for head in heads:
        for mode in MODES:
            sel = [r for r in rows if r["head"] == head and r["mode"] == mode]
            if not sel:
                continue
            p = _pool(sel)
            out.append(
                f"| {head} | {gaps[head]:.2f} | {mode} | {p['hits']:.0f} / {p['n']:.0f} "
                f"| {p['share']:.3f} ({p['lo']:.2f}-{p['hi']:.2f}) | {p['elsewhere']:.0f} "
                f"| {p['crossing']:.2f} | {p['auc_pooled']:.3f} / {p['auc_min']:.3f} "
                f"| {p['rest_mean']:.3f} / {p['rest_max']:.3f} | {p['rest_near']:.3f} "
                f"| {p['pause_mean']:.3f} |")
    return "\n".join(out)


def canonical_table(rows: Sequence[dict[str, Any]]) -> str:
    out = ["| mode | closed / bilabials (canonical landmarks, relative threshold) | share "
           "| closures on other sounds | lowest open-vowel AUC |", "|---|---|---|---|---|"]
    for mode in MODES:
        sel = [r for r in rows if r["mode"] == mode and not math.isnan(r["bilabial_closure"])]
        if not sel:
            continue
        n = sum(r["n_bilabial"] for r in sel)
        hits = sum(round(r["bilabial_closure"] * r["n_bilabial"]) for r in sel)
        auc_min = min(r["open_vowel_auc"] for r in sel if not math.isnan(r["open_vowel_auc"]))
        elsewhere = sum(r["spurious_closures"] for r in sel)
        out.append(f"| {mode} | {hits:.0f} / {n:.0f} | {hits / n:.3f} | {elsewhere:.0f} "
                   f"| {auc_min:.3f} |")
    return "\n".join(out)


def detail_table(rows: Sequence[dict[str, Any]]) -> str:
    out = ["| head | clip | mode | meet | bilabials | elsewhere | worst crossing (mm) "
           "| open-vowel AUC | rest in silence: mean / worst (mm) | pauses: mean (mm) |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['head']} | {r['clip']} | {r['mode']} | {r['n_meet']:.0f} "
                   f"| {r['n_bilabial']:.0f} | {r['closures_elsewhere']:.0f} "
                   f"| {r['worst_crossing_mm']:.2f} | {r['open_vowel_auc']:.3f} "
                   f"| {r['rest_mean_mm']:.3f} / {r['rest_max_mm']:.3f} "
                   f"| {r['pause_mean_mm']:.3f} |")
    return "\n".join(out)


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("evaluate-mesh",
                              help="real-speech lip sync on the baked mesh of a head panel")
    p.add_argument("--weights", type=Path, default=None)
    p.add_argument("--speech", type=Path, nargs="+",
                   default=[shared_data_dir() / "speech", Path("cache/real_speech")])
    p.add_argument("--alignments", type=Path, default=Path("reports/alignments"))
    p.add_argument("--no-recognise", action="store_true", help="skip Recognise Words")
    p.add_argument("--heads", nargs="*", default=None, help="only these panel heads")
    p.add_argument("--no-contact", action="store_true",
                   help="measure without lip contact (the landmark motion alone)")
    p.add_argument("--out", type=Path, default=Path("reports/mesh_lips.md"))
    p.set_defaults(func=run)


def evaluate_panel(
    anim: Animator, speech: Sequence[Path], alignments: Path | None, recognise: bool,
    out: Path, heads: Sequence[str] | None = None, lip_contact: bool = True,
) -> str:
    """Every panel head on every aligned clip; writes `out` (.md, and .json beside it) and
    returns its per-head summary table."""
    from .head_panel import head_panel

    start = time.time()
    clips = load_clips(speech, alignments, recognise)
    panel = [h for h in head_panel() if heads is None or h.name in heads]
    rows: list[dict[str, Any]] = []
    for h in panel:
        rows += evaluate_head(anim, h.name, h, clips, lip_contact=lip_contact)
        print(f"{h.name}: done ({time.time() - start:.0f} s)", flush=True)
    canon = canonical_rows(anim, clips)
    summary = summary_table(rows, {h.name: h.neutral_gap_mm for h in panel})
    text = "\n\n".join([
        f"# Lip sync on the baked mesh ({len(panel)} heads, {len(clips)} real clips, "
        f"{FPS:g} fps{'' if lip_contact else ', no lip contact'})",
        "Made by `python -m blender_s2l.training evaluate-mesh`; definitions in "
        "`blender_s2l/training/mesh_lips.py`, heads in `blender_s2l/training/head_panel.py`.",
        "## Per head, pooled over the clips\n\n" + summary,
        "## Canonical landmarks (S2L's own track, not a mesh), same clips\n\n"
        + canonical_table(canon),
        "## Per head and clip\n\n" + detail_table(rows),
    ]) + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps({"mesh": rows, "canonical": canon},
                                                   indent=1))
    return summary


def run(args: argparse.Namespace) -> int:
    from ..core.speech.recognise import pocketsphinx_available

    anim = Animator.load(device="cpu", weights_dir=args.weights)
    recognise = not args.no_recognise and pocketsphinx_available()
    print(evaluate_panel(anim, args.speech, args.alignments, recognise, args.out, args.heads,
                         not args.no_contact))
    return 0
