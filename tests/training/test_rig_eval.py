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


def test_the_skinned_rig_motion_is_keys_then_linear_blend_skinning() -> None:
    """skinned_motion, low-rank, is y + s (A y - y) with y = rest + sum_k w_k delta_k."""
    from blender_s2l.core.motion import Motion
    from blender_s2l.core.rig.jaw import rotations

    rng = np.random.default_rng(0)
    t, k, v = 5, 4, 30
    rest = rng.normal(size=(v, 3))
    deltas = (rng.normal(size=(k, v, 3)) * 0.1).astype(np.float32)
    weights = rng.uniform(size=(t, k)).astype(np.float32)
    skin = rng.uniform(size=v).astype(np.float32)
    mesh = np.tile(np.eye(4), (t, 1, 1))
    mesh[:, :3, :3] = rotations(rng.normal(size=(t, 3)) * 0.1)
    mesh[:, :3, 3] = rng.normal(size=(t, 3)) * 0.1
    dense = Motion(frame_times=np.arange(t) / 30.0, landmarks=np.zeros((t, 68, 3), np.float32),
                   codes=np.zeros((t, 1), np.float32), basis=np.zeros((1, v, 3), np.float32),
                   mm_per_unit=10.0)
    got = rig_eval.skinned_motion(dense, weights, deltas, mesh, skin, rest).dense
    y = rest[None] + np.einsum("tk,kvc->tvc", weights, deltas)
    moved = np.einsum("tij,tvj->tvi", mesh[:, :3, :3], y) + mesh[:, None, :3, 3] - y
    assert np.allclose(got, y + skin[None, :, None] * moved - rest[None], atol=1e-5)
