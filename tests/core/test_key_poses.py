"""Key poses: labelled /p b m/ shut the lips exactly, whatever the audio model heard."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from animator_helpers import with_closure_bias

from blender_s2l.core.animate import Animator
from blender_s2l.core.errors import S2LError
from blender_s2l.core.head.landmarks import canonical_neutral
from blender_s2l.core.speech.key_poses import (
    MIN_SHUT_S,
    check_phones,
    closure_from_phones,
    open_from_phones,
)
from blender_s2l.core.speech.lip_closure import LIP_PAIRS, PRESSED_OFFSET
from blender_s2l.core.speech.phones import (
    find_line_phones,
    key_pose_source,
    listens_for_words,
    words_unheard,
)

UP, LO = [a for a, _ in LIP_PAIRS], [b for _, b in LIP_PAIRS]


def test_window_covers_each_bilabial_and_nothing_else() -> None:
    phones = [(0.0, 0.2, "sil"), (0.2, 0.3, "AA1"), (0.3, 0.38, "b"), (0.38, 0.5, "AA"),
              (0.5, 0.52, "EM"), (0.52, 0.7, "S")]
    w = closure_from_phones(phones, 1000.0, 800)
    assert np.all(w[306:369] == 1.0)  # shut from 5 ms after the start to 10 ms before the end
    assert np.all(w[:250] == 0.0) and np.all(w[395:425] == 0.0) and np.all(w[560:] == 0.0)
    em = np.flatnonzero(w[425:560] == 1.0)  # a 20 ms EM (= M) still shuts for MIN_SHUT_S
    assert len(em) >= int(MIN_SHUT_S * 1000) - 1


def test_bad_phones_are_one_sentence_errors() -> None:
    with pytest.raises(S2LError, match="Phones must be"):
        check_phones([(0.5, 0.2, "M")])
    with pytest.raises(S2LError, match="Phones must be"):
        check_phones([(0.1, "x", "M")])
    assert check_phones([(0, 1, "em")])[0].phone == "M"


def test_phones_for_line_prefers_the_file_and_reports_missing_ones(tmp_path: Path) -> None:
    lab = tmp_path / "line.lab"
    lab.write_text("0 1000000 sil\n1000000 1800000 m\n1800000 3000000 aa\n")
    got = find_line_phones(str(lab), "ignored words", "unused.wav").phones
    assert got is not None and [p.phone for p in got] == ["SIL", "M", "AA"]
    assert find_line_phones("", "  ", "unused.wav").phones is None
    with pytest.raises(S2LError):
        find_line_phones(str(tmp_path / "missing.lab"), "", "unused.wav")


def test_recognise_words_only_for_bare_lines_and_only_with_pocketsphinx(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On by default, so a missing pocketsphinx must mean "audio alone, and say so", not an error;
    a phone file or transcript always wins over recognised words."""
    import blender_s2l.core.speech.recognise as recognise

    heard = [recognise.Phone(0.0, 0.1, "M")]
    monkeypatch.setattr(recognise, "recognise_phones", lambda wav, progress, cancel: heard)
    monkeypatch.setattr(recognise.audio_io, "load_audio", lambda path: np.zeros(160, np.float32))
    for available in (True, False):
        monkeypatch.setattr(recognise, "pocketsphinx_available", lambda a=available: a)
        assert listens_for_words("", " ", True) is available
        assert words_unheard("", "", True) is not available
        assert not listens_for_words("", "", False) and not words_unheard("", "", False)
        assert not listens_for_words("a.lab", "", True) and not words_unheard("a.lab", "", True)
        assert not listens_for_words("", "words", True) and not words_unheard("", "words", True)
        want = "recognised words" if available else "audio only"
        assert key_pose_source("", "", True) == want
        assert find_line_phones("", "", "line.wav", True).phones == (heard if available else None)
    assert key_pose_source("", "", False) == "audio only"
    assert key_pose_source("a.lab", "words", True) == "phone file"
    assert key_pose_source("", "words", True) == "transcript"


def _unsure(anim: Animator) -> Animator:
    """Only key poses close the lips."""
    return with_closure_bias(anim, -20.0)


def test_animator_shuts_the_lips_on_labelled_bilabials_only(random_weights_dir: Path) -> None:
    anim = _unsure(Animator.load(device="cpu", weights_dir=random_weights_dir))
    t = np.arange(16000) / 16000
    wav = (0.3 * np.sin(2 * np.pi * 150 * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)
    phones = [(0.0, 0.40, "AA"), (0.40, 0.45, "P"), (0.45, 1.0, "AA")]
    plain = anim.landmarks(wav, sample_rate=16000)
    keyed = anim.landmarks(wav, sample_rate=16000, phones=phones)
    rest = canonical_neutral()
    opening = keyed[:, UP, 1] - keyed[:, LO, 1] - (rest[UP, 1] - rest[LO, 1])
    assert np.all(opening[12:14] <= PRESSED_OFFSET[:, 1] + 1e-4)  # frames at 0.40-0.433 s: shut
    changed = np.flatnonzero(np.any(keyed != plain, axis=(1, 2)))
    assert set(changed) <= set(range(11, 15))  # nothing else moved
    off = anim.landmarks(wav, sample_rate=16000, phones=phones, lip_closure=0.0)
    assert np.array_equal(off, plain)


@pytest.mark.parametrize("fps", [24.0, 30.0])
def test_a_labelled_bilabial_between_two_frames_still_shuts_one(
    random_weights_dir: Path, fps: float
) -> None:
    """Key poses are sampled at each frame's own time: a /b/ that no frame time falls inside
    shuts the frame nearest to it, not none, and the open vowels around it stay open."""
    anim = _unsure(Animator.load(device="cpu", weights_dir=random_weights_dir))
    t = np.arange(16000) / 16000
    wav = (0.3 * np.sin(2 * np.pi * 150 * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)
    start = 12.3 / fps  # 0.3 of a frame past frame 12, over before frame 13
    phones = [(0.0, start, "AA"), (start, start + 0.3 / fps, "B"), (start + 0.3 / fps, 1.0, "AA")]
    keyed = anim.landmarks(wav, fps=fps, sample_rate=16000, phones=phones)
    rest = canonical_neutral()
    opening = keyed[:, UP, 1] - keyed[:, LO, 1] - (rest[UP, 1] - rest[LO, 1])
    shut = np.flatnonzero(np.all(opening <= PRESSED_OFFSET[:, 1] + 1e-4, axis=1))
    assert len(shut) >= 1 and set(shut) <= {11, 12, 13}
    plain = anim.landmarks(wav, fps=fps, sample_rate=16000)
    assert np.array_equal(keyed[:10], plain[:10]) and np.array_equal(keyed[16:], plain[16:])


def test_open_sounds_are_the_labelled_phones_other_than_bilabials_and_pauses() -> None:
    phones = [(0.0, 0.1, "sil"), (0.1, 0.2, "N"), (0.2, 0.25, "m"), (0.25, 0.4, "AA1"),
              (0.4, 0.5, "pau")]
    got = open_from_phones(phones, 100.0, 60)
    assert np.array_equal(np.flatnonzero(got), [*range(10, 20), *range(25, 40)])


def test_known_phones_keep_a_sure_head_from_shutting_the_lips_inside_other_sounds(
    random_weights_dir: Path,
) -> None:
    """A head sure of a closure everywhere moves the lips everywhere; given phones, it acts only
    on the /p b m/ and in the pause: inside the /n/ and the vowels the mouth is exactly that of
    a head that hears no closure (candidate V)."""
    loaded = Animator.load(device="cpu", weights_dir=random_weights_dir)
    sure, unsure = with_closure_bias(loaded, 20.0), _unsure(loaded)
    t = np.arange(16000) / 16000
    wav = (0.3 * np.sin(2 * np.pi * 150 * t)).astype(np.float32)
    phones = [(0.0, 0.2, "sil"), (0.2, 0.4, "AA"), (0.4, 0.5, "N"), (0.5, 0.6, "M"),
              (0.6, 1.0, "AA")]
    frames = np.arange(30) / 30
    kw = {"sample_rate": 16000, "frame_times": frames}
    other = ((frames > 0.2 + 1 / 60) & (frames < 0.5 - 1 / 60)) | (frames > 0.6 + 1 / 60)
    plain_sure, plain_unsure = sure.landmarks(wav, **kw), unsure.landmarks(wav, **kw)
    assert not np.allclose(plain_sure[other], plain_unsure[other])  # the head acts there...
    keyed_sure = sure.landmarks(wav, phones=phones, **kw)
    keyed_unsure = unsure.landmarks(wav, phones=phones, **kw)
    assert np.array_equal(keyed_sure[other], keyed_unsure[other])  # ... but not with phones
    assert not np.allclose(keyed_sure[frames < 0.2 - 1 / 60], keyed_unsure[frames < 0.2 - 1 / 60])
    rest = canonical_neutral()
    m = (frames > 0.51) & (frames < 0.58)
    opening = keyed_sure[m][:, UP, 1] - keyed_sure[m][:, LO, 1] - (rest[UP, 1] - rest[LO, 1])
    assert np.all(opening <= PRESSED_OFFSET[:, 1] + 1e-4)  # the /m/ is shut
