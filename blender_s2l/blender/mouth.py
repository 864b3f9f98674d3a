"""Cut Mouth: open a fused mouth along its inner-lip line, so the lips part when a bake opens it.

`core/head/mouth_slit.py` decides whether the mouth is fused and plans the cut; here bmesh splits
the mesh along it (`split_edges`: the new vertices copy every custom data layer of the vertex
they come from, so UVs, shape keys, vertex groups and attributes come along; the corner vertices
have one cut edge each and stay shared, so the mouth's ends stay closed), and the stored
landmarks and key points follow the lips: 61-63 onto the upper lip's copies, 65-67 onto the
lower's. Optionally (on by default) the opening's border is rolled a little into the mouth and
closed by a simple bag with a dark material, so an open mouth is not see-through; its new
vertices copy the layers of the border vertex they grow from, moved by the same offset in every
shape key (else a shape key would pull the bag back onto the lips). Everything that can fail is
worked out before the mesh is written, so a refusal leaves the object as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import bmesh
import bpy
import numpy as np
from numpy.typing import NDArray

from ..core.errors import BakeError, MeshError, S2LError
from ..core.head.head_mesh import resolve_landmarks
from ..core.head.mouth_slit import (
    Mouth,
    Sides,
    cut_landmark_positions,
    cut_landmark_vertices,
    find_mouth,
    fused_note,
    mouth_bag,
    split_sides,
)
from .landmarks import check_editable, show_landmarks
from .rna import Object
from .storage import (
    neutral_vertices,
    read_keypoints,
    store_fitted_landmarks,
    store_landmarks,
    stored_landmarks,
    write_keypoints,
)

ORIGIN_LAYER = "s2l_cut_origin"  # a temporary vertex layer: the vertex each one was split from
ALREADY_OPEN = "The mouth of '{name}' is already open; nothing was changed."
CUT_DONE = ("Cut the mouth of '{name}' open along {n} edges between the mouth corners{bag}; "
            "landmarks 61-63 are on the upper lip, 65-67 on the lower.")
WITH_BAG = ", with an inner lip roll and a dark mouth bag behind"
BAG_LABEL = "Lip Roll and Mouth Bag"
BAG_TIP = ("Roll the cut lips' borders a little into the mouth and close them with a dark bag, "
           "so an open mouth is not see-through")
NO_BAG = ("The cut lips' borders do not run corner to corner, so no mouth bag can close them; "
          "untick Bag (batch --no-mouth-bag) to cut without one.")
BAG_MATERIAL = "s2l.mouth_bag"
BAG_COLOUR = (0.06, 0.015, 0.015, 1.0)
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
    from .bake import mesh_faces

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


def cut_mouth(obj: Object, bag: bool = True) -> CutResult:
    """Cut the object's fused mouth open (the API behind the Cut Mouth button and batch
    --cut-mouth), with an inner lip roll and a mouth bag unless bag=False; an open mouth is
    left as it is. Raises S2LError with one sentence, the object unchanged."""
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
        slot = _bag_slot(mesh)
        if bag:
            _add_bag(bm, mouth, sides, new_neutral, pos, slot)
        bm.verts.layers.int.remove(bm.verts.layers.int[ORIGIN_LAYER])
        bm.to_mesh(mesh)
    finally:
        bm.free()
    if bag:
        _bag_material(mesh, slot)
    mesh.update()
    _store(obj, new_idx, new_pos, mouth, sides)
    return CutResult(True, CUT_DONE.format(name=obj.name, n=len(mouth.path) - 1,
                                           bag=WITH_BAG if bag else ""))


def _add_bag(bm: Any, mouth: Mouth, sides: Sides, neutral: NDArray[np.float64],
             positions: NDArray[Any], slot: int) -> None:
    """Roll the opening's border into the mouth and close it with a bag (core mouth_bag says
    where): a ring of faces continuing each lip, a ring for the bag's side, an n-gon for its
    back; each face wound as the lip face it grows from, the bag's in material `slot`."""
    bm.verts.ensure_lookup_table()
    ids = [int(mouth.path[0]), *sides.upper.tolist(), int(mouth.path[-1]),
           *sides.lower[::-1].tolist()]
    sign = np.array([0.0, *[1.0] * len(sides.upper), 0.0, *[-1.0] * len(sides.lower)])
    border = [bm.verts[i] for i in ids]
    roll_at, back_at = mouth_bag(neutral[ids], sign, positions)
    shapes = list(bm.verts.layers.shape.values())
    uv_layers = list(bm.loops.layers.uv.values())

    def grow(src: Any, where: NDArray[np.float64]) -> Any:
        vert = bm.verts.new(where.tolist(), src)  # src's layers: groups, attributes, keys
        offset = vert.co - src.co
        for layer in shapes:
            vert[layer] = src[layer] + offset
        return vert

    roll = [grow(v, p) for v, p in zip(border, roll_at, strict=True)]
    back = [grow(v, p) for v, p in zip(roll, back_at, strict=True)]
    k = len(border)
    along = 0
    for i in range(k):
        j = (i + 1) % k
        edge = bm.edges.get((border[i], border[j]))
        if edge is None or len(edge.link_faces) != 1:
            raise MeshError(NO_BAG)
        lip = edge.link_faces[0]
        corner = {loop.vert: loop for loop in lip.loops}
        forward = corner[border[i]].link_loop_next.vert == border[j]
        along += 1 if forward else -1
        a, b = (i, j) if forward else (j, i)  # the lip face runs a -> b: the new faces b -> a
        face = bm.faces.new((border[b], border[a], roll[a], roll[b]), lip)
        for layer in uv_layers:  # the lip's border texture, drawn into the roll
            for loop, src in zip(face.loops, (border[b], border[a], border[a], border[b]),
                                 strict=True):
                loop[layer].uv = corner[src][layer].uv
        side = bm.faces.new((roll[b], roll[a], back[a], back[b]), lip)
        side.material_index = slot
    cap = bm.faces.new(back[::-1] if along >= 0 else back)
    cap.material_index = slot
    cap.smooth = True


def _bag_slot(mesh: Any) -> int:
    """The material slot the bag takes: the bag material's, else a new last one (after an
    empty first slot on a mesh without materials, which keeps its faces as they were)."""
    for i, mat in enumerate(mesh.materials):
        if mat is not None and mat.name == BAG_MATERIAL:
            return i
    return max(len(mesh.materials), 1)


def _bag_material(mesh: Any, slot: int) -> None:
    """Put the dark bag material in its slot (made once per file)."""
    if slot < len(mesh.materials):
        return
    mat = bpy.data.materials.get(BAG_MATERIAL)
    if mat is None:
        mat = bpy.data.materials.new(BAG_MATERIAL)
        mat.diffuse_color = BAG_COLOUR
        mat.roughness = 0.6
        tree = getattr(mat, "node_tree", None)
        bsdf = tree.nodes.get("Principled BSDF") if tree is not None else None
        if bsdf is not None:
            bsdf.inputs["Base Color"].default_value = BAG_COLOUR
    if len(mesh.materials) == 0:
        mesh.materials.append(None)
    mesh.materials.append(mat)


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
