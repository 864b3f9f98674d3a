"""Transcripts in other languages: espeak-ng says the words, in ARPAbet the aligner hears.

The aligner is pocketsphinx with its US-English acoustic model (39 ARPAbet phones). A Spanish
or German line is aligned by giving each of its words a pronunciation in those 39 phones: the
words are phonemised by espeak-ng (IPA, one word a line, in one call) and every IPA sound is
mapped to the nearest English phone by the table below. What matters for the face is kept
exact: a bilabial is a bilabial in every language (p b m stay P B M), rounded vowels stay
rounded and open vowels open. English ("en") never comes here: it keeps pocketsphinx's own
dictionary (core/speech/align.py).

No bpy and no torch; espeak-ng is a program (`espeak-ng`, Debian's package of that name).
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ..errors import S2LError
from .phones import ARPABET, Phone

ENGLISH = "en"
ESPEAK = "espeak-ng"

# -- IPA -> ARPAbet -------------------------------------------------------------------------
# Why each mapping: the nearest English sound an American speaker would use, unless the lips
# say otherwise (the key poses read P B M for closures, and rounding/opening from the vowels).
IPA_TO_ARPABET: dict[str, str] = {
    # bilabials: closures everywhere. β (Spanish b/v between vowels) is the same /b/ with the
    # lips nearly shut; an animator draws it as a b, and so do the key poses.
    "p": "P", "b": "B", "m": "M", "β": "B",
    # ɸ (Japanese fu) is a bilabial fricative but never shut: F keeps the lips apart.
    "ɸ": "F", "ɱ": "M",  # ɱ (Spanish 'enfermo'): a nasal with the lips on the teeth, as m
    "pf": "P F",  # German Pferd: the p shuts the lips
    # other stops, fricatives and affricates: the same place of articulation in English
    "t": "T", "d": "D", "k": "K", "g": "G", "ɡ": "G", "c": "K", "ɟ": "G", "q": "K", "ɢ": "G",
    "ʈ": "T", "ɖ": "D", "f": "F", "v": "V", "ʋ": "V", "s": "S", "z": "Z", "ʃ": "SH",
    "ʒ": "ZH", "ʂ": "SH", "ʐ": "ZH", "ɕ": "SH", "ʑ": "ZH", "θ": "TH", "ð": "DH",
    "ts": "T S", "dz": "D Z", "tʃ": "CH", "dʒ": "JH", "ʧ": "CH", "ʤ": "JH", "tɕ": "CH",
    "dʑ": "JH", "tʂ": "CH", "dʐ": "JH", "ʦ": "T S", "ʣ": "D Z",
    # dorsal fricatives (Spanish jota, German ach/ich, Dutch g) are breathy noise to an English
    # model: HH; ɣ (Spanish 'lago') is a weak g
    "x": "HH", "χ": "HH", "ç": "HH", "h": "HH", "ɦ": "HH", "ħ": "HH", "ɣ": "G", "ʁ": "R",
    # every r (trill, tap, uvular) is R: the English R is what the model knows as "an r"
    "r": "R", "ɾ": "R", "ɹ": "R", "ʀ": "R", "ɽ": "R", "ɻ": "R",
    "l": "L", "ɫ": "L", "ɭ": "L", "ɬ": "L", "ʎ": "L Y",  # ʎ: Italian gli, a palatal l
    "n": "N", "ɳ": "N", "ŋ": "NG", "ɲ": "N Y",  # ɲ: Spanish ñ, a palatal n
    "j": "Y", "ʝ": "Y", "w": "W", "ʍ": "W",
    "ɥ": "W",  # French 'huit': the rounded glide; the lips round as for w
    # vowels: height and rounding first. Front rounded vowels (French u, German ü/ö) have no
    # English match; the rounded English vowel keeps the lips round: y -> UW, ø/œ -> ER
    # (mid, rounded-ish and central to an English model), ʏ -> UH.
    "i": "IY", "ɪ": "IH", "ɨ": "IH", "y": "UW", "ʏ": "UH", "ʉ": "UW", "u": "UW", "ɯ": "UW",
    "ʊ": "UH", "e": "EY", "ɛ": "EH", "ø": "ER", "œ": "ER", "ɵ": "ER", "ə": "AH", "ɘ": "AH",
    "ɜ": "ER", "ɚ": "ER", "ɝ": "ER", "ɐ": "AH", "ʌ": "AH", "ɤ": "AH", "o": "OW", "ɔ": "AO",
    "æ": "AE", "a": "AA", "ɑ": "AA", "ɒ": "AA", "ɶ": "AA", "ᵻ": "IH",
    # diphthongs English has
    "aɪ": "AY", "ai": "AY", "aʊ": "AW", "au": "AW", "ɔɪ": "OY", "ɔø": "OY", "ɔʏ": "OY",
    "eɪ": "EY", "ei": "EY", "oʊ": "OW", "əʊ": "OW", "ou": "OW",
}
# marks that do not change which English phone is nearest: stress, length, syllabicity,
# aspiration, palatalisation, ties, tones
_DROP = set("ˈˌːˑ‿͡ʰʲʷˠˤ̩̯̪̺̻̥̬̆̃̊˞ʼ-|.↗↘1234567890")
_NASAL = "\u0303"  # the tilde of French/Portuguese nasal vowels
_LONGEST = max(len(k) for k in IPA_TO_ARPABET)
_SWITCH = re.compile(r"\([a-z-]+\)")  # espeak-ng marks a switch of language as (en)
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


def ipa_to_arpabet(ipa: str) -> list[str]:
    """One espeak-ng word (IPA, phonemes separated by '_') as ARPAbet phones.

    A phoneme is matched whole first (tʃ, aɪ, pf), else greedily from the left, so a
    diphthong English lacks (Italian 'ao') becomes its two vowels. A nasal vowel gets an N
    after it (French 'bon' = B AO N): the nasal murmur is what an English model hears there.
    Symbols nowhere in the table are dropped."""
    out: list[str] = []
    for unit in ipa.split("_"):
        nasal = _NASAL in unit
        text = "".join(ch for ch in unicodedata.normalize("NFD", unit) if ch not in _DROP)
        text = unicodedata.normalize("NFC", text)
        i = 0
        while i < len(text):
            for size in range(min(_LONGEST, len(text) - i), 0, -1):
                arpa = IPA_TO_ARPABET.get(text[i : i + size])
                if arpa:
                    out.extend(arpa.split())
                    i += size
                    break
            else:
                i += 1
        if nasal and out and out[-1] not in ("N", "M", "NG"):
            out.append("N")
    return out


# -- which languages -------------------------------------------------------------------------
def espeak_path() -> str | None:
    """The espeak-ng program, None when it is not installed."""
    return shutil.which(ESPEAK)


@functools.cache
def languages() -> list[tuple[str, str]]:
    """(code, name) of every language espeak-ng can phonemise here, English ("en") first.

    Codes are espeak-ng's (es, de, fr, it, pt-br, ...) and the short aliases it accepts (fr
    for fr-fr). English variants (en-gb, en-us) all come down to "en": English transcripts use
    pocketsphinx's own dictionary, not espeak-ng. Without espeak-ng only English is listed."""
    found: dict[str, str] = {ENGLISH: "English"}
    exe = espeak_path()
    if exe is None:
        return list(found.items())
    try:
        text = subprocess.run([exe, "--voices"], capture_output=True, text=True, timeout=30,
                              check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return list(found.items())
    aliases: dict[str, tuple[int, str]] = {}
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 5:
            continue
        code, name = parts[1].lower(), parts[3].replace("_", " ")
        found.setdefault(code, name)
        for alias, priority in re.findall(r"\(([^ )]+) (\d+)\)", " ".join(parts[5:])):
            best = aliases.get(alias.lower())
            if best is None or int(priority) < best[0]:
                aliases[alias.lower()] = (int(priority), name)
    for alias, (_, name) in aliases.items():
        found.setdefault(alias, name)
    return [(c, n) for c, n in found.items() if c == ENGLISH or not is_english(c)]


def is_english(language: str) -> bool:
    """en and its variants (en-us, en-gb) take today's English path."""
    code = language.strip().lower()
    return code == ENGLISH or code.startswith(ENGLISH + "-")


def check_language(language: str, transcript: str = "") -> None:
    """One sentence when the language cannot be used: an unknown code, or (for a line with a
    transcript, the only thing the language applies to) espeak-ng missing."""
    if is_english(language):
        return
    if espeak_path() is None:
        if transcript.strip():
            raise S2LError(
                f"The language {language!r} needs the espeak-ng program to pronounce the "
                "transcript: install espeak-ng (apt install espeak-ng), or use en.")
        return
    if language.strip().lower() not in dict(languages()):
        raise S2LError(
            f"The language {language!r} is not one espeak-ng knows here: use a code such as "
            "en, es, de, fr, it or pt-br (espeak-ng --voices lists them).")


# -- scripts ---------------------------------------------------------------------------------
# The script a language's text is written in, where it is not Latin (by espeak-ng's base code).
_SCRIPTS: dict[str, tuple[str, ...]] = {
    "CYRILLIC": ("ba", "be", "bg", "cv", "kk", "ky", "mk", "nog", "ru", "sr", "tt", "uk"),
    "GREEK": ("el", "grc"), "ARABIC": ("ar", "fa", "sd", "ug", "ur"), "HEBREW": ("he",),
    "DEVANAGARI": ("hi", "kok", "mr", "ne"), "BENGALI": ("as", "bn", "bpy"),
    "GURMUKHI": ("pa",), "GUJARATI": ("gu",), "ORIYA": ("or",), "TAMIL": ("ta",),
    "TELUGU": ("te",), "KANNADA": ("kn",), "MALAYALAM": ("ml",), "SINHALA": ("si",),
    "THAI": ("th",), "MYANMAR": ("my", "shn"), "GEORGIAN": ("ka",), "ARMENIAN": ("hy", "hyw"),
    "ETHIOPIC": ("am",), "CHEROKEE": ("chr",), "HANGUL": ("ko",),
    "CJK": ("cmn", "yue", "ja", "zh"), "HIRAGANA": ("ja",), "KATAKANA": ("ja",),
}
_ALSO_LATIN = ("sr", "cmn", "yue", "zh")  # written in both, or espeak-ng reads latin too


def scripts_of(language: str) -> set[str]:
    """The scripts a transcript in this language may be written in."""
    code = language.strip().lower()
    base = code.split("-")[0]
    found = {s for s, codes in _SCRIPTS.items() if base in codes}
    if "latn" in code.split("-") or not found or base in _ALSO_LATIN:
        found.add("LATIN")
    return found


def script_of(ch: str) -> str:
    """A letter's script, the first word of its Unicode name (LATIN, CYRILLIC, CJK...)."""
    name = unicodedata.name(ch, "")
    return name.split(" ")[0] if name else ""


def _check_script(transcript: str, language: str) -> None:
    letters = [script_of(ch) for ch in transcript if ch.isalpha()]
    if not letters:
        return
    wanted = scripts_of(language)
    foreign = [s for s in letters if s not in wanted]
    if len(foreign) * 2 > len(letters):
        found = max(set(foreign), key=foreign.count).title()
        expected = " or ".join(sorted(s.title() for s in wanted))
        raise S2LError(
            f"The transcript is written in {found} letters but the language {language!r} is "
            f"written in {expected}: choose the transcript's language.")


# -- pronunciations -------------------------------------------------------------------------
def _espeak_ipa(words: list[str], language: str) -> list[str]:
    """espeak-ng's IPA of each word, phonemes separated by '_', in one call (one word a line:
    espeak-ng answers each line on a line of its own, numbers spelled in the language)."""
    exe = espeak_path()
    if exe is None:
        raise S2LError(
            f"The language {language!r} needs the espeak-ng program to pronounce the "
            "transcript: install espeak-ng (apt install espeak-ng), or use en.")

    def say(text: str) -> list[str]:
        try:
            run = subprocess.run([exe, "-q", "--ipa", "--sep=_", "-v", language],
                                 input=text, capture_output=True, text=True, timeout=60,
                                 check=True)
        except (OSError, subprocess.SubprocessError) as exc:
            raise S2LError(f"espeak-ng could not pronounce the transcript in {language!r}.") \
                from exc
        return [_SWITCH.sub("", ln).strip() for ln in run.stdout.splitlines() if ln.strip()]

    lines = say("\n".join(words) + "\n")
    if len(lines) == len(words):
        return lines
    return [" ".join(say(w + "\n")) for w in words]  # a line was merged or lost: word by word


def fold(word: str) -> str:
    """A word as plain lower-case ASCII letters and digits (papá -> papa), '' for none."""
    text = unicodedata.normalize("NFKD", word.lower())
    return "".join(ch for ch in text if ch.isascii() and ch.isalnum())


def pronounce(transcript: str, language: str) -> list[tuple[str, str]]:
    """The transcript's words in order, each (token, "P AA P AA") for pocketsphinx.

    Tokens are ASCII with the language as a suffix (papá -> papa_es): a pocketsphinx
    dictionary refuses a word it already has, and "papa" is English too; two words that fold
    to the same letters get a number (papa_es, papa2_es). Words espeak-ng leaves unpronounced
    (a stray symbol) are dropped; numbers are spelled by espeak-ng in the language."""
    if not transcript.strip():
        raise S2LError("The transcript is empty.")
    code = language.strip().lower()
    if is_english(code):
        raise S2LError("English transcripts use the aligner's own dictionary, not espeak-ng.")
    check_language(code, transcript)
    _check_script(transcript, code)
    words = [w.lower() for w in _WORD.findall(transcript)]
    if not words:
        raise S2LError("The transcript has no words.")
    unique = list(dict.fromkeys(words))
    prons = dict(zip(unique, _espeak_ipa(unique, code), strict=True))
    tag = re.sub(r"[^a-z0-9]", "", code)
    tokens: dict[str, str] = {}
    taken: set[str] = set()
    for word in unique:
        stem = fold(word) or "w"
        token, n = f"{stem}_{tag}", 1
        while token in taken:
            n += 1
            token = f"{stem}{n}_{tag}"
        tokens[word] = token
        taken.add(token)
    out: list[tuple[str, str]] = []
    for word in words:
        phones = [p for chunk in prons[word].split() for p in ipa_to_arpabet(chunk)]
        if phones and all(p in ARPABET for p in phones):
            out.append((tokens[word], " ".join(phones)))
    if not out:
        raise S2LError(f"espeak-ng left every word of the transcript unpronounced in {code!r}.")
    return out


def align_language(wav: NDArray[np.float32] | str | Path, transcript: str,
                   language: str) -> list[Phone]:
    """Phones of a transcript in any language, aligned to 16 kHz mono samples (or a file), as
    a bake aligns them (line_align.align_line). Other languages give each word its espeak-ng
    pronunciation and are aligned over a noise floor at -60 dBFS: digital silence, as in a
    synthetic voice's stop closures, made pocketsphinx lose every Spanish test sentence."""
    from . import audio as audio_io
    from .line_align import align_line

    samples = audio_io.load_audio(wav) if isinstance(wav, (str, Path)) else wav
    return align_line(samples, transcript, "the audio", language=language).phones
