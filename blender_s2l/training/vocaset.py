"""VOCASET (FLAME topology, 60 fps) read through the same interface as the synthetic corpus.

Files under root: data_verts.npy (N, V, 3) metres, memory-mapped; templates.pkl (subject -> (V, 3)
neutral); subj_seq_to_idx.pkl (subject -> sentence -> frame number -> row of data_verts);
raw_audio_fixed.pkl (subject -> sentence -> {'audio', 'sample_rate'}). The pickles are the
official format, so they are read with safe_pickle (numpy arrays and plain containers only: a
tampered file cannot run code). Frame number f is at f / 60 s into the audio.

Positions are in canonical face space: FLAME's axes already match it (+X subject's left, +Y up,
+Z toward the viewer), so only metres -> mm and a shift putting the subject's template landmark 27
at the origin are applied. VOCASET ships no 68 landmarks; they come from `landmarks68=`, a
`flame_landmarks.json` (68 vertex indices) beside the data, or a fit from key points on the FLAME
faces (`faces=`, from the user's FLAME model). Without any, `landmark_vertices` is None, nothing is
shifted (the origin stays FLAME's) and `landmark_targets` needs landmarks passed in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from ..core.errors import AudioError, LandmarkError, S2LError
from ..core.head.fitting import fit_landmarks
from ..core.head.landmarks import NOSE_BRIDGE
from ..core.head.mesh import FacesLike
from .corpus.manifest import FRAME_RATE
from .datasets import LandmarkEmbedding, resample_track
from .safe_pickle import safe_load_pickle

F32 = NDArray[np.float32]
I64 = NDArray[np.int64]

FPS = 60.0
MM_PER_M = 1000.0
VERTS, AUDIO, TEMPLATES, INDEX = (
    "data_verts.npy", "raw_audio_fixed.pkl", "templates.pkl", "subj_seq_to_idx.pkl"
)
LANDMARKS_JSON = "flame_landmarks.json"
# The subject split FaceFormer and its successors use (8 / 2 / 2).
STANDARD_SPLITS = {
    "train": (
        "FaceTalk_170728_03272_TA", "FaceTalk_170904_00128_TA", "FaceTalk_170725_00137_TA",
        "FaceTalk_170915_00223_TA", "FaceTalk_170811_03274_TA", "FaceTalk_170913_03279_TA",
        "FaceTalk_170904_03276_TA", "FaceTalk_170912_03278_TA",
    ),
    "val": ("FaceTalk_170811_03275_TA", "FaceTalk_170908_03277_TA"),
    "test": ("FaceTalk_170809_00138_TA", "FaceTalk_170731_00024_TA"),
}
Landmarks68 = LandmarkEmbedding | Sequence[int] | NDArray[np.integer[Any]]


def default_split(subject: str) -> str:
    """The standard split of a known subject name; any other subject trains."""
    for split, names in STANDARD_SPLITS.items():
        if subject in names:
            return split
    return "train"


def _mono_float(samples: Any, name: str) -> F32:
    x = np.asarray(samples)
    if x.ndim == 2:  # channels on the short axis
        x = x.mean(axis=1 if x.shape[1] <= x.shape[0] else 0)
    if x.ndim != 1 or x.size == 0:
        raise AudioError(f"The VOCASET audio of {name} is not a mono or stereo recording.")
    if np.issubdtype(x.dtype, np.signedinteger):
        return (x / float(np.iinfo(x.dtype).max + 1)).astype(np.float32)
    if np.issubdtype(x.dtype, np.floating):
        return x.astype(np.float32)
    raise AudioError(f"The VOCASET audio of {name} has samples of type {x.dtype}.")


@dataclass
class _Store:
    """What every utterance of one load shares: the memory map, templates, audio, landmarks."""

    root: Path
    verts: NDArray[Any]  # (N, V, 3) metres, memory-mapped
    templates_mm: dict[str, NDArray[np.float64]]
    audio: dict[str, Any]
    landmarks: LandmarkEmbedding | None
    faces: FacesLike | None
    origins: dict[str, NDArray[np.float64]] = field(default_factory=dict)


@dataclass
class VocaUtterance:
    """One subject reading one sentence; same reading interface as corpus.manifest.Utterance."""

    store: _Store = field(repr=False)
    subject: str
    sentence: str
    split: str
    frame_numbers: I64 = field(repr=False)
    rows: I64 = field(repr=False)

    @property
    def id(self) -> str:
        return f"{self.subject}/{self.sentence}"

    @property
    def root(self) -> Path:
        return self.store.root

    @property
    def phones(self) -> list[tuple[float, float, str]]:
        """VOCASET has no phone alignment."""
        return []

    @property
    def frame_times(self) -> NDArray[np.float64]:
        """(T,) seconds into the audio of each mesh frame (60 fps, gaps kept)."""
        return self.frame_numbers / FPS

    @property
    def landmark_vertices(self) -> LandmarkEmbedding | None:
        return self.store.landmarks

    @property
    def faces(self) -> FacesLike | None:
        return self.store.faces

    @property
    def origin(self) -> NDArray[np.float64]:
        """(3,) mm subtracted from FLAME positions: template landmark 27, or zeros if unknown."""
        return self.store.origins[self.subject]

    @property
    def template(self) -> F32:
        """(V, 3) neutral of this subject, canonical mm."""
        return (self.store.templates_mm[self.subject] - self.origin).astype(np.float32)

    def vertices(self) -> F32:
        """(T, V, 3) absolute positions, canonical mm."""
        frames = np.asarray(self.store.verts[self.rows], dtype=np.float64)
        return (frames * MM_PER_M - self.origin).astype(np.float32)

    def displacements(self) -> F32:
        """(T, V, 3) motion from the subject's neutral, mm."""
        return self.vertices() - self.template

    def audio(self) -> tuple[F32, int]:
        """(samples, sample_rate): mono float32 at the recording's own rate (22 kHz)."""
        entry = self.store.audio[self.subject][self.sentence]
        if not isinstance(entry, dict) or not {"audio", "sample_rate"} <= entry.keys():
            raise AudioError(f"The VOCASET audio of {self.id} lacks 'audio' or 'sample_rate'.")
        return _mono_float(entry["audio"], self.id), int(entry["sample_rate"])

    def landmark_targets(self, landmarks: Landmarks68 | None = None) -> F32:
        """(T_100Hz, 68, 3) landmark displacements in mm at k / 100 s, for S2L training."""
        emb = self.store.landmarks if landmarks is None else _embedding(landmarks, self.template)
        if emb is None:
            raise LandmarkError(
                f"VOCASET has no 68 landmarks; give landmarks68=, {LANDMARKS_JSON} or key points."
            )
        disp = emb.apply(self.vertices()) - emb.apply(self.template)
        return resample_track(disp, self.frame_times, FRAME_RATE)


def _embedding(landmarks: Landmarks68, template: NDArray[Any]) -> LandmarkEmbedding:
    if isinstance(landmarks, LandmarkEmbedding):
        return landmarks
    return LandmarkEmbedding.from_indices(landmarks, len(template))


def _resolve_landmarks(
    root: Path,
    templates_mm: Mapping[str, NDArray[np.float64]],
    landmarks68: Landmarks68 | None,
    faces: FacesLike | None,
    keypoints: Mapping[int, int] | None,
) -> LandmarkEmbedding | None:
    """Given landmarks, else the JSON beside the data, else a key-point fit, else None."""
    mean = np.mean(np.stack(list(templates_mm.values())), axis=0)
    if landmarks68 is not None:
        return _embedding(landmarks68, mean)
    path = root / LANDMARKS_JSON
    if path.is_file():
        try:
            indices = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            raise LandmarkError(f"{path.name} is not valid JSON ({exc}).") from exc
        return LandmarkEmbedding.from_indices(indices, len(mean))
    if keypoints is None:
        return None
    if faces is None:
        raise LandmarkError("Fitting landmarks from key points needs the FLAME faces (faces=).")
    # One embedding on the mean neutral serves every subject: they share the topology.
    return LandmarkEmbedding.on_surface(mean, faces, fit_landmarks(mean, faces, keypoints))


def _check_mapping(obj: Any, what: str) -> dict[Any, Any]:
    if not isinstance(obj, dict):
        raise S2LError(f"{what} should hold a dictionary, not {type(obj).__name__}.")
    return obj


def _load_templates(root: Path, n_vertices: int) -> dict[str, NDArray[np.float64]]:
    out = {}
    for subject, tpl in _check_mapping(safe_load_pickle(root / TEMPLATES), TEMPLATES).items():
        arr = np.asarray(tpl, dtype=np.float64)
        if arr.shape != (n_vertices, 3):
            raise S2LError(
                f"The template of {subject} has shape {arr.shape}; {VERTS} has {n_vertices} "
                "vertices per frame."
            )
        out[str(subject)] = arr * MM_PER_M
    return out


def _open_verts(root: Path) -> NDArray[Any]:
    path = root / VERTS
    if not path.is_file():
        raise S2LError(f"VOCASET file {VERTS} is missing from {root}.")
    try:
        verts = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise S2LError(f"{VERTS} is not a plain .npy array ({exc}).") from exc
    if verts.ndim != 3 or verts.shape[2] != 3:
        raise S2LError(f"{VERTS} should be (frames, vertices, 3); it is {verts.shape}.")
    return cast(NDArray[Any], verts)


def load_vocaset(
    root: str | Path,
    subjects: Iterable[str] | None = None,
    sentences: Iterable[str] | None = None,
    *,
    landmarks68: Landmarks68 | None = None,
    faces: FacesLike | None = None,
    keypoints: Mapping[int, int] | None = None,
    splits: Mapping[str, str] | None = None,
) -> list[VocaUtterance]:
    """The utterances of a VOCASET folder that have both meshes and audio, sorted by id.

    subjects / sentences restrict the load (an unknown subject is an error); splits overrides
    default_split per subject; landmarks68, faces and keypoints are described in the module.
    """
    root = Path(root)
    verts = _open_verts(root)
    index = _check_mapping(safe_load_pickle(root / INDEX), INDEX)
    audio = _check_mapping(safe_load_pickle(root / AUDIO), AUDIO)
    templates = _load_templates(root, verts.shape[1])
    wanted = sorted(index) if subjects is None else list(dict.fromkeys(subjects))
    unknown = [s for s in wanted if s not in index]
    if unknown:
        raise S2LError(f"VOCASET at {root} has no subject {', '.join(unknown)}.")
    missing = [s for s in wanted if s not in templates]
    if missing:
        raise S2LError(f"{TEMPLATES} has no neutral for subject {', '.join(missing)}.")
    lm = _resolve_landmarks(root, templates, landmarks68, faces, keypoints)
    store = _Store(root, verts, templates, audio, lm, faces)
    only = None if sentences is None else set(sentences)
    out: list[VocaUtterance] = []
    for subject in wanted:
        tpl = templates[subject]
        origin = np.zeros(3) if lm is None else lm.apply(tpl)[NOSE_BRIDGE].astype(np.float64)
        store.origins[subject] = origin
        split = (splits or {}).get(subject, default_split(subject))
        for sentence, frames in sorted(_check_mapping(index[subject], INDEX).items()):
            has_audio = sentence in _check_mapping(audio.get(subject, {}), AUDIO)
            if not has_audio or (only is not None and sentence not in only):
                continue
            numbers = np.array(sorted(frames), dtype=np.int64)
            rows = np.array([frames[k] for k in sorted(frames)], dtype=np.int64)
            if len(rows) == 0 or rows.min() < 0 or rows.max() >= len(verts):
                raise S2LError(f"{INDEX} points {subject}/{sentence} outside {VERTS}.")
            out.append(VocaUtterance(store, subject, str(sentence), split, numbers, rows))
    if not out:
        raise S2LError(f"No VOCASET utterance with meshes and audio matches the request in {root}.")
    return out
