"""Lip-sync read from the baked mesh of a head, the way an animator sees it.

The canonical-landmark yardstick (metrics.py) says what S2L meant; this one says what the user's
head does. At every frame the inner lips are read on the mesh at the landmark points of the iBUG
pairs 61/67, 62/66 and 63/65 (vertices, or surface points of a fitted head), the gap of each pair
measured along the head's up axis in real millimetres:
- the lips meet on a /p b m/ when the mean gap of the three pairs is at most MEET_MM on some frame
  of the phone (±1 frame);
- worst crossing: the furthest any pair's lower lip passes above its upper one, beyond what the
  neutral itself does (a head whose lips cross at rest is measured from that crossing);
- open-vowel AUC: as the canonical one, with the mesh's mean gap; per clip, and pooled over a
  head's clips (every open vowel's peak against every /p b m/'s lowest gap);
- closures on other sounds: runs of frames with the mean gap at most MEET_MM that touch no
  /p b m/ and no pause (±1 frame) inside the labelled span, as the canonical protocol counts
  them (meaningless on a head whose lips rest shut: its neutral already meets);
- rest: the largest displacement of any vertex below the nose tip from the neutral, mean and
  worst over frames of silence: pauses of the canonical protocol (labelled silences over 300 ms,
  100 ms off each edge) whose sound is at least QUIET_DB under the clip's loud level (the 95th
  percentile of 40 ms frame levels), and the share of those frames within REST_NEAR_MM.
  Labelled pauses also hold breaths, room noise and, on the telephone, the other speaker, where
  the audio model moves the mouth; all labelled pauses are reported too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from ..core.head.landmarks import N_LANDMARKS
from ..core.head.lip_contact import LOWER_INNER, UPPER_INNER, SurfacePoints, surface_points
from ..core.head.mesh import FacesLike
from ..core.motion import Motion
from ..core.speech.phones import BILABIALS, OPEN_VOWELS, SIL, Phone
from .head_panel import landmark_points
from .metrics import auc, phone_frames, shut_runs_elsewhere

F64 = NDArray[np.float64]
MEET_MM = 0.5
QUIET_DB = 40.0
# Issue 15's promise: in silence the face is the user's neutral within this (mm).
REST_NEAR_MM = 0.3
LEVEL_WINDOW_S = 0.04
NOSE_TIP = 33  # iBUG: the nose's lowest midpoint; below it is the speaking part of the face
FRAME_CHUNK = 256


class LipHead(Protocol):
    """What the yardstick reads of a head (a panel head or a MeshHead)."""

    @property
    def vertices(self) -> F64: ...
    @property
    def faces(self) -> Any: ...
    @property
    def landmarks68(self) -> NDArray[Any]: ...
    @property
    def mm_per_unit(self) -> float: ...
    @property
    def up(self) -> F64: ...


def lip_points(head: LipHead) -> tuple[SurfacePoints, SurfacePoints]:
    """The inner-lip landmark points of a head, as surface points (upper, lower)."""
    lm = np.asarray(head.landmarks68)
    idx = lm.astype(np.int64) if lm.shape == (N_LANDMARKS,) else None
    pos = head.vertices[idx] if idx is not None else np.asarray(lm, np.float64)
    pts = surface_points(head.vertices, head.faces, pos, idx)
    return pts.subset(UPPER_INNER), pts.subset(LOWER_INNER)


@dataclass(frozen=True)
class MeshHead:
    """What the yardstick needs of a head: its neutral, landmarks, units and up axis."""

    vertices: F64  # (V, 3) in the head's own units
    faces: FacesLike
    landmarks68: NDArray[Any]  # (68,) vertex indices or (68, 3) surface positions
    mm_per_unit: float
    up: F64  # (3,) unit vector, the head's up in its own space


@dataclass(frozen=True)
class MeshLipTrack:
    gaps_mm: F64  # (T, 3) per inner-lip pair, real mm along the head's up axis
    neutral_gaps_mm: F64  # (3,)
    rest_deviation_mm: F64  # (T,) largest displacement below the nose tip

    @property
    def gap_mm(self) -> F64:
        out: F64 = self.gaps_mm.mean(axis=1)
        return out


def read_mesh_lips(motion: Motion, head: LipHead) -> MeshLipTrack:
    """Gaps and rest deviation of every frame of a motion, without materialising all of it."""
    upper, lower = lip_points(head)
    v = np.asarray(head.vertices, np.float64)
    up = np.asarray(head.up, np.float64) / np.linalg.norm(head.up)
    basis = motion.basis.astype(np.float64)
    codes = motion.codes.astype(np.float64)
    b_gap = (upper.sample(basis) - lower.sample(basis)) @ up  # (J, 3)
    neutral = (upper.sample(v) - lower.sample(v)) @ up
    gaps = (neutral[None] + codes @ b_gap) * head.mm_per_unit
    below = (v - landmark_points(v, head.landmarks68)[NOSE_TIP]) @ up < 0
    flat = basis[:, below].reshape(len(basis), -1)
    rest = np.empty(len(codes))
    for s in range(0, len(codes), FRAME_CHUNK):
        d = (codes[s : s + FRAME_CHUNK] @ flat).reshape(-1, int(below.sum()), 3)
        rest[s : s + FRAME_CHUNK] = np.sqrt(np.einsum("tvc,tvc->tv", d, d).max(axis=1))
    return MeshLipTrack(gaps, neutral * head.mm_per_unit, rest * head.mm_per_unit)


def _pause_frames(phones: Sequence[Phone], t: F64, min_silence: float = 0.3,
                  margin: float = 0.1) -> NDArray[np.bool_]:
    """The canonical rest protocol's frames: silences over 300 ms, 100 ms off each edge."""
    out = np.zeros(len(t), dtype=bool)
    for p in phones:
        if p.phone == SIL and p.end - p.start > min_silence:
            out |= (t >= p.start + margin) & (t < p.end - margin)
    return out


def quiet_frames(wav: NDArray[np.floating[Any]], rate: int, times: NDArray[np.floating[Any]]
                 ) -> NDArray[np.bool_]:
    """Frames whose sound is QUIET_DB or more under the clip's loud level (module notes)."""
    x = np.asarray(wav, np.float64)
    half = int(LEVEL_WINDOW_S * rate / 2)
    centre = np.clip((np.asarray(times) * rate).astype(np.int64), 0, max(len(x) - 1, 0))
    power = np.concatenate([[0.0], np.cumsum(x * x)])
    lo, hi = np.clip(centre - half, 0, len(x)), np.clip(centre + half, 0, len(x))
    level = 10 * np.log10((power[hi] - power[lo]) / np.maximum(hi - lo, 1) + 1e-12)
    out: NDArray[np.bool_] = level < np.percentile(level, 95) - QUIET_DB
    return out


def mesh_lip_metrics(
    track: MeshLipTrack, phones: Sequence[Phone], times: NDArray[np.floating[Any]],
    quiet: NDArray[np.bool_] | None = None,
) -> dict[str, Any]:
    """One row of the mesh yardstick (module notes) for one head and clip; quiet (T,) marks
    frames of silence (quiet_frames), None: every frame counts as quiet."""
    t = np.asarray(times, dtype=np.float64)
    g = track.gap_mm
    inside = [p for p in phones if p.start < t[-1] and p.end > t[0]]
    labials = [p for p in inside if p.phone in BILABIALS]
    lows = [float(g[phone_frames(t, p, 1)].min()) for p in labials]
    vowels = [float(g[phone_frames(t, p)].max()) for p in inside if p.phone in OPEN_VOWELS]
    meets = [x <= MEET_MM for x in lows]
    reference = np.minimum(track.neutral_gaps_mm, 0.0)
    crossing = float(max(0.0, np.max(reference[None] - track.gaps_mm)))
    elsewhere = shut_runs_elsewhere(g <= MEET_MM, inside, t)
    pause = _pause_frames(inside, t)
    silent = pause & (np.ones(len(t), bool) if quiet is None else quiet)
    rest = track.rest_deviation_mm[silent]
    noisy = track.rest_deviation_mm[pause]
    return {
        "meet": float(np.mean(meets)) if meets else float("nan"),
        "n_meet": float(sum(meets)),
        "n_bilabial": float(len(labials)),
        "worst_crossing_mm": crossing,
        "closures_elsewhere": float(elsewhere),
        "open_vowel_auc": auc(np.array(vowels), np.array(lows)),
        # kept so that a head's clips can be pooled into one AUC (mesh_eval.py)
        "open_vowel_peaks_mm": vowels,
        "bilabial_lows_mm": lows,
        "rest_mean_mm": float(rest.mean()) if rest.size else float("nan"),
        "rest_max_mm": float(rest.max()) if rest.size else float("nan"),
        "rest_frames": float(rest.size),
        "rest_frames_near": float(np.sum(rest <= REST_NEAR_MM)),
        "pause_mean_mm": float(noisy.mean()) if noisy.size else float("nan"),
        "pause_max_mm": float(noisy.max()) if noisy.size else float("nan"),
        "neutral_gap_mm": float(track.neutral_gaps_mm.mean()),
    }
