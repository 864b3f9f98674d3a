"""The Blender half of one batch job: open the scene, add the sound, fit, bake, save.

`batch.py` reads the command line and the manifest and reports; everything that touches bpy for
a job lives here, beside the rest of the Blender layer, so the batch front end stays importable
(and testable) without Blender.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import bpy

from ..core.bake.characters import StripJob
from ..core.bake.settings import BakeSettings, settings_of
from ..core.errors import BakeError
from ..core.head.keypoints import load_keypoints_json
from ..core.speech.audio import check_audio_path
from . import bake
from .bake_all import AllResult, bake_all
from .blend_file import save_verified
from .compat import all_strips, top_strips
from .landmarks import check_editable, fit_object
from .mouth import cut_mouth
from .storage import TakeRecord, write_keypoints


def opened_file() -> str:
    """The .blend Blender was started with (`blender -b scene.blend`), or ''."""
    return str(bpy.data.filepath)


def open_scene(path: str) -> None:
    if path:
        if not Path(path).is_file():
            raise BakeError(f"The scene file {path} does not exist.")
        bpy.ops.wm.open_mainfile(filepath=str(Path(path).resolve()))


def add_audio_strip(audio: str, frame_start: int | None, name: str) -> str:
    """Add the sound as a strip (extending the scene to fit it) and return the strip's name."""
    path = Path(audio)
    check_audio_path(path)  # a folder, a pipe or a missing file: one sentence each
    scene: Any = bpy.context.scene
    if scene is None:
        raise BakeError("The file has no scene to add the sound to.")
    ed = scene.sequence_editor or scene.sequence_editor_create()
    used = {s.channel for s in all_strips(ed)}
    channel = next(c for c in range(1, 129) if c not in used)
    start = scene.frame_start if frame_start is None else frame_start
    strip = top_strips(ed).new_sound(name or path.stem, str(path.resolve()), channel, start)
    if strip.frame_final_end - 1 > scene.frame_end:
        scene.frame_end = strip.frame_final_end - 1
    return str(strip.name)


def fit_from_file(object_name: str, path: str) -> None:
    """Store the key points of a JSON file on the object and fit its 68 landmarks."""
    obj = bpy.data.objects.get(object_name)
    if obj is None:
        raise BakeError(f"There is no object named '{object_name}'.")
    check_editable(obj)
    write_keypoints(obj, load_keypoints_json(path))
    fit_object(obj)


def cut_mouth_of(object_name: str, bag: bool) -> str:
    """--cut-mouth: cut the object's fused mouth open (an open one is left); what was done."""
    obj = bpy.data.objects.get(object_name)
    if obj is None:
        raise BakeError(f"There is no object named '{object_name}'.")
    return cut_mouth(obj, bag).message


def bake_job(
    *, scene_file: str, object_name: str, strip: str, audio: str, frame_start: int | None,
    take: str, keypoints: str, out: str, settings: BakeSettings, cut_mouth: bool = False,
    mouth_bag: bool = True, warn: Callable[[str], None] | None = None,
) -> tuple[TakeRecord, Path]:
    """Open, (fit, cut the mouth,) bake, save: the take written and the file it is in (read
    back whole)."""
    open_scene(scene_file)
    if audio:
        strip = add_audio_strip(audio, frame_start, take or Path(audio).stem)
    if keypoints:
        fit_from_file(object_name, keypoints)
    if cut_mouth:
        said = cut_mouth_of(object_name, mouth_bag)
        if warn is not None:
            warn(said)
    chosen = settings_of(settings)
    params = bake.BakeParams(object_name=object_name, strip_name=strip,
                             take=take, **chosen)
    path = Path(out).resolve()
    if path.is_dir():  # before the bake, which may take minutes
        raise BakeError(f"The output {path} is a folder, not a file name.")
    record = bake.run_sync(bpy.context, params, warn=warn)
    save_verified(path, object_name)
    return record, path


def bake_all_strips(
    *, scene_file: str, out: str, settings: BakeSettings,
    done: Callable[[StripJob, TakeRecord | None, str], None],
    warn: Callable[[str], None] | None = None,
) -> tuple[AllResult, Path | None]:
    """Open, bake every strip onto its character, save once: what was baked and the file it is
    in (None when nothing was baked, so nothing was written)."""
    open_scene(scene_file)
    path = Path(out).resolve()
    if path.is_dir():  # before the bakes, which may take minutes
        raise BakeError(f"The output {path} is a folder, not a file name.")
    result = bake_all(bpy.context, settings, warn=warn, done=done)
    if not result.baked:
        return result, None
    save_verified(path, result.baked[0][0].character)
    return result, path
