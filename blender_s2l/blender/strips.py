"""Sound strips: which ones the user can pick, where their audio is, and their timing."""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import bpy

from ..core.bake.timing import StripTiming, scene_fps
from ..core.errors import AudioError, BakeError
from .compat import all_strips, sequencer_scene
from .rna import Context, Scene, Strip

SEP = "\t"  # separates scene and strip name in the panel's enum identifiers


@dataclass
class StripAudio:
    """A readable audio file for a strip; `temporary` files are deleted after the bake."""

    path: str
    temporary: bool = False

    def cleanup(self) -> None:
        if self.temporary:
            with contextlib.suppress(OSError):
                os.unlink(self.path)


def candidate_scenes(context: Context) -> list[Scene]:
    """The active scene, then the workspace's sequencer scene when it differs."""
    scenes: list[Scene] = []
    if context.scene is not None:
        scenes.append(context.scene)
    seq_scene = sequencer_scene(context)
    if seq_scene is not None and seq_scene not in scenes:
        scenes.append(seq_scene)
    return scenes


def scene_sound_strips(scene: Scene) -> list[Strip]:
    ed = scene.sequence_editor
    if ed is None:
        return []
    return [s for s in all_strips(ed) if s.type == "SOUND"]


def sound_strips(context: Context) -> list[tuple[Scene, Strip]]:
    return [(sc, s) for sc in candidate_scenes(context) for s in scene_sound_strips(sc)]


def find_strip(
    context: Context, strip_name: str, scene_name: str = ""
) -> tuple[Scene, Strip]:
    """The named sound strip; with no name, the selected one or else the first one."""
    found = sound_strips(context)
    if scene_name:
        found = [(sc, s) for sc, s in found if sc.name == scene_name]
    if not found:
        where = f"scene '{scene_name}'" if scene_name else "the scene's sequencer"
        raise BakeError(f"There are no sound strips in {where}; add the voice as a sound strip.")
    if not strip_name:
        selected = [(sc, s) for sc, s in found if s.select]
        return (selected or found)[0]
    for sc, s in found:
        if s.name == strip_name:
            return sc, s
    raise BakeError(f"There is no sound strip named '{strip_name}'.")


def enclosing_metas(strip: Strip) -> list[Strip]:
    """The meta strips holding the strip, innermost first (none for a top-level strip)."""
    metas: list[Strip] = []
    meta = strip.parent_meta()
    while meta is not None:
        metas.append(meta)
        meta = meta.parent_meta()
    return metas


def muted_by(scene: Scene, strip: Strip) -> str | None:
    """What silences the strip as Blender plays it, in words ("" when it is muted itself), or
    None: the strip or any meta holding it may be muted, or the channel one of them sits in
    (inside a meta, the meta's own channels)."""
    chain = [strip, *enclosing_metas(strip)]
    for inner, outer in zip(chain, [*chain[1:], None], strict=True):
        what = "" if inner == strip else f" by the meta strip '{inner.name}' holding it"
        if inner.mute:
            return what
        channels = (outer or scene.sequence_editor).channels
        if 0 < inner.channel < len(channels) and channels[inner.channel].mute:
            return f" by channel {inner.channel}" + (
                f" inside the meta strip '{outer.name}'" if outer is not None else "")
    return None


def played_frames(strip: Strip) -> tuple[int, int]:
    """[first, end) of the frames where the strip is heard: its visible frames, cut to those of
    every meta holding it (a meta plays its contents only within its own trimmed range)."""
    first, end = int(strip.frame_final_start), int(strip.frame_final_end)
    for meta in enclosing_metas(strip):
        first = max(first, int(meta.frame_final_start))
        end = min(end, int(meta.frame_final_end))
    return first, end


def strip_timing(scene: Scene, strip: Strip) -> StripTiming:
    """The strip's placement in frames plus the scene's exact frame rate. The frames it plays
    are trimmed like a strip's own trim (`played_frames`); the sound stays where it is."""
    first, end = played_frames(strip)
    return StripTiming(
        frame_start=float(strip.frame_start),
        frame_final_start=first,
        frame_final_end=end,
        animation_offset_start=int(strip.animation_offset_start),
        sound_offset=float(strip.sound_offset),
        fps=scene_fps(scene.render.fps, scene.render.fps_base),
    )


def check_strip(
    scene: Scene, strip: Strip, target_scene: Scene
) -> None:
    """Reject strips whose timing or sound the bake could not follow, one sentence each."""
    muted = muted_by(scene, strip)
    if muted is not None:
        raise BakeError(f"The sound strip '{strip.name}' is muted{muted}; unmute it to bake it.")
    if strip.sound is None:
        raise BakeError(f"The sound strip '{strip.name}' has no sound data.")
    if len(strip.retiming_keys) > 0:
        raise BakeError(
            f"The sound strip '{strip.name}' is retimed (speed changed); reset its speed first."
        )
    if scene != target_scene:
        a = scene_fps(scene.render.fps, scene.render.fps_base)
        b = scene_fps(target_scene.render.fps, target_scene.render.fps_base)
        if abs(a - b) > 1e-9:
            raise BakeError(
                f"The sequencer scene '{scene.name}' runs at {a:.3f} fps but '{target_scene.name}' "
                f"at {b:.3f} fps; give them the same frame rate."
            )
    first, end = played_frames(strip)
    if end <= first and enclosing_metas(strip):
        raise BakeError(
            f"The sound strip '{strip.name}' lies outside the trimmed range of the meta strip "
            "holding it, so none of it plays; widen the meta strip."
        )
    last = end - 1
    if first < target_scene.frame_start or last > target_scene.frame_end:
        raise BakeError(
            f"The sound strip '{strip.name}' (frames {first}-{last}) runs outside the scene's "
            f"frame range {target_scene.frame_start}-{target_scene.frame_end}; "
            "extend the scene or trim the strip."
        )


def strip_audio(strip: Strip) -> StripAudio:
    """A path the core can decode: the sound's file, or a temporary copy of a packed sound."""
    sound = strip.sound
    if sound is None:
        raise BakeError(f"The sound strip '{strip.name}' has no sound data.")
    suffix = Path(sound.filepath).suffix or ".wav"
    if sound.packed_file is not None:
        fd, tmp = tempfile.mkstemp(prefix="s2l_packed_", suffix=suffix)
        with os.fdopen(fd, "wb") as fh:
            fh.write(bytes(sound.packed_file.data))
        return StripAudio(tmp, temporary=True)
    path = bpy.path.abspath(sound.filepath, library=sound.library)
    if not path or not os.path.isfile(path):
        raise AudioError(
            f"The sound file of strip '{strip.name}' is missing: {path or '(no path)'}."
        )
    return StripAudio(path)
