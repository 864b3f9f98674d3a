"""core/rig/export.py: the Live Link Face CSV layout, timecodes, rounding, JSON, paths, NaN."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest

from blender_s2l.core import files
from blender_s2l.core.errors import ExportError
from blender_s2l.core.rig import export

# The header of a Live Link Face recording, as the app writes it (and importers expect it).
LLF_HEADER = (
    "Timecode,BlendShapeCount,EyeBlinkLeft,EyeLookDownLeft,EyeLookInLeft,EyeLookOutLeft,"
    "EyeLookUpLeft,EyeSquintLeft,EyeWideLeft,EyeBlinkRight,EyeLookDownRight,EyeLookInRight,"
    "EyeLookOutRight,EyeLookUpRight,EyeSquintRight,EyeWideRight,JawForward,JawRight,JawLeft,"
    "JawOpen,MouthClose,MouthFunnel,MouthPucker,MouthRight,MouthLeft,MouthSmileLeft,"
    "MouthSmileRight,MouthFrownLeft,MouthFrownRight,MouthDimpleLeft,MouthDimpleRight,"
    "MouthStretchLeft,MouthStretchRight,MouthRollLower,MouthRollUpper,MouthShrugLower,"
    "MouthShrugUpper,MouthPressLeft,MouthPressRight,MouthLowerDownLeft,MouthLowerDownRight,"
    "MouthUpperUpLeft,MouthUpperUpRight,BrowDownLeft,BrowDownRight,BrowInnerUp,BrowOuterUpLeft,"
    "BrowOuterUpRight,CheekPuff,CheekSquintLeft,CheekSquintRight,NoseSneerLeft,NoseSneerRight,"
    "TongueOut,HeadYaw,HeadPitch,HeadRoll,LeftEyeYaw,LeftEyePitch,LeftEyeRoll,RightEyeYaw,"
    "RightEyePitch,RightEyeRoll"
)


def sample(fps: float = 30.0) -> export.Weights:
    frames = np.arange(9, 14)
    values = np.array([[0.0, 0.0, 0.0], [0.25, 0.5, 1.5], [0.5, 1.0, -0.2],
                       [0.123456789, 0.3, 0.0], [0.0, 0.0, 0.0]])
    return export.weights(frames, fps, ["jawOpen", "eyeBlinkLeft", "s2l.Voice.0000"], values)


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_header_is_live_link_face_order() -> None:
    assert ",".join(export.CSV_HEADER) == LLF_HEADER
    assert len(export.ARKIT_NAMES) == 52 and len(set(export.ARKIT_NAMES)) == 52
    assert export.BLEND_SHAPE_COUNT == 61


def test_csv_layout(tmp_path: Path) -> None:
    out = tmp_path / "take.csv"
    notes = export.write_weights(out, sample())
    raw = out.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")  # Unreal compares the first cell to "Timecode"
    rows = read_csv(out)
    assert ",".join(rows[0]) == LLF_HEADER
    assert len(rows) == 6 and all(len(r) == 63 for r in rows)
    col = {name: i for i, name in enumerate(rows[0])}
    assert [r[col["BlendShapeCount"]] for r in rows[1:]] == ["61"] * 5
    assert [float(r[col["JawOpen"]]) for r in rows[1:]] == [0.0, 0.25, 0.5, 0.123457, 0.0]
    assert [float(r[col["EyeBlinkLeft"]]) for r in rows[1:]] == [0.0, 0.5, 1.0, 0.3, 0.0]
    others = [c for c in rows[0][2:] if c not in ("JawOpen", "EyeBlinkLeft")]
    assert all(r[col[c]] == "0.000000" for r in rows[1:] for c in others)  # unbaked + poses
    assert any("s2l.Voice.0000" in n for n in notes)  # no column for a non-ARKit key


def test_timecode_counts_30_a_second_with_thousandths() -> None:
    assert export.timecode(0.0) == "00:00:00:00.000"
    assert export.timecode(1 / 60) == "00:00:00:00.500"
    assert export.timecode(5 / 24) == "00:00:00:06.250"
    assert export.timecode(0.99999999) == "00:00:01:00.000"  # rounded once, no 29.999 + carry
    assert export.timecode(3725.5) == "01:02:05:15.000"
    with pytest.raises(ExportError):
        export.timecode(-0.1)


@pytest.mark.parametrize("fps", [24.0, 25.0, 30 / 1.001, 60.0])
def test_csv_timecodes_follow_the_take_rate(tmp_path: Path, fps: float) -> None:
    frames = np.arange(100, 100 + int(fps * 3))
    w = export.weights(frames, fps, ["jawOpen"], np.zeros((frames.size, 1)))
    out = tmp_path / "t.csv"
    export.write_weights(out, w)
    codes = [r[0] for r in read_csv(out)[1:]]
    assert codes[0] == "00:00:00:00.000"  # measured from the take's first row
    for i, code in enumerate(codes):
        hh, mm, ss, ff = code.split(":")
        # what Unreal's importer computes (it reads 30 fps: no frame number passes 30)
        seconds = int(hh) * 3600 + int(mm) * 60 + int(ss) + float(ff) / export.TIMECODE_FPS
        assert float(ff) < 30 and seconds == pytest.approx(i / fps, abs=1 / 60000)


def test_rounding_and_no_negative_zero() -> None:
    w = export.weights([1, 2], 30, ["jawOpen"], [[-1e-9], [0.1234565]])
    text, _ = export.csv_text(w)
    rows = text.splitlines()
    assert "-0.000000" not in text and rows[1].split(",")[19] == "0.000000"
    assert rows[2].split(",")[19] in ("0.123456", "0.123457")
    assert text.endswith("\n") and "\r" not in text


def test_keys_map_by_arkit_name_or_rig_set_name() -> None:
    assert export.csv_column("jawOpen") == "JawOpen"
    assert export.csv_column("JAW_OPEN") == "JawOpen"
    assert export.csv_column("mouth-smile.left") == "MouthSmileLeft"
    assert export.csv_column("CC_Jaw_Open") is None
    w = export.weights([0, 1], 30, ["CC_Jaw_Open"], [[0.0], [0.75]], canonical=["jawOpen"])
    text, notes = export.csv_text(w)
    assert text.splitlines()[2].split(",")[19] == "0.750000" and not notes


def test_csv_refuses_keys_without_columns_and_clashes() -> None:
    ours = export.weights([0, 1], 30, ["s2l.V.0000", "s2l.V.0001"], [[0, 0], [1, 1]])
    with pytest.raises(ExportError, match=r"\.json"):
        export.csv_text(ours)
    clash = export.weights([0, 1], 30, ["jawOpen", "JawOpen"], [[0, 0], [1, 1]])
    with pytest.raises(ExportError, match="both map onto"):
        export.csv_text(clash)


def test_values_outside_0_1_are_noted() -> None:
    _, notes = export.csv_text(sample())  # 1.0 is fine; nothing else mapped leaves 0-1
    assert not any("outside" in n for n in notes)
    w = export.weights([0, 1], 30, ["jawOpen"], [[0.0], [1.3]])
    assert any("outside 0-1" in n for n in export.csv_text(w)[1])


def test_json_round_trip(tmp_path: Path) -> None:
    w = sample(fps=30 / 1.001)
    out = tmp_path / "take.json"
    assert export.write_weights(out, w, {"object": "Head", "take": "Voice"}) == []
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["format"] == "blender_s2l.weights" and doc["version"] == 1
    assert doc["object"] == "Head" and doc["take"] == "Voice"
    assert doc["frames"] == [9, 10, 11, 12, 13] and len(doc["values"]) == 5
    back = export.read_json(out)
    assert back.fps == pytest.approx(30 / 1.001) and back.names == w.names
    np.testing.assert_array_equal(back.frames, w.frames)
    np.testing.assert_allclose(back.values, w.values, atol=0.5e-6)
    canon = export.weights([0], 30, ["CC_Jaw_Open"], [[0.5]], canonical=["jawOpen"])
    export.write_weights(out, canon)
    assert export.read_json(out).canonical == ["jawOpen"]


def test_read_json_refuses_other_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ExportError, match="not JSON"):
        export.read_json(bad)
    bad.write_text(json.dumps({"format": "other"}))
    with pytest.raises(ExportError, match=r"not a blender_s2l\.weights"):
        export.read_json(bad)
    bad.write_text(json.dumps({"format": export.FORMAT, "version": 1, "fps": 30,
                               "frames": [0, 1], "names": ["a"], "values": [[0.0]]}))
    with pytest.raises(ExportError, match="need"):
        export.read_json(bad)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_nan_is_refused_and_nothing_written(tmp_path: Path, bad: float) -> None:
    with pytest.raises(ExportError, match="NaN"):
        export.weights([0, 1], 30, ["jawOpen"], [[0.0], [bad]])
    w = sample()
    object.__setattr__(w, "values", np.where(w.values > 0.4, np.nan, w.values))  # unchecked
    for name in ("x.csv", "x.json"):
        with pytest.raises(ExportError, match="NaN"):
            export.write_weights(tmp_path / name, w)
        assert not (tmp_path / name).exists()
    assert list(tmp_path.iterdir()) == []


def test_bad_weights_are_sentences() -> None:
    with pytest.raises(ExportError, match="no frames"):
        export.weights([], 30, ["jawOpen"], np.zeros((0, 1)))
    with pytest.raises(ExportError, match="increase"):
        export.weights([2, 1], 30, ["jawOpen"], [[0.0], [0.0]])
    with pytest.raises(ExportError, match="whole frame"):
        export.weights([0.5, 1], 30, ["jawOpen"], [[0.0], [0.0]])
    with pytest.raises(ExportError, match="frame rate"):
        export.weights([0, 1], 0, ["jawOpen"], [[0.0], [0.0]])
    with pytest.raises(ExportError, match="no shape keys"):
        export.weights([0, 1], 30, [], np.zeros((2, 0)))
    with pytest.raises(ExportError, match="more than once"):
        export.weights([0], 30, ["a", "a"], [[0.0, 0.0]])


def test_bad_paths_are_sentences(tmp_path: Path) -> None:
    w = sample()
    with pytest.raises(ExportError, match=r"\.csv .* or \.json"):
        export.write_weights(tmp_path / "take.txt", w)
    folder = tmp_path / "take.csv"
    folder.mkdir()
    with pytest.raises(ExportError, match="is a folder"):
        export.write_weights(folder, w)
    a_file = tmp_path / "plain"
    a_file.write_text("x")
    with pytest.raises(ExportError, match=r"cannot be created|not a folder"):
        export.write_weights(a_file / "take.csv", w)
    deep = tmp_path / "new" / "deeper" / "take.json"  # missing folders are made
    export.write_weights(deep, w)
    assert export.read_json(deep).names == w.names


def test_unwritable_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(*a: object, **k: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(files.tempfile, "mkstemp", denied)  # the shared atomic writer
    with pytest.raises(ExportError, match="cannot be written: Permission denied"):
        export.write_weights(tmp_path / "take.csv", sample())


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root writes into read-only folders")
def test_read_only_folder(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(ExportError, match="cannot be written"):
            export.write_weights(locked / "take.csv", sample())
    finally:
        locked.chmod(0o700)


def test_failed_write_leaves_the_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "take.csv"
    out.write_text("old")

    def full(*a: object, **k: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", full)
    with pytest.raises(ExportError, match="No space left on device; it was left as it was"):
        export.write_weights(out, sample())
    assert out.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["take.csv"]


def test_replaces_an_existing_file_readably(tmp_path: Path) -> None:
    out = tmp_path / "take.json"
    out.write_text("old")
    export.write_weights(out, sample())
    assert export.read_json(out).names[0] == "jawOpen"
    new = tmp_path / "new.csv"
    export.write_weights(new, sample())
    assert new.stat().st_mode & 0o777 == 0o644  # not mkstemp's private 0600
