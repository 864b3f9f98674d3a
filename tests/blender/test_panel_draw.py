"""The sidebar panels' draw() in every state, against a recording layout.

The bpy module draws no UI, so draw() runs with a stand-in layout that checks every property
it is asked to show really exists and that every operator it offers is registered.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from blender_helpers import bpy, grid_head, submodule, voice_scene
from fake_animator import FakeAnimator


class Layout:
    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.enabled = True
        self.scale_y = 1.0

    def _child(self, *a: Any, **k: Any) -> Layout:
        return Layout(self.log)

    column = row = box = _child

    def separator(self, **k: Any) -> None:
        pass

    def label(self, text: str = "", **k: Any) -> None:
        self.log.append(f"label:{text}")

    def prop(self, data: Any, name: str, **k: Any) -> None:
        assert hasattr(data, name) or name in data.bl_rna.properties, name
        self.log.append(f"prop:{name}")

    def operator(self, idname: str, **k: Any) -> Any:
        group, _, op = idname.partition(".")
        assert hasattr(getattr(bpy.ops, group), op), idname
        self.log.append(f"op:{idname}:{'on' if self.enabled else 'off'}")
        return SimpleNamespace()

    def prop_search(self, data: Any, name: str, search_data: Any, search_name: str,
                    **k: Any) -> None:
        assert name in data.bl_rna.properties and hasattr(search_data, search_name), name
        self.log.append(f"search:{name}:{search_name}")

    def template_list(self, list_type: str, list_id: str, data: Any, name: str,
                      active_data: Any, active_name: str, **k: Any) -> None:
        assert hasattr(bpy.types, list_type), list_type
        assert name in data.bl_rna.properties and active_name in active_data.bl_rna.properties
        self.log.append(f"list:{list_type}:{name}")


def draw(pkg: ModuleType, cls_name: str) -> list[str]:
    log: list[str] = []
    cls = getattr(submodule(pkg, "blender.panel"), cls_name)
    cls.draw(SimpleNamespace(layout=Layout(log)), bpy.context)
    return log


def test_main_panel_states(installed: ModuleType, fake: FakeAnimator, tmp_path: Path) -> None:
    log = draw(installed, "VIEW3D_PT_s2l")
    assert "label:Select a head mesh." in log and "op:s2l.bake:off" in log
    grid_head()
    log = draw(installed, "VIEW3D_PT_s2l")
    assert any("no sound strips" in x for x in log) and "op:s2l.bake:off" in log
    voice_scene(tmp_path)
    settings = bpy.context.scene.s2l
    settings.strip = f"{bpy.context.scene.name}\tVoice"
    log = draw(installed, "VIEW3D_PT_s2l")
    assert "op:s2l.bake:on" in log and "label:No takes yet" in log
    for name in ("target", "strip", "device", "mode", "mouth_strength", "upper_face", "seed",
                 "smoothing", "lip_closure", "closure_sensitivity", "phones_file", "transcript",
                 "language", "recognise_words",
                 "take", "replace"):
        assert f"prop:{name}" in log
    assert bpy.ops.s2l.bake(object_name="Head") == {"FINISHED"}
    log = draw(installed, "VIEW3D_PT_s2l")
    assert "label:Voice  (compact, Voice)" in log and "op:s2l.remove_take:on" in log
    assert "op:s2l.mute_take:on" in log


def test_landmark_panel_states(installed: ModuleType, fake: FakeAnimator) -> None:
    assert "label:Select a head mesh." in draw(installed, "VIEW3D_PT_s2l_landmarks")
    grid_head()
    log = draw(installed, "VIEW3D_PT_s2l_landmarks")
    assert any(x.startswith("label:No landmarks stored") for x in log)
    assert "op:s2l.assign_keypoint:off" in log and "op:s2l.fit_landmarks:off" in log
    bpy.ops.object.mode_set(mode="EDIT")
    log = draw(installed, "VIEW3D_PT_s2l_landmarks")
    assert "op:s2l.assign_keypoint:on" in log
    bpy.ops.object.mode_set(mode="OBJECT")


def test_recognise_words_says_when_pocketsphinx_is_missing(
    installed: ModuleType, fake: FakeAnimator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recognise = submodule(installed, "core.speech.recognise")
    grid_head()
    voice_scene(tmp_path)
    settings = bpy.context.scene.s2l
    assert settings.recognise_words  # on by default
    monkeypatch.setattr(recognise, "pocketsphinx_available", lambda: False)
    assert "label:No pocketsphinx here: lips from the audio alone" in draw(
        installed, "VIEW3D_PT_s2l")
    settings.transcript = "hello"
    log = draw(installed, "VIEW3D_PT_s2l")
    assert "label:Transcript needs pocketsphinx in Blender's Python" in log
    assert not any("audio alone" in x for x in log)
    settings.transcript = ""
    settings.recognise_words = False
    assert not any("pocketsphinx" in x for x in draw(installed, "VIEW3D_PT_s2l"))
    monkeypatch.setattr(recognise, "pocketsphinx_available", lambda: True)
    settings.recognise_words = True
    assert not any("pocketsphinx" in x for x in draw(installed, "VIEW3D_PT_s2l"))


def test_cuda_without_torch_is_said_before_baking(
    installed: ModuleType, fake: FakeAnimator, monkeypatch: pytest.MonkeyPatch
) -> None:
    device = submodule(installed, "core.models.load")
    grid_head()
    settings = bpy.context.scene.s2l
    settings.device = "CUDA"
    monkeypatch.setattr(device, "torch_installed", lambda: False)
    line = "label:CUDA needs torch in Blender's Python; Auto runs on the CPU"
    assert line in draw(installed, "VIEW3D_PT_s2l")
    settings.device = "AUTO"
    assert line not in draw(installed, "VIEW3D_PT_s2l")
    settings.device = "CUDA"
    monkeypatch.setattr(device, "torch_installed", lambda: True)
    assert line not in draw(installed, "VIEW3D_PT_s2l")
    settings.device = "PREFS"


def test_a_huge_per_frame_bake_is_said_in_the_panel(
    installed: ModuleType, fake: FakeAnimator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(submodule(installed, "core.bake.plans"), "LARGE_BAKE_BYTES", 1000)
    grid_head()
    voice_scene(tmp_path)
    settings = bpy.context.scene.s2l
    settings.strip = f"{bpy.context.scene.name}\tVoice"
    settings.mode = "COMPACT"
    assert not any("Per-frame writes" in x for x in draw(installed, "VIEW3D_PT_s2l"))
    settings.mode = "PER_FRAME"
    assert any("Per-frame writes" in x and "MB in the .blend" in x
               for x in draw(installed, "VIEW3D_PT_s2l"))


def test_rig_mode_is_offered_and_its_panel_draws(
    installed: ModuleType, fake: FakeAnimator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mode comes from PLANS everywhere (panel, operator, preferences); its sub-panel
    shows what the head's keys are, the rig map and the jaw bone."""
    from blender_helpers import REPO
    from rig_helpers import lstsq_solve, motion_of_keys, rigged_head

    lstsq_solve(installed, monkeypatch)

    def items(prop: Any) -> list[str]:
        return [i.identifier for i in prop.enum_items]

    assert "RIG" in items(bpy.context.scene.s2l.bl_rna.properties["mode"])
    assert "RIG" in items(bpy.ops.s2l.bake.get_rna_type().properties["mode"])
    prefs = bpy.context.preferences.addons[f"bl_ext.{REPO}.blender_s2l"].preferences
    assert "RIG" in items(prefs.bl_rna.properties["default_mode"])
    panel = submodule(installed, "blender.panel")
    voice_scene(tmp_path)
    settings = bpy.context.scene.s2l
    settings.strip = f"{bpy.context.scene.name}\tVoice"
    settings.mode = "RIG"
    assert panel.VIEW3D_PT_s2l_rig.poll(bpy.context)
    grid_head()
    log = draw(installed, "VIEW3D_PT_s2l")
    assert "op:s2l.bake:off" in log
    assert any(x.startswith("label:'Head' has no shape keys; Rig Shape Keys") for x in log)
    bpy.data.objects.remove(bpy.data.objects["Head"])
    head, _ = rigged_head(installed, armature=True)
    motion_of_keys(monkeypatch, head)
    log = draw(installed, "VIEW3D_PT_s2l")
    assert "op:s2l.bake:on" in log and "label:5 ARKit keys, also on Teeth" in log
    log = draw(installed, "VIEW3D_PT_s2l_rig")
    assert "list:S2L_UL_rig_map:rows" in log and "search:jaw_bone:bones" in log
    assert "label:Jaw bone: jaw (keyed; the head has no Armature modifier and group for it)" in log
    assert "op:s2l.rig_map_add:on" in log and "op:s2l.rig_map_remove:on" in log
    assert bpy.ops.s2l.bake(object_name="Head", mode="RIG") == {"FINISHED"}
    log = draw(installed, "VIEW3D_PT_s2l")
    assert "label:Voice  (rig, Voice)" in log and "label:    also Teeth" in log
    assert "op:s2l.mute_take:on" in log and log.count("prop:mute") == 1  # head's, teeth's
    settings.mode = "COMPACT"
    assert not panel.VIEW3D_PT_s2l_rig.poll(bpy.context)
    settings.mode = "PREFS"


def test_preferences_draw_the_cache_with_its_size_and_clear(
    installed: ModuleType, tmp_path: Path
) -> None:
    """The cache section: its folder, limit, Clear (a registered operator) and how full it is."""
    addon = bpy.context.preferences.addons[submodule(installed, "blender.prefs").ADDON_ID]
    prefs = addon.preferences
    (tmp_path / "cache").mkdir()
    log: list[str] = []
    values = {p.identifier: getattr(prefs, p.identifier) for p in prefs.bl_rna.properties
              if p.identifier != "rna_type"}
    values["cache_dir"] = str(tmp_path / "cache")
    type(prefs).draw(SimpleNamespace(layout=Layout(log), **values), bpy.context)
    for name in ("device", "default_mode", "weights_dir", "cache_dir", "cache_limit_mb"):
        assert f"prop:{name}" in log
    assert "op:s2l.clear_cache:on" in log
    size = [x for x in log if x.startswith("label:Cache:")]
    assert len(size) == 1 and "0.0 MB" in size[0] and str(tmp_path / "cache") in size[0]


def test_the_picked_strips_character_is_set_and_cleared_in_the_panel(
    installed: ModuleType, fake: FakeAnimator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Who speaks the picked strip in Bake All, with Set (always) and Clear (only when the
    strip's own s2l_character is set); while a Bake All runs the panel says what Esc does."""
    from blender_helpers import write_wav

    grid_head("Anna")
    scene = bpy.context.scene
    strip = scene.sequence_editor_create().strips.new_sound(
        "Anna.line_1", str(write_wav(tmp_path / "a.wav", 1.0)), 1, 10)
    scene.s2l.strip = f"{scene.name}\tAnna.line_1"
    log = draw(installed, "VIEW3D_PT_s2l")
    assert "label:Bake All: Anna (by its name)" in log
    assert "op:s2l.set_character:on" in log and "op:s2l.set_character:off" in log
    strip["s2l_character"] = "Anna"
    log = draw(installed, "VIEW3D_PT_s2l")
    assert "label:Bake All: Anna (s2l_character)" in log
    assert log.count("op:s2l.set_character:on") == 2
    job = submodule(installed, "blender.job")
    snap = SimpleNamespace(audio=SimpleNamespace(cleanup=lambda: None))
    running = job.BakeJob(snap, (0.5, 1.0))
    running.what, running.esc = "strip 2 of 2 (Anna.line_1)", "Esc stops after this strip"
    running._task(0.5)  # halfway through its half of the bar
    monkeypatch.setattr(job, "_ACTIVE", running)
    log = draw(installed, "VIEW3D_PT_s2l")
    assert "label:Baking strip 2 of 2 (Anna.line_1)... 75% (Esc stops after this strip)" in log
    assert "op:s2l.bake_all:off" in log
