"""Everyday sentences: deterministic, conversational frames, slots filled with real words."""

from __future__ import annotations

import pytest

from blender_s2l.training.corpus.everyday_text import FRAMES, make_everyday_sentences
from blender_s2l.training.corpus.text import tag_pools

pytestmark = pytest.mark.skipif(tag_pools() is None,
                                reason="festival's part-of-speech lexicon is not installed")


def test_sentences_are_deterministic_and_filled() -> None:
    a = make_everyday_sentences(40, 3)
    assert a == make_everyday_sentences(40, 3) and a != make_everyday_sentences(40, 4)
    assert all("{" not in s and s[0].isupper() and s[-1] in ".?" for s in a)
    # every sentence keeps the function words of one frame
    literal = [f.split("{")[0].strip() for f in FRAMES]
    assert all(any(s.startswith(lit) for lit in literal) for s in a)


def test_articles_agree_with_the_next_word() -> None:
    text = " ".join(make_everyday_sentences(400, 0)).lower()
    assert " a a" not in text and " a e" not in text and " a o" not in text
