"""Everyday English sentences: conversational frames filled with frequent words.

The coverage sentences of text.py string rare words together ("Each forfeitable prestige roommate
rescues some hardships newly"), which TTS voices read as a list, word by word. Real speech is
mostly function words, reduced and run together ("have been passed down to us"), and that is
where fast, faint /p b m/ closures happen. These frames keep those function-word sequences and
fill the slots with common words (by their frequency in festival's WSJ part-of-speech lexicon),
still preferring, now and then, a word holding the phone seen least so far.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
from numpy.typing import NDArray

from .phones import ARPABET
from .text import lexicon, tag_pools

# {tag} is a slot filled from that part-of-speech pool; everything else is said as written.
FRAMES: tuple[str, ...] = (
    "I think we need to {vb} the {nn} before the {nn}.",
    "We have been {vbg} about the {nn} for a long time.",
    "They told me the {nn} was {jj}, but I did not {vb} it.",
    "And the only way things will {vb} is if we {vb} the {nns}.",
    "She said it would be {jj} to {vb} the {nn} by {nn}.",
    "You can {vb} the {nn}, but you cannot {vb} the {nns}.",
    "My {nn} {vbd} the {nns} from the {jj} {nn}.",
    "Maybe we should {vb} a {jj} {nn} and {vb} it {rb}.",
    "It was the {jj} {nn} I have ever seen.",
    "Do you want to {vb} the {nn} with me?",
    "He {vbd} that the {nns} were {jj} and {jj}.",
    "Please {vb} the {nn} and put it on the {nn}.",
    "We are going to {vb} the {nns} {rb}, before they {vb}.",
    "That is why the {nn} has been {vbd} from the {nn}.",
    "If you {vb} the {nn}, the {nns} will {vb} {rb}.",
    "I was {vbg} the {nn} when the {nn} {vbd}.",
    "They have {vbd} the {nns} from {nn} to {nn}.",
    "Well, I am not sure the {nn} is {jj} enough.",
    "Why did the {nn} {vb} the {jj} {nns}?",
    "It is {jj}, but we might {vb} a {nn} for the {nn}.",
    "The {nns} {vbd} {rb}, so we had to {vb} the {nn}.",
    "Could you {vb} me the {jj} {nn} from the {nn}?",
    "There is a {jj} {nn} in the {nn} by the {nn}.",
    "Most of the {nns} {md} {vb} it, and that is {jj}.",
)
_SLOT = re.compile(r"\{([a-z]+)\}")
TOP_WORDS = 800  # per part of speech: frequent enough that a listener would not stumble
RARE_PHONE_SHARE = 0.2


def make_everyday_sentences(n: int, seed: int) -> list[str]:
    """n sentences from FRAMES; needs festival's part-of-speech lexicon."""
    pools = tag_pools()
    if pools is None:
        raise FileNotFoundError("festival's part-of-speech lexicon is needed for everyday text")
    lex = lexicon(max_letters=12)
    rng = np.random.default_rng(seed)
    top = {tag: _top(pool.words, pool.weights) for tag, pool in pools.items()}
    counts: Counter[str] = Counter({p: 0 for p in ARPABET})
    out = []
    for _ in range(n):
        frame = FRAMES[int(rng.integers(len(FRAMES)))]

        def fill(m: re.Match[str]) -> str:
            words, probs = top[m.group(1)]
            idx = -1
            if rng.random() < RARE_PHONE_SHARE:
                rare = min(ARPABET, key=lambda p: (counts[p], rng.random()))
                hits = [i for i in words if rare in lex.phones[i]]
                if hits:
                    idx = hits[int(rng.integers(len(hits)))]
            if idx < 0:
                idx = words[int(rng.choice(len(words), p=probs))]
            counts.update(lex.phones[idx])
            return lex.words[idx]

        text = _SLOT.sub(fill, frame)
        out.append(re.sub(r"\ba (?=[aeiou])", "an ", text))
    return out


def _top(words: tuple[int, ...], weights: tuple[float, ...]
         ) -> tuple[list[int], NDArray[np.float64]]:
    """The TOP_WORDS most frequent words of a pool, drawn by the pool's weights (the square root
    of frequency: between uniform and raw frequency, so not "the company" every time)."""
    w = np.asarray(weights, np.float64)
    order = np.argsort(-w, kind="stable")[:TOP_WORDS]
    return [words[i] for i in order], w[order] / w[order].sum()
