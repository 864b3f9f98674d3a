"""A line's phones: alignment files (HTK/HTS .lab, festival/ESPS .lab, TSV, Praat TextGrid),
and which source a bake takes them from (a file, a transcript, the recognised words, or none).

Every reader returns `Phone(start, end, phone)` tuples in seconds with one phone set: upper-case
ARPAbet (the 39 CMUdict phones) without stress digits, plus "SIL" for any silence or pause label.
Extended-ARPAbet symbols that other aligners use are folded into the 39 (AX -> AH, AXR -> ER,
IX -> IH, UX -> UW, EM -> M, EN -> N, EL -> L, NX -> N, DX -> D, Q -> SIL), so CMUdict's
schwa (AH0) and an aligner's AX count the same in the metrics. A Phone is a plain
(start, end, label) tuple, which is what the phone-rule teacher takes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from ..errors import S2LError

ARPABET = (
    "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH",
    "IH", "IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH", "UH",
    "UW", "V", "W", "Y", "Z", "ZH",
)
SIL = "SIL"
PHONES = (*ARPABET, SIL)
VOWELS = frozenset(
    {"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"}
)
OPEN_VOWELS = frozenset({"AA", "AE", "AH", "AO", "AW", "AY"})
BILABIALS = frozenset({"P", "B", "M"})
_SILENCES = frozenset(
    {"", "SIL", "SILENCE", "PAU", "SP", "SPN", "H#", "#", "<SIL>", "BRTH", "BR", "NOISE", "NSN",
     "GARBAGE", "_", "-", "X"}
)
_EXTENDED = {
    "AX": "AH", "AXR": "ER", "AXH": "AH", "IX": "IH", "UX": "UW", "EM": "M", "EN": "N",
    "EL": "L", "NX": "N", "DX": "D", "Q": SIL, "HV": "HH", "ENG": "NG",
}
_HTK_PER_SECOND = 1e7  # HTK time unit: 100 ns
_HTS_CURRENT = re.compile(r"^[^-]*-([^+]*)\+")


class PhoneFileError(S2LError):
    """A phone alignment file is missing or not in any format read here."""


class Phone(NamedTuple):
    start: float
    end: float
    phone: str


def normalise_phone(label: str) -> str:
    """One label -> the project's phone set (unknown symbols pass through upper-cased)."""
    text = label.strip()
    hts = _HTS_CURRENT.match(text)
    if hts:
        text = hts.group(1)
    text = text.strip().upper().rstrip("012")
    if text in _SILENCES:
        return SIL
    return _EXTENDED.get(text, text)


def _phones(rows: list[tuple[float, float, str]], path: Path) -> list[Phone]:
    out: list[Phone] = []
    for start, end, label in rows:
        if not (np.isfinite(start) and np.isfinite(end)):
            raise PhoneFileError(f"{path.name} has a segment time that is not a number of "
                                 f"seconds ({start}, {end}).")
        if end < start:
            raise PhoneFileError(
                f"{path.name} has a segment ending before it starts ({start}, {end})."
            )
        out.append(Phone(float(start), float(end), normalise_phone(label)))
    if not out:
        raise PhoneFileError(f"{path.name} contains no phone segments.")
    out.sort(key=lambda p: (p.start, p.end))
    return out


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise PhoneFileError(f"The phone alignment file {path} does not exist.")
    raw = path.read_bytes()
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):  # Praat writes UTF-16 for non-ASCII labels
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def read_lab(path: str | Path) -> list[Phone]:
    """HTK/HTS `start end label` (100 ns units, or seconds when times have a decimal point), or
    festival/ESPS `end colour label` lines after a '#' header line."""
    p = Path(path)
    lines = [ln.strip() for ln in _read_text(p).splitlines()]
    if "#" in lines:
        return _read_esps(lines[lines.index("#") + 1 :], p)
    rows: list[tuple[float, float, str]] = []
    for n, line in enumerate(lines, 1):
        if not line:
            continue
        parts = line.split(maxsplit=2)
        if len(parts) < 3:
            raise PhoneFileError(f"Line {n} of {p.name} is not 'start end label'.")
        try:
            start, end = float(parts[0]), float(parts[1])
        except ValueError as exc:
            raise PhoneFileError(f"Line {n} of {p.name} has non-numeric times.") from exc
        per_second = 1.0 if "." in parts[0] + parts[1] else _HTK_PER_SECOND
        rows.append((start / per_second, end / per_second, parts[2].split()[0]))
    return _phones(rows, p)


def _read_esps(lines: list[str], path: Path) -> list[Phone]:
    """Festival's label format: each line is `end_time colour label`; starts chain."""
    rows: list[tuple[float, float, str]] = []
    prev = 0.0
    for n, line in enumerate(lines, 1):
        parts = line.split()
        if not parts:
            continue
        try:
            end = float(parts[0])
        except ValueError as exc:
            raise PhoneFileError(f"Label line {n} of {path.name} has no end time.") from exc
        label = parts[2] if len(parts) >= 3 else ""
        rows.append((prev, end, label))
        prev = end
    return _phones(rows, path)


def read_tsv(path: str | Path) -> list[Phone]:
    """`start_s end_s phone` per line (tabs or spaces); a header line is skipped."""
    p = Path(path)
    rows: list[tuple[float, float, str]] = []
    for n, line in enumerate(_read_text(p).splitlines(), 1):
        parts = line.split("\t") if "\t" in line else line.split()
        parts = [x.strip() for x in parts]
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            start, end = float(parts[0]), float(parts[1])
        except (ValueError, IndexError) as exc:
            if n == 1:
                continue  # header
            raise PhoneFileError(f"Line {n} of {p.name} is not 'start_s end_s phone'.") from exc
        rows.append((start, end, parts[2] if len(parts) > 2 else ""))
    return _phones(rows, p)


_TG_TOKEN = re.compile(r'"((?:[^"]|"")*)"|(\S+)')


def _textgrid_values(text: str) -> list[str | float]:
    """Strings and numbers in order, skipping labels such as `xmin =` or `item [1]:`; this one
    walk reads both Praat's long and short text formats."""
    values: list[str | float] = []
    for m in _TG_TOKEN.finditer(text):
        if m.group(1) is not None:
            values.append(m.group(1).replace('""', '"'))
            continue
        try:
            values.append(float(m.group(2)))
        except ValueError:
            continue
    return values


def read_textgrid(path: str | Path, tier: str | None = None) -> list[Phone]:
    """The interval tier named `tier`, else one named phones/phone, else the first one."""
    p = Path(path)
    vals = _textgrid_values(_read_text(p))
    try:
        if vals[:2] != ["ooTextFile", "TextGrid"]:
            raise PhoneFileError(f"{p.name} is not a Praat TextGrid text file.")
        i = 4  # file type, object class, xmin, xmax
        n_tiers = int(float(vals[i]))
        i += 1
        tiers: list[tuple[str, str, list[tuple[float, float, str]]]] = []
        for _ in range(n_tiers):
            kind, name = str(vals[i]), str(vals[i + 1])
            count = int(float(vals[i + 4]))
            i += 5
            width = 3 if kind == "IntervalTier" else 2
            items = vals[i : i + width * count]
            i += width * count
            if kind == "IntervalTier":
                rows = [
                    (float(items[k]), float(items[k + 1]), str(items[k + 2]))
                    for k in range(0, len(items), 3)
                ]
                tiers.append((kind, name, rows))
    except (IndexError, ValueError, TypeError) as exc:
        raise PhoneFileError(f"{p.name} is a damaged TextGrid.") from exc
    if not tiers:
        raise PhoneFileError(f"{p.name} has no interval tier.")
    wanted = [tier] if tier else ["phones", "phone", "phonemes", "segments"]
    for name in wanted:
        for _, tier_name, rows in tiers:
            if tier_name.strip().lower() == name.lower():
                return _phones(rows, p)
    if tier:
        raise PhoneFileError(f"{p.name} has no interval tier named {tier!r}.")
    return _phones(tiers[0][2], p)


def read_phones(path: str | Path) -> list[Phone]:
    """Any supported alignment, chosen by extension (.lab, .TextGrid, .tsv/.txt)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".textgrid":
        return read_textgrid(p)
    if suffix in (".lab", ".htk", ".rec", ".seg"):
        return read_lab(p)
    if suffix in (".tsv", ".txt", ".csv"):
        return read_tsv(p)
    raise PhoneFileError(f"{p.name}: phone alignments must be .lab, .TextGrid or .tsv files.")


def find_alignment(wav: str | Path) -> Path | None:
    """The alignment beside a wav: same stem (or stem + '_phone'/'_phones') with a known suffix."""
    w = Path(wav)
    for stem in (w.stem, f"{w.stem}_phone", f"{w.stem}_phones", f"{w.stem}_phones_simple"):
        for suffix in (".TextGrid", ".textgrid", ".lab", ".tsv"):
            cand = w.with_name(stem + suffix)
            if cand.is_file():
                return cand
    return None


def phone_at_times(phones: Sequence[Phone], times: NDArray[np.floating[Any]]) -> list[str]:
    """The phone label covering each time (SIL outside every segment)."""
    t = np.asarray(times, dtype=np.float64)
    return [phones[i].phone if i >= 0 else SIL for i in phone_index_at_times(phones, t)]


def phone_index_at_times(
    phones: Sequence[Phone], times: NDArray[np.floating[Any]]
) -> NDArray[np.int64]:
    """Index of the segment covering each time ([start, end)), -1 where none does."""
    t = np.asarray(times, dtype=np.float64)
    starts = np.array([p.start for p in phones], dtype=np.float64)
    ends = np.array([p.end for p in phones], dtype=np.float64)
    idx = np.searchsorted(starts, t, side="right") - 1
    ok = (idx >= 0) & (t < ends[np.clip(idx, 0, None)])
    return np.where(ok, idx, -1).astype(np.int64)


# -- where a line's phones come from (a bake's key-pose source) ----------------------------
def wants_words(phones_file: str, transcript: str, recognise_words: bool) -> bool:
    """Recognise Words applies only to a line with neither a phone file nor a transcript."""
    return recognise_words and not phones_file and not transcript.strip()


def uses_pocketsphinx(phones_file: str, transcript: str, recognise_words: bool) -> bool:
    """Whether finding the line's phones runs pocketsphinx (a transcript aligned, or words
    recognised): the part of a bake that other work can overlap."""
    from . import recognise

    if phones_file or not recognise.pocketsphinx_available():
        return False
    return bool(transcript.strip()) or recognise_words


def listens_for_words(phones_file: str, transcript: str, recognise_words: bool) -> bool:
    """Recognise Words is on by default, so where pocketsphinx is missing (the lean zip) the
    bake falls back to the audio alone rather than failing; `words_unheard` says so."""
    from . import recognise

    available = recognise.pocketsphinx_available()
    return wants_words(phones_file, transcript, recognise_words) and available


def words_unheard(phones_file: str, transcript: str, recognise_words: bool) -> bool:
    """Recognise Words was asked for but this Python has no pocketsphinx: audio alone."""
    from . import recognise

    available = recognise.pocketsphinx_available()
    return wants_words(phones_file, transcript, recognise_words) and not available


def key_pose_source(phones_file: str, transcript: str, recognise_words: bool) -> str:
    """Where a bake's key poses come from, for its one-line report."""
    if phones_file:
        return "phone file"
    if transcript.strip():
        return "transcript"
    if listens_for_words(phones_file, transcript, recognise_words):
        return "recognised words"
    return "audio only"


NO_ALIGNER = (
    "The transcript was not used: aligning it needs the pocketsphinx package, which is not "
    "installed here, so the lips follow the audio alone."
)
NO_POCKETSPHINX = (
    "Recognise Words skipped: pocketsphinx is not installed here, so the lips follow the audio "
    "alone (more p, b and m are missed); install it or give a transcript."
)


class LinePhones(NamedTuple):
    """A line's key-pose phones and what the user should hear about how they were found."""

    phones: list[Phone] | None
    aligned: float | None = None  # share of the speech aligned from a transcript; None: none
    notes: tuple[str, ...] = ()


def _check_in_line(phones: list[Phone], path: Path, audio_path: str) -> None:
    """Refuses a phones file whose speech all lies after the end of the line: another line's
    file, whose key poses would silently never show."""
    from . import audio as audio_io

    said = [p.start for p in phones if p.phone != SIL]
    if not said or not audio_path:
        return
    try:
        duration = audio_io.audio_duration(audio_path)
    except S2LError:
        return  # the audio's own check says what is wrong with it, where the bake reads it
    if min(said) >= duration:
        raise PhoneFileError(
            f"{path.name}'s phones start at {min(said):.1f} s, after the end of the line "
            f"({duration:.1f} s): is it this line's phones file?")


def find_line_phones(
    phones_file: str,
    transcript: str,
    audio_path: str,
    recognise_words: bool = False,
    progress: Callable[[float], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    language: str = "en",
) -> LinePhones:
    """The phones a bake anchors key poses on: an alignment file (.lab, TextGrid, .tsv) wins
    over a transcript, which is aligned to the audio where it fits (line_align.py); with
    neither, the words pocketsphinx recognises if asked and installed; else none."""
    if phones_file:
        given = read_phones(Path(phones_file))
        _check_in_line(given, Path(phones_file), audio_path)
        return LinePhones(given)
    if transcript.strip():
        from . import audio as audio_io
        from . import recognise
        from .line_align import align_line

        if not recognise.pocketsphinx_available():
            return LinePhones(None, 0.0, (NO_ALIGNER,))
        found = align_line(audio_io.load_audio(audio_path), transcript, Path(audio_path).name,
                           progress, cancel, language)
        return LinePhones(found.phones, found.aligned, found.notes)
    if listens_for_words(phones_file, transcript, recognise_words):
        from . import audio as audio_io
        from . import recognise

        return LinePhones(recognise.recognise_phones(audio_io.load_audio(audio_path), progress,
                                                     cancel))
    return LinePhones(None)

