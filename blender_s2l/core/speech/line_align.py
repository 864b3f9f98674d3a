"""A line's transcript aligned to its audio without ever failing on a plausible transcript.

pocketsphinx's forced alignment is all or nothing: one filler the transcriber left out, a cough,
an ad-lib or a long pause and it reports that the transcript does not match, and the bake used
to fail with it. Here the line is aligned in pieces that are anchored on the words
pocketsphinx recognises:

1. The audio is heard (recognise.py, helper processes): phones with times.
2. The transcript's phones (dictionary pronunciations) are matched to the heard phones by an
   edit-distance alignment; transcript words whose phones were heard become anchors with times.
3. Lines up to WHOLE_S long are first aligned whole (the best result when the transcript
   fits), on this core while a helper hears them. Otherwise, or when that fails, the line is
   cut in the pauses between anchored words and each piece is aligned on its own. A piece is
   tried with pocketsphinx's search, a wider one, and over a faint noise floor; an alignment
   whose words sit far from where they were heard (or, where the recogniser follows the voice,
   that lays a run of never-heard words over speech: an ad-lib) does not fit either. A piece
   that does not fit is cut again at its anchors, and what still does not fit is filled with
   the recognised phones of its stretch (the audio model completes the rest, as in every bake).

The result says how much of the line's speech came from the transcript. Only an empty
transcript, one in another script, or one that does not belong to the audio (a different line,
a one-line transcript for a long recording) gets a message.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from ..errors import S2LError
from ..progress import CancelFn, ProgressFn, Task, as_task
from . import audio as audio_io
from .phones import BILABIALS, SIL, VOWELS, Phone
from .transcript import (
    Segment,
    backward_rows,
    has_letters_of_other_scripts,
    spoken_words,
    timed_segments,
    without_tags,
)

NO_SPOKEN_WORDS = ("The transcript has no spoken words (only tags or punctuation), so the key "
                   "poses come from the words heard in the audio.")
NO_WORDS_HEARD_INSTEAD = ("No timed row with words is left, so the key poses come from the words "
                          "heard in the audio.")
WHOLE_S = 30.0  # lines up to this long are first aligned in one piece
MIN_PAUSE_S = 0.12  # a gap this long between two heard words is a place to cut
MIN_PIECE_S = 2.0  # shorter pieces give the aligner too little audio for its cepstral mean
SPLIT_DEPTH = 3  # a piece that does not fit is cut again at most this many times
MAX_SHIFT_S = 0.5  # an aligned word this far from where it was heard is misplaced
RUN_WORDS, RUN_S = 4, 1.0  # script words never heard, this many and this long: an ad-lib
# A transcript whose match_score is under this is not this line's: chosen on synthetic
# development lines by the rules in reports/transcripts.md; judged only with MIN_HEARD phones.
UNRELATED_MATCH = 0.10
DOUBTFUL_MATCH = 0.40  # under this, the bake goes on with a note asking the user to check
MIN_HEARD = 20
SECONDS_PER_WORD = 3.0  # a recording longer than 20 s plus this per word is not one line
# Edit costs of the phone matching: a near miss (a class-mate, another vowel) costs less than
# dropping one phone and inserting another.
_INDEL = 0.7
_CLASSES = (BILABIALS, {"F", "V"}, {"TH", "DH"}, {"T", "D"}, {"K", "G"}, {"N", "NG", "M"},
            {"S", "Z", "SH", "ZH", "CH", "JH"}, {"L", "R", "ER"}, {"W", "Y", "UW"})


class LineAlignment(NamedTuple):
    """What a bake keys on and what it tells the user about it."""

    phones: list[Phone]
    aligned: float  # share of the line's speech whose phones come from the transcript (0-1)
    notes: tuple[str, ...]


@dataclass
class _Word:
    text: str
    phones: list[str]
    start: float = -1.0  # heard span, where anchored
    end: float = -1.0
    before: float = 0.0  # end of the heard phone before the span (where anchored)
    after: float = float("inf")  # start of the heard phone after it

    @property
    def anchored(self) -> bool:
        return self.start >= 0.0


def align_line(
    wav: NDArray[np.float32],
    transcript: str,
    name: str = "the line",
    progress: ProgressFn | Task | None = None,
    cancel: CancelFn | None = None,
    language: str = "en",
) -> LineAlignment:
    """Phones of a line from its transcript, degrading to recognised phones where the
    transcript does not fit; raises S2LError only for a transcript that is not this line's.

    language: an espeak-ng code; other than English, the words are pronounced by espeak-ng
    (languages.py) and the recogniser, which knows English only, anchors them but does not
    judge them (its scores of right and wrong foreign transcripts overlap)."""
    from . import languages

    task = as_task(progress, cancel)
    duration = len(wav) / audio_io.SAMPLE_RATE
    timed = timed_segments(transcript)
    # In time order: a row's words go to its piece, and a row listed after a later one would
    # otherwise be squeezed to nothing behind it.
    segments = sorted(timed, key=lambda seg: seg.start) if timed is not None else None
    text = " ".join(s.text for s in segments) if segments is not None else transcript
    backward = backward_rows(transcript)
    first_notes: tuple[str, ...] = () if not backward else (_left_out(
        backward, "whose end is not after its start", "whose end is not after their start"),)
    if segments and not any(seg.start < duration for seg in segments):
        raise S2LError(
            f"The transcript's times start at {min(seg.start for seg in segments):.1f} s, after "
            f"the end of {name} ({duration:.1f} s): is it this line's timed transcript?")
    english = languages.is_english(language)
    if english and has_letters_of_other_scripts(text):
        raise S2LError("The transcript is not written in English letters; the transcript "
                       "aligner reads English (choose the transcript's Language).")
    rows = segments or [Segment(0.0, duration, text)]
    if english:
        pairs, per_row = [], [spoken_words(r.text) for r in rows]
    else:  # row by row, so that a timed row knows its words
        per_row = [[token for token, _ in _foreign(r.text, language)] for r in rows]
        pairs = [pair for r in rows for pair in _foreign(r.text, language)]
        if not pairs and without_tags(text).strip():
            languages.pronounce(without_tags(text), language)  # its one sentence for the user
    words_text = [w for row in per_row for w in row]
    if not words_text:
        heard = _recognised(wav, task)
        return LineAlignment(heard, 0.0, (*first_notes, NO_WORDS_HEARD_INSTEAD) if backward
                             else (NO_SPOKEN_WORDS,))
    if segments is None and duration > 20.0 + SECONDS_PER_WORD * len(words_text):
        raise S2LError(
            f"{name} lasts {duration:.0f} s, far longer than its transcript of "
            f"{len(words_text)} words takes to say: cut the recording to the line, or give the "
            "whole transcript (timed rows 'start end words' are fine).")
    decoder = _Aligner(noisy=not english)
    try:
        if english:
            words, notes = _pronounced(words_text, decoder)
            notes = (*first_notes, *notes)
        else:
            decoder.add_words(pairs)
            words, notes = [_Word(token, pron.split()) for token, pron in pairs], first_notes
        if not words:
            heard = _recognised(wav, task)
            return LineAlignment(heard, 0.0, (*notes, "None of the transcript's words could be "
                                 "pronounced, so the key poses come from the words heard."))
        kept = {w.text for w in words}
        counts = [len([w for w in row if w in kept]) for row in per_row]
        hearing = task.part(0.0, 0.6)
        short = segments is None and duration <= WHOLE_S
        heard, whole = _hear_while(wav, hearing, lambda: decoder.align(wav, [w.text for w in words])
                                   if short else None)
        score = _anchor(words, [p for p in heard if p.phone != SIL])
        n_heard = sum(1 for p in heard if p.phone != SIL)
        if english and segments is None and n_heard >= MIN_HEARD:
            if score < UNRELATED_MATCH:
                raise S2LError(
                    f"The transcript does not match {name}: only {score:.0%} of its sounds and the "
                    "audio's agree. Is it this line's transcript?")
            if score < DOUBTFUL_MATCH:
                notes = (*notes, f"Only {score:.0%} of the transcript's sounds agree with what is "
                         "heard in the audio: check that it is this line's.")
        aligning = task.part(0.6, 1.0)
        line = _Piece(0.0, duration, words)
        # How far the heard phones may overrule an alignment: English words heard well (2) mark
        # ad-libs and misplaced words; heard poorly (1), only misplaced ones; another language's
        # words, which the English recogniser cannot hear as said, never (0).
        trust = (2 if score >= DOUBTFUL_MATCH else 1) if english else 0
        if whole is not None and _fits(line, whole[1], trust):
            aligning(1.0)
            return LineAlignment(whole[0], 1.0, notes)
        limits: list[float] | None = None
        if segments is not None:
            pieces, limits = _segment_pieces(segments, words, duration, counts)
        elif short:  # aligned whole above, and it did not fit: cut it
            pieces = []
        else:
            pieces = _cut_at_pauses(words, duration)
        done = _split(wav, line, decoder, SPLIT_DEPTH, trust, task) if short else []
        inside = 0
        for i, piece in enumerate(pieces):
            aligning(i / len(pieces))
            piece = _after(piece, done)
            if piece.end - piece.start >= 0.05:
                got = _align_piece(wav, piece, decoder, SPLIT_DEPTH, trust, task)
                if limits is not None and _runs_past(got, limits[i]) \
                        and limits[i] - piece.start >= 0.05:
                    # Its padding reached the next row's first words, and the aligner
                    # stretched this row's last sound over them: align it again up to them.
                    again = _align_piece(wav, piece._replace(end=limits[i]), decoder,
                                         SPLIT_DEPTH, trust, task)
                    got = again if all(ph is not None for _, ph in again) else got
                done.extend(got)
            elif piece.words:
                inside += 1
        aligning(1.0)
        if inside:  # a row within the speech of a row before it: its words have no room
            notes = (*notes, _left_out(inside, "that lies within the speech of a row before it",
                                       "that lie within the speech of rows before them"))
        return _joined(done, heard, duration, notes)
    finally:
        decoder.close()


def _left_out(n: int, why_one: str, why_many: str) -> str:
    """The note for timed rows whose words could not be placed: n of them, and why."""
    if n == 1:
        return f"Left out, with its words: a timed row of the transcript {why_one}."
    return f"Left out, with their words: {n} timed rows of the transcript {why_many}."


def _hear_while(wav: NDArray[np.float32], task: Task, work: Callable[[], _Found | None]
                ) -> tuple[list[Phone], _Found | None]:
    """The heard phones (helper processes) and `work` done here meanwhile: a short line is
    aligned whole on this core while a helper hears it on the other."""
    heard: list[list[Phone]] = []
    failed: list[BaseException] = []

    def hear() -> None:
        try:
            heard.append(_recognised(wav, task))
        except BaseException as exc:  # raised again on the caller's thread
            failed.append(exc)

    thread = threading.Thread(target=hear, name="s2l-hear", daemon=True)
    thread.start()
    try:
        done = work()
    finally:
        thread.join()
    if failed:
        raise failed[0]
    return heard[0], done


def _foreign(text: str, language: str) -> list[tuple[str, str]]:
    """A row's words in another language with their phones; [] for a row of tags alone."""
    from . import languages

    cleaned = without_tags(text)
    return languages.pronounce(cleaned, language) if cleaned.strip() else []


def match_score(wav: NDArray[np.float32], transcript: str) -> float:
    """How well a transcript's phones and the heard ones agree (0-1), as align_line judges it."""
    decoder = _Aligner()
    try:
        words, _ = _pronounced(spoken_words(transcript), decoder)
    finally:
        decoder.close()
    heard = _recognised(wav, as_task(None, None))
    return _anchor(words, [p for p in heard if p.phone != SIL])


_Found = tuple[list[Phone], list[tuple[float, float]]]  # (phones, word spans) of an alignment


class _Piece(NamedTuple):
    start: float
    end: float
    words: list[_Word]


def _recognised(wav: NDArray[np.float32], task: Task) -> list[Phone]:
    from . import recognise

    return recognise.recognise_phones(wav, task, task.cancel)


_SPARE: list[Any] = []
_SPARE_LOCK = threading.Lock()


class _Aligner:
    """The line's forced aligners: pocketsphinx's default search, and one with wider beams
    made when a piece first needs it; both know the line's words outside the dictionary.

    A piece that neither search can align is tried once more over a faint noise floor:
    digital silence (a synthetic voice's stop closures, an edited recording's gaps) makes
    pocketsphinx lose its path. Other languages, whose words fit the English model loosely,
    are always aligned over it (noisy)."""

    def __init__(self, noisy: bool = False) -> None:
        from .align import aligner

        with _SPARE_LOCK:  # loading a decoder costs a third of a second: one kept per process
            self.normal = _SPARE.pop() if _SPARE else aligner()
        self.wide: Any = None
        self.added: dict[str, str] = {}
        self.noisy = noisy

    def close(self) -> None:
        """Give the default decoder back for the next line (the words added stay known)."""
        with _SPARE_LOCK:
            if not _SPARE:
                _SPARE.append(self.normal)

    def lookup_word(self, word: str) -> str | None:
        found: str | None = self.normal.lookup_word(word)
        return found

    def add_words(self, words: Sequence[tuple[str, str]]) -> None:
        from .align import add_words

        add_words(self.normal, list(words))  # those it knows already are left as they are
        self.added.update(words)  # all of the line's, for a wide decoder made later

    def align(self, audio: NDArray[np.float32], words: Sequence[str]) -> _Found | None:
        """(phones, word spans) in seconds from the audio's start; None if it does not fit."""
        from .align import add_words, align_word_spans, aligner, with_noise_floor

        tries = [(True, False), (True, True)] if self.noisy else [
            (False, False), (False, True), (True, True)]  # (over the floor, wide)
        floored: NDArray[np.float32] | None = None  # made only when a try needs it
        for over_floor, wide in tries:
            samples = audio
            if over_floor:
                floored = with_noise_floor(audio) if floored is None else floored
                samples = floored
            if wide and self.wide is None:
                self.wide = aligner(wide=True)
                add_words(self.wide, list(self.added.items()))
            try:
                return align_word_spans(samples, words, "a piece",
                                        self.wide if wide else self.normal)
            except S2LError:
                continue
        return None


def _pronounced(words: Sequence[str], decoder: _Aligner) -> tuple[list[_Word], tuple[str, ...]]:
    """Each word with its dictionary (or letter-to-sound) phones; words nothing can pronounce
    are left out, and named."""
    from .align import pronunciations, word_pronunciations

    found = word_pronunciations(words, decoder)
    missing = [w for w in dict.fromkeys(words) if w not in found]
    if missing:
        try:
            found.update(pronunciations(missing))
        except S2LError:
            for word in missing:  # one unpronounceable word must not cost the others
                with contextlib.suppress(S2LError):
                    found.update(pronunciations([word]))
    # All of them, not only those this decoder lacks: the default decoder is kept from line to
    # line and may know a name from an earlier line, but a wide decoder made later for this
    # line learns only the words given here (else it cannot set up the alignment at all).
    decoder.add_words(list(found.items()))
    dropped = [w for w in dict.fromkeys(words) if w not in found]
    notes = (f"Not pronounced, so left out of the alignment: {', '.join(dropped[:8])}"
             f"{' ...' if len(dropped) > 8 else ''}.",) if dropped else ()
    return [_Word(w, found[w].split()) for w in words if w in found], notes


def _cost(a: str, b: str) -> float:
    if a == b:
        return 0.0
    if a in VOWELS and b in VOWELS:
        return 0.6
    return 0.4 if any(a in c and b in c for c in _CLASSES) else 1.0


def _anchor(words: list[_Word], heard: list[Phone]) -> float:
    """Match the transcript's phones to the heard ones (edit distance in a band around the
    diagonal, so a long line costs time in proportion to its length); words with at least half
    their phones heard exactly get the heard times. Returns the phones matched exactly over
    the larger count: low for another line's words, and for a transcript much shorter or
    longer than the speech (a matching that may pick phones anywhere matches many)."""
    said = [(k, p) for k, w in enumerate(words) for p in w.phones]
    n, m = len(said), len(heard)
    if n == 0 or m == 0:
        return 0.0
    band = int(max(300, abs(n - m) + 0.1 * max(n, m)))
    centre = (np.arange(n + 1) * m / n).astype(np.int64)
    lo = np.clip(centre - band, 0, m)
    hi = np.clip(centre + band, 0, m)
    lo[0], hi[n] = 0, m
    heard_ph = np.array([p.phone for p in heard])
    table = sorted({*heard_ph.tolist(), *(p for _, p in said)})
    index = {p: i for i, p in enumerate(table)}
    cost = np.array([[_cost(a, b) for b in table] for a in table])
    heard_ix = np.array([index[p] for p in heard_ph])
    moves: list[NDArray[np.int8]] = []
    prev = np.arange(lo[0], hi[0] + 1) * _INDEL
    for i in range(1, n + 1):
        cols = np.arange(lo[i], hi[i] + 1)
        up = _at(prev, lo[i - 1], cols) + _INDEL  # transcript phone not heard
        diag = _at(prev, lo[i - 1], cols - 1) + np.where(
            cols >= 1, cost[index[said[i - 1][1]], heard_ix[np.clip(cols - 1, 0, m - 1)]],
            np.inf)
        best = np.minimum(up, diag)
        move = np.where(diag <= up, 0, 1).astype(np.int8)
        # heard phones not in the transcript: a running minimum along the row
        shifted = best - cols * _INDEL
        running = np.minimum.accumulate(shifted) + cols * _INDEL
        move = np.where(running < best - 1e-9, 2, move).astype(np.int8)  # not rounding noise
        prev = np.minimum(best, running)
        moves.append(move)
    matched = 0
    exact: dict[int, list[int]] = {}
    i, j = n, m
    while i > 0 and j >= 0:
        step = int(moves[i - 1][j - lo[i]]) if lo[i] <= j <= hi[i] else 1
        if step == 0 and j > 0:
            if said[i - 1][1] == heard_ph[j - 1]:
                matched += 1
                exact.setdefault(said[i - 1][0], []).append(j - 1)
            i, j = i - 1, j - 1
        elif step == 2 and j > 0:
            j -= 1
        else:
            i -= 1
    for k, hits in exact.items():
        if 2 * len(hits) >= len(words[k].phones):
            first, last = min(hits), max(hits)
            words[k].start, words[k].end = heard[first].start, heard[last].end
            words[k].before = heard[first - 1].end if first > 0 else 0.0
            words[k].after = heard[last + 1].start if last + 1 < m else float("inf")
    return matched / max(n, m)


def _at(row: NDArray[np.float64], row_lo: int, cols: NDArray[np.int64]) -> NDArray[np.float64]:
    """row's values at absolute columns (inf outside its band)."""
    rel = cols - row_lo
    ok = (rel >= 0) & (rel < len(row))
    return np.where(ok, row[np.clip(rel, 0, len(row) - 1)], np.inf)


def _cut_at_pauses(words: list[_Word], duration: float) -> list[_Piece]:
    """Pieces cut in the pauses between consecutive anchored words, none shorter than
    MIN_PIECE_S."""
    cuts: list[tuple[float, int]] = []  # (time, index of the first word after the cut)
    for k in range(len(words) - 1):
        a, b = words[k], words[k + 1]
        if _is_pause(words, k + 1):
            cuts.append(((a.end + b.start) / 2, k + 1))
    return _pieces_at(words, duration, cuts)


def _pieces_at(words: list[_Word], duration: float, cuts: list[tuple[float, int]],
               start: float = 0.0) -> list[_Piece]:
    kept: list[tuple[float, int]] = []
    last = start
    for t, k in cuts:
        if t - last >= MIN_PIECE_S:
            kept.append((t, k))
            last = t
    if kept and duration - kept[-1][0] < MIN_PIECE_S:
        kept.pop()
    bounds = [(start, 0), *kept, (duration, len(words))]
    return [_Piece(t0, t1, words[k0:k1])
            for (t0, k0), (t1, k1) in itertools.pairwise(bounds)]


def _segment_pieces(segments: list[Segment], words: list[_Word], duration: float,
                    counts: list[int], pad_s: float = 0.15) -> tuple[list[_Piece], list[float]]:
    """A timed transcript's rows are its pieces, each reaching pad_s beyond its row's times
    (a transcriber's times are approximate); the words are handed out row by row, counts[i]
    of them to row i. Where a row's padding reaches back over the row before, the alignment
    loop moves its start past the speech aligned there (_after), as align.align_segments
    does: not to where the padding before it ended, which may be after the row's own start.

    With each piece, how far its speech may run (`align.next_row_start`; the "I'm" of
    pyannote/sample's telephone call ran over): the alignment loop aligns a piece whose speech
    ran past it again up to it, as align.align_audio_segments does for the truth labels."""
    out: list[_Piece] = []
    limits: list[float] = []
    from .align import next_row_start

    said = [seg.start for seg, n in zip(segments, counts, strict=True) if n]
    k = 0
    for seg, n in zip(segments, counts, strict=True):  # in time order, as the words are
        lo, hi = max(0.0, seg.start - pad_s), min(duration, seg.end + pad_s)
        if hi - lo >= 0.05 and n:
            out.append(_Piece(lo, hi, words[k : k + n]))
            limit = next_row_start(seg.start, seg.end, said)
            limits.append(hi if limit is None else limit)
        k += n
    return out, limits


def _runs_past(done: Sequence[tuple[_Piece, list[Phone] | None]], limit: float) -> bool:
    """Whether the speech aligned in these pieces ends after limit."""
    ends = [p.end for _, phones in done for p in phones or () if p.phone != SIL]
    return bool(ends) and max(ends) > limit + 1e-6


def _after(piece: _Piece, done: Sequence[tuple[_Piece, list[Phone] | None]]) -> _Piece:
    """The piece, starting no earlier than the speech already aligned (or filled) before it:
    a timed row may reach back over the silence the row before left, never over its words."""
    if not done:
        return piece
    last, phones = done[-1]
    speech = [p.end for p in phones or () if p.phone != SIL]
    covered = (max(speech) if speech else last.start) if phones is not None else last.end
    return piece._replace(start=max(piece.start, min(covered, piece.end)))


def _align_piece(wav: NDArray[np.float32], piece: _Piece, decoder: _Aligner, depth: int,
                 trust: int, task: Task) -> list[tuple[_Piece, list[Phone] | None]]:
    """[(piece, its phones)], or (piece, None) for a stretch the transcript did not fit."""
    task.check()
    if not piece.words:
        return [(piece, None)]
    rate = audio_io.SAMPLE_RATE
    audio = wav[int(piece.start * rate) : int(piece.end * rate)]
    found = decoder.align(audio, [w.text for w in piece.words])
    if found is not None and _fits(piece, found[1], trust):
        return [(piece, [Phone(p.start + piece.start, p.end + piece.start, p.phone)
                         for p in found[0]])]
    return _split(wav, piece, decoder, depth, trust, task)


def _split(wav: NDArray[np.float32], piece: _Piece, decoder: _Aligner, depth: int,
           trust: int, task: Task) -> list[tuple[_Piece, list[Phone] | None]]:
    """A piece that did not fit, cut and aligned again: first at the pauses inside it, else at
    the anchored word edge nearest its middle (a stretch of words that were never heard, an
    ad-lib, then gets a piece of its own)."""
    if depth == 0:
        return [(piece, None)]
    inner = piece.words
    cuts = [(t, k) for k in range(1, len(inner))
            if (t := _boundary(inner[k - 1], inner[k])) > piece.start + 0.3
            and t < piece.end - 0.3]
    parts = _pieces_at(inner, piece.end, [c for c in cuts if _is_pause(inner, c[1])],
                       piece.start)
    if len(parts) < 2:
        if not cuts:
            return [(piece, None)]
        mid = (piece.start + piece.end) / 2
        t, k = min(cuts, key=lambda c: abs(c[0] - mid))
        parts = [_Piece(piece.start, t, inner[:k]), _Piece(t, piece.end, inner[k:])]
    return [done for part in parts
            for done in _align_piece(wav, part, decoder, depth - 1, trust, task)]


def _fits(piece: _Piece, spans: list[tuple[float, float]], trust: int) -> bool:
    """Whether the aligned words sit where they were heard. A forced alignment always places
    every word somewhere: given a transcript that lacks a sentence the actor said, it stretches
    the words around it over the sentence, far from where they were heard; given an ad-lib, it
    lays the script's words over other speech. Where the recogniser follows this voice well
    (trust 2), a run of RUN_WORDS script words none of which was heard, lasting RUN_S or
    more, is such an ad-lib."""
    if trust == 0 or len(spans) != len(piece.words):
        return True  # nothing to judge it by, or cannot pair them up: trust the aligner
    off = [abs(s + piece.start - w.start) > MAX_SHIFT_S
           for w, (s, _) in zip(piece.words, spans, strict=True) if w.anchored]
    if len(off) >= 2 and sum(off) * 3 > len(off):
        return False
    if trust == 2:
        run_start = 0
        for k, w in enumerate([*piece.words, None]):
            if w is None or w.anchored:
                if k - run_start >= RUN_WORDS and spans[k - 1][1] - spans[run_start][0] >= RUN_S:
                    return False
                run_start = k + 1
    return True


def _boundary(a: _Word, b: _Word) -> float:
    """Where to cut between two words: between their heard spans, or in the gap beside the one
    that was heard; -1 where neither was."""
    edge = 0.3  # at most this far from a heard word into the unheard stretch beside it
    if a.anchored and b.anchored:
        return (a.end + b.start) / 2
    if a.anchored:
        return (a.end + min(a.after, a.end + edge)) / 2
    if b.anchored:
        return (max(b.before, b.start - edge) + b.start) / 2
    return -1.0


def _is_pause(words: list[_Word], k: int) -> bool:
    """Whether the heard gap before words[k] is long enough to be a pause."""
    a, b = words[k - 1], words[k]
    return a.anchored and b.anchored and b.start - a.end >= MIN_PAUSE_S


def _joined(done: list[tuple[_Piece, list[Phone] | None]], heard: list[Phone],
            duration: float, notes: tuple[str, ...]) -> LineAlignment:
    """One track: aligned pieces as aligned, the others with the phones heard in them."""
    from .align import join_parts

    parts: list[list[Phone]] = []
    said = filled = 0.0
    filled_at: list[float] = []
    for piece, phones in done:
        if phones is not None:
            parts.append(phones)
            said += sum(p.end - p.start for p in phones if p.phone != SIL)
            continue
        inside = [Phone(max(p.start, piece.start), min(p.end, piece.end), p.phone)
                  for p in heard if p.phone != SIL and p.end > piece.start
                  and p.start < piece.end]
        parts.append(inside)
        speech = sum(p.end - p.start for p in inside)
        if speech > 0:
            filled += speech
            filled_at.append(piece.start)
    share = said / (said + filled) if said + filled > 0 else 0.0
    if filled_at:
        where = ", ".join(f"{t:.1f} s" for t in filled_at[:6])
        notes = (*notes, f"The transcript was aligned to {share:.0%} of the speech; the rest "
                 f"(from {where}{' ...' if len(filled_at) > 6 else ''}) follows the words heard "
                 "in the audio.")
    return LineAlignment(join_parts(duration, parts), share, notes)
