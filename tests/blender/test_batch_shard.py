"""batch.py in slices (#21 item 2): --rows, --shard, skipping whole outputs, --force, --summary
and --merge-summaries."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fake_animator import FakeAnimator
from test_batch import fake, scene_file, takes_in

from blender_s2l import batch
from blender_s2l.core.bake import shard

__all__ = ["fake"]  # the fixture, imported for these tests

LINES = range(2, 8)  # six job lines under the header (line 1)


def six_lines(tmp_path: Path) -> tuple[Path, Path]:
    scene = scene_file(tmp_path)
    jobs = tmp_path / "jobs.csv"
    jobs.write_text("object,strip,out,take\n"
                    + "".join(f"Head,Voice,out/o{n}.blend,t{n}\n" for n in LINES))
    return scene, jobs


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    rc = batch.main(list(args))
    return rc, capsys.readouterr().out


def baked(out: str) -> list[int]:
    return [int(n) for n in re.findall(r"^ok   line (\d+):", out, re.M)]


def skipped(out: str) -> list[int]:
    return [int(n) for n in re.findall(r"^skip line (\d+): output exists$", out, re.M)]


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(ln) for ln in path.read_text().splitlines()]


def test_shards_bake_every_line_once_then_skip_then_force(
    fake: FakeAnimator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scene, jobs = six_lines(tmp_path)
    sums = tmp_path / "sums"
    done: list[int] = []
    for k in (1, 2, 3):
        rc, out = run(capsys, str(scene), "--jobs", str(jobs), "--shard", f"{k}/3",
                      "--summary", str(sums / f"shard{k}.jsonl"))
        assert rc == 0, out
        assert len(baked(out)) == 2, out
        done += baked(out)
    assert done == list(LINES)
    for n in LINES:
        assert list(takes_in(tmp_path / "out" / f"o{n}.blend")) == [f"t{n}"]
    first = records(sums / "shard1.jsonl")
    assert [(r["line"], r["label"], r["status"], r["reason"]) for r in first] == [
        (2, "line 2", "ok", ""), (3, "line 3", "ok", "")]
    assert first[0]["output"] == str((tmp_path / "out" / "o2.blend").resolve())
    assert first[0]["seconds"] >= 0

    rc, out = run(capsys, str(scene), "--jobs", str(jobs))  # a rerun skips all
    assert rc == 0 and baked(out) == [] and skipped(out) == list(LINES), out
    assert "summary: 0 of 6 jobs baked, 6 skipped (output exists), 0 failed" in out

    rc, out = run(capsys, str(scene), "--jobs", str(jobs), "--rows", "3-4", "--force")
    assert rc == 0 and baked(out) == [3, 4] and skipped(out) == [], out


def test_a_killed_slice_resumes_with_every_line_baked_once(
    fake: FakeAnimator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scene, jobs = six_lines(tmp_path)
    sums = tmp_path / "sums"
    rc, first = run(capsys, str(scene), "--jobs", str(jobs), "--rows", "2-4",
                    "--summary", str(sums / "a.jsonl"))
    assert rc == 0 and baked(first) == [2, 3, 4], first
    (tmp_path / "out" / "o5.blend").write_bytes(b"BLENDER-v500 cut short")  # killed mid-save
    rc, second = run(capsys, str(scene), "--jobs", str(jobs), "--summary", str(sums / "b.jsonl"))
    assert rc == 0, second
    assert skipped(second) == [2, 3, 4] and baked(second) == [5, 6, 7]
    assert "note: line 5: its output" in second and "baking it again" in second
    assert sorted(baked(first) + baked(second)) == list(LINES)
    assert list(takes_in(tmp_path / "out" / "o5.blend")) == ["t5"]

    rc, text = run(capsys, "--merge-summaries", str(sums))
    assert rc == 0
    report = json.loads(text)
    assert report == json.loads((sums / "summary.json").read_text())
    assert report["lines"] == 6 and report["counts"] == {"ok": 6, "fail": 0, "skip": 0}
    assert [d["line"] for d in report["duplicates"]] == [2, 3, 4]
    assert all(d["kept"]["status"] == "ok" for d in report["duplicates"])


def test_merge_keeps_the_latest_ok_and_reports_damage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def rec(line: int, status: str, when: float, reason: str = "") -> str:
        return json.dumps({"line": line, "label": f"line {line}", "status": status,
                           "reason": reason, "seconds": 1.0, "output": f"o{line}.blend",
                           "manifest": "jobs.csv", "time": when}) + "\n"

    (tmp_path / "s1.jsonl").write_text(rec(2, "fail", 1, "disk full") + rec(3, "ok", 1)
                                       + rec(4, "fail", 1, "no object"))
    (tmp_path / "s2.jsonl").write_text(rec(2, "ok", 2) + rec(3, "ok", 3) + '{"line": 5, "sta')
    (tmp_path / "notes.txt").write_text("not a summary")
    rc, text = run(capsys, "--merge-summaries", str(tmp_path))
    assert rc == 1  # line 4 still failed
    report = json.loads(text)
    assert report["counts"] == {"ok": 2, "fail": 1, "skip": 0}
    assert report["failed"] == [{"line": 4, "label": "line 4", "reason": "no object",
                                 "file": str(tmp_path / "s1.jsonl")}]
    kept = {d["line"]: d["kept"] for d in report["duplicates"]}
    assert kept[2]["status"] == "ok" and kept[3]["time"] == 3
    assert [(d["line_in_file"], d["file"]) for d in report["damaged"]] == [
        (3, str(tmp_path / "s2.jsonl"))]
    assert (tmp_path / "summary.json").is_file()
    # a list of files works too; summary.json goes beside the first
    rc, text = run(capsys, "--merge-summaries", str(tmp_path / "s2.jsonl"))
    assert rc == 0 and json.loads(text)["counts"]["ok"] == 2
    assert batch.main(["--merge-summaries", str(tmp_path / "none")]) == 2


def test_bad_specs_are_one_usage_sentence(
    fake: FakeAnimator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scene, jobs = six_lines(tmp_path)
    capsys.readouterr()
    for extra in (["--rows", "abc"], ["--rows", "5-3"], ["--rows", "1-3"], ["--rows", "8-20"],
                  ["--shard", "0/3"], ["--shard", "4/3"], ["--shard", "1"],
                  ["--rows", "2-3", "--shard", "1/2"]):
        assert batch.main([str(scene), "--jobs", str(jobs), *extra]) == 2, extra
        err = capsys.readouterr().err
        assert err.strip(), extra
    assert batch.main([str(scene), "--jobs", str(jobs), "--rows", "8-20"]) == 2
    assert "starts past the end of the manifest, whose last job line is 7" in \
        capsys.readouterr().err
    assert batch.main([str(scene), "--object", "Head", "--strip", "Voice", "--out",
                       str(tmp_path / "x.blend"), "--shard", "1/2"]) == 2
    assert "give --jobs manifest.csv too" in capsys.readouterr().err
    # an empty slice says so and bakes nothing
    rc, out = run(capsys, str(scene), "--jobs", str(jobs), "--shard", "1/7")
    assert rc == 0 and "shard 1/7 of" in out and "holds no job lines" in out
    assert baked(out) == [] and not (tmp_path / "out").exists()
    # a range reaching past the end runs what it holds
    rc, out = run(capsys, str(scene), "--jobs", str(jobs), "--rows", "7-300")
    assert rc == 0 and baked(out) == [7]


def test_slices_split_evenly() -> None:
    lines = list(range(2, 12))
    parts = [shard.select(lines, shard.parse_shard(f"{k}/3")) for k in (1, 2, 3)]
    assert parts == [[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]]
    assert shard.select(lines, shard.parse_rows("5")) == [3]
    assert shard.parse_rows(" 200 - 299 ") == shard.Slice(first=200, last=299)
