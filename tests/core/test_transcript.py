"""Transcripts as people write them: what is spoken, and an alignment that degrades instead of
failing (line_align.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from blender_s2l.core.errors import S2LError
from blender_s2l.core.speech import audio as audio_io
from blender_s2l.core.speech import line_align, recognise
from blender_s2l.core.speech.phones import BILABIALS, SIL, Phone, find_line_phones, read_phones
from blender_s2l.core.speech.transcript import (
    Segment,
    read_transcript_file,
    spoken_words,
    timed_segments,
)

ARCTIC = "he turned sharply and faced gregson across the table"
needs_pocketsphinx = pytest.mark.skipif(not recognise.pocketsphinx_available(),
                                        reason="pocketsphinx is not installed")


@pytest.mark.parametrize(("written", "spoken"), [
    ("ANNA: [laughter] Hello <cough> there (sighs) {music}", "hello there"),
    (">> SPEAKER_2: Yes.", "yes"),
    ("Uh, I- I want to- to go, y'know.", "uh i want to go you know"),
    ("Dr. Smith paid $1,999.50 in 1999 & got 50% off.",
     "doctor smith paid one thousand nine hundred ninety nine dollars fifty in nineteen ninety "
     "nine and got fifty percent off"),
    ("Meet me at 10:30 on the 3rd, or the 21st, for £20.",
     "meet me at ten thirty on the third or the twenty first for twenty pounds"),
    ("He said no. It's 2005 and 3.5 is 007!",
     "he said no it's two thousand five and three point five is zero zero seven"),
    ("The CAFÉ’s crème brûlée -- WELL-KNOWN?!", "the cafe's creme brulee well known"),
])
def test_spoken_words_are_what_a_speaker_says(written: str, spoken: str) -> None:
    assert spoken_words(written) == spoken.split()


def test_timed_transcripts_give_their_segments() -> None:
    rows = timed_segments("6.680\t7.160\tHello?\n7.634\t8.155\tOh, hello.")
    assert rows is not None and [(r.start, r.end, r.text) for r in rows] == [
        (6.68, 7.16, "Hello?"), (7.634, 8.155, "Oh, hello.")]
    srt = timed_segments("1\n00:00:01,000 --> 00:00:02,500\nHello there\nfriend\n\n"
                         "2\n00:01:03.250 --> 00:01:04.000\nBye")
    assert srt is not None and [(r.start, r.end, r.text) for r in srt] == [
        (1.0, 2.5, "Hello there friend"), (63.25, 64.0, "Bye")]
    assert timed_segments("He was born in 1999 and 2000 people came.") is None
    assert timed_segments("10 20 people came") is None  # words, not times
    assert timed_segments("1.5 2.0 Hi") == [(1.5, 2.0, "Hi")]
    assert timed_segments("1.5,2.0,Hi there") == [(1.5, 2.0, "Hi there")]


def test_transcript_files_in_any_common_encoding(tmp_path: Path) -> None:
    text = "Café – naïve “quotes”"
    for name, data in (("bom.txt", b"\xef\xbb\xbf" + text.encode()),
                       ("utf16.txt", text.encode("utf-16")),
                       ("cp1252.txt", text.encode("cp1252"))):
        (tmp_path / name).write_bytes(data)
        assert read_transcript_file(tmp_path / name) == text
    (tmp_path / "binary.txt").write_bytes(bytes(range(256)))
    assert read_transcript_file(tmp_path / "binary.txt")  # decodes to something, never raises


@pytest.fixture
def arctic(speech_dir: Path) -> tuple[np.ndarray, list[Phone]]:
    wav = audio_io.load_audio(speech_dir / "cmu_arctic" / "arctic_a0009.wav")
    return wav, read_phones(speech_dir / "cmu_arctic" / "arctic_a0009_phone.lab")


def _bilabials_found(got: list[Phone], truth: list[Phone]) -> float:
    """Share of true /p b m/ that an aligned bilabial overlaps."""
    labials = [t for t in truth if t.phone in BILABIALS]
    hit = [any(g.phone in BILABIALS and g.start < t.end and g.end > t.start for g in got)
           for t in labials]
    return float(np.mean(hit))


@needs_pocketsphinx
def test_a_messy_transcript_aligns_all_the_speech(arctic: tuple[np.ndarray, list[Phone]]
                                                  ) -> None:
    wav, truth = arctic
    got = line_align.align_line(
        wav, "NARRATOR: [breath] He turned SHARPLY, <cough> and faced Gregson... across the "
        "table!")
    assert got.aligned == 1.0 and not got.notes
    assert _bilabials_found(got.phones, truth) == 1.0


@needs_pocketsphinx
def test_a_stretch_the_transcript_does_not_fit_is_filled_not_fatal(
        arctic: tuple[np.ndarray, list[Phone]]) -> None:
    """Two readings of the line with a pause between, and a transcript whose second half is
    other words (an ad-lib): no error, less than all of it aligned, phones to the end."""
    wav, _ = arctic
    gap = np.zeros(audio_io.SAMPLE_RATE, np.float32)
    twice = np.concatenate([wav, gap, wav])
    got = line_align.align_line(
        twice, f"{ARCTIC}, zebras quietly chewed yellow hay outside the old barn")
    assert 0.0 < got.aligned < 1.0 and "aligned to" in got.notes[0]
    speech = [p for p in got.phones if p.phone != SIL]
    second = len(wav) / audio_io.SAMPLE_RATE + 1.0
    assert any(p.start > second for p in speech)  # the second reading has phones too
    assert got.phones[-1].end == pytest.approx(len(twice) / audio_io.SAMPLE_RATE)


@needs_pocketsphinx
def test_another_lines_transcript_is_flagged_and_a_wholly_unrelated_one_refused(
        arctic: tuple[np.ndarray, list[Phone]]) -> None:
    wav, _ = arctic
    got = line_align.align_line(wav, "Wow, our cozy yellow ox would choose you, Lou, too.")
    assert any("check that it is this line's" in n for n in got.notes)
    with pytest.raises(S2LError, match="does not match"):
        line_align.align_line(wav, "zoo " * 12)


def test_bad_transcripts_get_one_sentence(arctic: tuple[np.ndarray, list[Phone]]) -> None:
    wav, _ = arctic
    with pytest.raises(S2LError, match="English letters"):
        line_align.align_line(wav, "Он резко повернулся")
    with pytest.raises(S2LError, match="after the end of"):
        line_align.align_line(wav, "40.0\t42.5\tHe turned sharply.")
    long = np.tile(wav, 30)  # 100 s of audio for a 9-word transcript
    with pytest.raises(S2LError, match="far longer than its transcript"):
        line_align.align_line(long, ARCTIC)


@needs_pocketsphinx
def test_a_transcript_of_tags_alone_falls_back_to_the_heard_words(
        arctic: tuple[np.ndarray, list[Phone]]) -> None:
    wav, _ = arctic
    got = line_align.align_line(wav, "[laughter] <breath>")
    assert got.aligned == 0.0 and "no spoken words" in got.notes[0]
    assert any(p.phone != SIL for p in got.phones)


def test_without_pocketsphinx_a_transcript_is_a_note_not_a_failure(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(recognise, "pocketsphinx_available", lambda: False)
    got = find_line_phones("", "Hello there.", str(tmp_path / "unused.wav"))
    assert got.phones is None and got.aligned == 0.0 and "pocketsphinx" in got.notes[0]


def test_heard_phones_anchor_the_transcripts_words() -> None:
    words = [line_align._Word("bob", ["B", "AA", "B"]), line_align._Word("ate", ["EY", "T"]),
             line_align._Word("pie", ["P", "AY"])]
    heard = [Phone(0.0, 0.1, "B"), Phone(0.1, 0.2, "AA"), Phone(0.2, 0.3, "P"),
             Phone(0.3, 0.35, "K"), Phone(0.8, 0.9, "EY"), Phone(0.9, 1.0, "T"),
             Phone(1.5, 1.6, "P"), Phone(1.6, 1.8, "AY")]
    score = line_align._anchor(words, heard)
    assert score == pytest.approx(6 / 8)
    assert [(w.start, w.end) for w in words] == [(0.0, 0.2), (0.8, 1.0), (1.5, 1.8)]
    pieces = line_align._pieces_at(words, 2.0, [(0.55, 1), (1.25, 2)])
    assert [len(p.words) for p in pieces] == [3]  # pieces under MIN_PIECE_S are not cut


def test_no_text_makes_the_writing_out_fail() -> None:
    """Whatever a script holds (symbols, other scripts, digits of other systems, stray
    brackets, times), turning it into words gives words or nothing, never an exception."""
    rng = np.random.default_rng(7)
    chars = "aZé ,.;:!?'\"-–—()[]{}<>$£€%&@#+=/\\\t\n0123456789٣²½°×ǅабвгд漢字かなשלום"
    pool = [*chars, "1999", "2,500", "3.5", "21st", "10:30", "wh-", "Dr.",
            "00:00:01,000 --> 00:00:02,000", "1.5\t2.0\t"]
    for _ in range(300):
        text = "".join(rng.choice(pool, size=int(rng.integers(0, 40))))
        words = spoken_words(text)
        assert all(w and w == w.lower() for w in words)
        timed_segments(text)


def test_a_timed_row_reaches_back_over_the_silence_the_row_before_left() -> None:
    """A row's padding reaches pad_s back from its stated start; the piece then starts after
    the speech aligned for the row before, not where that row's own padding ended (which lay
    after this row's start: its first word was cut off, its /m/ squeezed late)."""
    from blender_s2l.core.speech.transcript import Segment

    words = [line_align._Word("one", ["W", "AH", "N"]),
             line_align._Word("from", ["F", "R", "AH", "M"])]
    rows = [Segment(0.0, 2.68, "one"), Segment(2.68, 5.88, "from")]
    (first, second), limits = line_align._segment_pieces(rows, words, 10.0, [1, 1])
    assert limits == [2.68, pytest.approx(6.03)]  # the next row's start; the last: its padding
    assert (first.start, first.end) == (0.0, pytest.approx(2.83))
    assert second.start == pytest.approx(2.53)  # its own padding, not the row before's end
    aligned = [Phone(0.39, 0.56, "W"), Phone(0.56, 0.65, "AH"), Phone(0.65, 0.83, "N"),
               Phone(0.83, 2.83, SIL)]
    assert line_align._after(second, [(first, aligned)]).start == pytest.approx(2.53)
    stretched = [*aligned[:3], Phone(0.83, 2.75, "N")]  # the row before's words reach 2.75
    assert line_align._after(second, [(first, stretched)]).start == pytest.approx(2.75)
    assert line_align._after(second, [(first, None)]).start == pytest.approx(2.83)  # filled


@needs_pocketsphinx
def test_a_timed_row_stated_late_keeps_its_first_word(
        arctic: tuple[np.ndarray, list[Phone]]) -> None:
    """Two readings with a pause between, the first row's end stated a little after the second
    reading begins (times are approximate): the second reading's first phone is aligned where
    it is said."""
    wav, truth = arctic
    rate = audio_io.SAMPLE_RATE
    gap = np.random.default_rng(0).normal(0.0, 1e-3, rate).astype(np.float32)
    twice = np.concatenate([wav, gap, wav])
    d = len(wav) / rate
    said = d + 1.0 + next(p.start for p in truth if p.phone != SIL)  # "he" of the second reading
    got = line_align.align_line(twice, f"0.0 {said + 0.05:.3f} {ARCTIC}\n"
                                       f"{said + 0.05:.3f} {2 * d + 1.0:.3f} {ARCTIC}")
    second = next(p for p in got.phones if p.phone != SIL and p.start > d + 0.5)
    assert got.aligned == 1.0
    assert abs(second.start - said) < 0.05


@needs_pocketsphinx
@pytest.mark.parametrize("k", [2, 3, 6, 8])  # sharply, and, across, table
def test_a_timed_row_ends_where_the_next_begins_not_over_its_words(
        arctic: tuple[np.ndarray, list[Phone]], k: int) -> None:
    """Rows back to back at ARCTIC's true word boundaries: the first row's padding reaches over
    the next row's first words, and pocketsphinx stretched its last sound 0.13-0.15 s over
    them; aligned again up to the next row's start, it ends within 30 ms of the true boundary."""
    wav, truth = arctic
    said = [p for p in truth if p.phone != SIL]
    words = ARCTIC.split()
    first = np.cumsum([0, 2, 4, 6, 3, 4, 7, 5, 2, 5])  # each word's first phone in the truth
    cut = said[first[k]].start
    got = line_align.align_line(wav, f"0.2 {cut:.3f} {' '.join(words[:k])}\n"
                                     f"{cut:.3f} 3.05 {' '.join(words[k:])}")
    speech = [p for p in got.phones if p.phone != SIL]
    assert got.aligned == 1.0 and len(speech) == len(said)
    assert abs(speech[first[k] - 1].end - cut) < 0.03
    assert abs(speech[first[k]].start - cut) < 0.03


@needs_pocketsphinx
def test_a_wide_decoder_knows_the_names_an_earlier_line_taught_the_kept_one() -> None:
    """The default decoder is kept from line to line; a wide one made for a later line must
    still learn that line's names (it raised RuntimeError setting up the alignment)."""
    first = line_align._Aligner()
    line_align._pronounced(["zorblax", "met"], first)
    first.close()
    second = line_align._Aligner()
    try:
        line_align._pronounced(["zorblax", "met"], second)
        assert "zorblax" in second.added
    finally:
        second.close()


@needs_pocketsphinx
@pytest.mark.parametrize(("text", "language", "last"), [
    ("1\n00:00:00,000 --> 00:00:01,500\n\n", "en", line_align.NO_SPOKEN_WORDS),  # no words
    ("0.5 0.2 back", "en", line_align.NO_WORDS_HEARD_INSTEAD),  # ends before it starts
    ("1\n00:00:01,500 --> 00:00:00,500\nhello there\n", "en", line_align.NO_WORDS_HEARD_INSTEAD),
    ("0.5 0.2 bonjour", "fr", line_align.NO_WORDS_HEARD_INSTEAD),
    (f"0.5\t0.2\tback\n0.3\t3.0\t{ARCTIC}", "en", None),  # one slip among good rows
])
def test_a_timed_transcript_without_a_usable_row_degrades_with_a_note(
        arctic: tuple[np.ndarray, list[Phone]], text: str, language: str, last: str | None
) -> None:
    """It raised ValueError (min() of no rows) from the panel and batch: a traceback; in
    another language, "The transcript is empty"."""
    wav, _ = arctic
    got = line_align.align_line(wav, text, language=language)
    assert got.phones and got.aligned == (0.0 if last else 1.0)
    slipped = [n for n in got.notes if "whose end is not after its start" in n]
    assert len(slipped) == (0 if last == line_align.NO_SPOKEN_WORDS else 1)
    if last is not None:
        assert got.notes[-1] == last


@needs_pocketsphinx
def test_timed_rows_listed_out_of_order_are_aligned_in_time_order(
        arctic: tuple[np.ndarray, list[Phone]]) -> None:
    """Rows in the file out of time order lost the earlier row's words (squeezed to nothing
    behind the later one), with the line reported wholly aligned."""
    wav, truth = arctic
    said = [p for p in truth if p.phone != SIL]
    words = ARCTIC.split()
    cut = said[6].start  # "sharply"
    got = line_align.align_line(wav, f"{cut:.3f} 3.05 {' '.join(words[2:])}\n"
                                     f"0.2 {cut:.3f} {' '.join(words[:2])}")
    assert len([p for p in got.phones if p.phone != SIL]) == len(said)


def test_backward_rows_are_counted_only_where_they_had_words() -> None:
    from blender_s2l.core.speech.transcript import backward_rows

    assert backward_rows("0.5 0.2 back\n0.3 3.0 he turned") == 1
    assert backward_rows("0.5 0.5 back\n0.3 3.0 he turned") == 1  # no length: not placeable
    assert backward_rows("1\n00:00:01,500 --> 00:00:00,500\n\n") == 0
    assert backward_rows("plain words only") == 0
    assert timed_segments("0.5 0.2 back\n0.3 3.0 he turned") == [Segment(0.3, 3.0, "he turned")]


@needs_pocketsphinx
def test_a_timed_row_within_an_earlier_rows_speech_is_named_not_lost_silently(
        arctic: tuple[np.ndarray, list[Phone]]) -> None:
    """A backchannel row ("mm hmm") lying inside a longer row's speech has no room once that
    row is aligned; its words went without a word, with the line reported wholly aligned."""
    wav, _ = arctic
    got = line_align.align_line(wav, f"0.2\t3.05\t{ARCTIC}\n1.0\t1.4\tmm hmm")
    assert any("lies within the speech of a row before it" in n for n in got.notes)
