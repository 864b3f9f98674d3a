"""Which scene frames a sound strip covers and the time into the audio file at each of them.

Blender's audio clock (audaspace, `BKE_sound_move_scene_sound`) places the start of the sound
file at scene time ``(frame_start - animation_offset_start) / fps + sound_offset`` where
``fps = render.fps / render.fps_base``; scene frame ``f`` is shown at time ``f / fps``. Each frame
time is computed directly from its frame number (never accumulated), so 29.97 fps cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import BakeError


@dataclass(frozen=True)
class StripTiming:
    """What the bake needs from a sound strip and its scene, free of any bpy object."""

    frame_start: float  # strip.frame_start: where the (untrimmed) content starts, may be fractional
    frame_final_start: int  # first visible frame (after the left trim)
    frame_final_end: int  # one past the last visible frame (after the right trim)
    animation_offset_start: int = 0  # frames of source skipped at the content start
    sound_offset: float = 0.0  # seconds the sound is delayed inside its strip
    fps: float = 24.0  # render.fps / render.fps_base
    duration: float | None = None  # seconds of audio in the file, when known


def scene_fps(fps: int, fps_base: float) -> float:
    """The scene rate exactly as Blender computes it (29.97 is 30 / 1.001)."""
    if fps <= 0 or fps_base <= 0:
        raise BakeError(f"The scene frame rate {fps}/{fps_base} is not a positive number.")
    return float(fps) / float(fps_base)


def audio_time(frames: NDArray[Any], timing: StripTiming) -> NDArray[np.float64]:
    """Seconds into the sound file heard at each scene frame (may be <0 or past the end)."""
    f = np.asarray(frames, dtype=np.float64)
    origin = timing.frame_start - timing.animation_offset_start  # frame where file time 0 would be
    return (f - origin) / timing.fps - timing.sound_offset


def strip_frames(timing: StripTiming) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Scene frames inside the strip where its sound plays, with their audio times.

    Frames whose time falls before the file's start or after its end (a delayed or over-long
    strip) are dropped: the face stays neutral there, as the sound is silent there.
    """
    if timing.fps <= 0:
        raise BakeError("The scene frame rate must be positive.")
    if timing.frame_final_end <= timing.frame_final_start:
        raise BakeError("The sound strip is empty (its end is not after its start).")
    frames = np.arange(timing.frame_final_start, timing.frame_final_end, dtype=np.int64)
    times = audio_time(frames, timing)
    keep = times >= 0.0
    if timing.duration is not None:
        keep &= times <= timing.duration
    frames, times = frames[keep], times[keep]
    if frames.size == 0:
        raise BakeError("No frame of the sound strip plays any of its sound.")
    return frames, times


def frames_for_times(times: NDArray[np.floating[Any]], timing: StripTiming) -> NDArray[np.float64]:
    """Inverse of `audio_time`: the (fractional) scene frame at which a file time is heard."""
    t = np.asarray(times, dtype=np.float64)
    origin = timing.frame_start - timing.animation_offset_start
    return (t + timing.sound_offset) * timing.fps + origin
