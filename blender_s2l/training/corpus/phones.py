"""ARPAbet, the project's phone alphabet, and one mapping table per TTS engine.

Every engine labels phones its own way; the corpus, the teacher and the evaluation all speak
ARPAbet (39 phones, no stress) plus "sil", so the tables below are the only place that knows
engine spellings.
"""

from __future__ import annotations

import re

ARPABET: tuple[str, ...] = (
    "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH",
    "IH", "IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH", "UH",
    "UW", "V", "W", "Y", "Z", "ZH",
)
SILENCE = "sil"
SILENCE_LABELS = frozenset({"sil", "pau", "sp", "h#", "brth", "#", "_", ""})
_ARPA_SET = frozenset(ARPABET)

# CMU/radio phone sets used by flite and festival's US voices: ARPAbet in lower case plus a
# few allophones that TIMIT-style sets keep apart.
_CMU_EXTRA = {
    "ax": "AH", "axr": "ER", "ix": "IH", "dx": "D", "el": "L", "em": "M", "en": "N",
    "nx": "N", "hv": "HH", "ux": "UW", "q": "T",
}
FLITE: dict[str, str] = {p.lower(): p for p in ARPABET} | _CMU_EXTRA
FESTIVAL: dict[str, str] = dict(FLITE)
# espeak-ng's English phoneme mnemonics (case matters: D/d, T/t, S/s, N/n, Z/z differ).
# Vowel qualities collapse to the nearest ARPAbet vowel; visemes only need the mouth shape.
ESPEAK: dict[str, str] = {
    "@": "AH", "@2": "AH", "@5": "AH", "@-": "AH", "V": "AH", "a#": "AH",
    "3": "ER", "3:": "ER", "VR": "ER", "IR": "IH", "@L": "L",
    "a": "AE", "aa": "AE", "a2": "AE", "A:": "AA", "A@": "AA", "A": "AA",
    "0": "AO", "O": "AO", "O:": "AO", "O@": "AO", "O2": "AO", "o@": "AO",
    "E": "EH", "E2": "EH", "E#": "EH", "e": "EH", "e#": "EH", "e@": "EH",
    "I": "IH", "I#": "IH", "I2": "IH", "i": "IY", "i:": "IY", "i@": "IY", "i@3": "IY",
    "U": "UH", "U@": "UH", "u": "UW", "u:": "UW", "uu": "UW",
    "aI": "AY", "aI2": "AY", "aI3": "AY", "aI@": "AY", "aU": "AW", "aU@": "AW",
    "eI": "EY", "OI": "OY", "oU": "OW", "oU#": "OW",
    "b": "B", "d": "D", "d#": "D", "d[": "D", "D": "DH", "dZ": "JH", "f": "F", "g": "G",
    "h": "HH", "x": "HH", "j": "Y", "k": "K", "l": "L", "l/": "L", "l-": "L", "m": "M",
    "m-": "M", "n": "N", "n-": "N", "N": "NG", "p": "P", "r": "R", "r-": "R", "r/": "R",
    "s": "S", "S": "SH", "t": "T", "t#": "T", "t2": "T", "t[": "T", "?": "T", "T": "TH",
    "tS": "CH", "v": "V", "w": "W", "w#": "W", "hw": "W", "z": "Z", "Z": "ZH",
}
ENGINE_TABLES: dict[str, dict[str, str]] = {"flite": FLITE, "festival": FESTIVAL,
                                            "espeak": ESPEAK}

_STRESS = re.compile(r"[012]$")


def to_arpabet(label: str, engine: str | None = None) -> str:
    """Map one phone label (engine spelling or ARPAbet with stress) to ARPAbet or 'sil'.

    Raises KeyError for a label the table does not know, so a new engine cannot slip
    unmapped phones into the corpus.
    """
    raw = label.strip()
    if raw.lower() in SILENCE_LABELS:
        return SILENCE
    if engine == "espeak":
        return _espeak(raw)
    if engine is not None and engine in ENGINE_TABLES:
        table = ENGINE_TABLES[engine]
        if raw in table:
            return table[raw]
        if raw.lower() in table:
            return table[raw.lower()]
    base = _STRESS.sub("", raw).upper()
    if base in _ARPA_SET:
        return base
    if base.lower() in FLITE:
        return FLITE[base.lower()]
    raise KeyError(f"unknown phone label {label!r} for engine {engine!r}")


def _espeak(raw: str) -> str:
    """Exact mnemonic, else drop trailing modifier characters (espeak adds many variants)."""
    if raw.startswith("_"):
        return SILENCE
    for cut in range(0, min(3, len(raw))):
        key = raw[: len(raw) - cut]
        if key in ESPEAK:
            return ESPEAK[key]
    raise KeyError(f"unknown phone label {raw!r} for engine 'espeak'")
