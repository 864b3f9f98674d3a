"""A voice strip inside meta strips plays as Blender plays it: not at all when a meta holding it
(or a channel one of them sits in) is muted, and only within every meta's trimmed range."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from blender_helpers import (
    bpy,
    evaluated_co,
    expected_time,
    grid_head,
    mesh_co,
    snapshot,
    voice_scene,
)
from fake_animator import FakeAnimator, dense_at


def in_meta(strip: Any, name: str = "Meta", channel: int = 2) -> Any:
    """A new meta strip holding `strip` (a sound or a meta), its range fitted to what it holds."""
    meta = bpy.context.scene.sequence_editor.strips.new_meta(name, channel,
                                                             int(strip.frame_final_start))
    strip.move_to_meta(meta)
    meta.frame_offset_end = 0  # Blender fits a meta's range to its contents on a trim
    return meta


def refused(match: str) -> None:
    before = snapshot()
    with pytest.raises(RuntimeError, match=match):
        bpy.ops.s2l.bake(object_name="Head", strip_name="Voice")
    assert snapshot() == before


def plays_only(obj: Any, strip: Any, first: int, last: int, fake: FakeAnimator) -> None:
    """The motion of the voice's time at frames first..last, and the rest pose around them."""
    scene, rest = bpy.context.scene, mesh_co(obj)
    want_times = [expected_time(f, strip, scene) for f in range(first, last + 1)]
    assert np.allclose(fake.calls[-1]["times"], want_times, atol=1e-9)
    for f in (first, (first + last) // 2, last):
        want = rest + dense_at(np.array([expected_time(f, strip, scene)]), len(rest))[0]
        assert np.abs(evaluated_co(obj, f) - want).max() < 2e-6, f
    for f in (int(strip.frame_final_start), first - 1, last + 1,
              int(strip.frame_final_end) - 1):  # heard nowhere else: at rest there
        assert np.abs(evaluated_co(obj, f) - rest).max() < 1e-7, f


def test_a_muted_meta_or_channel_around_the_strip_is_refused(
    fake: FakeAnimator, tmp_path: Path
) -> None:
    _, strip = voice_scene(tmp_path)
    grid_head()
    inner = in_meta(strip, "Inner")
    outer = in_meta(inner, "Outer", 3)
    outer.mute = True
    refused("'Voice' is muted by the meta strip 'Outer' holding it; unmute it")
    outer.mute = False
    inner.channels[strip.channel].mute = True
    refused("'Voice' is muted by channel 1 inside the meta strip 'Inner'; unmute it")
    inner.channels[strip.channel].mute = False
    bpy.context.scene.sequence_editor.channels[outer.channel].mute = True
    refused("'Voice' is muted by channel 3; unmute it")
    assert fake.calls == []


def test_a_meta_trimmed_at_both_ends_keys_only_what_it_plays(
    fake: FakeAnimator, tmp_path: Path
) -> None:
    _, strip = voice_scene(tmp_path)  # frames 10-69
    obj = grid_head()
    meta = in_meta(strip)
    meta.frame_offset_start, meta.frame_offset_end = 12, 24
    assert (meta.frame_final_start, meta.frame_final_end) == (22, 46)
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice") == {"FINISHED"}
    plays_only(obj, strip, 22, 45, fake)


def test_nested_metas_key_the_frames_all_of_them_play(
    fake: FakeAnimator, tmp_path: Path
) -> None:
    _, strip = voice_scene(tmp_path)  # frames 10-69
    obj = grid_head()
    strip.frame_offset_start = 3  # the strip's own trim counts as before: 13-69
    inner = in_meta(strip, "Inner")
    inner.frame_offset_end = 15  # 13-54
    outer = in_meta(inner, "Outer", 3)
    outer.frame_offset_start = 7  # 20-54
    assert (outer.frame_final_start, inner.frame_final_end) == (20, 55)
    assert bpy.ops.s2l.bake(object_name="Head", strip_name="Voice",
                            mode="PER_FRAME") == {"FINISHED"}
    plays_only(obj, strip, 20, 54, fake)


def test_a_meta_that_hides_the_whole_strip_is_refused(
    fake: FakeAnimator, tmp_path: Path
) -> None:
    _, strip = voice_scene(tmp_path)
    grid_head()
    meta = in_meta(strip)  # frames 10-69
    strip.frame_start = 100  # moved inside it past its end: the meta keeps its range
    assert meta.frame_final_end <= strip.frame_final_start
    refused("'Voice' lies outside the trimmed range of the meta strip holding it")
