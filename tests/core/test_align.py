"""Forced alignment checked against the ARCTIC clip's true phone labels."""

from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from blender_s2l.core.errors import S2LError
from blender_s2l.core.speech.align import align_phones
from blender_s2l.core.speech.phones import Phone, read_phones
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


def test_a_timed_row_ends_where_the_next_begins_not_over_its_words(speech_dir: Path) -> None:
    """Rows back to back at ARCTIC's true word boundaries: padded 0.15 s over the next row's
    first words, pocketsphinx stretched each row's last phone 0.13-0.15 s over them; aligned
    again up to the next row's start, each ends within 30 ms of the true boundary."""
    from blender_s2l.core.speech.align import align_segments

    wav = speech_dir / "cmu_arctic" / "arctic_a0009.wav"
    truth = [p for p in read_phones(speech_dir / "cmu_arctic" / "arctic_a0009_phone.lab")
             if p.phone != "SIL"]
    words = TEXT.split()
    first = np.cumsum([0, 2, 4, 6, 3, 4, 7, 5, 2, 5])  # each word's first phone in the truth
    for k in (2, 3, 6, 8):  # sharply, and, across, table
        cut = truth[first[k]].start
        got = align_segments(wav, [(0.2, cut, " ".join(words[:k])),
                                   (cut, 3.05, " ".join(words[k:]))])
        speech = [p for p in got if p.phone != "SIL"]
        assert len(speech) == len(truth)
        assert abs(speech[first[k] - 1].end - cut) < 0.03, words[k]
        assert abs(speech[first[k]].start - cut) < 0.03, words[k]


def _stretching_aligner(monkeypatch: pytest.MonkeyPatch, fits: Callable[[str, float], bool]
                        ) -> list[tuple[str, float]]:
    """align_audio replaced by one that gives each word an equal share of the audio it is
    handed (the last one stretched to its end, as pocketsphinx does over speech it cannot
    otherwise place), and fails where fits(text, seconds) is false; the calls are listed."""
    from blender_s2l.core.speech import align

    calls: list[tuple[str, float]] = []

    def fake(wav: NDArray[np.float32], text: str, name: str = "",
             decoder: object = None) -> list[Phone]:
        seconds = len(wav) / 16000
        calls.append((text, seconds))
        if not fits(text, seconds):
            raise S2LError("does not fit")
        words = text.split()
        share = seconds / len(words)
        return [Phone(i * share, (i + 1) * share, "AA") for i in range(len(words))]

    monkeypatch.setattr(align, "align_audio", fake)
    monkeypatch.setattr(align, "aligner", lambda wide=False: object())
    return calls


def _rows(got: list[Phone]) -> list[tuple[float, float]]:
    return [(round(p.start, 6), round(p.end, 6)) for p in got if p.phone != "SIL"]


def test_a_padded_row_is_aligned_again_up_to_the_next_rows_start(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from blender_s2l.core.speech.align import align_audio_segments

    calls = _stretching_aligner(monkeypatch, lambda text, seconds: True)
    wav = np.zeros(4 * 16000, np.float32)
    got = align_audio_segments(wav, [(2.05, 3.0, "c d"), (1.0, 2.0, "a b")])
    # "a b" padded to 2.15 ran over "c d" (2.05): aligned again on 0.85-2.05
    assert _rows(got) == [(0.85, 1.45), (1.45, 2.05), (2.05, 2.6), (2.6, 3.15)]
    assert [round(s, 3) for _, s in calls] == [1.3, 1.2, 1.1]


def test_a_row_that_does_not_fit_before_the_next_keeps_its_padding(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from blender_s2l.core.speech.align import align_audio_segments

    calls = _stretching_aligner(monkeypatch, lambda text, seconds: text != "a b" or seconds > 1.25)
    wav = np.zeros(4 * 16000, np.float32)
    got = align_audio_segments(wav, [(1.0, 2.0, "a b"), (2.05, 3.0, "c d")])
    # cut at 2.05, "a b" did not fit: its first alignment stays, and "c d" starts after it
    assert _rows(got) == [(0.85, 1.5), (1.5, 2.15), (2.15, 2.65), (2.65, 3.15)]
    assert [round(s, 3) for _, s in calls] == [1.3, 1.2, 1.0]


def test_a_row_that_ends_before_the_next_is_aligned_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from blender_s2l.core.speech.align import align_audio_segments

    calls = _stretching_aligner(monkeypatch, lambda text, seconds: True)
    wav = np.zeros(4 * 16000, np.float32)
    got = align_audio_segments(wav, [(1.0, 2.0, "a b"), (2.5, 3.0, "c d"), (3.05, 3.5, " ")])
    assert _rows(got) == [(0.85, 1.5), (1.5, 2.15), (2.35, 2.75), (2.75, 3.15)]
    assert len(calls) == 2


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


def test_overlapping_rows_never_align_a_cut_with_no_audio(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Diarised rows overlap: a row whose cut failed ends past the next row's start, which then
    starts after its own cut; aligning that empty stretch raised IndexError from pocketsphinx."""
    from blender_s2l.core.speech.align import align_audio_segments

    calls = _stretching_aligner(monkeypatch, lambda text, seconds: text != "a b" or seconds > 1.1)
    wav = np.zeros(4 * 16000, np.float32)
    got = align_audio_segments(wav, [(1.0, 1.9, "a b"), (1.5, 2.0, "c"), (2.02, 3.0, "d")])
    assert min(seconds for _, seconds in calls) >= 0.05
    assert [p for p in got if p.phone != "SIL"]
