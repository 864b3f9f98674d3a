"""batch.py: single jobs, --audio, a --jobs manifest with failures, and usage errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from blender_helpers import ROOT, bpy, grid_head, recorded_alignments, voice_scene, write_wav
from fake_animator import FakeAnimator

import blender_s2l
from blender_s2l import batch
from blender_s2l.blender.storage import read_takes
from blender_s2l.core.bake import pipeline as checkout_pipeline


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeAnimator:
    bpy.ops.wm.read_homefile(use_empty=True)
    anim = FakeAnimator(blender_s2l)
    monkeypatch.setattr(checkout_pipeline, "load_animator", lambda *a: anim)
    return anim


def scene_file(tmp_path: Path, with_strip: bool = True) -> Path:
    if with_strip:
        voice_scene(tmp_path)
    grid_head()
    path = tmp_path / "scene.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    return path


def takes_in(path: Path) -> dict[str, Any]:
    bpy.ops.wm.open_mainfile(filepath=str(path))
    return read_takes(bpy.data.objects["Head"])


def test_strip_job(fake: FakeAnimator, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scene = scene_file(tmp_path)
    out = tmp_path / "out" / "baked.blend"
    rc = batch.main([str(scene), "--object", "Head", "--strip", "Voice", "--out", str(out),
                     "--mode", "per_frame", "--lip-closure", "0.25",
                     "--closure-sensitivity", "0.75"])
    assert rc == 0, capsys.readouterr()
    assert fake.calls[-1]["lip_closure"] == 0.25
    assert fake.calls[-1]["closure_sensitivity"] == 0.75
    assert "ok   job 1: Voice" in capsys.readouterr().out
    assert takes_in(out)["Voice"].mode == "PER_FRAME"


def test_audio_job_adds_the_strip_and_extends_the_scene(fake: FakeAnimator, tmp_path: Path) -> None:
    scene = scene_file(tmp_path, with_strip=False)
    wav = write_wav(tmp_path / "line.wav", 12.0)
    out = tmp_path / "baked.blend"
    assert batch.main([str(scene), "--object", "Head", "--audio", str(wav), "--out",
                       str(out), "--frame-start", "5"]) == 0
    assert list(takes_in(out)) == ["line"]
    strip = bpy.context.scene.sequence_editor.strips["line"]
    assert strip.frame_final_start == 5
    assert bpy.context.scene.frame_end >= strip.frame_final_end - 1


def test_jobs_manifest_reports_each_failure_and_goes_on(
    fake: FakeAnimator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scene = scene_file(tmp_path)
    write_wav(tmp_path / "b.wav", 1.0)
    (tmp_path / "jobs.csv").write_text(
        "object,strip,audio,out,take\n"
        "Head,Voice,,a.blend,first\n"
        "Nobody,Voice,,x.blend,\n"
        "Head,,missing.wav,y.blend,\n"
        "Head,,b.wav,b.blend,second\n"
    )
    rc = batch.main([str(scene), "--jobs", str(tmp_path / "jobs.csv")])
    out = capsys.readouterr().out
    assert rc == 1
    assert "ok   line 2: first" in out and "ok   line 5: second" in out
    assert "FAIL line 3: There is no object named 'Nobody'." in out
    assert "FAIL line 4: The audio file" in out and "does not exist" in out
    assert "summary: 2 of 4 jobs baked, 2 failed" in out
    assert list(takes_in(tmp_path / "a.blend")) == ["first"]
    assert list(takes_in(tmp_path / "b.blend")) == ["second"]  # started from the clean scene
    assert not (tmp_path / "x.blend").exists()


def test_usage_errors_exit_2(fake: FakeAnimator, tmp_path: Path) -> None:
    assert batch.main(["--object", "Head"]) == 2
    assert batch.main(["--jobs", str(tmp_path / "none.csv")]) == 2
    assert batch.main(["--mode", "sideways"]) == 2


def test_module_cli_exits_nonzero_with_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "blender_s2l.batch", str(tmp_path / "nope.blend"),
         "--object", "Head", "--strip", "Voice", "--out", str(tmp_path / "o.blend")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 1
    fails = [ln for ln in proc.stdout.splitlines() if ln.startswith("FAIL")]
    assert fails == [f"FAIL job 1: The scene file {tmp_path / 'nope.blend'} does not exist."]


def demo_head_scene_file(tmp_path: Path) -> Path:
    """A saved scene: the demo head (landmarks stored) and a 1 s "Voice" strip."""
    from blender_s2l.demo import add_demo_head

    bpy.ops.wm.read_homefile(use_empty=True)
    voice_scene(tmp_path, seconds=1.0)
    add_demo_head()
    scene = tmp_path / "scene.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(scene))
    return scene


def test_bundled_weights_bake_in_a_python_without_torch(tmp_path: Path) -> None:
    """Blender's own Python has no torch: the batch script bakes with the numpy runtime."""
    scene = demo_head_scene_file(tmp_path)
    out = tmp_path / "baked.blend"
    argv = ["batch.py", "--", str(scene), "--object", "Head", "--strip", "Voice", "--out",
            str(out), "--no-recognise-words"]
    code = ("import runpy, sys\nsys.modules['torch'] = None\n"
            f"sys.argv = {argv!r}\n"
            f"runpy.run_path({str(ROOT / 'blender_s2l' / 'batch.py')!r}, run_name='__main__')\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok   job 1: Voice:" in proc.stdout
    assert list(takes_in(out)) == ["Voice"]


def test_script_entry_as_blender_runs_it(tmp_path: Path, random_weights_dir: Path) -> None:
    """`blender -b --python <ext>/batch.py -- ...` runs the file as __main__ with args after --.

    Here plain Python runs the file the same way (no package context), with the real Animator.
    """
    scene = demo_head_scene_file(tmp_path)
    out = tmp_path / "baked.blend"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "blender_s2l" / "batch.py"), "--", str(scene), "--object",
         "Head", "--strip", "Voice", "--out", str(out), "--weights", str(random_weights_dir),
         "--device", "cpu"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok   job 1: Voice:" in proc.stdout
    assert list(takes_in(out)) == ["Voice"]


def test_key_poses_per_manifest_line(
    fake: FakeAnimator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scene = scene_file(tmp_path)
    (tmp_path / "a.lab").write_text("0 1000000 sil\n1000000 2000000 m\n")
    (tmp_path / "jobs.csv").write_text(
        "object,strip,out,take,phones\n"
        "Head,Voice,a.blend,first,a.lab\n"
        "Head,Voice,c.blend,second,missing.lab\n"
    )
    rc = batch.main([str(scene), "--jobs", str(tmp_path / "jobs.csv")])
    out = capsys.readouterr().out
    assert rc == 1 and "ok   line 2: first" in out
    assert "FAIL line 3:" in out and "missing.lab" in out
    first = next(c for c in fake.calls if c.get("phones"))
    assert [(p.start, p.end, p.phone) for p in first["phones"]] == [(0.0, 0.1, "SIL"),
                                                                    (0.1, 0.2, "M")]
    assert not (tmp_path / "c.blend").exists()


def test_recognise_words_keys_the_heard_bilabials_unless_a_transcript_is_given(
    fake: FakeAnimator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import blender_s2l.core.speech.recognise as recognise
    from blender_s2l.core.speech.phones import Phone

    heard = [Phone(0.0, 0.3, "SIL"), Phone(0.3, 0.4, "B")]
    monkeypatch.setattr(recognise, "recognise_phones", lambda wav, progress, cancel: heard)
    scene = scene_file(tmp_path)
    out = tmp_path / "baked.blend"
    line = [str(scene), "--object", "Head", "--strip", "Voice", "--out", str(out), "--replace"]
    assert batch.main(line) == 0, capsys.readouterr()  # on by default
    assert fake.calls[-1]["phones"] == heard
    assert "key poses: recognised words" in capsys.readouterr().out
    assert batch.main([*line, "--recognise-words"]) == 0
    assert fake.calls[-1]["phones"] == heard
    assert batch.main([*line, "--no-recognise-words"]) == 0
    assert fake.calls[-1]["phones"] is None
    assert "key poses: audio only" in capsys.readouterr().out


def test_without_pocketsphinx_lines_use_the_audio_alone_unless_words_are_demanded(
    fake: FakeAnimator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import blender_s2l.core.speech.recognise as recognise

    monkeypatch.setattr(recognise, "pocketsphinx_available", lambda: False)
    scene = scene_file(tmp_path)
    out = tmp_path / "baked.blend"
    line = [str(scene), "--object", "Head", "--strip", "Voice", "--out", str(out)]
    assert batch.main(line) == 0
    printed = capsys.readouterr().out
    assert "note: Recognise Words skipped: pocketsphinx is not installed" in printed
    assert "key poses: audio only" in printed and fake.calls[-1]["phones"] is None
    calls = len(fake.calls)
    assert batch.main([*line, "--replace", "--recognise-words"]) == 2
    assert "--recognise-words needs the pocketsphinx package" in capsys.readouterr().err
    assert len(fake.calls) == calls  # refused before any bake
    assert batch.main([*line, "--replace", "--no-recognise-words"]) == 0
    assert "note:" not in capsys.readouterr().out


def test_a_huge_per_frame_bake_is_announced_before_it_starts(
    fake: FakeAnimator, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Batch prints the number of keys and the .blend size first; a compact bake says nothing."""
    from blender_s2l.core.bake import plans as bake_plan

    monkeypatch.setattr(bake_plan, "LARGE_BAKE_BYTES", 1000)
    scene = scene_file(tmp_path)
    for mode, expected in (("PER_FRAME", True), ("COMPACT", False)):
        rc = batch.main([str(scene), "--object", "Head", "--strip", "Voice", "--mode", mode,
                         "--out", str(tmp_path / f"{mode}.blend")])
        out = capsys.readouterr().out
        assert rc == 0
        assert ("note: job 1: Per-frame writes" in out) == expected, out
        if expected:
            assert out.index("note: job 1") < out.index("ok   job 1")


def test_audio_that_is_a_folder_says_so(
    fake: FakeAnimator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scene = scene_file(tmp_path)
    (tmp_path / "lines").mkdir()
    rc = batch.main([str(scene), "--object", "Head", "--audio", str(tmp_path / "lines"),
                     "--out", str(tmp_path / "out.blend")])
    out = capsys.readouterr()
    assert rc != 0 and "is a folder" in out.out + out.err
    assert not (tmp_path / "out.blend").exists()


def test_rig_job_with_a_rig_map(fake: FakeAnimator, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    """--mode rig --rig-map map.json: the map names the head's key the recogniser misses."""
    import json

    from rig_helpers import lstsq_solve, motion_of_keys, rigged_head

    lstsq_solve(blender_s2l, monkeypatch)
    voice_scene(tmp_path)
    head, teeth = rigged_head(blender_s2l)
    motion_of_keys(monkeypatch, head)
    for obj in (head, teeth):  # the other meshes share keys by name
        obj.data.shape_keys.key_blocks["jawOpen"].name = "MouthWide_custom"
    scene = tmp_path / "scene.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(scene))
    out = tmp_path / "rig.blend"
    args = [str(scene), "--object", "Head", "--strip", "Voice", "--out", str(out),
            "--mode", "rig", "--no-recognise-words"]
    assert batch.main(args) == 1
    assert "but no jawOpen" in capsys.readouterr().out
    rig_map = tmp_path / "map.json"
    rig_map.write_text(json.dumps({"jawOpen": "MouthWide_custom"}))
    assert batch.main([*args, "--rig-map", str(rig_map)]) == 0
    printed = capsys.readouterr().out
    assert "ok   job 1: Voice: 2 of its own shape keys keyed (rig)" in printed
    take = takes_in(out)["Voice"]
    assert take.mode == "RIG" and "MouthWide_custom" in take.animated
    assert read_takes(bpy.data.objects["Teeth"])["Voice"].group == take.group


def test_a_transcript_that_fits_in_part_bakes_and_says_how_much(
    fake: FakeAnimator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The manifest's transcripts: one aligned in part bakes with a note saying how much; one
    refused (another line's) fails alone, in one sentence, and writes nothing."""
    import blender_s2l.core.speech.line_align as line_align
    from blender_s2l.core.errors import S2LError
    from blender_s2l.core.speech.phones import Phone

    def fake_align(wav: Any, transcript: str, *args: Any) -> Any:
        if "another" in transcript:
            raise S2LError("The transcript does not match line.wav: only 3% of its sounds and "
                           "the audio's agree. Is it this line's transcript?")
        return line_align.LineAlignment([Phone(0.0, 0.2, "SIL"), Phone(0.2, 0.3, "M")], 0.6,
                                        ("The transcript was aligned to 60% of the speech.",))

    monkeypatch.setattr(line_align, "align_line", fake_align)
    scene = scene_file(tmp_path)
    (tmp_path / "jobs.csv").write_text(
        "object,strip,out,take,transcript\n"
        "Head,Voice,a.blend,first,\"ANNA: [laughs] Mm, maybe.\"\n"
        "Head,Voice,b.blend,second,another line's words\n")
    rc = batch.main([str(scene), "--jobs", str(tmp_path / "jobs.csv")])
    out = capsys.readouterr().out
    assert rc == 1
    ok = next(row for row in out.splitlines() if row.startswith("ok   line 2"))
    assert "key poses: transcript" in ok and "note: The transcript was aligned to 60%" in ok
    fail = next(row for row in out.splitlines() if row.startswith("FAIL line 3"))
    assert "Is it this line's transcript?" in fail and "Traceback" not in out
    assert (tmp_path / "a.blend").is_file() and not (tmp_path / "b.blend").exists()
    assert [(p.start, p.phone) for p in fake.calls[-1]["phones"]] == [(0.0, "SIL"), (0.2, "M")]


def test_manifest_transcript_files_and_scenes_lie_beside_the_manifest(
    fake: FakeAnimator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A transcript cell `@words.txt` was aligned as the words "at words dot txt", and a
    relative scene cell was looked for in the current folder while every other path of the
    line lies beside the manifest."""
    import blender_s2l.core.speech.line_align as line_align
    from blender_s2l.core.speech.phones import Phone

    heard = recorded_alignments(monkeypatch, line_align, Phone)
    scene_file(tmp_path)
    (tmp_path / "words.txt").write_text("Mm, maybe.", encoding="utf-8")
    (tmp_path / "at.txt").write_text("@home, maybe.", encoding="utf-8")  # read once, not twice
    (tmp_path / "jobs.csv").write_text(
        "scene,object,strip,out,take,transcript\n"
        "scene.blend,Head,Voice,a.blend,first,@words.txt\n"
        "scene.blend,Head,Voice,b.blend,second,@nowhere.txt\n"
        "scene.blend,Head,Voice,c.blend,third,@at.txt\n")
    monkeypatch.chdir(tmp_path.parent)
    rc = batch.main(["--jobs", str(tmp_path / "jobs.csv")])
    out = capsys.readouterr().out
    assert rc == 1 and heard == ["Mm, maybe.", "@home, maybe."]
    assert "ok   line 2" in out and (tmp_path / "a.blend").is_file()
    assert "ok   line 4" in out
    fail = next(row for row in out.splitlines() if row.startswith("FAIL line 3"))
    assert f"The transcript file {tmp_path / 'nowhere.txt'} does not exist." in fail

