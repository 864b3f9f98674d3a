"""How to bake, in one place: the operator, the panel and the batch CLI all fill this in."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class BakeSettings:
    """The user's choices that do not name Blender data (object, strip, take live beside them)."""

    mode: str = "COMPACT"
    device: str = "AUTO"
    seed: int = 0
    replace: bool = False
    mouth_strength: float = 1.0
    upper_face: bool = True
    smoothing: float = 0.0
    lip_closure: float = 1.0
    closure_sensitivity: float = 0.5  # how sure the closure head must be (0.5: tuned default)
    phones_file: str = ""  # key poses from a phone alignment of the line (.lab/TextGrid/.tsv)
    transcript: str = ""  # ... or from its words, aligned to the audio (needs pocketsphinx)
    recognise_words: bool = True  # ... or, with neither, from the words pocketsphinx hears
    weights_dir: str = ""
    tolerance_mm: float = 0.1


def settings_of(obj: Any) -> dict[str, Any]:
    """The BakeSettings fields of any object that has them (a job, an operator, params)."""
    return {f.name: getattr(obj, f.name) for f in fields(BakeSettings) if hasattr(obj, f.name)}
