"""Rig Shape Keys with a jaw bone from the command line (issue 17): batch.py `--mode RIG` on a
.blend whose head is skinned to an armature's jaw bone.

The bone must be keyed exactly as the panel's bake keys it (the same F-curves, key for key),
the output must reopen with the armature's take and rest track, a second bake of the same take
replaces it, a manifest of two lines for one character gives each its take, and a line the
rig cannot take (a jaw bone named that the armature lacks, a linked armature, an armature saved
in Pose Mode) fails in one sentence with the scene file and an earlier output untouched.

The bakes are real: the bundled models on a phones file (tests/blender/test_rig_jaw.py's line
and head), batch run in this process on the checkout, and once in a fresh Python where the
add-on is not registered at all (`python -m blender_s2l.batch`, as a farm runs it).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from blender_helpers import ROOT, bpy, submodule
from test_lip_contact_blender import START, line_scene
from test_rig_jaw import bake, jaw_rig

import blender_s2l
from blender_s2l import batch
from blender_s2l.blender.storage import read_takes
from blender_s2l.core.bake import pipeline as checkout_pipeline

RIG_ARGS = ["--mode", "RIG", "--device", "CPU", "--no-recognise-words"]


@pytest.fixture
def bundled(installed: ModuleType) -> ModuleType:
    """The installed extension (for the panel's bake and its Rig properties) and the checkout
    that batch runs, both with their bundled models freshly loaded, and an empty file."""
    submodule(installed, "core.bake.pipeline").forget_animators()
    checkout_pipeline.forget_animators()
    bpy.ops.wm.read_homefile(use_empty=True)
    return installed


def rig_scene(pkg: ModuleType, tmp_path: Path, bone: str = "jaw") -> tuple[Path, Path]:
    """scene.blend: the line "Line" and the head skinned to the jaw bone of "Rig" (renamed to
    `bone`, its vertex group with it); and the phones file."""
    _, phones = line_scene(tmp_path)
    head, rig, _ = jaw_rig(pkg)
    if bone != "jaw":
        rig.data.bones["jaw"].name = bone  # Blender renames the skin's vertex group with it
        assert head.vertex_groups.get(bone) is not None
    path = tmp_path / "scene.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    return path, phones


def line_args(scene: Path, phones: Path, out: Path, take: str = "A") -> list[str]:
    return [str(scene), "--object", "Head", "--strip", "Line", "--take", take, "--phones",
            str(phones), *RIG_ARGS, "--out", str(out)]


def keyframes(action: Any) -> dict[tuple[str, int], np.ndarray]:
    """Every F-curve of the action: (path, index) -> its keyframes' (frame, value) pairs."""
    out = {}
    for layer in action.layers:
        for strip in layer.strips:
            for bag in strip.channelbags:
                for fc in bag.fcurves:
                    co = np.zeros(2 * len(fc.keyframe_points), np.float32)
                    fc.keyframe_points.foreach_get("co", co)
                    out[fc.data_path, fc.array_index] = co.reshape(-1, 2)
    return out


def rig_state() -> dict[str, Any]:
    """The armature's and head's tracks and the take actions of the open file."""
    rig, head = bpy.data.objects["Rig"], bpy.data.objects["Head"]
    key_anim = head.data.shape_keys.animation_data
    return {
        "rig tracks": [t.name for t in rig.animation_data.nla_tracks],
        "head tracks": [t.name for t in key_anim.nla_tracks],
        "actions": sorted(a.name for a in bpy.data.actions if a.name.startswith("s2l.")),
        "rig takes": sorted(read_takes(rig)),
        "head takes": sorted(read_takes(head)),
    }


def open_file(path: Path) -> None:
    bpy.ops.wm.open_mainfile(filepath=str(path))


def test_batch_keys_the_jaw_bone_as_the_panel_bake_does_and_a_rebake_replaces_it(
    bundled: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    scene, phones = rig_scene(blender_s2l, tmp_path)
    out = tmp_path / "out" / "baked.blend"
    assert batch.main(line_args(scene, phones, out)) == 0
    printed = capsys.readouterr().out
    assert "ok   job 1: A:" in printed and "The jaw bone 'jaw' is keyed" in printed
    open_file(out)  # the output reopens with the armature's take and rest track
    rig, head = bpy.data.objects["Rig"], bpy.data.objects["Head"]
    assert rig_state() == {
        "rig tracks": ["s2l.(rest)", "s2l.A"], "head tracks": ["s2l.(rest)", "s2l.A"],
        "actions": ["s2l.Head.(rest)", "s2l.Head.A", "s2l.Rig.(rest)", "s2l.Rig.A"],
        "rig takes": ["A"], "head takes": ["A"]}
    r_rec, h_rec = read_takes(rig)["A"], read_takes(head)["A"]
    assert r_rec.bones == ["jaw"] and r_rec.group == h_rec.group != ""
    batch_bone = keyframes(bpy.data.actions["s2l.Rig.A"])
    batch_keys = keyframes(bpy.data.actions["s2l.Head.A"])
    assert ('pose.bones["jaw"].rotation_quaternion', 0) in batch_bone
    # the pose plays from the file: turned inside the take, at rest before it
    bpy.context.scene.frame_set(START + 9)
    assert rig.pose.bones["jaw"].rotation_quaternion.angle > np.radians(0.5)
    bpy.context.scene.frame_set(1)
    assert np.allclose(rig.pose.bones["jaw"].matrix_basis, np.eye(4), atol=1e-7)

    # the panel's bake of the same line on the same file keys the same curves, key for key
    open_file(scene)
    assert bake(phones) == {"FINISHED"}
    panel_bone = keyframes(bpy.data.actions["s2l.Rig.A"])
    assert sorted(panel_bone) == sorted(batch_bone)
    for channel, co in panel_bone.items():
        np.testing.assert_array_equal(batch_bone[channel], co, err_msg=str(channel))
    panel_keys = keyframes(bpy.data.actions["s2l.Head.A"])
    assert sorted(panel_keys) == sorted(batch_keys)
    for channel, co in panel_keys.items():
        np.testing.assert_array_equal(batch_keys[channel], co, err_msg=str(channel))

    # baking the take again onto the output: refused without --replace, replaced with it
    before = hashlib.sha256(out.read_bytes()).hexdigest()
    assert batch.main(line_args(out, phones, out)) == 1
    assert ("FAIL job 1: 'Head' already has a take named 'A'" in capsys.readouterr().out)
    assert hashlib.sha256(out.read_bytes()).hexdigest() == before
    assert batch.main([*line_args(out, phones, out), "--replace", "--mouth-strength",
                       "0.5"]) == 0
    capsys.readouterr()
    open_file(out)
    assert rig_state() == {
        "rig tracks": ["s2l.(rest)", "s2l.A"], "head tracks": ["s2l.(rest)", "s2l.A"],
        "actions": ["s2l.Head.(rest)", "s2l.Head.A", "s2l.Rig.(rest)", "s2l.Rig.A"],
        "rig takes": ["A"], "head takes": ["A"]}
    replaced = keyframes(bpy.data.actions["s2l.Rig.A"])
    assert sorted(replaced) == sorted(batch_bone)  # the same channels, a weaker turn
    key = ('pose.bones["jaw"].rotation_quaternion', 0)
    assert replaced[key][:, 1].min() > batch_bone[key][:, 1].min()
    assert not any(a.name.endswith(".001") for a in bpy.data.actions)


def test_a_manifest_of_two_lines_for_one_character(
    bundled: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """Two lines of the same scene and character, their bone named in the manifest
    (`jaw_bone`: "mandible" is no jaw's name): each output holds its own take; a re-run skips
    both, --force bakes them again, the same; then a take B baked onto the first output makes
    two takes on one character over one rest track."""
    scene, phones = rig_scene(blender_s2l, tmp_path, bone="mandible")
    jobs = tmp_path / "jobs.csv"
    jobs.write_text("scene,object,strip,out,take,mode,device,phones,jaw_bone\n"
                    f"{scene},Head,Line,a.blend,A,RIG,CPU,{phones.name},mandible\n"
                    f"{scene},Head,Line,b.blend,B,RIG,CPU,{phones.name},mandible\n")
    args = ["--jobs", str(jobs), "--no-recognise-words"]
    assert batch.main(args) == 0, capsys.readouterr().out
    printed = capsys.readouterr().out
    assert "ok   line 2: A:" in printed and "ok   line 3: B:" in printed
    assert "The jaw bone 'mandible' is keyed" in printed

    def one_take(name: str) -> dict[tuple[str, int], np.ndarray]:
        open_file(tmp_path / f"{name.lower()}.blend")
        assert rig_state() == {
            "rig tracks": ["s2l.(rest)", f"s2l.{name}"],
            "head tracks": ["s2l.(rest)", f"s2l.{name}"],
            "actions": ["s2l.Head.(rest)", f"s2l.Head.{name}", "s2l.Rig.(rest)",
                        f"s2l.Rig.{name}"],
            "rig takes": [name], "head takes": [name]}
        assert read_takes(bpy.data.objects["Rig"])[name].bones == ["mandible"]
        return keyframes(bpy.data.actions[f"s2l.Rig.{name}"])

    a, b = one_take("A"), one_take("B")
    assert ('pose.bones["mandible"].rotation_quaternion', 0) in a
    assert sorted(a) == sorted(b)
    for channel, co in a.items():  # one line, one character: the same pose twice
        np.testing.assert_array_equal(b[channel], co)
    assert batch.main(args) == 0
    printed = capsys.readouterr().out
    assert "skip line 2: output exists" in printed and "skip line 3: output exists" in printed
    assert batch.main([*args, "--force"]) == 0
    assert "ok   line 3: B:" in capsys.readouterr().out
    again = one_take("A")
    for channel, co in a.items():
        np.testing.assert_array_equal(again[channel], co)

    both = tmp_path / "ab.blend"
    assert batch.main([*line_args(tmp_path / "a.blend", phones, both, take="B"),
                       "--jaw-bone", "mandible"]) == 0
    capsys.readouterr()
    open_file(both)
    assert rig_state() == {
        "rig tracks": ["s2l.(rest)", "s2l.A", "s2l.B"],
        "head tracks": ["s2l.(rest)", "s2l.A", "s2l.B"],
        "actions": ["s2l.Head.(rest)", "s2l.Head.A", "s2l.Head.B", "s2l.Rig.(rest)",
                    "s2l.Rig.A", "s2l.Rig.B"],
        "rig takes": ["A", "B"], "head takes": ["A", "B"]}
    takes = read_takes(bpy.data.objects["Rig"])
    assert takes["A"].bones == takes["B"].bones == ["mandible"]
    assert takes["A"].group != takes["B"].group
    rest = keyframes(bpy.data.actions["s2l.Rig.(rest)"])  # one rest pose under both takes
    assert {p for p, _ in rest} == {'pose.bones["mandible"].rotation_quaternion',
                                     'pose.bones["mandible"].location'}


def test_a_jaw_bone_picked_in_the_panel_is_keyed_by_batch_without_the_add_on(
    bundled: ModuleType, tmp_path: Path,
) -> None:
    """The Rig sub-panel's pick is stored on the head; `python -m blender_s2l.batch` runs
    without the add-on registered, where only the object's stored properties hold it."""
    _, phones = line_scene(tmp_path)
    head, rig, _ = jaw_rig(bundled)
    rig.data.bones["jaw"].name = "mandible"  # and the skin's vertex group with it
    head.s2l_rig.jaw_bone = "mandible"
    scene = tmp_path / "scene.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(scene))
    out = tmp_path / "out.blend"
    proc = subprocess.run([sys.executable, "-m", "blender_s2l.batch",
                           *line_args(scene, phones, out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "The jaw bone 'mandible' is keyed" in proc.stdout
    open_file(out)
    assert read_takes(bpy.data.objects["Rig"])["A"].bones == ["mandible"]
    assert rig_state()["rig tracks"] == ["s2l.(rest)", "s2l.A"]


def _picked_missing(pkg: ModuleType, tmp_path: Path) -> list[str]:
    bpy.data.objects["Head"].s2l_rig.jaw_bone = "nope"
    return []


def _given_missing(pkg: ModuleType, tmp_path: Path) -> list[str]:
    return ["--jaw-bone", "nope"]


def _linked(pkg: ModuleType, tmp_path: Path) -> list[str]:
    rig, head = bpy.data.objects["Rig"], bpy.data.objects["Head"]
    library = tmp_path / "rig_library.blend"
    bpy.data.libraries.write(str(library), {rig})
    with bpy.data.libraries.load(str(library), link=True) as (_, linked):
        linked.objects = ["Rig"]
    linked_rig = linked.objects[0]
    bpy.context.scene.collection.objects.link(linked_rig)
    head.parent = linked_rig
    head.modifiers["Armature"].object = linked_rig
    bpy.data.objects.remove(rig)
    return []


def _pose_mode(pkg: ModuleType, tmp_path: Path) -> list[str]:
    bpy.context.view_layer.objects.active = bpy.data.objects["Rig"]
    bpy.ops.object.mode_set(mode="POSE")
    return []


@pytest.mark.parametrize(("spoil", "said"), [
    (_picked_missing, "FAIL job 1: The armature 'Rig' has no bone 'nope' (the jaw bone picked "
                      "in the Rig sub-panel)."),
    (_given_missing, "FAIL job 1: The armature 'Rig' has no bone 'nope' (the jaw bone the bake "
                     "was given: --jaw-bone, the jaw_bone column or jaw_bone=)."),
    (_linked, "FAIL job 1: The armature 'Rig' is linked from a library, so its jaw bone cannot "
              "be keyed; make it local (Object > Library Override) first."),
    (_pose_mode, "FAIL job 1: The armature 'Rig' is in Pose Mode; switch to Object Mode to bake "
                 "onto the rig (a batch bake needs the file saved in Object Mode)."),
], ids=["picked bone missing", "given bone missing", "linked armature", "pose mode"])
def test_a_rig_the_bake_cannot_key_fails_in_one_sentence_and_changes_no_file(
    bundled: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str], spoil: Any,
    said: str,
) -> None:
    _, phones = line_scene(tmp_path)
    jaw_rig(bundled)
    extra = spoil(bundled, tmp_path)
    scene = tmp_path / "scene.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(scene))
    if spoil is _pose_mode:  # a file saved in Pose Mode opens in it, in background too
        open_file(scene)
        assert bpy.data.objects["Rig"].mode == "POSE"
    out = tmp_path / "out.blend"
    out.write_bytes(scene.read_bytes())  # an earlier output, which a failed line keeps
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.iterdir()
             if p.is_file()}
    assert batch.main([*line_args(scene, phones, out), *extra]) == 1
    printed = capsys.readouterr()
    fails = [ln for ln in printed.out.splitlines() if ln.startswith("FAIL")]
    assert fails == [said]
    assert "Traceback" not in printed.out + printed.err
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.iterdir()
            if p.is_file()} == files
