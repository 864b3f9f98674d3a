"""Forced alignment checked against the ARCTIC clip's true phone labels."""

from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from blender_s2l.core.errors import S2LError
from blender_s2l.core.speech.align import align_phones
from blender_s2l.core.speech.phones import read_phones
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
    from blender_s2l.core.speech.phones import find_line_phones
    from blender_s2l.training.evaluate import rest_width
    from blender_s2l.training.metrics import bilabial_closure, lip_gap

    wav = speech_dir / "cmu_arctic" / "arctic_a0009.wav"
    truth = read_phones(speech_dir / "cmu_arctic" / "arctic_a0009_phone.lab")
    phones = find_line_phones("", TEXT, str(wav)).phones
    assert phones is not None
    anim = Animator.load(device="cpu")
    lm = anim.landmarks(wav, fps=30.0, phones=phones)
    times = np.arange(len(lm)) / 30.0
    assert bilabial_closure(lip_gap(lm, rest_width()), truth, times) == 1.0


def test_segments_align_each_stretch_and_fill_the_gaps_with_silence(speech_dir: Path) -> None:
    """The ARCTIC sentence cut into two timed segments lands on the same phones as one piece."""
    from blender_s2l.core.speech.align import align_segments

    wav = speech_dir / "cmu_arctic" / "arctic_a0009.wav"
    truth = read_phones(speech_dir / "cmu_arctic" / "arctic_a0009_phone.lab")
    cut = next(p.end for p in truth if p.phone == "IY" and p.start > 0.8)  # after "sharply"
    got = align_segments(wav, [(cut, 3.05, "and faced gregson across the table"),
                               (0.2, cut, "he turned sharply")])
    speech = [p for p in got if p.phone != "SIL"]
    true_speech = [p.phone for p in truth if p.phone != "SIL"]
    assert len(speech) == len(true_speech)  # "and" may come out AH N D instead of AE N D
    assert sum(a.phone == b for a, b in zip(speech, true_speech, strict=True)) >= len(speech) - 1
    starts = np.array([p.start for p in speech])
    true_starts = np.array([p.start for p in truth if p.phone != "SIL"])
    assert np.abs(starts - true_starts).mean() < 0.04
    assert got[0].start == 0.0 and all(a.end <= b.start + 1e-9 for a, b in pairwise(got))


def test_transcript_words_follow_the_dictionary_spelling() -> None:
    from blender_s2l.core.speech.align import transcript_words

    assert transcript_words("1 From fairest, beauty's 'tis -- Hello?") == [
        "one", "from", "fairest", "beauty's", "tis", "hello"]


def test_possessives_extend_the_stem_by_its_last_sound() -> None:
    from blender_s2l.core.speech.align import _possessive

    assert _possessive("cat's", "K AE T") == "K AE T S"
    assert _possessive("dog's", "D AO G") == "D AO G Z"
    assert _possessive("horse's", "HH AO R S") == "HH AO R S IH Z"
    assert _possessive("nobody's", None) == ""


def test_festival_lexicon_lines_become_arpabet() -> None:
    from blender_s2l.core.speech.align import _festival_phones

    line = '("niggarding" nil (((n ih) 1) ((g aa r) 1) ((d ax ng) 0)))'
    assert _festival_phones(line) == "N IH G AA R D AH NG"
    vanilla = '("vanilla" nil (((v ax) 0) ((n ih) 1) ((l ax) 0)))'
    assert _festival_phones(vanilla) == "V AH N IH L AH"
    assert _festival_phones('("x" nil nil)') == ""


def test_unknown_words_get_a_pronunciation_or_a_clear_error() -> None:
    import shutil

    from blender_s2l.core.speech.align import pronunciations

    if shutil.which("festival") is None:
        with pytest.raises(S2LError, match="Not in the aligner's dictionary"):
            pronunciations(["churl"])
        return
    got = pronunciations(["churl", "feed'st"])
    assert got == {"churl": "CH ER L", "feed'st": "F IY D S T"}
