"""Forced alignment checked against the ARCTIC clip's true phone labels."""

from pathlib import Path

import numpy as np
import pytest

from blender_s2l.core.align import align_phones
from blender_s2l.core.errors import S2LError
from blender_s2l.core.phones import read_phones
from blender_s2l.training.align import write_lab

TEXT = "he turned sharply and faced gregson across the table"


def test_alignment_matches_true_labels(speech_dir: Path, tmp_path: Path) -> None:
    wav = speech_dir / "cmu_arctic" / "arctic_a0009.wav"
    truth = read_phones(speech_dir / "cmu_arctic" / "arctic_a0009_phone.lab")
    got = align_phones(wav, TEXT)
    assert [p.phone for p in got] == [p.phone for p in truth]
    err = np.abs(np.array([p.start for p in got]) - np.array([p.start for p in truth]))
    assert err.mean() < 0.03  # measured 13 ms mean on this clip
    write_lab(got, tmp_path / "a.lab")
    back = read_phones(tmp_path / "a.lab")
    assert [p.phone for p in back] == [p.phone for p in got]
    assert np.allclose([p.end for p in back], [p.end for p in got])


def test_wrong_transcript_is_a_clear_error(speech_dir: Path) -> None:
    wav = speech_dir / "cmu_arctic" / "arctic_a0009.wav"
    with pytest.raises(S2LError):
        align_phones(wav, "completely different words " * 20)


def test_transcript_key_poses_close_the_lips_on_the_true_bilabials(speech_dir: Path) -> None:
    """The transcript route end to end, judged by ARCTIC's own labels (not by the aligner)."""
    from blender_s2l.core.animate import Animator
    from blender_s2l.core.key_poses import phones_for_line
    from blender_s2l.training.evaluate import rest_width
    from blender_s2l.training.metrics import bilabial_closure, lip_gap

    wav = speech_dir / "cmu_arctic" / "arctic_a0009.wav"
    truth = read_phones(speech_dir / "cmu_arctic" / "arctic_a0009_phone.lab")
    phones = phones_for_line("", TEXT, str(wav))
    assert phones is not None
    anim = Animator.load(device="cpu")
    lm = anim.landmarks(wav, fps=30.0, phones=phones)
    times = np.arange(len(lm)) / 30.0
    assert bilabial_closure(lip_gap(lm, rest_width()), truth, times) == 1.0
