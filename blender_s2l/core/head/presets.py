"""Known head topologies whose 68 landmark vertices are known: the ICT FaceKit head, our demo head.

A count alone is never trusted: the ICT head must also have its landmarks where a face has them
(similarity fit to the canonical template), and the demo head must have exactly the face
connectivity the generator builds at that size. The generator itself is demo material and stays
out of the extension: what recognition needs of it (the vertex count, a hash of the
connectivity and the 68 landmark vertices of each size the demo makes) is kept in
DEMO_HEADS, written by `write_demo_heads` and checked against the generator by the tests.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import LandmarkError
from .landmarks import canonical_neutral, fit_similarity
from .mesh import FacesLike, padded_faces

I64 = NDArray[np.int64]

# The 68 Multi-PIE/iBUG landmark vertex indices of the ICT FaceKit head, as published in the
# ICT-FaceKit README ("Facial Landmarks"), https://github.com/ICT-VGL/ICT-FaceKit,
# MIT licence, Copyright (c) 2020 USC Institute for Creative Technologies.
ICT_LANDMARKS = (
    1225, 1888, 1052, 367, 1719, 1722, 2199, 1447, 966, 3661, 4390, 3927, 3924, 2608, 3272, 4088,
    3443, 268, 493, 1914, 2044, 1401, 3615, 4240, 4114, 2734, 2509, 978, 4527, 4942, 4857, 1140,
    2075, 1147, 4269, 3360, 1507, 1542, 1537, 1528, 1518, 1511, 3742, 3751, 3756, 3721, 3725,
    3732, 5708, 5695, 2081, 0, 4275, 6200, 6213, 6346, 6461, 5518, 5957, 5841, 5702, 5711, 5533,
    6216, 6207, 6470, 5517, 5966,
)
ICT_VERTICES = 26_719
ICT_POLYGONS = (26_384, 52_220)  # as published (quads + tris), or fully triangulated
MAX_PRESET_RMS_MM = 6.0  # landmark fit to the canonical face, after a similarity
DEMO_HEADS = Path(__file__).with_name("demo_heads.json")


@dataclass(frozen=True)
class PresetMatch:
    name: str
    landmark_vertices: I64


def _template_rms(points: NDArray[np.floating[Any]]) -> float:
    """Canonical-mm rms miss of the best similarity from these 68 points to the template."""
    tmpl = canonical_neutral().astype(np.float64)
    try:
        sim = fit_similarity(points, tmpl)
    except LandmarkError:
        return float("inf")
    return float(np.sqrt(np.mean(np.sum((sim.apply(points) - tmpl) ** 2, axis=1))))


def faces_signature(faces: FacesLike) -> str:
    """Hash of the face connectivity (corner order included)."""
    pf = np.ascontiguousarray(padded_faces(faces), dtype=np.int64)
    return f"{pf.shape[0]}x{pf.shape[1]}:" + hashlib.sha1(pf.tobytes()).hexdigest()


@cache
def _demo_heads() -> dict[int, tuple[str, str, I64]]:
    """vertex count -> (name, connectivity hash, landmark vertices) of the demo head sizes."""
    table = json.loads(DEMO_HEADS.read_text())
    return {int(n): (e["name"], e["faces"], np.asarray(e["landmarks"], dtype=np.int64))
            for n, e in table.items()}


def write_demo_heads(heads: Sequence[tuple[str, NDArray[Any], FacesLike, NDArray[Any]]],
                     path: Path = DEMO_HEADS) -> None:
    """Store (name, vertices, faces, landmark vertices) of each demo size for recognition."""
    table = {str(len(v)): {"name": name, "faces": faces_signature(f),
                           "landmarks": [int(i) for i in lm]}
             for name, v, f, lm in heads}
    path.write_text(json.dumps(table, sort_keys=True) + "\n")


def _match_demo(n_vertices: int, faces: FacesLike) -> PresetMatch | None:
    entry = _demo_heads().get(n_vertices)
    if entry is None or faces_signature(faces) != entry[1]:
        return None
    return PresetMatch(entry[0], entry[2].copy())


def _match_ict(vertices: NDArray[np.floating[Any]], faces: FacesLike) -> PresetMatch | None:
    n_faces = len(faces)
    if len(vertices) != ICT_VERTICES or n_faces not in ICT_POLYGONS:
        return None
    lm = np.array(ICT_LANDMARKS, dtype=np.int64)
    if _template_rms(np.asarray(vertices, dtype=np.float64)[lm]) > MAX_PRESET_RMS_MM:
        return None
    return PresetMatch("ict_facekit", lm)


def match_preset(vertices: NDArray[np.floating[Any]], faces: FacesLike) -> PresetMatch | None:
    """The preset this mesh is (with its landmark vertex indices), or None."""
    v = np.asarray(vertices)
    if v.ndim != 2 or v.shape[1] != 3 or not np.all(np.isfinite(v)):
        return None
    return _match_ict(v, faces) or _match_demo(len(v), faces)
