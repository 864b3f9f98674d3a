"""Per-scene panel settings (Scene.s2l): what the sidebar shows and the Bake button uses."""

from __future__ import annotations

from typing import Any

import bpy

from .prefs import DEVICE_ITEMS, MODE_ITEMS
from .rna import Context, Object
from .strips import SEP, sound_strips

# Blender keeps only pointers to dynamic enum strings: hold them so they are not collected.
_STRIP_ITEMS: list[tuple[str, str, str]] = []


def _strip_items(self: Any, context: Context | None) -> list[tuple[str, str, str]]:
    _STRIP_ITEMS.clear()
    if context is not None:
        for scene, strip in sound_strips(context):
            label = strip.name if scene == context.scene else f"{strip.name} ({scene.name})"
            _STRIP_ITEMS.append((f"{scene.name}{SEP}{strip.name}", label, strip.sound.filepath
                                 if strip.sound else ""))
    if not _STRIP_ITEMS:
        _STRIP_ITEMS.append(("NONE", "No sound strips", "Add the voice as a sound strip"))
    return _STRIP_ITEMS


def _is_mesh(self: Any, obj: Object) -> bool:
    return bool(obj.type == "MESH")


class S2LSettings(bpy.types.PropertyGroup):
    target: bpy.props.PointerProperty(  # type: ignore[valid-type]
        name="Head", type=bpy.types.Object, poll=_is_mesh,
        description="Mesh to animate; empty uses the active object",
    )
    strip: bpy.props.EnumProperty(  # type: ignore[valid-type]
        name="Sound Strip", items=_strip_items, description="Sound strip to lip-sync"
    )
    device: bpy.props.EnumProperty(  # type: ignore[valid-type]
        name="Device", items=[("PREFS", "Default", "As set in the preferences"), *DEVICE_ITEMS],
        default="PREFS",
    )
    mode: bpy.props.EnumProperty(  # type: ignore[valid-type]
        name="Mode", items=[("PREFS", "Default", "As set in the preferences"), *MODE_ITEMS],
        default="PREFS",
    )
    landmark_index: bpy.props.IntProperty(  # type: ignore[valid-type]
        name="Landmark", default=48, min=0, max=67,
        description="iBUG landmark (0-67) that Adjust moves onto the selected vertex",
    )
    mouth_strength: bpy.props.FloatProperty(  # type: ignore[valid-type]
        name="Mouth Strength", default=1.0, min=0.0, max=3.0, soft_max=2.0
    )
    upper_face: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name="Upper Face", default=True, description="Add blinks and brow motion (not from audio)"
    )
    seed: bpy.props.IntProperty(  # type: ignore[valid-type]
        name="Seed", default=0, min=0, description="Seed of the blink and brow motion"
    )
    smoothing: bpy.props.FloatProperty(  # type: ignore[valid-type]
        name="Smoothing", default=0.0, min=0.0, max=1.0, subtype="FACTOR"
    )
    lip_closure: bpy.props.FloatProperty(  # type: ignore[valid-type]
        name="Lip Closure", default=1.0, min=0.0, max=1.0, subtype="FACTOR",
        description="How firmly the lips meet on p, b and m where the model hears a closure",
    )
    closure_sensitivity: bpy.props.FloatProperty(  # type: ignore[valid-type]
        name="Closure Sensitivity", default=0.5, min=0.0, max=1.0, subtype="FACTOR",
        description="How sure the model must be that it hears p, b or m before the lips meet. "
                    "Higher closes more of them, and sometimes the lips inside a vowel",
    )
    phones_file: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Phones", default="", subtype="FILE_PATH",
        description="Optional phone alignment of the line (.lab, TextGrid, .tsv): every p, b, m "
                    "in it closes the lips exactly (key poses)",
    )
    transcript: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Transcript", default="",
        description="Optional words of the line, aligned to the sound for key poses "
                    "(needs the pocketsphinx package; a Phones file takes precedence)",
    )
    recognise_words: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name="Recognise Words", default=True,
        description="Without Phones or Transcript, recognise the line's words (pocketsphinx) and "
                    "close the lips on their p, b and m. Catches far more closures on real "
                    "voices; takes about a quarter as long as the audio. Without pocketsphinx "
                    "the bake uses the audio alone",
    )
    take: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Take", default="", description="Take name; empty uses the strip's name"
    )
    replace: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name="Replace", default=False, description="Replace an existing take of the same name"
    )


def split_strip_id(identifier: str) -> tuple[str, str]:
    """(scene name, strip name) from a panel enum identifier; empty when nothing is picked."""
    if SEP not in identifier:
        return "", ""
    scene, _, strip = identifier.partition(SEP)
    return scene, strip
