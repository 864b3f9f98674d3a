"""Forced alignment checked against the ARCTIC clip's true phone labels."""

from pathlib import Path

import numpy as np
import pytest

from blender_s2l.core.errors import S2LError
from blender_s2l.training.align import align_phones, write_lab
from blender_s2l.training.phones import read_phones

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
