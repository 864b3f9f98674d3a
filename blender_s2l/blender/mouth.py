"""Cut Mouth: open a fused mouth along its inner-lip line, so the lips part when a bake opens it.

`core/head/mouth_slit.py` decides whether the mouth is fused and plans the cut; here bmesh splits
the mesh along it (`split_edges`: the new vertices copy every custom data layer of the vertex
they come from, so UVs, shape keys, vertex groups and attributes come along; the corner vertices
have one cut edge each and stay shared, so the mouth's ends stay closed), and the stored
landmarks and key points follow the lips: 61-63 onto the upper lip's copies, 65-67 onto the
lower's. Everything that can fail is worked out before the mesh is written, so a refusal leaves
the object as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import bmesh
import numpy as np
from numpy.typing import NDArray

from ..core.errors import BakeError, MeshError, S2LError
from ..core.head.find_landmarks import resolve_landmarks
from ..core.head.mouth_slit import (
    Mouth,
    Sides,
    cut_landmark_positions,
    cut_landmark_vertices,
    find_mouth,
    fused_note,
    split_sides,
)
from .landmarks import check_editable, show_landmarks
from .rna import Object
from .storage import (
    read_keypoints,
    store_fitted_landmarks,
    store_landmarks,
    stored_landmarks,
    write_keypoints,
)

ORIGIN_LAYER = "s2l_cut_origin"  # a temporary vertex layer: the vertex each one was split from
ALREADY_OPEN = "The mouth of '{name}' is already open; nothing was changed."
CUT_DONE = ("Cut the mouth of '{name}' open along {n} edges between the mouth corners; "
            "landmarks 61-63 are on the upper lip, 65-67 on the lower.")
EDIT_MODE = "'{name}' is in Edit Mode; switch to Object Mode to cut its mouth."
SHARED = "The mesh of '{name}' is shared by {n} users; make it single-user before cutting it."
LANDMARKS_CLASH = ("After the cut, two landmarks of '{name}' would be on one vertex; adjust the "
                   "inner-lip landmarks (60-67) and cut again.")


@dataclass(frozen=True)
class CutResult:
    """What Cut Mouth did: cut (the mesh changed) or not (already open), in one sentence."""

    cut: bool
    message: str


def check_cuttable(obj: Object) -> None:
    """A local, single-user mesh in Object Mode: the cut rewrites the mesh in one go."""
    check_editable(obj)
    if obj.mode == "EDIT" or obj.data.is_editmode:
        raise BakeError(EDIT_MODE.format(name=obj.name))
    if obj.data.users > 1:
        raise BakeError(SHARED.format(name=obj.name, n=obj.data.users))


def _neutral_and_faces(obj: Object) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    from .bake import mesh_faces, neutral_vertices

    return neutral_vertices(obj), mesh_faces(obj.data)


def read_mouth(obj: Object, plan_cut: bool = True) -> tuple[Mouth, NDArray[Any], Any]:
    """The object's mouth (core find_mouth), its landmark positions, and their vertex indices
    (stored or a preset's) or None (fitted positions); S2LError when the object has no
    landmarks or a fused mouth has no cut."""
    verts, faces = _neutral_and_faces(obj)
    pos, idx, _ = resolve_landmarks(verts, faces, stored_landmarks(obj))
    return find_mouth(verts, faces, pos, idx, obj.name, plan_cut), pos, idx


def mouth_warning(obj: Object) -> str | None:
    """The fused-mouth sentence for this object (Fit's report), or None: open, or unreadable
    (whatever stops a mouth from being read is said by the step that needs it)."""
    try:
        mouth = read_mouth(obj, plan_cut=False)[0]
    except S2LError:
        return None
    return fused_note(obj.name) if mouth.fused else None


def cut_mouth(obj: Object) -> CutResult:
    """Cut the object's fused mouth open (the API behind the Cut Mouth button and batch
    --cut-mouth); an open mouth is left as it is. Raises S2LError with one sentence, the
    object unchanged."""
    check_cuttable(obj)
    mouth, pos, idx = read_mouth(obj)
    if not mouth.fused:
        return CutResult(False, ALREADY_OPEN.format(name=obj.name))
    mesh = obj.data
    neutral, _ = _neutral_and_faces(obj)
    bm = bmesh.new()
    try:
        bm.from_mesh(mesh)
        origin, near_faces = _split(bm, mouth)
        new_neutral = neutral[origin]
        sides = split_sides(new_neutral, near_faces, origin, mouth)
        new_idx, new_pos = None, None
        if idx is None:
            new_pos = cut_landmark_positions(pos, new_neutral, near_faces, mouth, sides)
        else:
            new_idx = cut_landmark_vertices(idx, mouth, sides)
            if len(set(new_idx.tolist())) != len(new_idx):
                raise MeshError(LANDMARKS_CLASH.format(name=obj.name))
        bm.verts.layers.int.remove(bm.verts.layers.int[ORIGIN_LAYER])
        bm.to_mesh(mesh)
    finally:
        bm.free()
    mesh.update()
    _store(obj, new_idx, new_pos, mouth, sides)
    return CutResult(True, CUT_DONE.format(name=obj.name, n=len(mouth.path) - 1))


def _split(bm: Any, mouth: Mouth) -> tuple[NDArray[np.int64], list[list[int]]]:
    """Split bm along the cut: each vertex's origin, and the polygons around the cut (as vertex
    index lists, after the split). Refuses a split that did not add one vertex per inner vertex
    of the cut, or renumbered the others (the stored indices would go wrong)."""
    layer = bm.verts.layers.int.new(ORIGIN_LAYER)
    bm.verts.ensure_lookup_table()
    n_old = len(bm.verts)
    for v in bm.verts:
        v[layer] = v.index
    edges = [bm.edges.get((bm.verts[int(a)], bm.verts[int(b)])) for a, b in mouth.edges]
    if any(e is None for e in edges):
        raise MeshError("The cut's path is not made of the mesh's edges.")
    bmesh.ops.split_edges(bm, edges=edges)
    bm.verts.index_update()
    bm.verts.ensure_lookup_table()
    origin = np.fromiter((v[layer] for v in bm.verts), dtype=np.int64, count=len(bm.verts))
    if (len(origin) != n_old + len(mouth.inner)
            or not np.array_equal(origin[:n_old], np.arange(n_old))):
        raise MeshError("Splitting the lips did not give each vertex of the lip line one "
                        "copy; the mesh around the mouth is not a plain surface.")
    copies = [bm.verts[i] for i in range(n_old, len(origin))]
    copies += [bm.verts[int(p)] for p in mouth.inner]
    near = {f for v in copies for f in v.link_faces}
    return origin, [[v.index for v in f.verts] for f in near]


def _store(obj: Object, new_idx: NDArray[np.int64] | None,
           new_pos: NDArray[np.float64] | None, mouth: Mouth, sides: Sides) -> None:
    """The stored landmarks and key points after the cut: a fitted set moves its inner lips
    onto their own lips (and counts the new vertices); a vertex set, or a preset's (whose
    topology the cut changed), is stored as vertices."""
    if new_pos is not None:
        store_fitted_landmarks(obj, new_pos)
        show_landmarks(obj, new_pos)
    elif new_idx is not None:
        store_landmarks(obj, new_idx)
    keypoints = read_keypoints(obj)
    middle = mouth.columns[1] - 1
    if 62 in keypoints:
        keypoints[62] = int(sides.upper[middle])
    if 66 in keypoints:
        keypoints[66] = int(sides.lower[middle])
    write_keypoints(obj, keypoints)
