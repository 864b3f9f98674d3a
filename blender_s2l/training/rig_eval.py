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
from ..core.rig import solve as rig_solve
from ..core.rig.jaw import JawRig
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


JAW_SOURCES = ("none", "skin", "map")


def jaw_rig(character: RigCharacter) -> JawRig:
    """A jaw bone for the ICT head, as a rigger would make it: its head at the jaw's hinge side
    (between landmarks 3 and 13, where the jaw map turns), the head mesh skinned to it by how far
    the pack's jawOpen moves each vertex, 1 from the chin's share up (the chin and lower lip
    ride the jaw, the cheeks partly, the upper face not)."""
    head = character.head
    lm = head.vertices[character.landmarks68]
    hinge = 0.5 * (lm[3] + lm[13])
    to_bone = np.eye(4)
    to_bone[:3, 3] = -hinge
    moved = np.linalg.norm(head.deltas[character.key_names.index("jawOpen")], axis=1)
    skin = np.clip(moved / moved[character.landmarks68[8]], 0.0, 1.0).astype(np.float32)
    return JawRig("jaw", to_bone, skin, translate=True)


def lower_face(character: RigCharacter) -> I64:
    """The face region's vertices below the nose tip (landmark 33): lips, chin, lower cheeks."""
    v = character.head.vertices
    up = np.asarray(ICT_UP, np.float64)
    below = (v[character.face] - v[character.landmarks68[33]]) @ up < 0
    out: I64 = character.face[below]
    return out


def skinned_motion(dense: Motion, weights: NDArray[np.float32], deltas: NDArray[np.float32],
                   mesh: F64, skin: NDArray[np.float32], rest: F64) -> Motion:
    """The motion Blender evaluates from keys and a skinned jaw bone, low-rank: the keys make
    y = rest + sum_k w_k delta_k, then linear blend skinning moves y by s (A y - y), A = [L c]
    the bone's motion of the mesh (tests/blender/test_rig_jaw.py holds Blender to it). With
    M = L - I: s (M rest + c) is 12 fields, s M delta_k is 9 fields a key, amounts w_k M_ij."""
    t, k = weights.shape
    x = np.asarray(rest, np.float64)
    m = np.asarray(mesh, np.float64) - np.eye(4)[None]
    s = np.asarray(skin, np.float64)[:, None]
    fields = [np.asarray(deltas, np.float32)]
    codes = [np.asarray(weights, np.float32)]
    xh = np.concatenate([x, np.ones((len(x), 1))], axis=1)
    rest_fields = np.zeros((3, 4, len(x), 3), np.float32)
    for i in range(3):
        rest_fields[i, :, :, i] = (s * xh).T
    fields.append(rest_fields.reshape(12, len(x), 3))
    codes.append(m[:, :3, :].reshape(t, 12).astype(np.float32))
    key_fields = np.zeros((k, 3, 3, len(x), 3), np.float32)
    for i in range(3):
        key_fields[:, i, :, :, i] = (np.asarray(deltas, np.float64) * s[None]).transpose(0, 2, 1)
    fields.append(key_fields.reshape(k * 9, len(x), 3))
    codes.append((weights[:, :, None] * m[:, None, :3, :3].reshape(t, 1, 9)).reshape(t, k * 9)
                 .astype(np.float32))
    return Motion(frame_times=dense.frame_times, landmarks=dense.landmarks,
                  codes=np.concatenate(codes, axis=1), basis=np.concatenate(fields),
                  mm_per_unit=dense.mm_per_unit)


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
    if target.jaw is not None and plan.jaw is not None:
        rig = skinned_motion(dense, plan.weights, target.deltas, plan.jaw.mesh,
                             target.jaw.skin, head.vertices)
    face = character.face
    err = np.linalg.norm((rig.dense[:, face] - dense.dense[:, face]).astype(np.float64),
                         axis=2) * CM_TO_MM
    lower = lower_face(character)
    err_lower = np.linalg.norm((rig.dense[:, lower] - dense.dense[:, lower]).astype(np.float64),
                               axis=2) * CM_TO_MM
    lips = character.lip_head
    m_dense = mesh_lip_metrics(read_mesh_lips(dense, lips), clip.phones, clip.times, clip.quiet)
    m_rig = mesh_lip_metrics(read_mesh_lips(rig, lips), clip.phones, clip.times, clip.quiet)
    used = int((np.abs(plan.weights) > 1e-4).any(axis=0).sum())
    return {
        "clip": clip.name, "mode": mode, "frames": len(clip.times),
        "face_error_mean_mm": float(err.mean()), "face_error_p95_mm": float(np.percentile(err, 95)),
        "face_error_max_mm": float(err.max()), "n_bilabial": m_dense["n_bilabial"],
        "lower_face_error_mean_mm": float(err_lower.mean()),
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
    clips = load_clips(args.speech, args.alignments, recognise=False)
    if args.jaw != ["none"]:
        return run_jaw(args, anim, character, clips)
    target = rig_target(character)
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
    out = args.out or Path("reports/rig_eval.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps(rows, indent=1))
    print(table)
    return 0


JAW_WORDS = {
    "none": "no jaw bone (the keys make the whole motion)",
    "skin": "a skinned jaw bone keyed as the bake does (its motion fitted to the skinned "
            "vertices' dense motion; the default)",
    "map": "a skinned jaw bone keyed from the jaw map (the lower teeth's fitted motion)",
}


def run_jaw(args: argparse.Namespace, anim: Animator, character: RigCharacter,
            clips: Sequence[Clip]) -> int:
    """The same evaluation with a jaw bone skinned to the head (`jaw_rig`), for each source of
    the bone's motion asked for; the lower face's error beside the face's."""
    sections = []
    start = time.time()
    rows_all: dict[str, list[dict[str, Any]]] = {}
    for source in args.jaw:
        target = rig_target(character)
        if source != "none":
            target.jaw = jaw_rig(character)
        rig_solve.JAW_FROM_SKIN = source != "map"
        try:
            rows = [evaluate_clip(anim, character, target, clip, mode)
                    for clip in clips for mode in MODES]
        finally:
            rig_solve.JAW_FROM_SKIN = True
        rows_all[source] = rows
        lower = {mode: np.average([r["lower_face_error_mean_mm"] for r in rows
                                   if r["mode"] == mode],
                                  weights=[r["frames"] for r in rows if r["mode"] == mode])
                 for mode in MODES}
        sections.append(f"### {JAW_WORDS[source]}\n\n{summary(rows)}\n\nLower face (the face "
                        "below the nose tip) error, mean: " + ", ".join(
                            f"{mode} {value:.3f} mm" for mode, value in lower.items()) + "\n")
    skin = jaw_rig(character).skin
    text = (
        "# The RIG bake with a jaw bone against the dense bake\n\n"
        f"`python -m blender_s2l.training evaluate-rig --jaw {' '.join(args.jaw)}` "
        f"({time.strftime('%Y-%m-%d')}, {time.time() - start:.0f} s on this machine). The "
        "character of `rig_eval.md` (ICT held-out identity "
        f"{character.seed}, 53 ARKit-named keys), its head skinned to a jaw bone whose head is "
        "between landmarks 3 and 13 (`rig_eval.jaw_rig`: each vertex's weight is how far the "
        "pack's jawOpen moves it over how far it moves the chin, at most 1; "
        f"{int((skin > 0.5).sum())} of {len(skin)} vertices above 0.5). The rig's mesh is what "
        "Blender evaluates: rest + weights x key offsets, then the bone through linear blend "
        "skinning (`rig_eval.skinned_motion`; tests/blender/test_rig_jaw.py holds Blender's "
        "Armature modifier to it within 1e-6 m).\n\n" + "\n".join(sections))
    out = args.out or Path("reports/rig_eval_jaw.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps(rows_all, indent=1))
    print(text)
    return 0


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("evaluate-rig",
                              help="the RIG bake against the dense bake on an ICT rig")
    p.add_argument("--weights", type=Path, default=None)
    p.add_argument("--speech", type=Path, nargs="+",
                   default=[shared_data_dir() / "speech", Path("cache/real_speech")])
    p.add_argument("--alignments", type=Path, default=Path("reports/alignments"))
    p.add_argument("--out", type=Path, default=None,
                   help="reports/rig_eval.md, or reports/rig_eval_jaw.md with --jaw")
    p.add_argument("--jaw", nargs="+", choices=JAW_SOURCES, default=["none"],
                   help="with a skinned jaw bone: its motion from the skin (skin) or the jaw "
                        "map (map); none for no bone; several for a table each")
    p.set_defaults(func=run)
