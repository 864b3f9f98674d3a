"""core.manifest: jobs manifests as spreadsheets write them, and one sentence per problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from blender_s2l.core.bake import manifest
from blender_s2l.core.errors import BakeError


def write(tmp_path: Path, data: bytes | str, name: str = "jobs.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def refusal(path: Path) -> str:
    with pytest.raises(BakeError) as info:
        manifest.read(path)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    assert str(path) in message
    return message


def test_excel_utf8_with_bom_crlf_and_capitalised_headers(tmp_path: Path) -> None:
    data = "\ufeffObject, Strip ,OUT,Take\r\nHead,Voice,a.blend,Zoë\r\n,,,\r\n\r\n".encode()
    read = manifest.read(write(tmp_path, data))
    assert read.notes == []
    assert [(r.line, r.values, r.problem) for r in read.rows] == [
        (2, {"object": "Head", "strip": "Voice", "out": "a.blend", "take": "Zoë"}, "")
    ]  # the padding row of empty cells and the blank line are no jobs


def test_latin1_bytes_are_read_as_windows_1252_with_a_note(tmp_path: Path) -> None:
    data = "object,strip,out,take,seed\nHead,Voice,a.blend,first,1\nHead,Voice,b.blend,Zoë,é\n"
    read = manifest.read(write(tmp_path, data.encode("cp1252")))
    (note,) = read.notes
    assert "is not UTF-8 (line 3 is the first that is not)" in note and "Windows-1252" in note
    assert [r.values["take"] for r in read.rows] == ["first", "Zoë"]
    assert read.rows[1].values["seed"] == "é"  # for the job to refuse, naming the column


def test_a_byte_that_windows_1252_lacks_falls_back_to_latin1(tmp_path: Path) -> None:
    read = manifest.read(write(tmp_path, b"object,strip,out\nHead,Voice,a\x81.blend\n"))
    assert "read as Latin-1" in read.notes[0]
    assert read.rows[0].values["out"] == "a\x81.blend"


def test_semicolons_tabs_sep_line_and_utf16(tmp_path: Path) -> None:
    for data in ("object;strip;out\nHead;Voice;a.blend\n",
                 "object\tstrip\tout\nHead\tVoice\ta.blend\n",
                 "sep=;\nobject;strip;out\nHead;Voice;a.blend\n"):
        (row,) = manifest.read(write(tmp_path, data)).rows
        assert row.values == {"object": "Head", "strip": "Voice", "out": "a.blend"}, data
    utf16 = "object\tstrip\tout\r\nHead\tVoice\ta.blend\r\n".encode("utf-16")  # Excel "Unicode"
    (row,) = manifest.read(write(tmp_path, utf16)).rows
    assert row.values["out"] == "a.blend"


def test_whole_file_refusals_are_one_sentence(tmp_path: Path) -> None:
    assert "is empty" in refusal(write(tmp_path, b""))
    assert "is empty" in refusal(write(tmp_path, b" \r\n\n"))
    assert "has no job lines" in refusal(write(tmp_path, "object,strip,out\n"))
    assert "has no job lines" in refusal(write(tmp_path, "object,strip,out\n,,\n ,, \n"))
    assert "is not a text file" in refusal(write(tmp_path, b"PK\x03\x04\x14\x00\x00\x00"))
    assert "control characters (line 2)" in refusal(write(tmp_path, b"object,out\n\x1b[0m\n"))
    assert "does not exist" in refusal(tmp_path / "none.csv")
    message = refusal(write(tmp_path, "object,strip,ouput,seeed\nHead,Voice,a.blend,1\n"))
    assert "unknown columns 'ouput', 'seeed'" in message and "has no out column" in message
    assert "object, strip, audio, out" in message  # says which columns there may be
    assert "names the column 'out' more than once" in refusal(
        write(tmp_path, "object,strip,out,out\nHead,Voice,a.blend,b.blend\n"))
    assert "has no strip or audio column" in refusal(write(tmp_path, "object,out\nH,a.blend\n"))
    assert "must start with a header line" in refusal(
        write(tmp_path, "Head,Voice,a.blend\nHead,Voice,b.blend\n"))


def test_an_unclosed_quote_refuses_its_line_and_the_lines_after_it_still_read(
    tmp_path: Path,
) -> None:
    data = ('object,strip,out,transcript\n'
            'Head,Voice,a.blend,"two\nlines"\n'  # a cell with a line break: one job
            'Head,Voice,"b.blend,oops\n'
            'Head,Voice,c.blend,\n'
            'Head,Voice,d.blend,"said "hi"\n')
    rows = manifest.read(write(tmp_path, data)).rows
    assert [r.line for r in rows] == [2, 4, 5, 6]
    assert rows[0].values["transcript"] == "two\nlines" and not rows[0].problem
    assert "a quoted value on it is not closed properly" in rows[1].problem
    assert rows[2].values["out"] == "c.blend" and not rows[2].problem
    assert "not closed properly" in rows[3].problem


def test_a_quote_closed_lines_later_refuses_the_value_that_spans_them(tmp_path: Path) -> None:
    data = 'object,strip,out\nHead,Voice,"a.blend\nHead,Voice,b.blend"\nHead,Voice,c.blend\n'
    rows = manifest.read(write(tmp_path, data)).rows
    assert [(r.line, r.problem) for r in rows] == [
        (2, "the out value runs over several lines (a quote is probably not closed)"),
        (4, ""),
    ]


def test_wrong_column_counts_refuse_that_line(tmp_path: Path) -> None:
    data = ("object,strip,out,take\n"
            "Head,Voice,a.blend\n"
            "Head,Voice,b.blend,t,extra\n"
            "Head,Voice,c.blend,t,,\n"  # trailing empty cells are padding
            "Head,Voice,d.blend,t\n")
    rows = manifest.read(write(tmp_path, data)).rows
    assert [(r.line, r.problem) for r in rows] == [
        (2, "it has 3 values but the header names 4 columns"),
        (3, "it has 5 values but the header names 4 columns"),
        (4, ""), (5, ""),
    ]


def test_unnamed_header_columns_must_stay_empty(tmp_path: Path) -> None:
    rows = manifest.read(write(tmp_path, "object,strip,out,\nH,V,a.blend,\nH,V,b.blend,x\n")).rows
    assert [r.problem for r in rows] == ["", "column 4 has the value 'x' but no name in the header"]


@pytest.mark.parametrize("text,value", [("7", 7), (" +7 ", 7), ("7.00", 7), ("0", 0),
                                        (str(2**31 - 1), 2**31 - 1)])
def test_seed_values_as_spreadsheets_write_them(text: str, value: int) -> None:
    assert manifest.seed_value(text) == value


@pytest.mark.parametrize("text", ["abc", "é", "-1", "1e3", "7.5", "", str(2**31)])
def test_bad_seeds_name_the_column_and_the_value(text: str) -> None:
    with pytest.raises(ValueError, match=f"the seed '{text}' is not a whole number from 0 to"):
        manifest.seed_value(text)


def test_choices_ignore_case_spaces_and_hyphens() -> None:
    assert manifest.choice_value(" per-frame", "mode", manifest.MODES) == "PER_FRAME"
    assert manifest.choice_value("Per Frame", "mode", manifest.MODES) == "PER_FRAME"
    with pytest.raises(ValueError, match="the device 'GPU' is not one of AUTO, CPU, CUDA"):
        manifest.choice_value("GPU", "device", manifest.DEVICES)


def test_a_vertical_tab_in_a_cell_is_whitespace_not_binary(tmp_path: Path) -> None:
    """FileMaker writes a line break inside a cell as \\x0b: the file is still text."""
    (row,) = manifest.read(write(tmp_path, "object,strip,out,transcript\n"
                                           "Head,Voice,a.blend,one\x0btwo\x0b\n")).rows
    assert row.values["transcript"] == "one\x0btwo" and not row.problem


def test_a_json_manifest_is_told_what_a_manifest_is(tmp_path: Path) -> None:
    """It was refused as "The header ... cannot be read (',' expected after '"')"."""
    path = write(tmp_path, '{"object": "Head", "strip": "Voice", "out": "a.blend"}\n',
                 "jobs.jsonl")
    assert "looks like JSON; a manifest is a table" in refusal(path)
