"""A transcript as people write it, turned into the words a speaker says.

Scripts and transcribers' files are not dictionary text: noise and speaker tags (`<cough>`,
`[laughter]`, `(sighs)`, `{music}`, `ANNA:`), numbers and symbols ("1999", "$5", "50%", "&"),
abbreviations ("Dr.", "etc."), cut-off words ("wh-"), curly quotes, accents, and times at the
start of each line. Every one of these once made the aligner refuse a line that the audio
matched; here each becomes what is spoken (or nothing, when nothing is spoken), so that
alignment only has to deal with what the audio really holds.

bpy-free and pocketsphinx-free: the aligner decides what to do with words its dictionary lacks.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import NamedTuple

from ..errors import S2LError


class Segment(NamedTuple):
    """Words a timed transcript places between two times (seconds)."""

    start: float
    end: float
    text: str


# Bracketed stretches are what transcribers write for what is not a word: noises, events,
# speakers, stage directions. Nested brackets are rare enough to ignore.
_TAG = re.compile(r"<[^<>]*>|\[[^\[\]]*\]|\([^()]*\)|\{[^{}]*\}")
# "ANNA:", "Dr. Smith:", "SPEAKER_1:", ">> " at the start of a line: who speaks, not what.
_SPEAKER = re.compile(r"^\s*(?:>>+\s*)?(?:[A-Z][\w.'-]*(?:\s+[A-Z][\w.'-]*){0,2}\s*:(?!\d))")
_TIMED_ROW = re.compile(r"^\s*(\d+(?:\.\d+)?)[\s,;]+(\d+(?:\.\d+)?)[\s,;]+(.*\S)?\s*$")
_CUE_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{1,3})"
_CUE = re.compile(rf"^\s*{_CUE_TIME}\s*-->\s*{_CUE_TIME}")

ABBREVIATIONS = {
    "dr": "doctor", "mr": "mister", "mrs": "missus", "ms": "miz", "st": "saint",
    "jr": "junior", "sr": "senior", "vs": "versus", "etc": "et cetera", "prof": "professor",
    "capt": "captain", "sgt": "sergeant", "lt": "lieutenant", "gen": "general", "mt": "mount",
    "ft": "feet", "approx": "approximately", "dept": "department",
    "e.g": "for example", "i.e": "that is", "a.m": "a m", "p.m": "p m", "u.s": "u s",
}
# Only where the period marks the abbreviation; "no" without it is the word no.
_NEEDS_PERIOD = {"st", "ft", "gen", "mt"}
SYMBOLS = {
    "&": " and ", "%": " percent ", "+": " plus ", "=": " equals ", "@": " at ",
    "#": " number ", "°": " degrees ", "×": " times ", "½": " and a half ",
}
CURRENCIES = {"$": "dollars", "£": "pounds", "€": "euros", "¥": "yen"}
_CONTRACTIONS = {"y'know": "you know", "'cause": "cause", "'em": "them", "'til": "till"}

_ONES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
         "eighteen", "nineteen")
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_ORDINALS = {"one": "first", "two": "second", "three": "third", "five": "fifth",
             "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}


def read_transcript_file(path: str | Path) -> str:
    """A transcript file's text whatever its encoding: UTF-8 (with or without a BOM), UTF-16
    with a BOM, else Windows-1252, which every byte decodes to something; a scriptwriter's
    export from Word or Excel is often one of the last two."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise S2LError(f"The transcript file {path} cannot be read ({exc.strerror}).") from exc
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def timed_segments(text: str) -> list[Segment] | None:
    """The segments of a timed transcript: rows "start end words" (seconds, as a tab or comma
    separated export gives them) or SubRip/WebVTT cues; None for plain text. A row or cue that
    does not end after it starts is left out (`backward_rows` counts those that had words)."""
    rows = _all_rows(text)
    return None if rows is None else [r for r in rows if r.end > r.start]


def backward_rows(text: str) -> int:
    """How many rows or cues of a timed transcript have words but do not end after they start
    (a typing slip): their words cannot be placed, and the user should hear that."""
    rows = _all_rows(text)
    return 0 if rows is None else sum(1 for r in rows if r.end <= r.start and r.text.split())


def _all_rows(text: str) -> list[Segment] | None:
    rows = [r for r in text.splitlines() if r.strip()]
    if not rows:
        return None
    if any(_CUE.match(r) for r in rows):
        return _cues(rows)
    timed = [_TIMED_ROW.match(r) for r in rows]
    if not all(m is not None and _looks_timed(m) for m in timed):
        return None
    return [Segment(float(m.group(1)), float(m.group(2)), m.group(3) or "")
            for m in timed if m is not None]


def _looks_timed(row: re.Match[str]) -> bool:
    """A row of times as exports write them: tab-separated, or with decimal seconds; so that
    "10 20 people came" stays words."""
    return "\t" in row.group(0).strip() or ("." in row.group(1) and "." in row.group(2))


def _cues(rows: list[str]) -> list[Segment]:
    out: list[Segment] = []
    start = end = -1.0
    words: list[str] = []
    for row in [*rows, "00:00:00.000 --> 00:00:00.000"]:  # the sentinel closes the last cue
        cue = _CUE.match(row)
        if cue is not None:
            if start >= 0 and words:
                out.append(Segment(start, end, " ".join(words)))
            g = cue.groups()
            start, end, words = _seconds(g[:4]), _seconds(g[4:]), []
        elif start >= 0 and not row.strip().isdigit() and row.strip() != "WEBVTT":
            words.append(row.strip())
    return out


def _seconds(g: tuple[str | None, ...]) -> float:
    hours, minutes, secs = (int(x) if x else 0 for x in g[:3])
    frac = g[3] or "0"
    return float(hours * 3600 + minutes * 60 + secs + int(frac) / 10 ** len(frac))


def spoken_words(transcript: str) -> list[str]:
    """Lower-case words as spoken: tags and speaker names dropped, numbers, symbols and
    abbreviations written out, cut-off words dropped (their sound is a fragment the dictionary
    cannot spell), accents folded; apostrophes inside words kept (don't, beauty's)."""
    words: list[str] = []
    for row in without_tags(transcript).splitlines():
        words.extend(_row_words(row))
    return words


def without_tags(transcript: str) -> str:
    """The transcript with its tags and speaker names taken out (for another language's
    pronouncer, which would say them)."""
    return "\n".join(_TAG.sub(" ", _SPEAKER.sub(" ", row)) for row in transcript.splitlines())


def has_letters_of_other_scripts(transcript: str) -> bool:
    """True when the transcript has letters but none of them Latin (Cyrillic, Greek, CJK...):
    an English aligner can do nothing with it."""
    letters = [c for c in transcript if c.isalpha()]
    return bool(letters) and not any("LATIN" in unicodedata.name(c, "") for c in letters)


def _row_words(row: str) -> list[str]:
    row = (unicodedata.normalize("NFKC", row)
           .replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
           .replace("\u2014", " - ").replace("\u2013", " - "))
    row = re.sub(r"([$£€¥])\s*(\d[\d,]*)(?:\.(\d\d))?",
                 lambda m: f" {m.group(2)} {CURRENCIES[m.group(1)]} {m.group(3) or ''} ", row)
    row = re.sub(r"(\d{1,2}):(\d{2})\b", lambda m: f" {_clock(m.group(1), m.group(2))} ", row)
    for symbol, spoken in SYMBOLS.items():
        row = row.replace(symbol, spoken)
    out: list[str] = []
    for token in row.split():
        out.extend(_token_words(token))
    return out


def _token_words(token: str) -> list[str]:
    if re.fullmatch(r"[A-Za-z]+-", token.strip(".,;:!?\"'")):
        return []  # "wh-", "sor-": cut off
    bare = token.strip(",;:!?\"()")
    key = bare.lower().rstrip(".")
    if key in ABBREVIATIONS and (bare.endswith(".") or key not in _NEEDS_PERIOD):
        return ABBREVIATIONS[key].split()
    low = key if key in _CONTRACTIONS else token.lower()
    if low in _CONTRACTIONS:
        return _CONTRACTIONS[low].split()
    out: list[str] = []
    for part in re.findall(r"\d+(?:st|nd|rd|th)\b|\d[\d,]*(?:\.\d+)?|[^\W\d_]+(?:'[^\W\d_]+)*",
                           token):
        if part[0].isdigit():
            out.extend(_number_words(part))
        else:
            folded = "".join(c for c in unicodedata.normalize("NFKD", part)
                             if not unicodedata.combining(c))
            folded = re.sub(r"[^a-z']", "", folded.lower()).strip("'")
            if folded:
                out.append(folded)
    return out


def _number_words(text: str) -> list[str]:
    """"1999" -> nineteen ninety nine (a year), "2,500" -> two thousand five hundred, "3.5" ->
    three point five, "21st" -> twenty first."""
    ordinal = text[-2:] in ("st", "nd", "rd", "th") and text[:-2].isdigit()
    digits = text[:-2] if ordinal else text
    if "." in digits:
        whole, frac = digits.split(".", 1)
        return [*_number_words(whole or "0"), "point", *(_ONES[int(d)] for d in frac)]
    grouped = "," in digits  # 1,999 is a count, 1999 a year
    digits = digits.replace(",", "")
    n = int(digits)
    year = 1100 <= n <= 1999 or 2010 <= n <= 2099
    if len(digits) == 4 and year and not ordinal and not grouped and n % 100 != 0:
        words = _cardinal(n // 100) + (["oh"] if n % 100 < 10 else []) + _cardinal(n % 100)
    elif len(digits) > 12 or (digits.startswith("0") and len(digits) > 1):
        words = [_ONES[int(d)] for d in digits]  # a phone number, a code: digit by digit
    else:
        words = _cardinal(n)
    if ordinal:
        last = words[-1]
        words[-1] = _ORDINALS.get(last) or (last[:-1] + "ieth" if last.endswith("y")
                                             else last + "th")
    return words


def _cardinal(n: int) -> list[str]:
    if n < 20:
        return [_ONES[n]]
    if n < 100:
        return [_TENS[n // 10]] + ([_ONES[n % 10]] if n % 10 else [])
    if n < 1000:
        return [_ONES[n // 100], "hundred"] + (_cardinal(n % 100) if n % 100 else [])
    for size, name in ((10**9, "billion"), (10**6, "million"), (1000, "thousand")):
        if n >= size:
            return [*_cardinal(n // size), name, *(_cardinal(n % size) if n % size else [])]
    return []  # unreachable: every n >= 1000 has a size


def _clock(hours: str, minutes: str) -> str:
    m = int(minutes)
    tail = "" if m == 0 else ("oh " + _ONES[m] if m < 10 else " ".join(_cardinal(m)))
    return " ".join([*_cardinal(int(hours)), tail or "o'clock"])
