"""Add-on preferences: default device, a weights folder override, the default bake mode, and the
bake cache's folder, size limit and Clear button."""

from __future__ import annotations

import os
from dataclasses import dataclass

import bpy

from ..core.bake.cache import DEFAULT_LIMIT_MB, session_cache
from ..core.bake.settings import OPTION, BakeSettings
from .rna import Context, OpResult

CACHE_ENV = "BLENDER_S2L_CACHE"  # a cache folder that wins over the default (tests, farms)
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
    cache_dir: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Cache Folder",
        description=(
            "Where recognised words and the speech model's output of lines already baked are "
            "kept, so a re-bake with other settings skips them; empty uses the add-on's user "
            "folder"
        ),
        subtype="DIR_PATH",
        default="",
    )
    cache_limit_mb: bpy.props.IntProperty(  # type: ignore[valid-type]
        name="Cache Limit (MB)",
        description="The oldest entries go beyond this size; 0 keeps nothing on disk",
        min=0, soft_max=16384, default=DEFAULT_LIMIT_MB,
    )

    def draw(self, context: Context) -> None:
        col = self.layout.column()
        col.prop(self, "device")
        col.prop(self, "default_mode")
        col.prop(self, "weights_dir")
        col.prop(self, "cache_dir", text="Cache Folder")
        row = col.row()
        row.prop(self, "cache_limit_mb")
        row.operator(S2L_OT_clear_cache.bl_idname, icon="TRASH")
        used = session_cache(cache_folder(self.cache_dir)).size_bytes()
        col.label(text=f"Cache: {used / 2**20:.1f} MB in {cache_folder(self.cache_dir)}")


class S2L_OT_clear_cache(bpy.types.Operator):
    """Remove the cached words and speech-model output (only the cache's own files)"""

    bl_idname = "s2l.clear_cache"
    bl_label = "Clear"

    def execute(self, context: Context) -> OpResult:
        removed = session_cache(get_prefs(context).cache_dir).clear()
        self.report({"INFO"}, f"Lip Sync cache cleared ({removed} files).")
        return {"FINISHED"}


def default_cache_folder() -> str:
    """$BLENDER_S2L_CACHE, else the add-on's own user folder (an extension's, or Blender's user
    datafiles from a checkout); not created until a bake uses it."""
    if os.environ.get(CACHE_ENV):
        return os.environ[CACHE_ENV]
    if ADDON_ID.startswith("bl_ext."):
        try:
            return str(bpy.utils.extension_path_user(ADDON_ID, path="cache"))
        except (ValueError, RuntimeError, AttributeError):
            pass
    return str(bpy.utils.user_resource("DATAFILES", path="blender_s2l/cache"))


def cache_folder(chosen: str) -> str:
    """The folder a preference or flag names (Blender's // paths resolved), else the default."""
    return bpy.path.abspath(chosen) if chosen else default_cache_folder()


@dataclass
class Prefs:
    device: str = BakeSettings.device
    weights_dir: str = ""
    default_mode: str = BakeSettings.mode
    cache_dir: str = ""  # resolved by get_prefs: the default folder when empty
    cache_limit_mb: int = DEFAULT_LIMIT_MB


def get_prefs(context: Context | None = None) -> Prefs:
    """The user's preferences, or the defaults when the add-on is not enabled (bpy module use)."""
    ctx = context or bpy.context
    addon = ctx.preferences.addons.get(ADDON_ID) if ctx.preferences else None
    p = getattr(addon, "preferences", None)
    if p is None:
        return Prefs(cache_dir=cache_folder(""))
    folder = bpy.path.abspath(p.weights_dir) if p.weights_dir else ""
    return Prefs(device=p.device, weights_dir=folder, default_mode=p.default_mode,
                 cache_dir=cache_folder(p.cache_dir), cache_limit_mb=int(p.cache_limit_mb))
