"""Blender extension entry point: register()/unregister() only.

The Blender side is imported lazily so that `import blender_s2l.core...` never needs bpy.
"""

from __future__ import annotations


def register() -> None:
    from .blender.registration import register as register_blender

    register_blender()


def unregister() -> None:
    from .blender.registration import unregister as unregister_blender

    unregister_blender()
