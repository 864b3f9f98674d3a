"""Per-scene panel settings (Scene.s2l): what the sidebar shows and the Bake button uses."""

from __future__ import annotations

from typing import Any

import bpy

from ..core.bake.settings import panel_rows
from .mouth import BAG_LABEL, BAG_TIP
from .option_props import add_properties
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
    """What the panel holds between bakes: the head, the strip, and every panel option."""

    target: bpy.props.PointerProperty(  # type: ignore[valid-type]
        name="Head", type=bpy.types.Object, poll=_is_mesh,
        description="Mesh to animate; empty uses the active object",
    )
    strip: bpy.props.EnumProperty(  # type: ignore[valid-type]
        name="Sound Strip", items=_strip_items, description="Sound strip to lip-sync"
    )
    landmark_index: bpy.props.IntProperty(  # type: ignore[valid-type]
        name="Landmark", default=48, min=0, max=67,
        description="iBUG landmark (0-67) that Adjust moves onto the selected vertex",
    )
    cut_mouth_bag: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name=BAG_LABEL, default=True, description=BAG_TIP,
    )


class S2LRigMapRow(bpy.types.PropertyGroup):
    """One name the recogniser does not know: the rig set's name and the head's key for it."""

    rig_name: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Rig Name", description="The rig set's name of the key, such as jawOpen or aa",
    )
    key_name: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Shape Key", description="This head's shape key that plays it",
    )


class S2LRigSettings(bpy.types.PropertyGroup):
    """A head's own choices for Rig Shape Keys (Object.s2l_rig), saved with the character."""

    rows: bpy.props.CollectionProperty(type=S2LRigMapRow)  # type: ignore[valid-type]
    index: bpy.props.IntProperty(name="Row", default=0, min=0)  # type: ignore[valid-type]
    jaw_bone: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Jaw Bone",
        description="The armature's bone that opens the jaw; empty finds one named like a jaw",
    )


# The bake options the sidebar shows, as its rows declare them.
add_properties(S2LSettings, (o for row in panel_rows() for o in row), "panel")


def split_strip_id(identifier: str) -> tuple[str, str]:
    """(scene name, strip name) from a panel enum identifier; empty when nothing is picked."""
    if SEP not in identifier:
        return "", ""
    scene, _, strip = identifier.partition(SEP)
    return scene, strip
