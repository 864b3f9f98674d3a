"""Operators for landmarks on the user's head: assign key points, Fit, Clear."""

from __future__ import annotations

import bpy

from ..core.errors import S2LError
from . import landmarks
from .bake import resolve_object
from .rna import Context, OpResult


class S2L_OT_assign_keypoint(bpy.types.Operator):
    """Mark the selected (or active) vertex as this key point"""

    bl_idname = "s2l.assign_keypoint"
    bl_label = "Assign Key Point"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (bpy reads it as a class attribute)

    point: bpy.props.EnumProperty(  # type: ignore[valid-type]
        name="Key Point", items=landmarks.keypoint_items()
    )
    object_name: bpy.props.StringProperty(name="Object", default="")  # type: ignore[valid-type]
    vertex: bpy.props.IntProperty(  # type: ignore[valid-type]
        name="Vertex", default=-1, min=-1, description="Vertex index; -1 uses the selected one"
    )

    def execute(self, context: Context) -> OpResult:
        try:
            obj = resolve_object(context, self.object_name)
            landmarks.check_editable(obj)
            vertex = self.vertex if self.vertex >= 0 else landmarks.selected_vertex(obj)
            landmarks.assign_keypoint(obj, int(self.point), vertex)
        except S2LError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Key point {self.point} is vertex {vertex}.")
        return {"FINISHED"}


class S2L_OT_fit_landmarks(bpy.types.Operator):
    """Fit all 68 landmarks onto the mesh from the marked key points"""

    bl_idname = "s2l.fit_landmarks"
    bl_label = "Fit Landmarks"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (bpy reads it as a class attribute)

    object_name: bpy.props.StringProperty(name="Object", default="")  # type: ignore[valid-type]

    def execute(self, context: Context) -> OpResult:
        try:
            obj = resolve_object(context, self.object_name)
            landmarks.check_editable(obj)
            landmarks.fit_object(obj)
        except S2LError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Fitted 68 landmarks on '{obj.name}'.")
        return {"FINISHED"}


class S2L_OT_clear_landmarks(bpy.types.Operator):
    """Forget the key points and landmarks stored on the mesh"""

    bl_idname = "s2l.clear_landmarks"
    bl_label = "Clear Landmarks"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (bpy reads it as a class attribute)

    object_name: bpy.props.StringProperty(name="Object", default="")  # type: ignore[valid-type]

    def execute(self, context: Context) -> OpResult:
        try:
            obj = resolve_object(context, self.object_name)
            landmarks.check_editable(obj)
            landmarks.clear_landmarks(obj)
        except S2LError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        return {"FINISHED"}
