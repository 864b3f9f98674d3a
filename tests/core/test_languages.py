"""Transcripts in other languages: espeak-ng's pronunciations in the aligner's phones, the bad
inputs each refused with one sentence, the Language option on every surface, and one Spanish
sentence aligned end to end against the phone times espeak-ng reports."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from blender_s2l import batch
from blender_s2l.core.bake import manifest
from blender_s2l.core.bake.settings import OPTION, BakeSettings, check_values
from blender_s2l.core.errors import S2LError
from blender_s2l.core.speech import languages
from blender_s2l.core.speech.languages import ipa_to_arpabet, pronounce

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng is not installed")


@pytest.mark.parametrize("ipa,arpabet", [
    ("p_a_p_ˈa", "P AA P AA"),  # Spanish papá: bilabials stay bilabials
    ("m_ˈa_m_m_a", "M AA M M AA"),  # Italian mamma
    ("β_e_β_ˈe", "B EY B EY"),  # Spanish bebé: b between vowels is still a b for the lips
    ("pf_ˈeː_ɾ_t", "P F EY R T"),  # German Pferd
    ("b_ɔ̃_ʒ_ˈu_ʁ", "B AO N ZH UW R"),  # French bonjour: a nasal vowel gets its N
    ("ʁ_ˈy", "R UW"),  # French rue: a rounded vowel stays rounded
    ("ts_ˈaɪ_t", "T S AY T"),  # German Zeit
    ("ʔ_ˈa", "AA"),  # a glottal stop is not a phone of the aligner
])
def test_ipa_maps_to_the_aligners_phones(ipa: str, arpabet: str) -> None:
    assert " ".join(ipa_to_arpabet(ipa)) == arpabet


@needs_espeak
def test_spanish_words_keep_their_bilabials_and_numbers_are_spelled() -> None:
    words = pronounce("¡Papá, mamá! Papa 1999.", "es")
    assert words[:3] == [("papa_es", "P AA P AA"), ("mama_es", "M AA M AA"),
                         ("papa2_es", "P AA P AA")]  # two spellings fold to one: kept apart
    assert words[3][0] == "1999_es" and words[3][1].startswith("M IY L")  # mil novecientos...
    assert all(token.isascii() and " " not in token for token, _ in words)


@needs_espeak
def test_languages_are_espeaks_with_english_first() -> None:
    found = dict(languages.languages())
    assert next(iter(found)) == "en"
    assert {"es", "de", "fr", "it", "pt-br"} <= set(found)
    assert "en-us" not in found  # English variants all take the English path
    assert found["es"].startswith("Spanish") and found["fr"].startswith("French")


@needs_espeak
@pytest.mark.parametrize("text,language,message", [
    ("", "es", "The transcript is empty."),
    ("  \n", "de", "The transcript is empty."),
    ("Привет, как дела?", "es", "written in Cyrillic letters but the language 'es' is "
                                "written in Latin"),
    ("hola", "xx", "The language 'xx' is not one espeak-ng knows here"),
    ("...!?", "fr", "The transcript has no words."),
])
def test_bad_transcripts_are_one_sentence(text: str, language: str, message: str) -> None:
    with pytest.raises(S2LError, match=message):
        pronounce(text, language)


def test_without_espeak_only_a_transcript_in_another_language_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(languages, "espeak_path", lambda: None)
    languages.check_language("es")  # no transcript: the language is not used
    languages.check_language("en", "hello")
    with pytest.raises(S2LError, match="needs the espeak-ng program"):
        check_values(BakeSettings(language="es", transcript="hola"))


@needs_espeak
def test_the_language_option_is_on_every_surface(tmp_path: Path) -> None:
    option = OPTION["language"]
    assert (option.default, option.flag, option.column) == ("en", "--language", "language")
    assert "language" in manifest.COLUMNS
    args = batch.parser().parse_args(["--object", "H", "--out", "o", "--transcript", "hola",
                                      "--language", "ES"])
    (job,), _ = batch.jobs_from_args(args)
    assert (job.language, job.transcript) == ("es", "hola")
    jobs = tmp_path / "jobs.csv"
    jobs.write_text("object,strip,out,transcript,language\nHead,Voice,a.blend,hallo,de\n")
    (row,), _ = batch.jobs_from_args(batch.parser().parse_args(["--jobs", str(jobs)]))
    assert row.language == "de" and not row.problem
    with pytest.raises(S2LError, match="The language 'klingon' is not one espeak-ng knows"):
        check_values(BakeSettings(language="klingon", transcript="hola"))
    check_values(BakeSettings(language="pt-br", transcript="olá"))


@needs_espeak
@pytest.mark.skipif(importlib.util.find_spec("pocketsphinx") is None,
                    reason="pocketsphinx is not installed")
def test_a_spanish_sentence_aligns_on_its_bilabials() -> None:
    bench = pytest.importorskip("blender_s2l.training.language_bench")
    text = "Papá compró un barco amarillo para el verano."
    wav, ipa = bench.Espeak().speak(text, "es", 160)
    truth = bench.truth_arpabet(ipa)
    aligned = languages.align_language(wav, text, "es")
    hit, labials = bench.bilabials_hit(truth, aligned)
    # p p m p, u[m] b (n before b), m, p, [β]erano: nine closures, all found
    assert labials == 9 and hit == labials
    errors = sorted(bench.boundary_errors_ms(truth, aligned))
    assert errors[len(errors) // 2] < 40.0  # median phone start within 40 ms of the truth


@needs_espeak
def test_a_bad_language_flag_is_a_usage_error_and_a_flag_without_transcripts_a_note(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--language xx` failed each job (exit 1) instead of the command (exit 2), and
    `--language es` with no transcript changed nothing without a word."""
    line = ["--object", "H", "--out", str(tmp_path / "o.blend"), "--audio",
            str(tmp_path / "missing.wav")]
    assert batch.main([*line, "--transcript", "hola", "--language", "xx"]) == 2
    assert "not one espeak-ng knows" in capsys.readouterr().err
    args = batch.parser().parse_args([*line, "--language", "es"])
    jobs, _ = batch.jobs_from_args(args)
    (note,) = batch._language_flag(args, jobs)
    assert note.startswith("--language is the transcript's language; no line has a transcript")
    args = batch.parser().parse_args(line)  # no --language: no note
    assert batch._language_flag(args, batch.jobs_from_args(args)[0]) == []
