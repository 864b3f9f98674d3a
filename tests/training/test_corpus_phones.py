"""Phone tables, sentence coverage and TTS alignment of every voice in the roster."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from blender_s2l.training.corpus.phones import ARPABET, ENGINE_TABLES, SILENCE, to_arpabet
from blender_s2l.training.corpus.text import make_sentences, phone_coverage
from blender_s2l.training.corpus.voices import VOICES, render

SENTENCE = "We will go to the park, and then we eat the pizza."


def test_tables_map_into_arpabet() -> None:
    for engine, table in ENGINE_TABLES.items():
        assert set(table.values()) <= set(ARPABET), engine
    assert to_arpabet("AA1") == "AA"
    assert to_arpabet("pau", "flite") == SILENCE
    assert to_arpabet("ax", "festival") == "AH"
    with pytest.raises(KeyError):
        to_arpabet("qq", "flite")


def test_sentences_are_deterministic_and_cover_all_phones() -> None:
    a = make_sentences(30, seed=5)
    assert a == make_sentences(30, seed=5)
    assert a != make_sentences(30, seed=6)
    assert set(phone_coverage(a)) == set(ARPABET)


def _engine_available(engine: str) -> bool:
    return shutil.which({"espeak": "espeak-ng"}.get(engine, engine)) is not None


@pytest.mark.parametrize("voice", VOICES, ids=[v.name for v in VOICES])
def test_voice_phones_are_arpabet_and_silences_are_quiet(voice) -> None:  # type: ignore[no-untyped-def]
    if not _engine_available(voice.engine):
        pytest.skip(f"{voice.engine} is not installed")
    r = render(SENTENCE, voice, rate=1.1, pitch=1.1)
    labels = {p for _, _, p in r.phones}
    assert labels <= set(ARPABET) | {SILENCE}
    assert len(labels) > 10
    dur = len(r.audio) / r.sample_rate
    assert abs(r.phones[-1][1] - dur) < 0.15, "phone timeline and audio length disagree"

    def level(s: float, e: float) -> float:
        seg = r.audio[int(s * r.sample_rate): int(e * r.sample_rate)]
        return float(np.sqrt(np.mean(seg.astype(np.float64) ** 2) + 1e-12))

    speech = np.mean([level(s, e) for s, e, p in r.phones if p in {"AA", "AE", "IY", "EH", "AH"}])
    pauses = [(s, e) for s, e, p in r.phones if p == SILENCE and e - s > 0.08]
    assert pauses, "expected leading/trailing/comma pauses"
    for s, e in pauses:
        assert 20 * np.log10(level(s + 0.01, e - 0.01) / speech) < -20


def test_every_engine_renders_deterministically() -> None:
    for engine in ("flite", "festival", "espeak"):
        if not _engine_available(engine):
            continue
        voice = next(v for v in VOICES if v.engine == engine)
        a = render("Bob may pay.", voice, rate=1.05, pitch=0.95)
        b = render("Bob may pay.", voice, rate=1.05, pitch=0.95)
        np.testing.assert_array_equal(a.audio, b.audio, err_msg=engine)
        assert a.phones == b.phones
