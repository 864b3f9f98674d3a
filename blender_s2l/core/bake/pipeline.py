"""The bake without Blender: one snapshot of the user's data and choices in, one key plan out.

Blender's side (`blender/bake.py`) copies the mesh, the sound and the frame times on the main
thread and writes the plan back there; everything between runs here, on a worker thread in the
UI or inline in batch, and never touches Blender data. See ARCHITECTURE.md for the whole flow.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import BakeError, S2LError
from ..head.head_mesh import head_mesh
from ..head.mouth_slit import fused_note
from ..motion import Motion
from ..progress import CancelFn, ProgressFn, Task, as_task, on_another_thread
from ..rig.target import RigTarget
from ..speech import audio as audio_io
from ..speech.languages import is_english
from ..speech.phones import LinePhones, find_line_phones, key_pose_source, uses_pocketsphinx
from .cache import BakeCache
from .plans import KeyPlan, nothing_moved, plan_for
from .settings import BakeSettings

# Recognising words takes far longer than the networks (BENCHMARKS.md), so it gets most of the bar.
WORDS_SHARE = 0.7
NOT_FINITE = "the sound or the mesh holds invalid values"


@dataclass
class BakeInputs:
    """What a bake reads, copied out of Blender (or any other host) so a worker may use it."""

    settings: BakeSettings
    audio_path: str | Path
    vertices: NDArray[np.float64]  # the neutral mesh, in its own space and units
    faces: NDArray[np.int64]  # (F, K) padded with -1
    frames: NDArray[np.int64]  # scene frame numbers ...
    times: NDArray[np.float64]  # ... and the exact audio time of each
    landmarks68: NDArray[Any] | None = None  # (68,) vertex indices or (68, 3) positions
    hold: NDArray[np.float64] | None = None  # the user's hold-still weights
    label: str = ""  # how messages name the sound (the strip's name)
    mesh_name: str = ""  # how messages name the mesh (the object's name)
    rig: RigTarget | None = None  # the character's own keys, for the RIG mode
    # Phones and S2L tracks of lines already heard (cache.py); None computes everything.
    cache: BakeCache | None = None


_ANIMATORS: dict[tuple[str, str], Any] = {}


def load_animator(device: str, weights_dir: str) -> Any:
    """One Animator per (device, weights) for the session: loading costs more than a short bake."""
    from ..animate import Animator

    cache_key = (device.lower(), weights_dir)
    if cache_key not in _ANIMATORS:
        _ANIMATORS[cache_key] = Animator.load(device=device.lower(),
                                              weights_dir=weights_dir or None)
    return _ANIMATORS[cache_key]


def forget_animators() -> None:
    """Drop the loaded models (new weights, or a test swapping the animator), and the meshes
    kept for re-bakes (head_mesh.py), whose S2D bases belong to those models."""
    from ..head.head_mesh import forget_meshes

    _ANIMATORS.clear()
    forget_meshes()


def check_motion(motion: Motion, label: str) -> None:
    """Refuse NaN/inf motion before planning: the compact plan's SVD would fail on it with a
    LinAlgError, and a per-frame plan would write it into shape keys as it is."""
    if not (np.all(np.isfinite(motion.codes)) and np.all(np.isfinite(motion.basis))):
        raise BakeError(
            f"The bake of strip '{label}' produced NaN or infinite motion, so nothing was "
            f"written; {NOT_FINITE}."
        )


def infer(inputs: BakeInputs, progress: ProgressFn | Task | None = None,
          cancel: CancelFn | None = None) -> KeyPlan:
    """Audio + mesh -> key plan, by the plan type the settings' mode names."""
    task = as_task(progress, cancel)
    s = inputs.settings
    listening = uses_pocketsphinx(s.phones_file, s.transcript, s.recognise_words)
    share = WORDS_SHARE if listening else 0.0
    hearing = task.part(0.0, share)
    cache = inputs.cache
    if cache is not None:
        cache.start_bake()
    audio_io.forget_decoded()  # this bake decodes its line once (audio.py)
    if listening:  # pocketsphinx's helpers decode; this process readies the networks meanwhile
        anim, found = _while_hearing(inputs, hearing)
    else:
        anim = load_animator(s.device, s.weights_dir)
        found = line_phones(s, str(inputs.audio_path), hearing, cache)
    motion = anim.animate(
        inputs.audio_path, inputs.vertices, inputs.faces, inputs.landmarks68,
        settings=s, frame_times=inputs.times, phones=found.phones, hold=inputs.hold,
        progress=task.part(share, 0.9), cancel=task.cancel, cache=cache,
    )
    task.check()
    fused = _fused_note(inputs)
    notes = (*found.notes, *(cache.take_notes() if cache is not None else ()),
             *((fused,) if fused else ()))
    motion = replace(motion, notes=tuple(dict.fromkeys((*motion.notes, *notes))),
                     aligned=found.aligned)
    check_motion(motion, inputs.label)
    plan = plan_for(s.mode).build(motion, inputs)
    if not plan.moves:  # refused here, before the main thread writes anything
        raise BakeError(nothing_moved(inputs.mesh_name or "the mesh"))
    late = cache.take_notes() if cache is not None else ()  # the plan's own use of the folder
    if late:
        plan.motion = replace(plan.motion, notes=tuple(dict.fromkeys((*plan.motion.notes,
                                                                      *late))))
    task(1.0)
    return plan


def _fused_note(inputs: BakeInputs) -> str | None:
    """The fused-lips sentence (mouth_slit.py), asked of the mesh the bake just read (its
    answer kept with the mesh's other facts), or None: open, or landmarks the bake's motion
    did not need to read."""
    try:
        head = head_mesh(inputs.vertices, inputs.faces, inputs.landmarks68, inputs.cache)
    except S2LError:
        return None
    return fused_note(inputs.mesh_name or "the mesh") if head.mouth_fused() else None


def _while_hearing(inputs: BakeInputs, hearing: Task) -> tuple[Any, LinePhones]:
    """(animator, phones): the words are heard (helper processes, recognise.py) while a thread
    here loads the models and puts the sound's S2L output in the cache, the part of the bake
    that does not need the words."""
    s = inputs.settings

    def prepare() -> Any:
        anim = load_animator(s.device, s.weights_dir)
        if inputs.cache is not None and not hearing.cancelled():
            anim.hear_speech(inputs.audio_path, inputs.cache)
        return anim

    ready = on_another_thread(prepare, "s2l-prepare")
    try:
        phones = line_phones(s, str(inputs.audio_path), hearing, inputs.cache)
    except BaseException:
        ready(quiet=True)
        raise
    return ready(), phones


def line_phones(s: BakeSettings, audio_path: str, hearing: Task,
                cache: BakeCache | None) -> LinePhones:
    """`find_line_phones`, through the cache where the phones cost something to find (a
    transcript aligned, words recognised); a phones file is read each time, so never stale."""
    source = key_pose_source(s.phones_file, s.transcript, s.recognise_words)
    if cache is None or source not in ("transcript", "recognised words"):
        return find_line_phones(s.phones_file, s.transcript, audio_path, s.recognise_words,
                                hearing, hearing.cancel, s.language)
    raw = audio_io.load_audio(audio_path)
    # English keys stay as they were; another language's words are other phones
    words = s.transcript.strip() if is_english(s.language) else \
        f"{s.language.lower()}:{s.transcript.strip()}"
    found = cache.phones(raw, source, words, lambda: find_line_phones(
        s.phones_file, s.transcript, audio_path, s.recognise_words, hearing, hearing.cancel,
        s.language))
    hearing(1.0)
    return found
