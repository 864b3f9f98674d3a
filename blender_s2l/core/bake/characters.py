"""Which character speaks a sound strip: the one rule Bake All Strips and batch --all-strips use.

A strip's character is
1. the object named by the strip's custom property ``s2l_character``, when it is set;
2. else the mesh object whose name is the strip name's prefix before the first ``.``
   (strip ``Anna.line_0042`` -> object ``Anna``), when such a mesh object exists;
3. else none: the strip is listed as unassigned, never guessed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

CHARACTER_PROP = "s2l_character"


def character_of(strip_name: str, assigned: str, meshes: Collection[str]) -> str:
    """The object that speaks the strip, or "" when it has none (see the module's rule).

    assigned: the strip's ``s2l_character`` property ("" when unset); it wins even when no such
    object exists, so the bake of that strip fails with its reason instead of going elsewhere.
    meshes: the names of the file's mesh objects.
    """
    if assigned.strip():
        return assigned.strip()
    prefix, dot, _ = strip_name.partition(".")
    return prefix if dot and prefix and prefix in meshes else ""


@dataclass(frozen=True)
class StripJob:
    """One strip to bake and the character it is baked onto."""

    scene: str
    strip: str
    character: str

    @property
    def label(self) -> str:
        return f"{self.strip} ({self.scene})"


def assign(strips: Iterable[tuple[str, str, str]],
           meshes: Collection[str]) -> tuple[list[StripJob], list[StripJob]]:
    """(scene, strip, assigned property) -> (the strips with a character, those without)."""
    found: list[StripJob] = []
    missing: list[StripJob] = []
    for scene, strip, assigned in strips:
        character = character_of(strip, assigned, meshes)
        (found if character else missing).append(StripJob(scene, strip, character))
    return found, missing
