"""batch.py against full disks, concurrent runs and spreadsheet manifests (#20 items 3-4)."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from blender_helpers import ROOT, bpy, write_wav
from fake_animator import FakeAnimator
from test_batch import fake, scene_file, takes_in

from blender_s2l import batch
from blender_s2l.blender import blend_file

__all__ = ["fake"]  # the fixture, imported for these tests

HERE = Path(__file__).resolve().parent
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="needs RLIMIT_FSIZE (POSIX)")


def leftovers(folder: Path) -> list[str]:
    """Files a save may leave behind: its temp names, Blender's `@` files and backups."""
    return sorted(p.name for p in folder.iterdir()
                  if p.name.endswith(("@", ".blend1", blend_file._TEMP_SUFFIX))
                  or blend_file._TEMP_SUFFIX in p.name)


def limited(write: Callable[[Path], set[str]], max_bytes: int) -> Callable[[Path], set[str]]:
    """write with files capped at max_bytes: a write past it fails (EFBIG) like a full disk."""

    import resource

    def capped(path: Path) -> set[str]:
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        old = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the process is killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, hard))
        try:
            return write(path)
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
            signal.signal(signal.SIGXFSZ, old)

    return capped


@posix_only
@pytest.mark.parametrize("compress", [True, False])
def test_a_full_disk_fails_the_job_and_keeps_the_previous_output(
    fake: FakeAnimator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], compress: bool,
) -> None:
    """Compressed, Blender says FINISHED over a cut file; uncompressed, it raises."""
    scene = scene_file(tmp_path)
    bpy.ops.wm.save_as_mainfile(filepath=str(scene), compress=compress)
    out = tmp_path / "out" / "baked.blend"
    line = [str(scene), "--object", "Head", "--strip", "Voice", "--out", str(out)]
    assert batch.main([*line, "--take", "before"]) == 0
    before = out.read_bytes()
    capsys.readouterr()
    monkeypatch.setattr(blend_file, "_write_copy",
                        limited(blend_file._write_copy, len(before) // 2))
    assert batch.main([*line, "--take", "after"]) == 1
    printed = capsys.readouterr().out
    (fail,) = [ln for ln in printed.splitlines() if ln.startswith(("ok", "FAIL"))]
    assert fail.startswith("FAIL job 1: ") and str(out) in fail
    assert "free on its disk; baked.blend was left as it was." in fail
    assert out.read_bytes() == before
    assert leftovers(out.parent) == []
    assert list(takes_in(out)) == ["before"]


@posix_only
def test_a_full_disk_on_a_first_output_leaves_no_file(
    fake: FakeAnimator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    scene = scene_file(tmp_path)
    out = tmp_path / "baked.blend"
    monkeypatch.setattr(blend_file, "_write_copy", limited(blend_file._write_copy, 4096))
    assert batch.main([str(scene), "--object", "Head", "--strip", "Voice",
                       "--out", str(out)]) == 1
    assert "no baked.blend was written." in capsys.readouterr().out
    assert not out.exists() and leftovers(tmp_path) == []


@posix_only
def test_the_cli_on_a_full_disk_exits_1_with_one_line(fake: FakeAnimator, tmp_path: Path) -> None:
    """The reported case end to end: a process whose writes stop short, as on a full disk."""
    scene = scene_file(tmp_path)
    out = tmp_path / "baked.blend"
    cap = scene.stat().st_size // 2
    import resource

    def full_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (cap, cap))

    proc = subprocess.run(
        runner([str(scene), "--object", "Head", "--strip", "Voice", "--out", str(out)]),
        cwd=tmp_path, capture_output=True, text=True, timeout=300, preexec_fn=full_disk)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    (fail,) = [ln for ln in proc.stdout.splitlines() if ln.startswith(("ok", "FAIL"))]
    assert fail.startswith(f"FAIL job 1: The file written for {out} is cut short")
    assert not out.exists() and leftovers(tmp_path) == []


def runner(args: list[str], runs: int = 1) -> list[str]:
    """`python -m blender_s2l.batch ARGS`, run `runs` times, with the fake animator."""
    code = (
        "import sys\n"
        f"sys.path[:0] = [{str(ROOT)!r}, {str(HERE)!r}]\n"
        "import blender_s2l\n"
        "from blender_s2l import batch\n"
        "from blender_s2l.core.bake import pipeline\n"
        "from fake_animator import FakeAnimator\n"
        "pipeline.load_animator = lambda *a: FakeAnimator(blender_s2l)\n"
        f"sys.exit(max(batch.main({args!r}) for _ in range({runs})))\n"
    )
    return [sys.executable, "-c", code]


def test_two_runs_writing_one_output_at_once_leave_a_whole_file(
    fake: FakeAnimator, tmp_path: Path
) -> None:
    scene = scene_file(tmp_path)
    out = tmp_path / "baked.blend"
    code_args = [[str(scene), "--object", "Head", "--strip", "Voice", "--out", str(out),
                  "--take", take] for take in ("first", "second")]
    procs = [subprocess.Popen(
        runner(args, runs=4), cwd=tmp_path, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE) for args in code_args]
    results = [p.communicate(timeout=300) for p in procs]
    for proc, (stdout, stderr) in zip(procs, results, strict=True):
        assert "Traceback" not in stderr, stderr
        lines = [ln for ln in stdout.splitlines() if ln.startswith(("ok", "FAIL"))]
        assert len(lines) == 4
        assert all(ln.startswith(("ok   job 1", "FAIL job 1: ")) for ln in lines)
        assert proc.returncode == (1 if any(ln.startswith("FAIL") for ln in lines) else 0)
    assert list(takes_in(out)) in (["first"], ["second"])
    assert blend_file.blend_problem(out, "Head") == ""
    assert leftovers(tmp_path) == []


def test_overwriting_an_output_leaves_no_backup_or_temp_file(
    fake: FakeAnimator, tmp_path: Path
) -> None:
    scene = scene_file(tmp_path)
    out = tmp_path / "out" / "baked.blend"
    for take in ("first", "second"):
        assert batch.main([str(scene), "--object", "Head", "--strip", "Voice", "--out",
                           str(out), "--take", take]) == 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["baked.blend"]
    assert list(takes_in(out)) == ["second"]


def test_baking_in_place_and_an_output_that_is_a_folder(
    fake: FakeAnimator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scene = scene_file(tmp_path)
    line = [str(scene), "--object", "Head", "--strip", "Voice", "--out"]
    assert batch.main([*line, str(scene)]) == 0  # the file open in Blender, replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene.blend", "voice.wav"]
    assert list(takes_in(scene)) == ["Voice"]
    calls = len(fake.calls)
    capsys.readouterr()
    assert batch.main([*line, str(tmp_path)]) == 1
    assert f"FAIL job 1: The output {tmp_path} is a folder, not a file name." in (
        capsys.readouterr().out.splitlines())
    assert len(fake.calls) == calls  # refused before the bake


def test_reading_a_file_back_names_what_is_wrong_and_leaves_the_session_alone(
    tmp_path: Path,
) -> None:
    bpy.ops.wm.read_homefile(use_empty=True)
    mesh = bpy.data.meshes.new("Head")
    mesh.from_pydata([(float(i), 0.0, 0.0) for i in range(5000)], [], [])
    bpy.context.scene.collection.objects.link(bpy.data.objects.new("Head", mesh))
    whole: dict[bool, bytes] = {}
    for compress in (True, False):
        path = tmp_path / f"whole{int(compress)}.blend"
        bpy.ops.wm.save_as_mainfile(filepath=str(path), copy=True, compress=compress)
        whole[compress] = path.read_bytes()
        assert blend_file.blend_problem(path, "Head") == ""
    assert bpy.data.filepath == "" and len(bpy.data.libraries) == 0  # nothing opened or linked

    def problem(data: bytes, name: str = "Head") -> str:
        path = tmp_path / "probe.blend"
        path.write_bytes(data)
        return blend_file.blend_problem(path, name)

    assert problem(whole[True][:-10]) == "is cut short (its compressed data has no end)"
    assert problem(whole[False][:-10]) == "is cut short (it has no end block)"
    assert problem(whole[False][: len(whole[False]) // 2] + whole[False][-32:]).startswith(
        "cannot be read back (")  # a hole in the middle, the end block faked
    assert problem(b"") == "is empty"
    assert problem(b"object,strip,out\n") == "is not a .blend file"
    assert problem(whole[True], "Nobody") == "does not hold the object 'Nobody'"
    assert len(bpy.data.libraries) == 0 and bpy.data.objects.keys() == ["Head"]


def test_a_manifest_as_a_spreadsheet_writes_it(
    fake: FakeAnimator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Windows-1252 bytes and CRLF; bad cells and repeated outs refused alone, before baking."""
    scene = scene_file(tmp_path)
    write_wav(tmp_path / "b.wav", 1.0)
    capsys.readouterr()
    rows = ["object,strip,audio,out,take,seed,mode,device",
            "Head,Voice,,a.blend,first,1,compact,",
            "Head,Voice,,x.blend,bad seed,abc,,",
            "Head,Voice,,y.blend,accent,é,,",
            "Head,Voice,,z.blend,mode,,sideways,",
            "Head,Voice,,./a.blend,twice,,,",
            "Head,Voice,b.wav,c.blend,both,,,",
            "Head,,b.wav,sub/../b.blend,second,2,per frame,cpu",
            "Head,,b.wav,b.blend,thrice,,,",
            "Head,Voice,,,no out,,,"]
    manifest_path = tmp_path / "jobs.csv"
    manifest_path.write_bytes("\r\n".join(rows).encode("cp1252") + b"\r\n")
    rc = batch.main([str(scene), "--jobs", str(manifest_path), "--no-recognise-words"])
    printed = [ln for ln in capsys.readouterr().out.splitlines()
               if ln.startswith(("note", "FAIL", "ok", "summary"))]  # not Blender's own Info
    assert rc == 1
    assert printed[0].startswith(f"note: the jobs manifest {manifest_path} is not UTF-8")
    assert printed[1:8] == [  # all refused before the first bake
        "FAIL line 3: The seed 'abc' is not a whole number from 0 to 2147483647.",
        "FAIL line 4: The seed 'é' is not a whole number from 0 to 2147483647.",
        "FAIL line 5: The mode 'sideways' is not one of COMPACT, PER_FRAME, RIG.",
        f"FAIL line 6: Its out {tmp_path / 'a.blend'} is already written by line 2; each "
        "line needs its own out.",
        "FAIL line 7: It has both a strip and an audio file; give one of them.",
        f"FAIL line 9: Its out {tmp_path / 'b.blend'} is already written by line 8; each "
        "line needs its own out.",
        "FAIL line 10: The out cell is empty.",
    ]
    assert [ln.split(":")[0] for ln in printed[8:10]] == ["ok   line 2", "ok   line 8"]
    assert printed[10:] == ["summary: 2 of 9 jobs baked, 7 failed "
                            "(line 3, line 4, line 5, line 6, line 7, line 9, line 10)"]
    assert len(fake.calls) == 2 and fake.calls[-1]["seed"] == 2
    assert list(takes_in(tmp_path / "a.blend")) == ["first"]
    assert takes_in(tmp_path / "b.blend")["second"].mode == "PER_FRAME"
    assert sorted(p.name for p in tmp_path.glob("*.blend*")) == [
        "a.blend", "b.blend", "scene.blend"]


@pytest.mark.parametrize("data,message", [
    (b"", "is empty"),
    (b"\xef\xbb\xbfobject,strip,out\r\n", "has no job lines under its header"),
    (b"object,strip,out,notes\nHead,Voice,a.blend,hi\n", "unknown column 'notes'"),
    (b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00", "is not a text file"),
])
def test_a_manifest_no_line_of_which_can_be_trusted_exits_2_with_one_line(
    fake: FakeAnimator, tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes,
    message: str,
) -> None:
    scene = scene_file(tmp_path)
    (tmp_path / "jobs.csv").write_bytes(data)
    capsys.readouterr()
    assert batch.main([str(scene), "--jobs", str(tmp_path / "jobs.csv")]) == 2
    captured = capsys.readouterr()
    (line,) = captured.err.splitlines()
    assert line.startswith("error: The jobs manifest") and message in line
    assert captured.out == "" and fake.calls == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jobs.csv", "scene.blend", "voice.wav"]


def test_a_bad_seed_on_the_command_line_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert batch.main(["--object", "Head", "--strip", "V", "--out", "o.blend",
                       "--seed", "-1"]) == 2
    assert "the seed '-1' is not a whole number" in capsys.readouterr().err


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs Linux's /sys")
def test_a_folder_that_takes_no_files_is_named_as_such_not_as_a_full_disk(
    fake: FakeAnimator, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """/sys refuses new files even to root: the note said '0 bytes free on its disk'."""
    scene = scene_file(tmp_path)
    out = Path("/sys/kernel/s2l-baked.blend")
    assert batch.main([str(scene), "--object", "Head", "--strip", "Voice",
                       "--out", str(out)]) == 1
    (fail,) = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("FAIL")]
    assert "its folder does not take new files" in fail and "free on its disk" not in fail
    assert fail.endswith("no s2l-baked.blend was written.")
    assert not out.exists()
