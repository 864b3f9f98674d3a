"""The option table: every bake option declared once, and the batch surfaces built from it.

The spellings below are the ones users already type and sheets already hold: the table must
keep producing them, whatever else it learns.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from option_helpers import PACKAGE, package_with_jaw_strength

from blender_s2l import batch
from blender_s2l.core.bake import manifest
from blender_s2l.core.bake import plans as bake_plan
from blender_s2l.core.bake.settings import (
    DEVICES,
    MODES,
    OPTION,
    OPTIONS,
    BakeSettings,
    Option,
    options_of,
    panel_copies,
    panel_rows,
)
from blender_s2l.core.errors import S2LError


def test_every_setting_is_declared_in_the_table_with_its_default() -> None:
    declared = {o.name: o for o in options_of(BakeSettings)}
    assert list(declared) == [f.name for f in fields(BakeSettings)]
    assert {name: o.default for name, o in declared.items()} == vars(BakeSettings())
    assert [o.name for o in OPTIONS if o.name not in declared] == ["take"]


def test_mode_and_device_choices_have_one_source() -> None:
    assert OPTION["mode"].choices == bake_plan.MODE_CHOICES
    assert MODES == manifest.MODES == ("COMPACT", "PER_FRAME", "RIG")
    assert DEVICES == manifest.DEVICES == ("AUTO", "CPU", "CUDA")
    assert all(OPTION[name].prefs for name in ("mode", "device", "weights_dir"))


def test_the_panel_keeps_its_rows_and_hands_all_but_the_scene_data_to_the_operator() -> None:
    rows = [tuple(o.name for o in row) for row in panel_rows()]
    assert rows == [("device",), ("mode",), ("mouth_strength",), ("upper_face", "seed"),
                    ("blink_closed_eyes",),
                    ("smoothing",), ("lip_closure",), ("closure_sensitivity",),
                    ("phones_file",), ("transcript",), ("language",), ("recognise_words",),
                    ("take", "replace")]
    assert {o.name for o in panel_copies()} == {name for row in rows for name in row}
    assert OPTION["replace"].toggle


def test_panel_rows_grey_out_what_does_not_apply() -> None:
    @dataclass
    class Scene:
        upper_face: bool = True
        phones_file: str = ""
        transcript: str = ""

    seed, words = OPTION["seed"].active, OPTION["recognise_words"].active
    assert seed is not None and words is not None
    assert seed(Scene()) and not seed(Scene(upper_face=False))
    assert words(Scene()) and words(Scene(transcript="  "))
    assert not words(Scene(transcript="hello")) and not words(Scene(phones_file="a.lab"))


def test_manifest_columns_are_the_jobs_and_the_flagged_options() -> None:
    assert set(manifest.COLUMNS) == {"object", "strip", "audio", "out", "scene", "take", "mode",
                                     "seed", "device", "keypoints", "phones", "transcript",
                                     "language", "export", "jaw_bone",
                                     "blink_closed_eyes", "mouth_strength", "smoothing",
                                     "lip_closure", "closure_sensitivity"}
    assert OPTION["phones_file"].column == "phones"


def test_flags_keep_their_spellings_and_fill_the_job(tmp_path: Path) -> None:
    words = tmp_path / "line.txt"
    words.write_text("a bumpy ride")
    args = batch.parser().parse_args([
        "--object", "Head", "--out", "o.blend", "--take", "t", "--replace", "--mode",
        "per_frame", "--device", "cpu", "--seed", "7.0", "--mouth-strength", "1.5",
        "--no-upper-face", "--smoothing", "0.25", "--lip-closure", "0.5",
        "--closure-sensitivity", "0.75", "--phones", "a.lab", "--transcript", f"@{words}",
        "--no-recognise-words", "--weights", "w",
    ])
    (job,), notes = batch.jobs_from_args(args)
    assert notes == []
    assert (job.take, job.replace, job.mode, job.device, job.seed) == (
        "t", True, "PER_FRAME", "CPU", 7)
    assert (job.mouth_strength, job.upper_face, job.smoothing, job.lip_closure,
            job.closure_sensitivity) == (1.5, False, 0.25, 0.5, 0.75)
    assert (job.phones_file, job.transcript, job.recognise_words, job.weights_dir) == (
        "a.lab", "a bumpy ride", False, "w")


def test_unset_flags_leave_the_declared_defaults() -> None:
    args = batch.parser().parse_args(["--object", "Head", "--out", "o.blend"])
    assert args.recognise_words is None  # not demanded: main() only notes a missing recogniser
    (job,), _ = batch.jobs_from_args(args)
    assert {o.name: getattr(job, o.name) for o in OPTIONS} == {o.name: o.default for o in OPTIONS}
    assert batch.jobs_from_args(batch.parser().parse_args(
        ["--object", "H", "--out", "o", "--recognise-words"]))[0][0].recognise_words


def test_a_missing_transcript_file_is_one_sentence() -> None:
    args = batch.parser().parse_args(["--object", "H", "--out", "o", "--transcript", "@nope"])
    with pytest.raises(S2LError, match="The transcript file nope does not exist"):
        batch.jobs_from_args(args)


def test_the_mouth_options_are_manifest_columns_with_one_sentence_for_bad_cells(
    tmp_path: Path
) -> None:
    """A pipeline tunes the mouth per line (a farm's job type says so): each line's cell wins
    over the command line's value, an empty cell leaves it, a bad one refuses that line."""
    path = tmp_path / "jobs.csv"
    path.write_text("object,strip,out,mouth_strength,smoothing,lip_closure,closure_sensitivity\n"
                    "Head,Voice,a.blend,1.5,0.25,0.5,0.9\n"
                    "Head,Voice,b.blend,,,,\n"
                    "Head,Voice,c.blend,,,,abc\n"
                    "Head,Voice,d.blend,,,,nan\n"
                    "Head,Voice,e.blend,4,,,\n")
    args = batch.parser().parse_args(["--jobs", str(path), "--closure-sensitivity", "0.2"])
    (one, two, three, four, five), _ = batch.jobs_from_args(args)
    assert (one.mouth_strength, one.smoothing, one.lip_closure, one.closure_sensitivity) == (
        1.5, 0.25, 0.5, 0.9)
    assert (two.mouth_strength, two.closure_sensitivity, two.problem) == (1.0, 0.2, "")
    assert three.problem == "The closure_sensitivity 'abc' is not a number from 0 to 1."
    assert four.problem == "The closure_sensitivity 'nan' is not a number from 0 to 1."
    assert five.problem == "The mouth_strength '4' is not a number from 0 to 3."


def test_manifest_cells_set_the_flagged_options_line_by_line(tmp_path: Path) -> None:
    path = tmp_path / "jobs.csv"
    path.write_text("object,strip,out,take,mode,seed,device,phones,transcript\n"
                    "Head,Voice,a.blend,one,per frame,3,cuda,a.lab,hello\n"
                    "Head,Voice,b.blend,,,,,,\n"
                    "Head,Voice,c.blend,,,-1,gpu,,\n"
                    "Head,Voice,d.blend,,sideways,,gpu,,\n")
    args = batch.parser().parse_args(["--jobs", str(path), "--phones", "base.lab", "--seed", "9"])
    (one, two, three, four), _ = batch.jobs_from_args(args)
    assert (one.take, one.mode, one.seed, one.device, one.transcript) == (
        "one", "PER_FRAME", 3, "CUDA", "hello")
    assert one.phones_file == str(tmp_path / "a.lab")  # beside the manifest
    assert (two.mode, two.seed, two.device) == ("COMPACT", 9, "AUTO")  # the command line's
    assert two.phones_file == str(tmp_path / "base.lab")
    assert three.problem == "The device 'gpu' is not one of AUTO, CPU, CUDA."  # in table order
    assert four.problem == "The mode 'sideways' is not one of COMPACT, PER_FRAME, RIG."


def option(default: Any, **spec: Any) -> Option[Any]:
    return Option(default, "Jaw Strength", column="jaw", name="jaw", **spec)


@pytest.mark.parametrize("spec,text,value", [
    (option(1.0, min=0.0, max=2.0), "1,5", 1.5),
    (option(0, min=-3), "-2.0", -2),
    (option(True), "FALSE", False),
    (option(True), "x", True),
    (option("a", choices=(("A", "A", ""), ("B_C", "B C", ""))), "b-c", "B_C"),
    (option(""), "words", "words"),
])
def test_cells_of_any_kind_of_option(spec: Option[Any], text: str, value: Any) -> None:
    assert manifest.cell_value(spec, text) == value


@pytest.mark.parametrize("spec,text,message", [
    (option(1.0, min=0.0, max=2.0), "3", "the jaw '3' is not a number from 0 to 2"),
    (option(1.0, min=0.0), "lots", "the jaw 'lots' is not a number of at least 0"),
    (option(0, min=-3), "-4", "the jaw '-4' is not a whole number from -3 to 2147483647"),
    (option(True), "maybe", "the jaw 'maybe' is not yes or no"),
    (option(0, min=0), "-0", "the jaw '-0' is not a whole number from 0 to 2147483647"),
])
def test_bad_cells_name_the_column_and_the_value(spec: Option[Any], text: str,
                                                 message: str) -> None:
    with pytest.raises(ValueError) as info:
        manifest.cell_value(spec, text)
    assert str(info.value) == message


def test_a_declaration_whose_default_disagrees_with_its_field_is_refused() -> None:
    @dataclass(frozen=True)
    class Wrong:
        jaw: float = Option(1, "Jaw").as_field()  # type: ignore[assignment]

    with pytest.raises(TypeError, match="a float field with a int default"):
        options_of(Wrong)

    @dataclass(frozen=True)
    class Plain:
        jaw: float = 1.0

    with pytest.raises(TypeError, match=r"Plain.jaw is not declared with Option.as_field"):
        options_of(Plain)


@pytest.fixture
def wider(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The package with jaw_strength declared in the table, imported under its own name."""
    monkeypatch.syspath_prepend(str(package_with_jaw_strength(tmp_path)))
    yield importlib.import_module(PACKAGE)
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]


def test_a_new_option_is_one_declaration_batch_and_manifest(wider: ModuleType,
                                                           tmp_path: Path) -> None:
    """The Blender surfaces of the same edit: tests/blender/test_option_table_blender.py."""
    table = importlib.import_module(f"{PACKAGE}.core.bake.settings")
    wide_batch = importlib.import_module(f"{PACKAGE}.batch")
    wide_manifest = importlib.import_module(f"{PACKAGE}.core.bake.manifest")
    assert table.BakeSettings().jaw_strength == 1.0
    assert [o.name for o in table.panel_copies()][:4] == [
        "device", "mode", "mouth_strength", "jaw_strength"]
    assert "jaw" in wide_manifest.COLUMNS
    (tmp_path / "jobs.csv").write_text("object,strip,out,jaw\nHead,Voice,a.blend,\n"
                                       "Head,Voice,b.blend,\"0,5\"\nHead,Voice,c.blend,3\n")
    args = wide_batch.parser().parse_args(["--jaw-strength", "1.25", "--jobs",
                                           str(tmp_path / "jobs.csv")])
    (a, b, c), _ = wide_batch.jobs_from_args(args)
    assert (a.jaw_strength, b.jaw_strength) == (1.25, 0.5)
    assert c.problem == "The jaw '3' is not a number from 0 to 2."
    assert table.settings_of(b)["jaw_strength"] == 0.5  # what BakeParams is built from
    assert "jaw_strength" not in {f.name for f in fields(BakeSettings)}  # the original is as was


@pytest.mark.parametrize("argv", [["--closure-sensitivity", "abc"], ["--seed"], ["--bogus"]])
def test_bad_usage_is_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        batch.parser().parse_args(["--object", "H", "--out", "o", *argv])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("blender_s2l.batch: error: "), err
