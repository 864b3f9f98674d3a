"""One mesh's facts that a bake reads, found once: shared by the steps of one bake, and kept
for the next bake of the same mesh in this process (a re-bake after a changed setting).

The first fact is where its 68 landmarks come from (`resolve_landmarks`): the caller gives
them (the Blender side passes a stored set, the object's attribute, or fitted positions as
`landmarks68`), else a recognised topology supplies them (presets.py), else the user must fit
them. Cut Mouth and the rig solve resolve them here too.

Several steps of `Animator.animate` read the same things from the neutral mesh: the polygon
graph (mesh features' surface distances, lip contact's reach, the eyelids' paths), the parts
(inner parts, eyelids), the landmarks' points on the surface (lip contact, eyelids). Each step
used to find them for itself, so a bake built the graph three times. And nothing of it depends
on the sound or the settings: the features, the S2D basis, the lip contact, the eyelids and the
rigid parts of a mesh are the same at every bake of it. A `HeadMesh` holds them, each found on
first use (a bake without blinks never finds the lids).

`head_mesh` keeps the last few in memory, keyed by a digest of the vertex, face and landmark
arrays themselves, so a mesh changed in any way (a moved vertex, a new face, refitted
landmarks) is a new key and never meets the old one's facts. What depends on a model too (the
S2D basis, the rigid parts' jaw fields) is kept per model object. Arrays handed out are
read-only, so no caller can change what the next bake reads.

A new process (each batch run) starts with none kept, so the costly facts (features, S2D
basis, parts, lids, lip contact, whether the lips are fused) also go to the bake cache's
folder when the bake has one (`store`, `FactStore`): keyed by the mesh's arrays and the
landmarks it resolved to, the S2D weights for the basis, `FACTS_VERSION` and the source of the
modules that find them (an edited step misses, rather than reading what the old code found).
Read back, a fact is what was computed, array for array; an entry that fails the cache's checks
or does not decode is found afresh. With every fact read back, a re-bake never builds the
polygon graph, and never imports scipy's graph and KD-tree code.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from ..errors import LandmarkError, MeshError, S2LError
from . import stored_facts
from .eyelids import Eyelids
from .inner_parts import InnerParts, JawModel, part_labels
from .keypoints import SHAREABLE
from .landmarks import N_LANDMARKS, Similarity, to_canonical
from .lip_contact import LipContact, SurfacePoints, surface_points
from .mesh import FacesLike, SurfaceIndex, fan_triangles, padded_faces, whole_numbers
from .mesh_features import mesh_features, on_face_mask, polygon_graph
from .mouth_slit import find_mouth, fused_note
from .presets import match_preset

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
T = TypeVar("T")

# Meshes kept for the next bake: a scene's one or two speaking heads (Bake All alternates
# between characters). A 50k-vertex head keeps about 100 MB (features and S2D basis most).
KEEP_MESHES = 2
# Bump when a fact's meaning changes without its modules' source changing (a data file).
FACTS_VERSION = 1
# The modules whose code finds the stored facts: their source is part of every fact's key.
FACT_MODULES = ("eyelids", "head_mesh", "inner_parts", "keypoints", "landmarks", "lip_contact",
                "mesh", "mesh_features", "mouth_slit", "pick_checks", "presets", "stored_facts")


class FactStore(Protocol):
    """Where facts outlive the process: `BakeCache.mesh_fact` (core/bake/cache.py)."""

    def mesh_fact(self, parts: dict[str, Any], compute: Callable[[], T],
                  encode: Callable[[T], tuple[dict[str, NDArray[Any]], dict[str, Any]]],
                  decode: Callable[[dict[str, NDArray[Any]], dict[str, Any]], T]) -> T: ...


def _frozen(a: NDArray[Any]) -> NDArray[Any]:
    a.flags.writeable = False
    return a


@cache
def code_digest() -> str:
    """SHA-256 of the fact modules' source and numpy's version (its linear algebra finds
    them); "unknown" where a source cannot be read, which then stores nothing."""
    h = hashlib.sha256(f"numpy {np.__version__}\0facts {FACTS_VERSION}\0".encode())
    here = Path(__file__).resolve().parent
    try:
        for name in FACT_MODULES:
            h.update(name.encode() + b"\0" + (here / f"{name}.py").read_bytes())
    except OSError:
        return "unknown"
    return h.hexdigest()


# -- landmarks: the first fact, given by the caller, a known preset, or an error ------------------
Resolved = tuple[NDArray[np.float32], NDArray[np.int64] | None, str]
# How far (mm at the canonical face's scale, whose outer eye corners are 89 mm apart) a given
# landmark position may lie off the mesh: fitted and stored landmarks lie on it, and the network
# reads each vertex's distances to them, so a set a metre off drove 11 times normal motion.
MAX_OFF_SURFACE_MM = 20.0


def _from_indices(vertices: NDArray[np.float64], idx: NDArray[Any]) -> Resolved:
    if not whole_numbers(idx):
        raise LandmarkError("Landmark vertex indices must be whole numbers.")
    ids = idx.astype(np.int64)
    bad = ids[(ids < 0) | (ids >= len(vertices))]
    if len(bad):
        raise LandmarkError(
            f"Landmark vertex index {int(bad[0])} is outside the mesh ({len(vertices)} vertices)."
        )
    shared = ids.copy()
    for pair in SHAREABLE:
        a, b = sorted(pair)
        if shared[a] == shared[b]:
            shared[b] = -1 - b  # a welded lip may share its inner-lip vertices
    if len(np.unique(shared)) < N_LANDMARKS:
        raise LandmarkError("Two landmarks refer to the same vertex; each needs its own.")
    return vertices[ids].astype(np.float32), ids, "indices"


def resolve_landmarks(
    vertices: NDArray[np.floating[Any]],
    faces: FacesLike,
    landmarks68: NDArray[Any] | None = None,
) -> Resolved:
    """(positions (68, 3) in mesh space, vertex indices (68,) or None, source name).

    landmarks68 may be a (68,) vertex-index array or (68, 3) positions; None looks for a preset.
    """
    v = np.asarray(vertices, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != 3 or len(v) == 0:
        raise MeshError(f"Vertices must have shape (V, 3); got {v.shape}.")
    if landmarks68 is not None:
        lm = np.asarray(landmarks68)
        if lm.shape == (N_LANDMARKS,):
            return _from_indices(v, lm)
        if lm.shape == (N_LANDMARKS, 3):
            if not np.issubdtype(lm.dtype, np.number) or not np.all(np.isfinite(lm)):
                raise LandmarkError("Landmark positions contain NaN, infinite or non-numbers.")
            _check_on_surface(v, faces, lm.astype(np.float64))
            return lm.astype(np.float32), None, "positions"
        raise LandmarkError(
            f"Landmarks must be 68 vertex indices or (68, 3) positions; got shape {lm.shape}."
        )
    preset = match_preset(v, faces)
    if preset is not None:
        ids = preset.landmark_vertices
        return v[ids].astype(np.float32), ids.copy(), f"preset:{preset.name}"
    raise LandmarkError(
        "This mesh has no landmarks yet: mark the key points (eye corners, nose tip, mouth "
        "corners, chin) and press Fit (in batch: --keypoints, or a keypoints column)."
    )


def _check_on_surface(v: NDArray[np.float64], faces: FacesLike, lm: NDArray[np.float64]) -> None:
    """Given positions must lie on this mesh, in its own space (not world space, not another
    mesh's): the farthest one is measured against the face's size, found from the set itself."""
    scale = to_canonical(lm).scale  # canonical mm per mesh unit; refuses degenerate sets
    tris = fan_triangles(padded_faces(faces))
    tris = tris[np.all((tris >= 0) & (tris < len(v)), axis=1)]
    if len(tris):
        on, _ = SurfaceIndex(v, tris).closest(lm)
    else:  # a point cloud: its vertices are the surface
        on = v[nearest_vertices(v, lm)]
    gap = np.linalg.norm(on - lm, axis=1) * scale
    worst = int(np.argmax(gap))
    if gap[worst] > MAX_OFF_SURFACE_MM:
        raise LandmarkError(
            f"Landmark {worst} lies {gap[worst]:.0f} mm (at a standard face's size) off the "
            "mesh: landmark positions must be on this mesh, in its own object space.")


def nearest_vertices(
    vertices: NDArray[np.floating[Any]], points: NDArray[np.floating[Any]]
) -> NDArray[np.int64]:
    """Index of the vertex nearest each landmark, to store a fitted set with the topology."""
    v = np.asarray(vertices, dtype=np.float64)
    p = np.asarray(points, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != 3 or len(v) == 0 or p.ndim != 2 or p.shape[1] != 3:
        raise LandmarkError("Need (V, 3) vertices and (N, 3) landmark positions.")
    from scipy.spatial import cKDTree  # here, not at import: it is slow to import (cold start)

    _, idx = cKDTree(v).query(p)
    return np.asarray(idx, dtype=np.int64)


# -- the mesh's other facts, each found once ------------------------------------------------------
class HeadMesh:
    """A neutral mesh with its landmarks, in its own space and aligned to the canonical face,
    and what the bake's steps read from it, each found once."""

    def __init__(self, vertices: F64, faces: I64, landmarks68: NDArray[Any] | None) -> None:
        self.vertices = _frozen(np.array(vertices, dtype=np.float64))
        self.faces = _frozen(np.array(faces, dtype=np.int64))
        lm_pos, lm_idx, source = resolve_landmarks(self.vertices, self.faces, landmarks68)
        self.landmarks = _frozen(np.asarray(lm_pos))  # (68, 3) float32, mesh units
        self.landmark_vertices = None if lm_idx is None else _frozen(np.asarray(lm_idx))
        self.source = source
        self.sim: Similarity = to_canonical(lm_pos)
        self.vertices_c = _frozen(self.sim.apply(self.vertices))
        self.landmarks_c = _frozen(self.sim.apply(lm_pos))
        self._found: dict[str, Any] = {}
        self._per_model: dict[tuple[str, int], tuple[Any, Any]] = {}
        self._lock = threading.RLock()
        # The folder the facts go to: the latest bake's (head_mesh sets it); None keeps them
        # in this process only.
        self.store: FactStore | None = None
        # The mesh as its facts depend on it, the landmarks it resolved to too.
        self.key = array_digest(self.vertices, self.faces, _given(landmarks68), self.landmarks,
                                self.landmark_vertices)

    def _once(self, name: str, make: Callable[[], T], stored: bool = False) -> T:
        with self._lock:
            if name not in self._found:
                self._found[name] = self._stored(name, make, {}) if stored else make()
            out: T = self._found[name]
            return out

    def _per(self, name: str, model: Any, make: Callable[[], T],
             identity: Callable[[Any], str] | None = None) -> T:
        """Per model object: the entry holds the model, so its id cannot be reused for another
        while the entry lives. identity: what the model computes with, for the folder."""
        with self._lock:
            entry = self._per_model.get((name, id(model)))
            if entry is None or entry[0] is not model:
                value = make() if identity is None or self.store is None else \
                    self._stored(name, make, {"model": identity(model)})
                entry = (model, value)
                self._per_model[(name, id(model))] = entry
            out: T = entry[1]
            return out

    def _stored(self, name: str, make: Callable[[], T], parts: dict[str, Any]) -> T:
        """make(), or what the store kept of it for this mesh and code."""
        store, code = self.store, code_digest()
        if store is None or code == "unknown":
            return make()
        out: T = store.mesh_fact({"mesh": self.key, "fact": name, "code": code, **parts},
                                 make, stored_facts.encode, stored_facts.decode)
        if isinstance(out, np.ndarray):
            _frozen(out)  # read back as read-only as it was made
        return out

    @property
    def graph(self) -> Any:
        """`polygon_graph` of the canonical-aligned mesh (surface distances in mm)."""
        return self._once("graph", lambda: polygon_graph(self.vertices_c, self.faces))

    @property
    def labels(self) -> I64:
        """`part_labels`: each separate part (eyeball, tooth, lash strip) its own label."""
        return self._once("labels", lambda: _frozen(part_labels(len(self.vertices),
                                                                 self.faces)), stored=True)

    @property
    def points(self) -> SurfacePoints:
        """The 68 landmarks as points on the surface (found in float64, as lip contact and
        the eyelids found them for themselves: the aligned arrays are float32)."""
        return self._once("points", lambda: surface_points(
            np.asarray(self.vertices_c, np.float64), self.faces,
            np.asarray(self.landmarks_c, np.float64), self.landmark_vertices))

    @property
    def features(self) -> NDArray[np.float32]:
        """`mesh_features`: what S2D reads of each vertex."""
        return self._once("features", lambda: _frozen(mesh_features(
            self.vertices_c, self.faces, self.landmarks_c, self.landmark_vertices,
            graph=self.graph)), stored=True)

    @property
    def on_face(self) -> NDArray[np.bool_]:
        return self._once("on_face", lambda: _frozen(on_face_mask(self.features)))

    def eyelids(self) -> Eyelids:
        return self._once("eyelids", lambda: Eyelids.of_mesh(
            self.vertices_c, self.faces, self.landmarks_c, self.landmark_vertices,
            self.on_face, graph=self.graph, labels=self.labels, points=self.points),
            stored=True)

    def lip_contact(self) -> LipContact | str:
        return self._once("lip_contact", lambda: LipContact.of_mesh(
            self.vertices_c, self.faces, self.landmarks_c, self.landmark_vertices,
            self.on_face, graph=self.graph, points=self.points), stored=True)

    def mouth_fused(self) -> bool | None:
        """Whether the lips are one surface (mouth_slit.py), None where the mouth cannot be
        read (the bake's to refuse, not the fused-lips note's)."""
        def find() -> bool | None:
            try:
                return find_mouth(self.vertices, self.faces, self.landmarks,
                                  self.landmark_vertices, plan_cut=False).fused
            except S2LError:
                return None

        return self._once("mouth_fused", find, stored=True)

    def inner_parts(self, jaw: JawModel) -> InnerParts:
        return self._per("inner_parts", jaw, lambda: InnerParts.of_mesh(
            self.vertices_c, self.faces, self.landmarks_c, self.on_face, jaw,
            labels=self.labels))

    def s2d_basis(self, s2d: Any) -> NDArray[np.float32]:
        """(J, V, 3) the S2D runner's basis of this mesh (canonical mm)."""
        return self._per("s2d_basis", s2d, lambda: _frozen(s2d.mesh_basis(self.features)),
                         _model_identity)


def mouth_note(vertices: NDArray[np.floating[Any]], faces: FacesLike,
               landmarks68: NDArray[Any] | None, name: str) -> str | None:
    """The fused-mouth sentence (mouth_slit.py) of a mesh given as arrays, found afresh (a bake
    asks its HeadMesh, which keeps the answer), or None: open, or not to be told (a mesh whose
    landmarks or mouth cannot be read is the bake's to refuse, not this note's)."""
    try:
        pos, idx, _ = resolve_landmarks(vertices, faces, landmarks68)
        mouth = find_mouth(vertices, faces, pos, idx, name, plan_cut=False)
    except S2LError:
        return None
    return fused_note(name) if mouth.fused else None


def _model_identity(model: Any) -> str:
    from ..bake.cache import model_identity

    return model_identity(model)


def array_digest(*arrays: NDArray[Any] | None) -> str:
    """SHA-256 of the arrays' types, shapes and bytes (None counted as such): equal only for
    the same arrays. Read from the arrays' own buffers, so a large one is not copied."""
    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"\0none")
            continue
        c = np.ascontiguousarray(a)
        h.update(f"\0{c.dtype.str}{c.shape};".encode())
        h.update(c.tobytes() if c.dtype.hasobject else c.data)  # objects have no buffer
    return h.hexdigest()


def _given(landmarks68: Any) -> NDArray[Any] | None:
    return None if landmarks68 is None else np.asarray(landmarks68)


def mesh_key(vertices: F64, faces: I64, landmarks68: NDArray[Any] | None) -> str:
    """A digest of the arrays: equal only for the same mesh and given landmarks."""
    return array_digest(vertices, faces, _given(landmarks68))


_MESHES: OrderedDict[str, HeadMesh] = OrderedDict()
_MESHES_LOCK = threading.Lock()


def head_mesh(vertices: NDArray[np.floating[Any]], faces: FacesLike,
              landmarks68: NDArray[Any] | None, store: FactStore | None = None) -> HeadMesh:
    """The mesh's HeadMesh: the one kept from an earlier bake of exactly these arrays, or a
    new one (kept, the least recently used beyond KEEP_MESHES let go). Raises what
    `resolve_landmarks` raises for landmarks that do not fit the mesh; nothing is kept then.
    store: where the facts it has yet to find are read from and written to (the bake's cache);
    a bake in another thread with another folder changes only which folder that is."""
    v = np.asarray(vertices, dtype=np.float64)
    f = padded_faces(faces)
    key = mesh_key(v, f, landmarks68)
    with _MESHES_LOCK:
        found = _MESHES.get(key)
        if found is not None:
            _MESHES.move_to_end(key)
            found.store = store
            return found
    made = HeadMesh(v, f, landmarks68)
    made.store = store
    with _MESHES_LOCK:
        _MESHES[key] = made
        _MESHES.move_to_end(key)
        while len(_MESHES) > KEEP_MESHES:
            _MESHES.popitem(last=False)
    return made


def forget_meshes() -> None:
    """Let every kept mesh go (memory, or a test that wants a cold bake)."""
    with _MESHES_LOCK:
        _MESHES.clear()
