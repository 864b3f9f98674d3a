"""Operators for landmarks on the user's head: assign key points, Fit, Clear."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import bpy

from ..core.errors import S2LError
from . import landmarks, mouth
from .bake import resolve_object
from .operators import run_on_object
from .rna import Context, Object, OpResult
from .storage import HOLD_GROUP


def _on_editable_object(op: Any, context: Context, action: Callable[[Object], str]) -> OpResult:
    """Run action on the operator's mesh once its landmarks may be edited."""
    return run_on_object(op, context, action, landmarks.check_editable)


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
        def assign(obj: Object) -> str:
            vertex = self.vertex if self.vertex >= 0 else landmarks.selected_vertex(obj)
            dropped = landmarks.assign_keypoint(obj, int(self.point), vertex)
            return f"Key point {self.point} is vertex {vertex}." + (
                " The other key points were marked before the mesh's vertices changed and were "
                "dropped: mark them again." if dropped else "")

        return _on_editable_object(self, context, assign)


class S2L_OT_fit_landmarks(bpy.types.Operator):
    """Fit all 68 landmarks onto the mesh from the marked key points"""

    bl_idname = "s2l.fit_landmarks"
    bl_label = "Fit Landmarks"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (bpy reads it as a class attribute)

    object_name: bpy.props.StringProperty(name="Object", default="")  # type: ignore[valid-type]

    def execute(self, context: Context) -> OpResult:
        def fit(obj: Object) -> str:
            landmarks.fit_object(obj)
            note = mouth.mouth_warning(obj)
            if note is not None:
                self.report({"WARNING"}, note)
            return f"Fitted 68 landmarks on '{obj.name}'."

        return _on_editable_object(self, context, fit)


class S2L_OT_clear_landmarks(bpy.types.Operator):
    """Forget the key points and landmarks stored on the mesh"""

    bl_idname = "s2l.clear_landmarks"
    bl_label = "Clear Landmarks"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (bpy reads it as a class attribute)

    object_name: bpy.props.StringProperty(name="Object", default="")  # type: ignore[valid-type]

    def execute(self, context: Context) -> OpResult:
        def clear(obj: Object) -> str:
            landmarks.clear_landmarks(obj)
            return ""

        return _on_editable_object(self, context, clear)


class S2L_OT_adjust_landmark(bpy.types.Operator):
    """Move one fitted landmark onto the selected (or active) vertex"""

    bl_idname = "s2l.adjust_landmark"
    bl_label = "Adjust Landmark"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (bpy reads it as a class attribute)

    object_name: bpy.props.StringProperty(name="Object", default="")  # type: ignore[valid-type]
    index: bpy.props.IntProperty(  # type: ignore[valid-type]
        name="Landmark", default=0, min=0, max=67, description="iBUG landmark index (0-67)"
    )
    vertex: bpy.props.IntProperty(  # type: ignore[valid-type]
        name="Vertex", default=-1, min=-1, description="Vertex index; -1 uses the selected one"
    )

    def execute(self, context: Context) -> OpResult:
        def adjust(obj: Object) -> str:
            if obj.mode == "EDIT":
                obj.update_from_editmode()
            vertex = self.vertex if self.vertex >= 0 else landmarks.selected_vertex(obj)
            landmarks.adjust_landmark(obj, int(self.index), vertex)
            return f"Landmark {self.index} is now at vertex {vertex}."

        return _on_editable_object(self, context, adjust)


class S2L_OT_add_hold_group(bpy.types.Operator):
    """Add the vertex group whose painted weight holds vertices still in every bake (1: still)"""

    bl_idname = "s2l.add_hold_group"
    bl_label = "Add Hold-Still Group"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (bpy reads it as a class attribute)

    object_name: bpy.props.StringProperty(name="Object", default="")  # type: ignore[valid-type]

    def execute(self, context: Context) -> OpResult:
        def add(obj: Object) -> str:
            group = obj.vertex_groups.get(HOLD_GROUP) or obj.vertex_groups.new(name=HOLD_GROUP)
            obj.vertex_groups.active_index = group.index
            return (f"Paint '{HOLD_GROUP}' in Weight Paint mode: 1 holds a vertex still, "
                    "0 lets it move.")

        return _on_editable_object(self, context, add)


class S2L_OT_cut_mouth(bpy.types.Operator):
    """Cut a mouth whose lips share polygons open along the inner-lip line, so the lips part
    instead of stretching into a sheet when the bake opens it (the mouth corners stay joined;
    UVs, shape keys and vertex groups come along)"""

    bl_idname = "s2l.cut_mouth"
    bl_label = "Cut Mouth"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (bpy reads it as a class attribute)

    object_name: bpy.props.StringProperty(name="Object", default="")  # type: ignore[valid-type]
    bag: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name=mouth.BAG_LABEL, default=True, description=mouth.BAG_TIP,
    )

    def execute(self, context: Context) -> OpResult:
        """FINISHED (one undo step) only when the mesh was cut; an open mouth is said and left."""
        try:
            result = mouth.cut_mouth(resolve_object(context, self.object_name), self.bag)
        except S2LError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, result.message)
        return {"FINISHED"} if result.cut else {"CANCELLED"}
