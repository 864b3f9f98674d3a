"""Landmarks on the user's own head: key points marked on vertices, then Fit
(core/head/fitting.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..core.errors import BakeError, LandmarkError
from ..core.head.keypoints import NAMES, OPTIONAL, REQUIRED, describe
from .rna import Object
from .storage import (
    LANDMARK_ATTR,
    LANDMARK_GROUP,
    LANDMARK_POS_PROP,
    check_keypoints_current,
    fitted_landmarks,
    keypoints_stale,
    neutral_vertices,
    read_keypoints,
    store_fitted_landmarks,
    store_landmarks,
    stored_landmarks,
    write_keypoints,
)

KEYPOINT_ORDER = (*REQUIRED, *OPTIONAL)


def keypoint_items() -> list[tuple[str, str, str]]:
    return [
        (str(k), NAMES[k].capitalize(), f"iBUG landmark {k}" + ("" if k in REQUIRED else
                                                                 " (optional)"))
        for k in KEYPOINT_ORDER
    ]


def selected_vertex(obj: Object) -> int:
    """The one vertex the user picked: the active one in Edit Mode, else the single selected."""
    if obj.mode == "EDIT":
        import bmesh

        bm = bmesh.from_edit_mesh(obj.data)
        active = bm.select_history.active
        if isinstance(active, bmesh.types.BMVert):
            return int(active.index)
        picked = [v.index for v in bm.verts if v.select]
    else:
        flags = np.zeros(len(obj.data.vertices), dtype=bool)
        obj.data.vertices.foreach_get("select", flags)
        picked = np.flatnonzero(flags).tolist()
    if len(picked) != 1:
        raise LandmarkError(f"Select exactly one vertex ({len(picked)} are selected).")
    return int(picked[0])


def assign_keypoint(obj: Object, point: int, vertex: int) -> bool:
    """Mark one key point; True when the others were dropped, having been marked on an earlier
    version of the mesh (vertices added or deleted since renumber them: keeping them would let
    Fit follow other vertices than the ones the user marked)."""
    if point not in NAMES:
        raise LandmarkError(f"{point} is not one of the key points {list(KEYPOINT_ORDER)}.")
    if obj.mode == "EDIT":
        obj.update_from_editmode()  # the vertex count the mark belongs to
    n = len(obj.data.vertices)
    if not 0 <= vertex < n:
        raise LandmarkError(f"Vertex {vertex} is not in '{obj.name}' ({n} vertices).")
    stale = keypoints_stale(obj)
    before = read_keypoints(obj)
    keypoints = {} if stale else before
    keypoints[point] = vertex
    write_keypoints(obj, keypoints)
    return stale and bool(set(before) - {point})


def missing_keypoints(obj: Object) -> list[int]:
    have = read_keypoints(obj)
    return [k for k in REQUIRED if k not in have]


def fit_object(obj: Object) -> NDArray[np.float32]:
    """Fit the 68 landmarks from the object's key points and store them on its mesh."""
    from ..core.head.fitting import MIRRORED_KEYPOINTS, fit_landmarks
    from .bake import mesh_faces

    if obj.mode == "EDIT":
        obj.update_from_editmode()
    keypoints = read_keypoints(obj)
    missing = missing_keypoints(obj)
    if missing:
        raise LandmarkError(
            "Mark these key points first: " + ", ".join(describe(k) for k in missing) + "."
        )
    check_keypoints_current(obj)
    try:
        positions = fit_landmarks(neutral_vertices(obj), mesh_faces(obj.data), keypoints)
    except LandmarkError as exc:
        if str(exc) == MIRRORED_KEYPOINTS and obj.matrix_world.determinant() < 0:
            raise LandmarkError(
                f"'{obj.name}' has a negative scale, so the viewport shows it mirrored and the "
                "key points marked on it come out swapped left for right: apply the negative "
                "scale (Ctrl+A > Scale, on the object or the parent that has it), then press "
                "Fit again.") from None
        raise
    store_fitted_landmarks(obj, positions)
    attr = obj.data.attributes.get(LANDMARK_ATTR)
    if attr is not None:  # a fit replaces an older exact vertex set
        obj.data.attributes.remove(attr)
    show_landmarks(obj, positions)
    return positions


def show_landmarks(obj: Object, positions: NDArray[np.floating[Any]]) -> None:
    """Vertex group of the vertices nearest the 68 landmarks: select it in Edit Mode to see them."""
    from ..core.head.head_mesh import nearest_vertices

    nearest = nearest_vertices(neutral_vertices(obj), np.asarray(positions, dtype=np.float64))
    group = obj.vertex_groups.get(LANDMARK_GROUP)
    if group is not None:
        obj.vertex_groups.remove(group)
    group = obj.vertex_groups.new(name=LANDMARK_GROUP)
    group.add(sorted({int(v) for v in nearest}), 1.0, "REPLACE")


def adjust_landmark(obj: Object, index: int, vertex: int) -> None:
    """Move one fitted landmark onto a vertex the user picked, keeping the other 67."""

    if not 0 <= index < 68:
        raise LandmarkError(f"Landmark {index} does not exist; iBUG landmarks are 0-67.")
    verts = neutral_vertices(obj)
    if not 0 <= vertex < len(verts):
        raise LandmarkError(f"Vertex {vertex} is not in '{obj.name}' ({len(verts)} vertices).")
    if obj.data.attributes.get(LANDMARK_ATTR) is not None:  # 68 stored vertices: move one
        indices = np.asarray(stored_landmarks(obj), dtype=np.int64)  # the attribute's 68
        other = [k for k, v in enumerate(indices.tolist()) if v == vertex and k != index]
        if other:
            raise LandmarkError(f"Vertex {vertex} is already landmark {other[0]}; pick another.")
        indices[index] = vertex
        store_landmarks(obj, indices)
        show_landmarks(obj, verts[indices])
        return
    positions = fitted_landmarks(obj)
    if positions is None:
        raise LandmarkError("Fit the landmarks first; then single ones can be adjusted.")
    positions = positions.copy()
    positions[index] = verts[vertex]
    store_fitted_landmarks(obj, positions)
    show_landmarks(obj, positions)


def clear_landmarks(obj: Object) -> None:
    write_keypoints(obj, {})
    group = obj.vertex_groups.get(LANDMARK_GROUP)
    if group is not None:
        obj.vertex_groups.remove(group)
    if LANDMARK_POS_PROP in obj.data:
        del obj.data[LANDMARK_POS_PROP]
    attr = obj.data.attributes.get(LANDMARK_ATTR)
    if attr is not None:
        obj.data.attributes.remove(attr)


def landmark_status(obj: Any) -> str:
    """One line for the panel: what the bake will use as this mesh's landmarks."""
    mesh = obj.data
    if mesh.attributes.get(LANDMARK_ATTR) is not None:
        return "68 landmark vertices stored"
    if mesh.get(LANDMARK_POS_PROP) is not None:
        return "Fitted landmarks stored"
    return "No landmarks stored: known topologies are found at bake time"


def check_editable(obj: Object) -> None:
    if obj is None or obj.type != "MESH":
        raise BakeError("Select a head mesh first.")
    if obj.library or not obj.data.is_editable:
        raise BakeError(f"'{obj.name}' uses linked library data that cannot be edited.")
