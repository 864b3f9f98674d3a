"""The parts of Blender's API that differ between Blender versions, in one place.

The extension supports what is tested: Blender 5.0 and later (`blender_version_min` in
blender_manifest.toml, which tests/blender/test_compat.py holds to the tested bpy). The rest of
the Blender layer reaches renamed or version-new API through these names, so when a later
Blender renames something again the change is made here, once, and nothing here serves a
Blender older than 5.0.
"""

from __future__ import annotations

from typing import Any

from .rna import Action, ActionSlot, Context, Scene

# An uncompressed .blend ends with an empty ENDB block header; Blender 5.0's file format made
# block headers 32 bytes long (4.x wrote 24 or 20).
BLEND_END_BLOCK = b"ENDB" + bytes(28)


def sequencer_scene(context: Context) -> Scene | None:
    """The workspace's sequencer scene, or None (new in 5.0: the sequencer may edit a scene
    other than the active one)."""
    workspace = context.workspace
    return None if workspace is None else workspace.sequencer_scene


def all_strips(ed: Any) -> Any:
    """Every strip of a sequence editor, nested ones included (`sequences_all` before 5.0)."""
    return ed.strips_all


def top_strips(ed: Any) -> Any:
    """The top-level strips, where new ones are added (`sequences` before 5.0)."""
    return ed.strips


def action_channelbag(action: Action, slot: ActionSlot) -> Any:
    """The F-curve container of a slot in a layered action (the slotted-action API of 4.4+; 5.0
    removed the legacy `action.fcurves`): the first layer's first keyframe strip, made if absent.
    """
    layer = action.layers[0] if action.layers else action.layers.new("Layer")
    strip = layer.strips[0] if layer.strips else layer.strips.new(type="KEYFRAME")
    return strip.channelbag(slot, ensure=True)


def _channelbags(action: Action, slot: ActionSlot) -> list[Any]:
    """Every channelbag of `slot` in the action's layers and strips, creating none."""
    return [bag for layer in action.layers for strip in layer.strips
            if (bag := strip.channelbag(slot)) is not None]


def find_channelbag(action: Action, slot: ActionSlot) -> Any | None:
    """The F-curve container of a slot, or None; unlike action_channelbag it creates nothing,
    so reading a take leaves its action as it was."""
    bags = _channelbags(action, slot)
    return bags[0] if bags else None


def slot_fcurves(action: Action, slot: ActionSlot | None) -> list[Any]:
    """Every F-curve that animates `slot` in a layered action (none without a slot)."""
    if action is None or slot is None:
        return []
    return [fc for bag in _channelbags(action, slot) for fc in bag.fcurves]
