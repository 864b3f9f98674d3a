"""What the add-on leaves on Blender data and what it calls it: the takes an object owns (their
shape keys, actions and tracks are named here, so a take can always be found and removed again),
its 68 landmark vertices, key points and hold-still group."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..core.errors import BakeError, LandmarkError
from .rna import Object

PREFIX = "s2l"
TAKES_PROP = "s2l_takes"  # object custom property: JSON record of the takes it owns
BASIS_PROP = "s2l_owns_basis"  # object custom property: the add-on created the Basis key
# The take name a replacement is written under until the take it replaces has gone; no take
# is named with '(', so it is never a user's.
REPLACING = "(new)"
LANDMARK_ATTR = "s2l_landmark"  # INT point attribute: iBUG index 0..67 on landmarks, else -1
KEYPOINTS_PROP = "s2l_keypoints"  # mesh custom property: JSON {iBUG index: vertex index}
KEYPOINTS_N_PROP = "s2l_keypoints_n_vertices"  # the vertex count they were marked on
LANDMARK_POS_PROP = "s2l_landmarks68"  # mesh custom property: JSON fitted (68, 3) positions
LANDMARK_GROUP = "s2l.landmarks"  # vertex group showing the vertices nearest the fitted 68
HOLD_GROUP = "s2l.mask"  # vertex group the user paints: 1 = the bake never moves this vertex
MAX_TAKE_LEN = 40  # characters
# Blender's names hold 63 bytes of UTF-8: "s2l.<take>.0000" (a key) and "s2l.<take>.001" (a
# track beside a user's of its name) must fit, so a letter of another script counts double.
MAX_TAKE_BYTES = 48
_LEGACY_TAKE_RE = re.compile(r"[^A-Za-z0-9_\-]+")  # the rule before Unicode letters were kept


def _take_char(c: str) -> bool:
    """Letters and digits of any script (with their combining marks), '_' and '-': a name a
    user reads in their own language, and one that needs no quoting in a data path."""
    return c.isalnum() or c in "_-" or unicodedata.category(c).startswith("M")


def _fits(take: str) -> bool:
    return len(take) <= MAX_TAKE_LEN and len(take.encode("utf-8")) <= MAX_TAKE_BYTES


def check_take_name(take: str) -> str:
    """Take names end up in shape key, action and track names and in F-curve data paths, so
    keep them plain (in any script) and within Blender's length of a name."""
    if not take:
        raise BakeError("The take name is empty; type a name such as 'take1'.")
    if not all(_take_char(c) for c in take):
        raise BakeError(f"The take name '{take}' may only use letters, digits, '_' and '-'.")
    if not _fits(take):
        raise BakeError(f"The take name '{take}' is too long; keep it to {MAX_TAKE_LEN} "
                        "Latin letters or digits (fewer in other alphabets).")
    return take


def _fit(text: str, suffix: str = "") -> str:
    """`text` cut on a character boundary so that it and `suffix` make a take name that fits."""
    while text and not _fits(text + suffix):
        text = text[:-1]
    return text + suffix


def take_from_label(label: str) -> str:
    """A valid take name derived from a strip name ('Voice.001' -> 'Voice_001', 'voix été' ->
    'voix_été'): other characters become '_', letters of every script stay."""
    text = unicodedata.normalize("NFC", label)
    marked = "".join(c if _take_char(c) else "\0" for c in text)
    clean = _fit(re.sub("\0+", "_", marked).strip("_"))
    return clean or "take"


def legacy_take_from_label(label: str) -> str:
    """The take name versions that kept only Latin letters gave a strip ('voix été' ->
    'voix_t'): their takes are still found and replaced under it."""
    clean = _LEGACY_TAKE_RE.sub("_", label).strip("_")[:MAX_TAKE_LEN]
    return clean or "take"


def take_for_strip(takes: dict[str, TakeRecord], label: str) -> str:
    """The take a bake named after its strip writes: the strip's take name, or the older name an
    existing take of that very strip has (so Replace replaces it rather than adding a second
    take that plays over it)."""
    legacy = legacy_take_from_label(label)
    old = takes.get(legacy)
    if old is not None and old.strip == label:
        return legacy
    return take_from_label(label)


def distinct_takes(wanted: list[tuple[str, str]]) -> list[str]:
    """The take names of (object, take name) pairs, made distinct on each object: a later pair
    whose name an earlier one has gets the first free suffix '_2', '_3'... (never a name another
    pair wants). Two strips of one run must not write one take: the second would replace the
    first, or fail, and one line would lose its lip-sync."""
    asked = set(wanted)
    given: set[tuple[str, str]] = set()
    out = []
    for owner, name in wanted:
        take, n = name, 1
        while (owner, take) in given or (take != name and (owner, take) in asked):
            n += 1
            take = _fit(name, f"_{n}")
        given.add((owner, take))
        out.append(take)
    return out


def key_name(take: str, k: int) -> str:
    return f"{PREFIX}.{take}.{k:04d}"


def action_name(object_name: str, take: str) -> str:
    return f"{PREFIX}.{object_name}.{take}"


def track_name(take: str) -> str:
    return f"{PREFIX}.{take}"


@dataclass
class TakeRecord:
    """One bake of one strip onto one object, as stored in the object's custom property.

    A take owns the shape keys in `keys` (it created them; they go with it), its action and its
    NLA track. A rig take creates no key: `animated` names the character's own keys it keys,
    which outlive it. One rig bake writes a take on every object of the character that shares
    the head's keys (teeth, tongue...), and one on the armature keying its jaw bone (`bones`);
    those takes carry the same `group`.
    """

    take: str
    strip: str
    mode: str
    keys: list[str] = field(default_factory=list)  # created by the take, removed with it
    animated: list[str] = field(default_factory=list)  # the user's own keys, never removed
    bones: list[str] = field(default_factory=list)  # on an armature: the jaw bone it keys
    group: str = ""  # shared by the takes one bake wrote on several objects ("" for one)
    action: str = ""
    track: str = ""
    frame_start: int = 0
    frame_end: int = 0
    max_error_mm: float = 0.0
    notes: list[str] = field(default_factory=list)  # what the user should know of this bake

    @property
    def written(self) -> str:
        """What the take wrote, for a report: "3 shape keys" or "12 of its own keys keyed"."""
        if self.bones:
            return f"the bone {', '.join(repr(b) for b in self.bones)} keyed"
        if self.animated:
            return f"{len(self.animated)} of its own shape keys keyed"
        return f"{len(self.keys)} shape keys"


NO_TAKE = "'{name}' has no take named '{take}'."


def read_takes(obj: Object) -> dict[str, TakeRecord]:
    raw = obj.get(TAKES_PROP)
    if not raw:
        return {}
    try:
        data: dict[str, dict[str, Any]] = json.loads(str(raw))
        known = {f.name for f in fields(TakeRecord)}  # a later version's fields are ignored
        return {name: TakeRecord(**{k: v for k, v in rec.items() if k in known})
                for name, rec in data.items()}
    except (ValueError, TypeError, AttributeError):
        return {}


def write_takes(obj: Object, takes: dict[str, TakeRecord]) -> None:
    if takes:
        obj[TAKES_PROP] = json.dumps({n: asdict(r) for n, r in takes.items()})
    elif TAKES_PROP in obj:
        del obj[TAKES_PROP]


def stored_landmarks(obj: Object) -> NDArray[Any] | None:
    """The object's landmarks for the core: (68,) vertex indices from the landmark attribute,
    else (68, 3) fitted positions in mesh space, else None (the core then looks for a preset).
    """
    mesh = obj.data
    attr = mesh.attributes.get(LANDMARK_ATTR)
    if attr is None:
        return fitted_landmarks(obj)
    if attr.domain != "POINT" or attr.data_type != "INT":
        raise LandmarkError(
            f"The attribute '{LANDMARK_ATTR}' on '{obj.name}' must be an integer vertex attribute."
        )
    values = np.zeros(len(mesh.vertices), dtype=np.int32)
    attr.data.foreach_get("value", values)
    marked = np.flatnonzero(values >= 0)
    labels = values[marked]
    if labels.size != 68 or set(labels.tolist()) != set(range(68)):
        raise LandmarkError(
            f"The attribute '{LANDMARK_ATTR}' on '{obj.name}' marks {labels.size} vertices; "
            "it needs each landmark 0-67 exactly once."
        )
    order = np.argsort(labels)
    return marked[order].astype(np.int64)


def store_landmarks(obj: Object, indices: NDArray[np.integer[Any]]) -> None:
    """Write 68 landmark vertex indices (iBUG order) to the object's mesh."""
    idx = np.asarray(indices, dtype=np.int64)
    n = len(obj.data.vertices)
    if idx.shape != (68,) or idx.min() < 0 or idx.max() >= n or len(set(idx.tolist())) != 68:
        raise LandmarkError("Landmarks must be 68 distinct vertex indices of the mesh.")
    mesh = obj.data
    attr = mesh.attributes.get(LANDMARK_ATTR)
    if attr is not None:
        mesh.attributes.remove(attr)
    attr = mesh.attributes.new(LANDMARK_ATTR, "INT", "POINT")
    values = np.full(n, -1, dtype=np.int32)
    values[idx] = np.arange(68, dtype=np.int32)
    attr.data.foreach_set("value", values)


def fitted_landmarks(obj: Object) -> NDArray[np.float64] | None:
    """(68, 3) positions stored by Fit, or None; stale ones (mesh edited since) are an error."""
    raw = obj.data.get(LANDMARK_POS_PROP)
    if raw is None:
        return None
    try:
        data = json.loads(str(raw))
        pos = np.asarray(data["positions"], dtype=np.float64).reshape(68, 3)
        n_vertices = int(data["n_vertices"])
    except (ValueError, TypeError, KeyError):
        raise LandmarkError(
            f"The fitted landmarks stored on '{obj.name}' are damaged; press Fit again."
        ) from None
    digest = data.get("mesh") if isinstance(data, dict) else None
    if n_vertices != len(obj.data.vertices) or (digest is not None
                                                 and digest != _mesh_digest(obj)):
        raise LandmarkError(
            f"'{obj.name}' has changed since its landmarks were fitted; press Fit again."
        )
    return pos


def neutral_vertices(obj: Object) -> NDArray[np.float64]:
    """The rest shape: the reference shape key when there is one, else the mesh itself."""
    mesh = obj.data
    co = np.zeros(len(mesh.vertices) * 3, dtype=np.float32)
    key = mesh.shape_keys
    if key is not None and key.reference_key is not None:
        key.reference_key.data.foreach_get("co", co)
    else:
        mesh.vertices.foreach_get("co", co)
    return co.reshape(-1, 3).astype(np.float64)


def _mesh_digest(obj: Object) -> str:
    """A fingerprint of the rest shape that Fit and the bake read (`neutral_vertices`): fitted
    landmarks are positions, which an edit, Apply Scale or Origin to Geometry leaves behind
    while the vertex count stays."""
    return hashlib.sha1(neutral_vertices(obj).astype(np.float32).tobytes()).hexdigest()


def store_fitted_landmarks(obj: Object, positions: NDArray[np.floating[Any]]) -> None:
    pos = np.asarray(positions, dtype=np.float64)
    if pos.shape != (68, 3) or not np.all(np.isfinite(pos)):
        raise LandmarkError("Fitted landmarks must be 68 finite 3-D positions.")
    obj.data[LANDMARK_POS_PROP] = json.dumps(
        {"positions": pos.round(7).tolist(), "n_vertices": len(obj.data.vertices),
         "mesh": _mesh_digest(obj)}
    )


def read_keypoints(obj: Object) -> dict[int, int]:
    """Key points the user marked: iBUG index -> vertex index."""
    raw = obj.data.get(KEYPOINTS_PROP)
    if not raw:
        return {}
    try:
        return {int(k): int(v) for k, v in json.loads(str(raw)).items()}
    except (ValueError, TypeError, AttributeError):
        return {}


def keypoints_stale(obj: Object) -> bool:
    """Whether the stored key points were marked when the mesh had another vertex count."""
    marked_on = obj.data.get(KEYPOINTS_N_PROP)
    return marked_on is not None and int(marked_on) != len(obj.data.vertices)


def check_keypoints_current(obj: Object) -> None:
    """Refuses key points marked on an earlier version of the mesh: deleting or adding vertices
    renumbers them, and the stored indices then name other vertices, which Fit would follow
    without a word (files without the count are taken as they are)."""
    if keypoints_stale(obj):
        marked_on = obj.data.get(KEYPOINTS_N_PROP)
        raise LandmarkError(
            f"The key points of '{obj.name}' were marked when its mesh had {int(marked_on)} "
            f"vertices (now {len(obj.data.vertices)}): mark them again, then Fit.")


def write_keypoints(obj: Object, keypoints: dict[int, int]) -> None:
    if keypoints:
        ordered = {str(k): int(v) for k, v in sorted(keypoints.items())}
        obj.data[KEYPOINTS_PROP] = json.dumps(ordered)
        obj.data[KEYPOINTS_N_PROP] = len(obj.data.vertices)
    else:
        for prop in (KEYPOINTS_PROP, KEYPOINTS_N_PROP):
            if prop in obj.data:
                del obj.data[prop]


def hold_weights(obj: Object) -> NDArray[np.float64] | None:
    """(V,) weights of the hold-still vertex group (0 where a vertex is not in it), or None
    when the object has no such group."""
    group = obj.vertex_groups.get(HOLD_GROUP)
    if group is None:
        return None
    index = group.index
    out = np.zeros(len(obj.data.vertices), dtype=np.float64)
    for v in obj.data.vertices:
        for g in v.groups:
            if g.group == index:
                out[v.index] = g.weight
    return out
