"""Bake All Strips: every sound strip of the scene (and of the sequencer scene) onto the
character that speaks it (core/bake/characters.py holds the rule), strip by strip.

An `AllRun` steps through the strips and records what each one gave; `bake_all` runs it in one
go (background mode, batch --all-strips), the modal operator one strip per worker job (the UI).
A strip that fails is reported and the others go on; the strips without a character are listed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import bpy

from ..core.bake.characters import CHARACTER_PROP, StripJob, assign, character_of
from ..core.bake.settings import BakeSettings, settings_of
from ..core.errors import BakeError, S2LError
from ..core.progress import CancelFn, ProgressFn, Task
from . import bake
from .compat import all_strips
from .rna import Context, Strip
from .storage import TakeRecord, distinct_takes, read_takes, take_for_strip
from .strips import find_strip, sound_strips

T = TypeVar("T")
DoneFn = Callable[[StripJob, TakeRecord | None, str], None]


@dataclass
class AllResult:
    """What a Bake All Strips run did, strip by strip."""

    baked: list[tuple[StripJob, TakeRecord]] = field(default_factory=list)
    failed: list[tuple[StripJob, str]] = field(default_factory=list)
    unassigned: list[StripJob] = field(default_factory=list)
    stopped: bool = False  # stopped by the user: the rest were not baked

    def summary(self) -> str:
        text = (f"{len(self.baked)} baked, {len(self.failed)} failed, "
                f"{len(self.unassigned)} without a character")
        if self.failed:
            reasons = "; ".join(f"{j.strip}: {why.rstrip('.')}" for j, why in self.failed[:3])
            text += f" ({reasons}{' ...' if len(self.failed) > 3 else ''})"
        return text + (" - stopped before the rest" if self.stopped else "")


def strip_jobs(context: Context) -> tuple[list[StripJob], list[StripJob]]:
    """The sound strips with their character, and those without one (in the sequencer's order)."""
    found = [(sc.name, s.name, assigned_character(s)) for sc, s in sound_strips(context)]
    return assign(found, _meshes())


def picked_strip(scene_name: str, strip_name: str) -> Strip | None:
    """The strip the panel picked (any strip of that scene by that name), or None."""
    scene = bpy.data.scenes.get(scene_name) if scene_name else None
    ed = scene.sequence_editor if scene is not None else None
    if ed is None:
        return None
    return next((s for s in all_strips(ed) if s.name == strip_name), None)


def assigned_character(strip: Strip) -> str:
    """The strip's own s2l_character ("" when unset): the source of truth, batch reads it."""
    return str(strip.get(CHARACTER_PROP, "") or "").strip()


def character_note(scene_name: str, strip_name: str) -> str:
    """The panel's line about who speaks the picked strip in Bake All Strips; "" for none."""
    strip = picked_strip(scene_name, strip_name)
    if strip is None:
        return ""
    assigned = assigned_character(strip)
    who = character_of(strip.name, assigned, _meshes())
    if not who:
        return (f"Bake All: no character (name it Character.line or set {CHARACTER_PROP})")
    return f"Bake All: {who} ({CHARACTER_PROP})" if assigned else \
        f"Bake All: {who} (by its name)"


def set_character(context: Context, scene_name: str, strip_name: str, character: str) -> str:
    """Set (or with "" clear) the s2l_character of that one sound strip; the message to show.
    Only a mesh object of the file may be named."""
    if not strip_name:
        raise BakeError("Pick a sound strip first.")
    _, strip = find_strip(context, strip_name, scene_name)
    if not character:
        if CHARACTER_PROP in strip:
            del strip[CHARACTER_PROP]
        who = character_of(strip.name, "", _meshes())
        return (f"'{strip.name}' has no {CHARACTER_PROP} now: Bake All bakes it onto "
                + (f"'{who}' (by its name)." if who else "nobody (it is listed)."))
    obj = bpy.data.objects.get(character)
    if obj is None or obj.type != "MESH":
        raise BakeError(f"There is no mesh object named '{character}'.")
    strip[CHARACTER_PROP] = obj.name
    return f"Bake All bakes '{strip.name}' onto '{obj.name}' ({CHARACTER_PROP})."


def _meshes() -> set[str]:
    return {o.name for o in bpy.data.objects if o.type == "MESH"}


def run_takes(jobs: list[StripJob]) -> list[str]:
    """The take each strip of a run writes, named after the strip (`take_for_strip`), and
    distinct on each character (`distinct_takes`): strips whose names differ only in what a
    take name cannot hold still each keep their own take."""
    wanted = []
    for job in jobs:
        obj = bpy.data.objects.get(job.character)
        takes: dict[str, TakeRecord] = read_takes(obj) if obj is not None else {}
        wanted.append((job.character, take_for_strip(takes, job.strip)))
    return distinct_takes(wanted)


def params_for(job: StripJob, settings: BakeSettings, take: str) -> bake.BakeParams:
    chosen = settings_of(settings)
    return bake.BakeParams(object_name=job.character, strip_name=job.strip,
                           strip_scene=job.scene, take=take, **chosen)


class AllRun:
    """One Bake All Strips run, stepped strip by strip: the strips still to bake (`current` is
    the next one) and what the others gave. Each strip ends once, by `baked`, by `fail` or
    (the user stopped) by `stop`."""

    def __init__(self, context: Context, settings: BakeSettings,
                 warn: Callable[[str], None] | None = None, done: DoneFn | None = None) -> None:
        self.todo, unassigned = strip_jobs(context)
        self.takes = run_takes(self.todo)
        self.settings = settings
        self.result = AllResult(unassigned=unassigned)
        self.index = 0
        self._warn = warn
        self._done = done

    @property
    def current(self) -> StripJob | None:
        return self.todo[self.index] if self.index < len(self.todo) else None

    def params(self) -> bake.BakeParams:
        job = self.current
        if job is None:
            raise BakeError("No strip is left to bake.")
        return params_for(job, self.settings, self.takes[self.index])

    @property
    def span(self) -> tuple[float, float]:
        """The current strip's share of the one progress bar over all strips."""
        n = max(len(self.todo), 1)
        return self.index / n, (self.index + 1) / n

    @property
    def fraction(self) -> float:
        """How far the run is between strips: the share of the strips that have ended."""
        return min(self.index / len(self.todo), 1.0) if self.todo else 1.0

    def note(self, text: str) -> None:
        """A warning about the current strip, named."""
        job = self.current
        if self._warn is not None:
            self._warn(f"{job.strip}: {text}" if job is not None else text)

    def attempt(self, step: Callable[[], T]) -> T | None:
        """Run a step of the current strip; if it raises, that is the strip's failure (any
        exception: one broken strip must not stop the others) and None comes back."""
        try:
            return step()
        except S2LError as exc:
            self.fail(str(exc))
        except Exception as exc:
            self.fail(f"unexpected {type(exc).__name__}: {exc}")
        return None

    def baked(self, record: TakeRecord) -> None:
        self._end(record, "")

    def fail(self, reason: str) -> None:
        self._end(None, reason)

    def stop(self) -> None:
        """The user stopped the run: the current strip and the rest are not baked."""
        self.result.stopped = self.current is not None

    def _end(self, record: TakeRecord | None, reason: str) -> None:
        job = self.current
        if job is None:
            return
        if record is not None:
            self.result.baked.append((job, record))
        else:
            self.result.failed.append((job, reason))
        if self._done is not None:
            self._done(job, record, reason)
        self.index += 1


def bake_all(
    context: Context,
    settings: BakeSettings,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    warn: Callable[[str], None] | None = None,
    done: DoneFn | None = None,
) -> AllResult:
    """Bake every strip that has a character in one go (run_sync each), one progress over them
    all; `done` hears each strip as it ends (record, or None and the reason). Cancel stops
    before the next strip."""
    run = AllRun(context, settings, warn, done)
    while run.current is not None:
        if cancel is not None and cancel():
            run.stop()
            break
        record = run.attempt(lambda: bake.run_sync(
            context, run.params(), Task(progress, None, *run.span), None, warn=run.note))
        if record is not None:
            run.baked(record)
        if progress is not None:
            progress(run.fraction)
    return run.result
