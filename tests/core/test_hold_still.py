"""What a bake leaves still: the neck and below on every head, and what the user paints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from lip_helpers import PHONES, UP, demo_with_gap

from blender_s2l.core.animate import Animator
from blender_s2l.core.errors import MeshError
from blender_s2l.core.head.hold_still import STILL_BELOW_CHIN, motion_weights
from blender_s2l.core.head.landmarks import EYES


def below_chin(v: np.ndarray, lm_pos: np.ndarray, up: np.ndarray) -> np.ndarray:
    chin = lm_pos[8] @ up
    return (chin - v @ up) / (lm_pos[EYES].mean(axis=0) @ up - chin)


def test_weights_fade_below_the_chin_and_follow_the_hold() -> None:
    v, _, lm = demo_with_gap(1.0)
    w = motion_weights(v, v[lm])
    below = below_chin(v, v[lm], UP)
    assert np.all(w[below >= STILL_BELOW_CHIN] == 0.0)
    assert np.all(w[below <= 0.2] == 1.0)
    mid = (below > 0.2) & (below < STILL_BELOW_CHIN)
    assert mid.any() and np.all((w[mid] > 0) & (w[mid] < 1))
    hold = np.zeros(len(v))
    hold[lm[48:68]] = 1.0
    hold[lm[8]] = 0.25
    held = motion_weights(v, v[lm], hold)
    assert np.all(held[lm[48:68]] == 0.0) and held[lm[8]] == pytest.approx(0.75 * w[lm[8]])


@pytest.mark.parametrize("bad", [np.zeros(5), np.full(10, np.nan), np.array(["a"] * 10)])
def test_bad_hold_weights_are_one_sentence(anim: Animator, tmp_path: Path,
                                           bad: np.ndarray) -> None:
    v, faces, lm = demo_with_gap(1.0)
    hold = bad if len(bad) == 5 else np.resize(bad, len(v))
    with pytest.raises(MeshError, match="hold-still weights"):
        anim.animate(np.zeros(16000, np.float32), v, faces, lm, sample_rate=16000, hold=hold)


def test_neck_never_moves_and_painted_parts_stay(anim: Animator, speech_dir: Path,
                                                 ict_npz: Path) -> None:
    """On real speech, no vertex lower than 0.8 eyes-to-chin distances below the chin moves
    more than 0.05 mm (ICT mean head with its neck, the demo head in metres); a hold group on
    the nose keeps it still."""
    from blender_s2l.training.head_panel import head_panel

    wav = speech_dir / "faceformer" / "test.wav"
    for h in [h for h in head_panel() if h.name in ("ict-mean", "demo-hi")]:
        below = below_chin(h.vertices, h.landmark_points, h.up)
        assert (below > STILL_BELOW_CHIN).sum() > 100
        hold = np.zeros(len(h.vertices))
        nose = np.linalg.norm(h.vertices - h.landmark_points[30], axis=1) * h.mm_per_unit < 15
        hold[nose] = 1.0
        mo = anim.animate(wav, h.vertices, h.faces, h.landmarks68, fps=30.0, hold=hold)
        moved = np.linalg.norm(mo.dense, axis=2).max(axis=0) * h.mm_per_unit
        assert moved[below > STILL_BELOW_CHIN].max() <= 0.05, h.name
        assert moved[nose].max() == 0.0
        assert moved.max() > 5.0  # the mouth still speaks


def test_phones_line_still_closes_with_the_neck_held(anim: Animator, tmp_path: Path) -> None:
    import soundfile as sf

    v, faces, lm = demo_with_gap(3.0)
    sf.write(tmp_path / "line.wav", 0.1 * np.sin(np.arange(27200) / 8.0).astype(np.float32),
             16000)
    mo = anim.animate(tmp_path / "line.wav", v, faces, lm, fps=30.0, phones=PHONES)
    gap = ((v + mo.dense)[:, lm[[61, 62, 63]]] - (v + mo.dense)[:, lm[[67, 66, 65]]]) @ UP
    assert gap.mean(axis=1).min() <= 0.5
