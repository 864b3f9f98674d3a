"""Add-on preferences: default device, a weights folder override, the default bake mode."""

from __future__ import annotations

from dataclasses import dataclass

import bpy

from ..core.bake.settings import OPTION, BakeSettings
from .rna import Context

# "bl_ext.<repo>.blender_s2l" when installed as an extension, "blender_s2l" from a checkout.
ADDON_ID = __package__.rpartition(".")[0] if __package__ else "blender_s2l"

class S2LPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    device: bpy.props.EnumProperty(  # type: ignore[valid-type]
        name="Device", items=list(OPTION["device"].choices), default=BakeSettings.device
    )
    weights_dir: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Weights Folder",
        description=(
            "Folder with s2l.npz, s2d.npz, upper_face.npz, jaw.npz; empty uses the bundled weights"
        ),
        subtype="DIR_PATH",
        default="",
    )
    default_mode: bpy.props.EnumProperty(  # type: ignore[valid-type]
        name="Default Bake Mode", items=list(OPTION["mode"].choices), default=BakeSettings.mode
    )

    def draw(self, context: Context) -> None:
        col = self.layout.column()
        col.prop(self, "device")
        col.prop(self, "default_mode")
        col.prop(self, "weights_dir")


@dataclass
class Prefs:
    device: str = BakeSettings.device
    weights_dir: str = ""
    default_mode: str = BakeSettings.mode


def get_prefs(context: Context | None = None) -> Prefs:
    """The user's preferences, or the defaults when the add-on is not enabled (bpy module use)."""
    ctx = context or bpy.context
    addon = ctx.preferences.addons.get(ADDON_ID) if ctx.preferences else None
    p = getattr(addon, "preferences", None)
    if p is None:
        return Prefs()
    folder = bpy.path.abspath(p.weights_dir) if p.weights_dir else ""
    return Prefs(device=p.device, weights_dir=folder, default_mode=p.default_mode)
