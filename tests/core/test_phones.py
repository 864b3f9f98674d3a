"""Phone alignment readers and the phone-set normalisation."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from blender_s2l.core.speech.phones import (
    ARPABET,
    SIL,
    Phone,
    PhoneFileError,
    find_alignment,
    normalise_phone,
    phone_at_times,
    phone_index_at_times,
    read_lab,
    read_phones,
    read_textgrid,
    read_tsv,
)

SEQ = [(0.0, 0.13, "sil"), (0.13, 0.205, "hh"), (0.205, 0.27, "iy1"), (0.27, 0.4, "pau")]
EXPECTED = [Phone(0.0, 0.13, SIL), Phone(0.13, 0.205, "HH"), Phone(0.205, 0.27, "IY"),
            Phone(0.27, 0.4, SIL)]


def same(a: list[Phone], b: list[Phone]) -> bool:
    return len(a) == len(b) and all(
        x.phone == y.phone and abs(x.start - y.start) < 1e-9 and abs(x.end - y.end) < 1e-9
        for x, y in zip(a, b, strict=True)
    )


@pytest.mark.parametrize(
    ("label", "phone"),
    [("aa1", "AA"), ("AH0", "AH"), ("ax", "AH"), ("axr", "ER"), ("em", "M"), ("dx", "D"),
     ("pau", SIL), ("sp", SIL), ("", SIL), ("h#", SIL), ("SIL", SIL), (" zh ", "ZH"),
     ("x^sil-hh+iy=t@1_2/A:0_0_0/B:1-1-2@1-1&1-4#1-3", "HH"),
     ("t^er-n+d=sh@3_2/A:1_1_2", "N"), ("ax^l-sil+x=x@x_x/A:0_1_2/B:x-x-x", SIL)],
)
def test_normalise_phone(label: str, phone: str) -> None:
    assert normalise_phone(label) == phone


def test_every_arpabet_phone_survives() -> None:
    for ph in ARPABET:
        assert normalise_phone(ph.lower() + "1") == ph


def test_htk_lab_in_100ns_units(tmp_path: Path) -> None:
    p = tmp_path / "a.lab"
    p.write_text("".join(f"{round(s * 1e7)} {round(e * 1e7)} {lab}\n" for s, e, lab in SEQ))
    assert read_lab(p) == EXPECTED  # exact: 100 ns ticks divide to the written seconds
    assert same(read_phones(p), EXPECTED)


def test_lab_in_seconds_and_festival_format(tmp_path: Path) -> None:
    p = tmp_path / "s.lab"
    p.write_text("".join(f"{s:.3f} {e:.3f} {lab}\n" for s, e, lab in SEQ))
    assert same(read_lab(p), EXPECTED)
    f = tmp_path / "f.lab"
    body = "".join(f"{e:.6f} 125 {lab}\n" for _, e, lab in SEQ)
    f.write_text("separator ;\nnfields 1\n#\n" + body)
    assert same(read_lab(f), EXPECTED)


def test_tsv_with_and_without_header(tmp_path: Path) -> None:
    body = "".join(f"{s:.3f}\t{e:.3f}\t{lab}\n" for s, e, lab in SEQ)
    for text in ("start_s\tend_s\tphone\n" + body, body, body.replace("\t", "  ")):
        p = tmp_path / "a.tsv"
        p.write_text(text)
        assert same(read_tsv(p), EXPECTED)


def textgrid_long(tiers: list[tuple[str, list[tuple[float, float, str]]]]) -> str:
    out = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "", "xmin = 0",
           "xmax = 0.4", "tiers? <exists>", f"size = {len(tiers)}", "item []:"]
    for n, (name, rows) in enumerate(tiers, 1):
        out += [f"    item [{n}]:", '        class = "IntervalTier"', f'        name = "{name}"',
                "        xmin = 0", "        xmax = 0.4", f"        intervals: size = {len(rows)}"]
        for k, (s, e, lab) in enumerate(rows, 1):
            out += [f"        intervals [{k}]:", f"            xmin = {s}",
                    f"            xmax = {e}", f'            text = "{lab}"']
    return "\n".join(out) + "\n"


def test_textgrid_long_format_picks_phone_tier(tmp_path: Path) -> None:
    words = [(0.0, 0.13, ""), (0.13, 0.27, "he"), (0.27, 0.4, "")]
    p = tmp_path / "a.TextGrid"
    p.write_text(textgrid_long([("words", words), ("phones", SEQ)]))
    assert same(read_phones(p), EXPECTED)
    assert [x.phone for x in read_textgrid(p, tier="words")] == [SIL, "HE", SIL]
    with pytest.raises(PhoneFileError, match="no interval tier named"):
        read_textgrid(p, tier="syllables")
    # no tier called phones: the first interval tier
    q = tmp_path / "b.TextGrid"
    q.write_text(textgrid_long([("mau", SEQ), ("words", words)]))
    assert same(read_textgrid(q), EXPECTED)


def test_textgrid_short_format_utf16_and_point_tier(tmp_path: Path) -> None:
    rows = "\n".join(f'{s}\n{e}\n"{lab}"' for s, e, lab in SEQ)
    text = (
        'File type = "ooTextFile"\nObject class = "TextGrid"\n\n0\n0.4\n<exists>\n2\n'
        '"TextTier"\n"events"\n0\n0.4\n1\n0.2\n"click"\n'
        f'"IntervalTier"\n"phone"\n0\n0.4\n{len(SEQ)}\n{rows}\n'
    )
    p = tmp_path / "s.TextGrid"
    p.write_bytes(text.encode("utf-16"))
    assert same(read_textgrid(p), EXPECTED)


def test_bad_files_raise_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(PhoneFileError, match="does not exist"):
        read_phones(tmp_path / "missing.lab")
    bad = tmp_path / "bad.lab"
    bad.write_text("0 100 sil\nhello\n")
    with pytest.raises(PhoneFileError, match="Line 2"):
        read_lab(bad)
    back = tmp_path / "back.tsv"
    back.write_text("0.5\t0.2\taa\n")
    with pytest.raises(PhoneFileError, match="ending before it starts"):
        read_tsv(back)
    endless = tmp_path / "inf.tsv"
    endless.write_text("0.0\t0.5\tp\n0.5\tinf\tb\n")
    with pytest.raises(PhoneFileError, match="not a number of seconds"):
        read_tsv(endless)
    empty = tmp_path / "empty.tsv"
    empty.write_text("start_s\tend_s\tphone\n")
    with pytest.raises(PhoneFileError, match="no phone segments"):
        read_tsv(empty)
    tg = tmp_path / "cut.TextGrid"
    tg.write_text(textgrid_long([("phones", SEQ)])[:300])
    with pytest.raises(PhoneFileError, match="damaged"):
        read_textgrid(tg)
    with pytest.raises(PhoneFileError, match="must be"):
        read_phones(tmp_path / "x.json")


def test_phone_lookup_at_times() -> None:
    times = np.array([-0.1, 0.0, 0.129, 0.13, 0.3, 0.4, 1.0])
    assert phone_index_at_times(EXPECTED, times).tolist() == [-1, 0, 0, 1, 3, -1, -1]
    assert phone_at_times(EXPECTED, times) == [SIL, SIL, SIL, "HH", SIL, SIL, SIL]


def test_find_alignment_beside_wav(tmp_path: Path) -> None:
    (tmp_path / "clip.wav").write_bytes(b"")
    assert find_alignment(tmp_path / "clip.wav") is None
    (tmp_path / "clip_phone.lab").write_text("0 100 sil\n")
    assert find_alignment(tmp_path / "clip.wav") == tmp_path / "clip_phone.lab"


def test_arctic_lab_matches_its_tsv(speech_dir: Path) -> None:
    d = speech_dir / "cmu_arctic"
    lab = read_phones(d / "arctic_a0009_phone.lab")
    tsv = read_phones(d / "arctic_a0009_phones_simple.tsv")
    assert len(lab) == 40
    assert same(lab, tsv)
    assert " ".join(p.phone for p in lab) == (
        "SIL HH IY T ER N D SH AA R P L IY AE N D F EY S T G R EH G S AH N AH K R AO S DH AH "
        "T EY B AH L SIL"
    )
    assert lab[-1].end == pytest.approx(3.075)
    assert all(a.end == pytest.approx(b.start) for a, b in itertools.pairwise(lab))
    assert find_alignment(d / "arctic_a0009.wav") is not None


def test_a_phones_file_after_the_end_of_the_line_is_refused(tmp_path: Path) -> None:
    """Another line's file: every key pose would lie after the sound ends and never show."""
    import soundfile as sf

    from blender_s2l.core.speech.phones import find_line_phones

    wav = tmp_path / "line.wav"
    sf.write(wav, np.zeros(32000, np.float32), 16000)  # 2 s
    late = tmp_path / "late.tsv"
    late.write_text("1.5\t100.0\tsil\n100.0\t101.0\tp\n101.0\t102.0\tm\n")
    with pytest.raises(PhoneFileError, match="after the end of the line"):
        find_line_phones(str(late), "", str(wav))
    partly = tmp_path / "partly.tsv"
    partly.write_text("1.9\t2.4\tm\n")  # starts inside the line: kept
    assert [p.phone for p in find_line_phones(str(partly), "", str(wav)).phones or []] == ["M"]
