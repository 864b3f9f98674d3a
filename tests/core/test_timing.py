"""Frame <-> audio time math of sound strips, without Blender."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from blender_s2l.core.bake.timing import (
    StripTiming,
    audio_time,
    frames_for_times,
    scene_fps,
    strip_frames,
)
from blender_s2l.core.errors import BakeError


def test_plain_strip_covers_its_frames_at_frame_rate() -> None:
    t = StripTiming(frame_start=10, frame_final_start=10, frame_final_end=40, fps=30.0)
    frames, times = strip_frames(t)
    assert frames[0] == 10 and frames[-1] == 39 and frames.size == 30
    np.testing.assert_allclose(times, np.arange(30) / 30.0)


def test_2997_fps_has_no_drift_after_an_hour() -> None:
    fps = scene_fps(30, 1.001)
    n = 30 * 3600
    t = StripTiming(frame_start=1, frame_final_start=1, frame_final_end=1 + n, fps=fps)
    frames, times = strip_frames(t)
    # exact rational time of the last frame at 30000/1001 fps
    exact = float(Fraction(int(frames[-1]) - 1) * Fraction(1001, 30000))
    assert abs(times[-1] - exact) < 1e-9
    # naive accumulation of a rounded 1/29.97 step drifts; ours is computed per frame
    assert np.allclose(np.diff(times), 1001 / 30000, atol=1e-12)


def test_trims_and_moves_map_to_the_same_audio_times() -> None:
    # content starts at 100; 12 frames trimmed on the left, 5 on the right, 25 fps
    t = StripTiming(frame_start=100, frame_final_start=112, frame_final_end=150, fps=25.0)
    frames, times = strip_frames(t)
    assert frames[0] == 112 and frames[-1] == 149
    assert times[0] == pytest.approx(12 / 25.0)
    moved = StripTiming(frame_start=200, frame_final_start=212, frame_final_end=250, fps=25.0)
    _, times_moved = strip_frames(moved)
    np.testing.assert_allclose(times, times_moved)


def test_fractional_start_animation_offset_and_sound_offset() -> None:
    t = StripTiming(
        frame_start=10.5, frame_final_start=11, frame_final_end=20, animation_offset_start=4,
        sound_offset=0.1, fps=24.0,
    )
    times = audio_time(np.array([11.0]), t)
    assert times[0] == pytest.approx((11 - 10.5 + 4) / 24.0 - 0.1)
    np.testing.assert_allclose(frames_for_times(times, t), [11.0])


def test_frames_outside_the_file_are_dropped() -> None:
    # sound delayed by half a second: the first 12 frames at 24 fps are silent
    t = StripTiming(
        frame_start=1, frame_final_start=1, frame_final_end=49, sound_offset=0.5, fps=24.0,
        duration=1.0,
    )
    frames, times = strip_frames(t)
    assert frames[0] == 13 and times[0] == pytest.approx(0.0)
    assert times.max() <= 1.0 and frames[-1] == 37


def test_bad_timing_is_a_bake_error() -> None:
    with pytest.raises(BakeError):
        scene_fps(0, 1.0)
    with pytest.raises(BakeError):
        strip_frames(StripTiming(frame_start=5, frame_final_start=5, frame_final_end=5))
    with pytest.raises(BakeError):
        strip_frames(
            StripTiming(frame_start=1, frame_final_start=1, frame_final_end=10, sound_offset=99.0,
                        duration=1.0)
        )
