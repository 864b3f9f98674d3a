"""Face-motion targets of one utterance, and re-making them when only the teacher changed.

Targets depend on the phones, the style, the upper-face settings and the clean-audio loudness,
all stored with the utterance, so a teacher change re-makes them in seconds without TTS.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ...core.models.upper_face import sample_upper_face_weights
from .manifest import FRAME_RATE, MANIFEST, read_phones
from .visemes import TEACHER_VERSION, Style, phones_to_expression_weights

F32 = NDArray[np.float32]


def make_targets(
    phones: list[tuple[float, float, str]], n_frames: int, style: dict[str, float],
    upper: dict[str, Any], loudness: F32 | None,
) -> tuple[F32, F32]:
    """(expression (T, 53), upper_face (T, 8)) at FRAME_RATE."""
    t = np.arange(n_frames) / FRAME_RATE
    expr = phones_to_expression_weights(phones, t, Style(**style), loudness)
    up = sample_upper_face_weights(t, upper["seed"], blink_rate_per_min=upper["blink_rate_per_min"],
                                   brow_activity=upper["brow_activity"], energy=loudness)
    return expr, up


def save_targets(path: Path, expr: F32, upper: F32, identity: F32, loudness: F32 | None) -> None:
    arrays: dict[str, NDArray[Any]] = {
        "expression": expr.astype(np.float16), "upper_face": upper.astype(np.float16),
        "identity": identity.astype(np.float32)}
    if loudness is not None:
        arrays["loudness"] = loudness.astype(np.float32)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)


def retarget_one(root: Path, rec: dict[str, Any]) -> dict[str, Any]:
    """Re-make the targets of one rendered utterance with the current teacher."""
    npz = root / rec["targets"]
    with np.load(npz, allow_pickle=False) as z:
        identity = z["identity"]
        n_frames = len(z["expression"])
        loud = z["loudness"] if "loudness" in z.files else None  # corpora before v2: none
    phones = read_phones(root / rec["phones"])
    expr, up = make_targets(phones, n_frames, rec["style"], rec["upper_face"], loud)
    save_targets(npz, expr, up, identity, loud)
    out = dict(rec)
    out["teacher_version"] = TEACHER_VERSION
    meta = root / "utts" / f"{rec['id']}.json"
    tmp = meta.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(out, sort_keys=True))
    tmp.replace(meta)
    return out


def retarget_corpus(root: str | Path) -> int:
    """Bring every utterance of a manifest to the current teacher; returns how many changed."""
    root = Path(root)
    lines = (root / MANIFEST).read_text().splitlines()
    recs = [json.loads(x) for x in lines if x.strip()]
    changed = 0
    for i, rec in enumerate(recs):
        if rec.get("teacher_version") != TEACHER_VERSION:
            recs[i] = retarget_one(root, rec)
            changed += 1
    tmp = root / (MANIFEST + ".tmp")
    tmp.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in recs))
    tmp.replace(root / MANIFEST)
    return changed
