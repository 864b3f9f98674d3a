"""Exporting a take's weights in real Blender: the operator, the batch flag, and glTF.

A rig take is built here exactly as takes are written (blender/bake.py): one slotted action of
`key_blocks["<name>"].value` F-curves on its own locked NLA track `s2l.<take>` of the shape-key
datablock, recorded in the object's takes; a compact take is baked with the fake animator.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from blender_helpers import bpy, grid_head, submodule, voice_scene
from fake_animator import FakeAnimator

import blender_s2l
from blender_s2l import batch
from blender_s2l.core.bake import pipeline as checkout_pipeline
from blender_s2l.core.rig import export as checkout_export

RIG_KEYS = {  # key -> (frame, value) keyframes, linear between them
    "jawOpen": [(20, 0.0), (22, 0.6), (25, 0.25), (30, 0.9), (33, 0.0)],
    "mouthClose": [(20, 0.0), (24, 1.0), (33, 0.0)],
    "Smile_custom": [(20, 0.0), (27, 0.4), (33, 0.0)],  # no ARKit name: JSON only
}


def rig_take(pkg: ModuleType, obj: Any, take: str = "Rig") -> Any:
    """A rig take on the object's own keys, written the way bake.py writes a take."""
    storage = submodule(pkg, "blender.storage")
    compat = submodule(pkg, "blender.compat")
    if obj.data.shape_keys is None:
        obj.shape_key_add(name="Basis", from_mix=False)
    n = len(obj.data.vertices)
    for k, name in enumerate(RIG_KEYS):
        if obj.data.shape_keys.key_blocks.get(name) is None:
            kb = obj.shape_key_add(name=name, from_mix=False)
            co = np.zeros(n * 3, np.float32)
            kb.data.foreach_get("co", co)
            co[2::3] += 0.001 * (k + 1)
            kb.data.foreach_set("co", co)
    key = obj.data.shape_keys
    action = bpy.data.actions.new(f"s2l.{obj.name}.{take}")
    slot = action.slots.new("KEY", key.name)
    bag = compat.action_channelbag(action, slot)
    for name, keys in RIG_KEYS.items():
        fc = bag.fcurves.new(f'key_blocks["{name}"].value', group_name=f"s2l.{take}")
        fc.keyframe_points.add(len(keys))
        co = np.array(keys, dtype=np.float32).reshape(-1)
        fc.keyframe_points.foreach_set("co", co)
        for p in fc.keyframe_points:
            p.interpolation = "LINEAR"
        fc.update()
    anim = key.animation_data or key.animation_data_create()
    track = anim.nla_tracks.new()
    track.name = f"s2l.{take}"
    strip = track.strips.new(track.name, 20, action)
    if strip.action_slot != slot:
        strip.action_slot = slot
    strip.extrapolation = "HOLD"
    track.lock = True
    takes = storage.read_takes(obj)
    takes[take] = storage.TakeRecord(take=take, strip="Voice", mode="RIG", action=action.name,
                                     track=track.name, frame_start=20, frame_end=33)
    storage.write_takes(obj, takes)
    return action


def curves(action: Any) -> dict[str, Any]:
    bag = action.layers[0].strips[0].channelbag(action.slots[0])
    return {fc.data_path.split('"')[1]: fc for fc in bag.fcurves}


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def test_operator_writes_a_live_link_face_csv_of_a_rig_take(
    installed: ModuleType, fake: FakeAnimator, tmp_path: Path
) -> None:
    obj = grid_head()
    action = rig_take(installed, obj)
    out = tmp_path / "rig.csv"
    assert bpy.ops.s2l.export_weights(object_name="Head", take="Rig",
                                      filepath=str(out)) == {"FINISHED"}
    header, rows = read_csv(out)
    assert header[:3] == ["Timecode", "BlendShapeCount", "EyeBlinkLeft"] and len(header) == 63
    assert len(rows) == 14  # frames 20..33
    assert rows[0][0] == "00:00:00:00.000"
    fps = bpy.context.scene.render.fps / bpy.context.scene.render.fps_base
    _, _, ss, ff = rows[-1][0].split(":")
    assert int(ss) + float(ff) / 30 == pytest.approx(13 / fps, abs=1e-4)
    fcs = curves(action)
    for column, key in (("JawOpen", "jawOpen"), ("MouthClose", "mouthClose")):
        got = [float(r[header.index(column)]) for r in rows]
        want = [fcs[key].evaluate(f) for f in range(20, 34)]
        np.testing.assert_allclose(got, want, atol=1e-6)
    assert all(float(r[header.index("TongueOut")]) == 0 for r in rows)


def test_operator_json_of_a_baked_compact_take_reads_back(
    installed: ModuleType, fake: FakeAnimator, tmp_path: Path
) -> None:
    voice_scene(tmp_path)
    obj = grid_head()
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", mode="COMPACT") == {
        "FINISHED"}
    record = submodule(installed, "blender.storage").read_takes(obj)["Voice"]
    out = tmp_path / "sub" / "voice.json"
    assert bpy.ops.s2l.export_weights(object_name="Head", take="Voice",
                                      filepath=str(out)) == {"FINISHED"}
    back = submodule(installed, "core.rig.export").read_json(out)
    assert back.names == record.keys  # the take's own keys, in their order
    np.testing.assert_array_equal(back.frames,
                                  np.arange(record.frame_start, record.frame_end + 1))
    fcs = curves(bpy.data.actions[record.action])
    want = np.array([[fcs[n].evaluate(f) for n in back.names] for f in back.frames.tolist()])
    np.testing.assert_allclose(back.values, want, atol=1e-6)
    doc = json.loads(out.read_text())
    assert doc["take"] == "Voice" and doc["object"] == "Head" and doc["mode"] == "COMPACT"
    # no ARKit names: the CSV is refused with the reason, and nothing is written
    bad = tmp_path / "voice.csv"
    with pytest.raises(RuntimeError, match=r"export to \.json instead"):
        bpy.ops.s2l.export_weights(object_name="Head", take="Voice", filepath=str(bad))
    assert not bad.exists()


def test_operator_refusals_are_sentences(
    installed: ModuleType, fake: FakeAnimator, tmp_path: Path
) -> None:
    obj = grid_head()
    rig_take(installed, obj)
    for kwargs, words in (
        ({"take": "Nope", "filepath": str(tmp_path / "a.csv")}, "no take named 'Nope'"),
        ({"take": "Rig", "filepath": str(tmp_path / "a.txt")}, r"\.csv .* or \.json"),
        ({"take": "Rig", "filepath": str(tmp_path)}, "folder"),
    ):
        with pytest.raises(RuntimeError, match=words):
            bpy.ops.s2l.export_weights(object_name="Head", **kwargs)
    bpy.data.actions.remove(bpy.data.actions["s2l.Head.Rig"])
    with pytest.raises(RuntimeError, match="action of take 'Rig' on 'Head' is missing"):
        bpy.ops.s2l.export_weights(object_name="Head", take="Rig",
                                   filepath=str(tmp_path / "a.json"))
    # no extension typed in the file browser: a CSV
    rig_take(installed, obj, take="Rig2")
    assert bpy.ops.s2l.export_weights(object_name="Head", take="Rig2",
                                      filepath=str(tmp_path / "plain")) == {"FINISHED"}
    assert (tmp_path / "plain.csv").is_file()


def test_panel_offers_export_next_to_each_take(
    installed: ModuleType, fake: FakeAnimator
) -> None:
    from test_panel_draw import draw

    obj = grid_head()
    rig_take(installed, obj)
    bpy.context.view_layer.objects.active = obj
    log = draw(installed, "VIEW3D_PT_s2l")
    assert "op:s2l.export_weights:on" in log and "op:s2l.remove_take:on" in log


# --- glTF: a baked take leaves Blender as morph-target animation -----------------------------

def gltf_accessor(path: Path, doc: dict[str, Any], index: int) -> np.ndarray:
    acc = doc["accessors"][index]
    view = doc["bufferViews"][acc["bufferView"]]
    data = (path.parent / doc["buffers"][view["buffer"]]["uri"]).read_bytes()
    assert acc["componentType"] == 5126  # FLOAT
    width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}[acc["type"]]
    offset = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
    return np.frombuffer(data, np.float32, acc["count"] * width, offset).reshape(acc["count"], -1)


def test_baked_takes_survive_gltf_export_as_morph_animation(
    installed: ModuleType, fake: FakeAnimator, tmp_path: Path
) -> None:
    voice_scene(tmp_path)
    obj = grid_head()
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice", mode="COMPACT") == {
        "FINISHED"}
    rig_take(installed, obj)
    takes = submodule(installed, "blender.storage").read_takes(obj)
    out = tmp_path / "head.gltf"
    result = bpy.ops.export_scene.gltf(
        filepath=str(out), export_format="GLTF_SEPARATE", use_selection=False,
        export_animations=True, export_animation_mode="NLA_TRACKS", export_morph=True,
        export_morph_animation=True, export_force_sampling=True,
    )
    assert result == {"FINISHED"}
    doc = json.loads(out.read_text())
    node = next(i for i, n in enumerate(doc["nodes"]) if n.get("name") == "Head")
    mesh = doc["meshes"][doc["nodes"][node]["mesh"]]
    targets = mesh["extras"]["targetNames"]  # the morph targets: every key but the basis
    assert targets == [k.name for k in obj.data.shape_keys.key_blocks[1:]]
    fps = bpy.context.scene.render.fps / bpy.context.scene.render.fps_base
    animations = {a["name"]: a for a in doc["animations"]}
    for take, record in takes.items():
        anim = animations[f"s2l.{take}"]  # one animation per take's NLA track
        (channel,) = [c for c in anim["channels"] if c["target"]["path"] == "weights"]
        assert channel["target"]["node"] == node
        sampler = anim["samplers"][channel["sampler"]]
        times = gltf_accessor(out, doc, sampler["input"])[:, 0]
        weights = gltf_accessor(out, doc, sampler["output"]).reshape(len(times), len(targets))
        frames = times.astype(np.float64) * fps
        assert frames[0] == pytest.approx(record.frame_start, abs=1e-3)
        assert frames[-1] == pytest.approx(record.frame_end, abs=1e-3)
        fcs = curves(bpy.data.actions[record.action])
        assert fcs  # every key the take animates has its column, at every exported frame
        for name, fc in fcs.items():
            want = [fc.evaluate(float(f)) for f in np.round(frames)]
            got = weights[:, targets.index(name)]
            np.testing.assert_allclose(got, want, atol=1e-5, err_msg=f"{take}: {name}")


# --- batch: --export-weights and the manifest's export column --------------------------------

@pytest.fixture
def checkout_fake(monkeypatch: pytest.MonkeyPatch) -> FakeAnimator:
    bpy.ops.wm.read_homefile(use_empty=True)
    anim = FakeAnimator(blender_s2l)
    monkeypatch.setattr(checkout_pipeline, "load_animator", lambda *a: anim)
    return anim


def scene_file(tmp_path: Path) -> Path:
    voice_scene(tmp_path)
    grid_head()
    path = tmp_path / "scene.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    return path


def test_batch_flag_writes_the_weights_beside_the_blend(
    checkout_fake: FakeAnimator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scene = scene_file(tmp_path)
    out = tmp_path / "out" / "baked.blend"
    rc = batch.main([str(scene), "--object", "Head", "--strip", "Voice", "--out", str(out),
                     "--export-weights", "json"])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    weights = out.with_suffix(".json")
    assert f"weights -> {weights}" in printed
    back = checkout_export.read_json(weights)
    assert back.names[0] == "s2l.Voice.0000" and back.values.shape[1] == len(back.names)
    # a named file lies beside the .blend; a compact take has no ARKit names for a CSV
    rc = batch.main([str(scene), "--object", "Head", "--strip", "Voice", "--out", str(out),
                     "--export-weights", "voice.csv"])
    printed = capsys.readouterr().out
    assert rc == 1 and "FAIL job 1: The take was baked and saved to" in printed
    assert "export to .json instead" in printed and not (out.parent / "voice.csv").exists()


def test_batch_flag_refuses_other_files(checkout_fake: FakeAnimator, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    scene = scene_file(tmp_path)
    rc = batch.main([str(scene), "--object", "Head", "--strip", "Voice", "--out",
                     str(tmp_path / "b.blend"), "--export-weights", "w.txt"])
    assert rc == batch.EXIT_USAGE and "neither a .csv nor a .json" in capsys.readouterr().err
    assert checkout_fake.calls == []


def test_manifest_export_column(checkout_fake: FakeAnimator, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    scene = scene_file(tmp_path)
    jobs = tmp_path / "jobs.csv"
    jobs.write_text(
        "object,strip,out,take,export\n"
        "Head,Voice,a.blend,A,a_weights.json\n"
        "Head,Voice,b.blend,B,a_weights.json\n"  # the same file as line 2: refused
        "Head,Voice,c.blend,C,weights.txt\n"  # not a weights file: refused
        "Head,Voice,d.blend,D,\n"  # no export
    )
    rc = batch.main([str(scene), "--jobs", str(jobs)])
    printed = capsys.readouterr().out
    assert rc == 1, printed
    assert "ok   line 2" in printed and "ok   line 5" in printed
    assert "FAIL line 3: Its weights file" in printed and "already written by line 2" in printed
    assert "FAIL line 4: Its export cell" in printed
    assert checkout_export.read_json(tmp_path / "a_weights.json").names[0] == "s2l.A.0000"
    assert sorted(p.name for p in tmp_path.glob("*.json")) == ["a_weights.json"]
