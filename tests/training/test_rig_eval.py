"""evaluate-rig: the ICT character it builds, and one clip measured end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from blender_s2l.core.animate import Animator
from blender_s2l.core.speech.phones import read_phones
from blender_s2l.training import rig_eval
from blender_s2l.training.mesh_eval import KEY_POSES, load_clips


@pytest.fixture(scope="module")
def character(ict_npz: Path) -> rig_eval.RigCharacter:
    return rig_eval.ict_character()


def test_the_character_is_three_objects_with_the_53_shapes(
    character: rig_eval.RigCharacter,
) -> None:
    parts = [character.head, *character.others]
    assert [p.name for p in parts] == ["Head", "Teeth", "Eyes"]
    assert len(character.key_names) == 53 and "jawOpen" in character.key_names
    for part in parts:
        assert part.deltas.shape == (53, *part.vertices.shape)
        assert part.faces.max() < len(part.vertices) and part.faces.min() >= -1
    head = character.head
    assert character.landmarks68.max() < len(head.vertices)
    assert np.isin(character.face, np.arange(len(head.vertices))).all()
    # jawOpen moves the chin and the lower teeth: the split kept each part's own motion.
    jaw = character.key_names.index("jawOpen")
    assert np.abs(head.deltas[jaw]).max() > 0.5  # cm
    assert np.abs(character.others[0].deltas[jaw]).max() > 0.5
    target = rig_eval.rig_target(character)
    assert target.deltas is head.deltas and target.ranges.shape == (53, 2)


def test_one_clip_the_rig_follows_the_dense_bake(
    character: rig_eval.RigCharacter, speech_dir: Path
) -> None:
    wav = speech_dir / "cmu_arctic" / "arctic_a0009.wav"
    lab = speech_dir / "cmu_arctic" / "arctic_a0009_phone.lab"
    assert read_phones(lab)
    (clip,) = [c for c in load_clips([wav.parent], None, recognise=False)
               if c.path.name == wav.name]
    row = rig_eval.evaluate_clip(Animator.load(), character, rig_eval.rig_target(character),
                                 clip, KEY_POSES)
    assert row["frames"] == len(clip.times) and row["n_bilabial"] > 0
    assert 0.0 < row["face_error_mean_mm"] < 0.5  # the target, on this clip
    assert row["meet_rig"] >= row["meet_dense"] - 1
    assert 0 < row["keys_used"] <= 53
    assert np.isfinite([row["face_error_max_mm"], row["crossing_rig_mm"]]).all()
