"""`fit-jaw`: the linear map from landmark motion to the jaw's rigid motion, fitted on ICT heads.

The truth is the lower teeth of the ICT training identities (their blendshape motion is rigid to
within 0.2-0.3 mm), under the same random expression mixtures S2D trains on, blinks and brows
included so that those learn to leave the jaw alone.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ...core.head.inner_parts import JawModel, classify_parts, rigid_fields, rigid_params
from ...core.head.landmarks import canonical_neutral
from ...core.head.mesh_features import on_face_mask
from ...core.models.load import weights_file
from ..ict import ICTFace, load_ict
from .data import TRAIN_ID_SEED0, build_variant, ict_labels
from .sampling import ExpressionSampler

# Ridge strength relative to the mean input energy: enough to keep rarely-moved landmark
# directions from picking up noise, far below what changes the fit on held-out heads.
RIDGE = 1e-3


def jaw_pivot() -> NDArray[np.float64]:
    """Between the jaw-contour landmarks 3 and 13, near the jaw's hinge side (canonical mm)."""
    c = canonical_neutral().astype(np.float64)
    pivot: NDArray[np.float64] = 0.5 * (c[3] + c[13])
    return pivot


def jaw_samples(
    ict: ICTFace, id_seeds: list[int], frames: int, seed: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(N, 204) landmark motion and (N, 6) rigid motion of the lower teeth, canonical mm."""
    labels = ict_labels(ict)
    sampler = ExpressionSampler(ict.expression_names)
    pivot = jaw_pivot()
    xs, ys = [], []
    for id_seed in id_seeds:
        v = build_variant(ict, id_seed, labels)
        on_face = on_face_mask(v.features)
        _, jaw = classify_parts(v.vertices, v.faces, v.landmarks, on_face)
        if len(jaw) == 0:
            raise RuntimeError("No jaw-riding part found on the ICT head: classify_parts changed?")
        rng = np.random.default_rng(seed * 100_003 + id_seed)
        up, lo = sampler.batch(rng, frames)
        w = up + lo
        xs.append(v.landmark_motion(w).reshape(frames, -1).astype(np.float64))
        ys.append(rigid_params(v.dense_motion(w)[:, jaw], rigid_fields(v.vertices[jaw], pivot)))
    return np.concatenate(xs), np.concatenate(ys)


def fit_jaw(
    ict: ICTFace | None = None, n_identities: int = 32, frames: int = 200, seed: int = 0
) -> JawModel:
    ict = ict or load_ict()
    x, y = jaw_samples(ict, [TRAIN_ID_SEED0 + i for i in range(n_identities)], frames, seed)
    gram = x.T @ x
    gram += RIDGE * np.trace(gram) / len(gram) * np.eye(len(gram))
    matrix = np.linalg.solve(gram, x.T @ y).T
    return JawModel(matrix, jaw_pivot())


def main_fit(out: str = str(weights_file("jaw")), n_identities: int = 32,
             seed: int = 0) -> JawModel:
    model = fit_jaw(n_identities=n_identities, seed=seed)
    model.save(out)
    return model
