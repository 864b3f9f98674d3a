"""Bake All Strips: every sound strip of the scene (and of the sequencer scene) onto the
character that speaks it (core/bake/characters.py holds the rule), one run_sync per strip.

A strip that fails is reported and the others go on; the strips without a character are listed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import bpy

from ..core.bake.characters import CHARACTER_PROP, StripJob, assign, character_of
from ..core.bake.settings import BakeSettings, settings_of
from ..core.errors import S2LError
from ..core.progress import CancelFn, ProgressFn
from . import bake
from .compat import all_strips
from .rna import Context
from .storage import TakeRecord, take_from_label
from .strips import sound_strips


@dataclass
class AllResult:
    """What a Bake All Strips run did, strip by strip."""

    baked: list[tuple[StripJob, TakeRecord]] = field(default_factory=list)
    failed: list[tuple[StripJob, str]] = field(default_factory=list)
    unassigned: list[StripJob] = field(default_factory=list)
    stopped: bool = False  # cancelled between strips: the rest were not baked

    def summary(self) -> str:
        text = (f"{len(self.baked)} baked, {len(self.failed)} failed, "
                f"{len(self.unassigned)} without a character")
        if self.failed:
            reasons = "; ".join(f"{j.strip}: {why.rstrip('.')}" for j, why in self.failed[:3])
            text += f" ({reasons}{' ...' if len(self.failed) > 3 else ''})"
        return text + (" - stopped before the rest" if self.stopped else "")


def strip_jobs(context: Context) -> tuple[list[StripJob], list[StripJob]]:
    """The sound strips with their character, and those without one (in the sequencer's order)."""
    meshes = {o.name for o in bpy.data.objects if o.type == "MESH"}
    found = [(sc.name, s.name, str(s.get(CHARACTER_PROP, "") or ""))
             for sc, s in sound_strips(context)]
    return assign(found, meshes)


def character_note(scene_name: str, strip_name: str) -> str:
    """The panel's line about who speaks the picked strip in Bake All Strips; "" for none."""
    scene = bpy.data.scenes.get(scene_name) if scene_name else None
    ed = scene.sequence_editor if scene is not None else None
    strip = next((s for s in all_strips(ed) if s.name == strip_name), None) \
        if ed is not None else None
    if strip is None:
        return ""
    assigned = str(strip.get(CHARACTER_PROP, "") or "")
    who = character_of(strip.name, assigned, {o.name for o in bpy.data.objects
                                              if o.type == "MESH"})
    if not who:
        return (f"Bake All: no character (name it Character.line or set {CHARACTER_PROP})")
    return f"Bake All: {who} ({CHARACTER_PROP})" if assigned.strip() else \
        f"Bake All: {who} (by its name)"


def params_for(job: StripJob, settings: BakeSettings) -> bake.BakeParams:
    chosen = settings_of(settings)
    return bake.BakeParams(object_name=job.character, strip_name=job.strip,
                           strip_scene=job.scene, take=take_from_label(job.strip), **chosen)


def bake_all(
    context: Context,
    settings: BakeSettings,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    warn: Callable[[str], None] | None = None,
    done: Callable[[StripJob, TakeRecord | None, str], None] | None = None,
) -> AllResult:
    """Bake every strip that has a character, one progress over them all; `done` hears each
    strip as it ends (record, or None and the reason). Cancel stops after the current strip."""
    todo, unassigned = strip_jobs(context)
    result = AllResult(unassigned=unassigned)
    n = max(len(todo), 1)
    for i, job in enumerate(todo):
        if cancel is not None and cancel():
            result.stopped = True
            break

        def part(fraction: float, i: int = i) -> None:
            if progress is not None:
                progress((i + min(max(fraction, 0.0), 1.0)) / n)

        def note(text: str, job: StripJob = job) -> None:
            if warn is not None:
                warn(f"{job.strip}: {text}")

        try:
            record = bake.run_sync(context, params_for(job, settings), part, None, warn=note)
        except S2LError as exc:
            result.failed.append((job, str(exc)))
            if done is not None:
                done(job, None, str(exc))
        except Exception as exc:  # one broken strip must not stop the others
            reason = f"unexpected {type(exc).__name__}: {exc}"
            result.failed.append((job, reason))
            if done is not None:
                done(job, None, reason)
        else:
            result.baked.append((job, record))
            if done is not None:
                done(job, record, "")
        part(1.0)
    return result
