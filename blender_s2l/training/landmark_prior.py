"""Statistical prior of 68-landmark face shapes, derived from ICT identities (derived data only).

`python -m blender_s2l.training.landmark_prior` writes core/weights/landmark_prior.npy: row 0 is
the mean shape (canonical mm), rows 1..K the principal modes scaled by their standard deviation,
so shape = mean + sum_k c_k * mode_k with c ~ N(0, 1). Fitting uses it to place the landmarks a
user did not mark from the ones they did.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ..core.head.landmarks import canonical_neutral, fit_similarity
from .ict import ICTFace, load_ict

PRIOR_PATH = Path(__file__).resolve().parents[1] / "core" / "weights" / "landmark_prior.npy"
PRIOR_SEED = 0  # held-out evaluations must draw identities from other seeds


def sample_identity_landmarks(
    ict: ICTFace, n: int, seed: int
) -> NDArray[np.float64]:
    """Landmarks (n, 68, 3) of random ICT identities, weights ~ N(0, 1) per identity mode."""
    w = np.random.default_rng(seed).standard_normal((n, ict.identity_deltas.shape[0]))
    lm = ict.landmarks68
    base = ict.neutral[lm].astype(np.float64)
    modes = ict.identity_deltas[:, lm, :].astype(np.float64)
    out: NDArray[np.float64] = base[None] + np.tensordot(w, modes, axes=1)
    return out


def build_landmark_prior(
    ict: ICTFace, n_samples: int = 4000, n_modes: int = 20, seed: int = PRIOR_SEED
) -> NDArray[np.float32]:
    """(n_modes + 1, 68, 3): mean then std-scaled modes of similarity-aligned landmark shapes."""
    template = canonical_neutral().astype(np.float64)
    shapes = sample_identity_landmarks(ict, n_samples, seed)
    aligned = np.stack([fit_similarity(s, template).apply(s) for s in shapes]).astype(np.float64)
    mean = aligned.mean(axis=0)
    x = (aligned - mean).reshape(n_samples, -1)
    _, sing, vt = np.linalg.svd(x, full_matrices=False)
    std = sing[:n_modes] / np.sqrt(n_samples - 1)
    modes = vt[:n_modes] * std[:, None]
    out: NDArray[np.float32] = np.concatenate(
        [mean[None], modes.reshape(n_modes, 68, 3)]
    ).astype(np.float32)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=PRIOR_PATH)
    ap.add_argument("--samples", type=int, default=4000)
    ap.add_argument("--modes", type=int, default=20)
    args = ap.parse_args(argv)
    prior = build_landmark_prior(load_ict(), args.samples, args.modes)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.save(args.out, prior)
    var = np.sum(prior[1:].reshape(len(prior) - 1, -1) ** 2, axis=1)
    print(f"wrote {args.out}: {len(prior) - 1} modes, std (mm, per mode, rms over coords) "
          + " ".join(f"{np.sqrt(v / 204):.2f}" for v in var[:8]) + " ...")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
