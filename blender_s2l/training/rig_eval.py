"""`evaluate-rig`: the RIG bake mode against the dense bake, on a rig whose answer is known.

A held-out ICT identity (the panel's 1 mm head, `head_panel`) is split the way characters reach
an animator: Head (skin, mouth and eye sockets), Teeth (gums, tongue, teeth) and Eyes, each
carrying the pack's 53 expression shapes as shape keys under their ARKit names. The ICT shapes
are what the ICT motion the networks learnt from is made of, so the rig can express it: what is
left between the rig bake and the dense bake is the solve's doing. On every real clip with a
phone alignment, for the key-pose sources a user has (true phones, the audio alone), the head's
dense motion (`Animator.animate`, what every bake calls) is solved onto the keys
(`core/rig/solve.py:rig_plan`, what the RIG bake calls), and the mesh the rig makes
(rest + sum of weight x offset, what Blender evaluates) is measured against the dense mesh: the
face error, and whether the lips still meet on /p b m/ (`mesh_lips`, the yardstick of the dense
bake).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..core.animate import Animator
from ..core.bake.pipeline import BakeInputs
from ..core.bake.settings import BakeSettings
from ..core.motion import Motion
from ..core.rig.solve import rig_plan
from ..core.rig.target import RigTarget
from .head_panel import (
    GAP_TARGETS_MM,
    ICT_UP,
    POOL_SIZE,
    _identity_mm,
    ict_submesh,
    pick_seeds,
    scan_identity_gaps,
)
from .ict import CM_TO_MM, ICTFace, load_ict, shared_data_dir
from .mesh_eval import AUDIO_ONLY, KEY_POSES, Clip, load_clips
from .mesh_lips import LipHead, MeshHead, mesh_lip_metrics, read_mesh_lips
from .s2d.data import EVAL_ID_SEED0

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
HEAD_REGIONS = ("face", "head_and_neck", "mouth_socket", "eye_socket_left", "eye_socket_right")
TEETH_REGIONS = ("gums_and_tongue", "teeth")
EYE_REGIONS = ("eyeball_left", "eyeball_right")
MODES = (KEY_POSES, AUDIO_ONLY)


@dataclass(frozen=True)
class RigPart:
    """One object of the character: its rest mesh (cm, like the ICT panel) and its 53 keys."""

    name: str
    vertices: F64  # (V, 3) cm
    faces: I64  # (F, 4) padded with -1
    deltas: NDArray[np.float32]  # (53, V, 3) cm


@dataclass(frozen=True)
class RigCharacter:
    seed: int
    key_names: list[str]
    head: RigPart
    others: list[RigPart]
    landmarks68: I64  # into the head's vertices
    face: I64  # the head's vertices of the ICT 'face' region, where the error is measured

    @property
    def lip_head(self) -> LipHead:
        return MeshHead(self.head.vertices, self.head.faces, self.landmarks68, CM_TO_MM, ICT_UP)


def _part(ict: ICTFace, name: str, regions: Sequence[str], identity_mm: F64,
          expressions_mm: NDArray[np.float32]) -> tuple[RigPart, I64]:
    mask, new_index, kept = ict_submesh(ict, regions)
    keep = np.flatnonzero(mask)
    part = RigPart(name, identity_mm[keep] / CM_TO_MM, kept.astype(np.int64),
                   (expressions_mm[:, keep] / CM_TO_MM).astype(np.float32))
    return part, new_index


def ict_character(ict: ICTFace | None = None) -> RigCharacter:
    """The held-out identity the mesh panel picked for a 1 mm neutral lip gap, as three objects
    with the 53 ICT expression shapes as keys."""
    ict = ict or load_ict()
    pool = range(EVAL_ID_SEED0, EVAL_ID_SEED0 + POOL_SIZE)
    seeds, _ = pick_seeds(pool, scan_identity_gaps(ict, pool))
    seed = seeds[GAP_TARGETS_MM.index(1.0)]
    identity = _identity_mm(ict, seed)
    expressions = np.asarray(ict.expression_deltas, dtype=np.float32)
    head, index = _part(ict, "Head", HEAD_REGIONS, identity, expressions)
    teeth, _ = _part(ict, "Teeth", TEETH_REGIONS, identity, expressions)
    eyes, _ = _part(ict, "Eyes", EYE_REGIONS, identity, expressions)
    lm = index[ict.landmarks68.astype(np.int64)]
    face = index[np.arange(ict.region("face").start, ict.region("face").stop)]
    return RigCharacter(seed, [str(n) for n in ict.expression_names], head, [teeth, eyes],
                        lm.astype(np.int64), face.astype(np.int64))


def rig_target(character: RigCharacter) -> RigTarget:
    """What the Blender side hands the solve for this character (every key 0-1)."""
    k = len(character.key_names)
    return RigTarget(
        rig_set="ARKIT", key_names=list(character.key_names),
        canonical=list(character.key_names), deltas=character.head.deltas,
        ranges=np.tile([0.0, 1.0], (k, 1)),
        others={p.name: list(character.key_names) for p in character.others},
    )


def rig_motion(dense: Motion, weights: NDArray[np.float32], deltas: NDArray[np.float32]) -> Motion:
    """The motion the rig makes: what Blender evaluates from the keyed weights."""
    return Motion(frame_times=dense.frame_times, landmarks=dense.landmarks,
                  codes=np.asarray(weights, np.float32), basis=np.asarray(deltas, np.float32),
                  mm_per_unit=dense.mm_per_unit)


def evaluate_clip(anim: Animator, character: RigCharacter, target: RigTarget, clip: Clip,
                  mode: str) -> dict[str, Any]:
    head = character.head
    dense = anim.animate(clip.path, head.vertices, head.faces, character.landmarks68,
                         frame_times=clip.times, phones=clip.phones_for(mode))
    inputs = BakeInputs(
        settings=BakeSettings(mode="RIG"), audio_path=clip.path, vertices=head.vertices,
        faces=head.faces, frames=np.arange(len(clip.times), dtype=np.int64) + 1,
        times=clip.times, landmarks68=character.landmarks68, label=clip.name, rig=target,
    )
    t0 = time.perf_counter()
    plan = rig_plan(dense, inputs)
    solve_s = time.perf_counter() - t0
    rig = rig_motion(dense, plan.weights, target.deltas)
    face = character.face
    err = np.linalg.norm((rig.dense[:, face] - dense.dense[:, face]).astype(np.float64),
                         axis=2) * CM_TO_MM
    lips = character.lip_head
    m_dense = mesh_lip_metrics(read_mesh_lips(dense, lips), clip.phones, clip.times, clip.quiet)
    m_rig = mesh_lip_metrics(read_mesh_lips(rig, lips), clip.phones, clip.times, clip.quiet)
    used = int((np.abs(plan.weights) > 1e-4).any(axis=0).sum())
    return {
        "clip": clip.name, "mode": mode, "frames": len(clip.times),
        "face_error_mean_mm": float(err.mean()), "face_error_p95_mm": float(np.percentile(err, 95)),
        "face_error_max_mm": float(err.max()), "n_bilabial": m_dense["n_bilabial"],
        "meet_dense": m_dense["n_meet"], "meet_rig": m_rig["n_meet"],
        "crossing_rig_mm": m_rig["worst_crossing_mm"], "keys_used": used,
        "solve_s": solve_s,
    }


def summary(rows: Sequence[dict[str, Any]]) -> str:
    out = ["| key poses | clips | frames | face error mean / p95 / max (mm) "
           "| lips meet on /p b m/: dense | rig | worst crossing, rig (mm) | keys used "
           "| solve (s per 1,000 frames) |", "|---|---|---|---|---|---|---|---|---|"]
    for mode in MODES:
        sel = [r for r in rows if r["mode"] == mode]
        if not sel:
            continue
        frames = sum(r["frames"] for r in sel)
        mean = sum(r["face_error_mean_mm"] * r["frames"] for r in sel) / frames
        n = sum(r["n_bilabial"] for r in sel)
        dense = sum(r["meet_dense"] for r in sel)
        rig = sum(r["meet_rig"] for r in sel)
        out.append(
            f"| {mode} | {len(sel)} | {frames} | {mean:.3f} / "
            f"{max(r['face_error_p95_mm'] for r in sel):.3f} / "
            f"{max(r['face_error_max_mm'] for r in sel):.3f} "
            f"| {dense:.0f} / {n:.0f} ({dense / n:.3f}) | {rig:.0f} / {n:.0f} ({rig / n:.3f}) "
            f"| {max(r['crossing_rig_mm'] for r in sel):.2f} "
            f"| {min(r['keys_used'] for r in sel)}-{max(r['keys_used'] for r in sel)} "
            f"| {1000 * sum(r['solve_s'] for r in sel) / frames:.3f} |")
    return "\n".join(out)


def detail(rows: Sequence[dict[str, Any]]) -> str:
    out = ["| clip | key poses | frames | face error mean / max (mm) | meet dense / rig "
           "/ bilabials | keys used |", "|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['clip']} | {r['mode']} | {r['frames']} "
                   f"| {r['face_error_mean_mm']:.3f} / {r['face_error_max_mm']:.3f} "
                   f"| {r['meet_dense']:.0f} / {r['meet_rig']:.0f} / {r['n_bilabial']:.0f} "
                   f"| {r['keys_used']} |")
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    anim = Animator.load(weights_dir=args.weights)
    character = ict_character()
    target = rig_target(character)
    clips = load_clips(args.speech, args.alignments, recognise=False)
    start = time.time()
    rows = [evaluate_clip(anim, character, target, clip, mode)
            for clip in clips for mode in MODES]
    table = summary(rows)
    text = (
        "# The RIG bake against the dense bake\n\n"
        f"`python -m blender_s2l.training evaluate-rig` ({time.strftime('%Y-%m-%d')}, "
        f"{time.time() - start:.0f} s on this machine). Character: ICT held-out identity "
        f"{character.seed} (the mesh panel's 1 mm head) as Head ({len(character.head.vertices)} "
        f"vertices) + Teeth + Eyes, each with the pack's {len(character.key_names)} "
        "ARKit-named expression shapes as keys (0-1). Face error: distance between the rig's "
        "mesh (rest + weights x key offsets, what Blender evaluates) and the dense bake's, over "
        "the ICT 'face' region, every frame. Lips meet: `mesh_lips` (mean inner gap <= 0.5 mm "
        "on some frame of the phone +-1) on each mesh.\n\n"
        f"{table}\n\n## Every clip\n\n{detail(rows)}\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    args.out.with_suffix(".json").write_text(json.dumps(rows, indent=1))
    print(table)
    return 0


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("evaluate-rig",
                              help="the RIG bake against the dense bake on an ICT rig")
    p.add_argument("--weights", type=Path, default=None)
    p.add_argument("--speech", type=Path, nargs="+",
                   default=[shared_data_dir() / "speech", Path("cache/real_speech")])
    p.add_argument("--alignments", type=Path, default=Path("reports/alignments"))
    p.add_argument("--out", type=Path, default=Path("reports/rig_eval.md"))
    p.set_defaults(func=run)
