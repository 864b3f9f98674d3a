"""What every take writes on a shape-key datablock (or, for a rig take's jaw bone, on the
armature), and how it goes again.

A take's animation is one slotted action (slot of type KEY; OBJECT on the armature) whose
F-curves key shape-key values (or the bone's pose) from (frames, values), played by an NLA track
of its own: the datablock's active action stays the user's, so takes coexist and a take can be
removed exactly. Both kinds of take use these (new shape keys in `bake.py`, the character's own
keys and jaw bone in `rig.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import bpy
import numpy as np
from numpy.typing import NDArray

from ..core.bake.pipeline import NOT_FINITE
from ..core.errors import BakeError
from .compat import action_channelbag
from .rna import Action, ActionSlot

# (shape key name, frames, values) of one F-curve
Curve = tuple[str, NDArray[np.float64], NDArray[np.float32]]

_INTERPOLATION: Any = bpy.types.Keyframe.bl_rna.properties["interpolation"]
_LINEAR = _INTERPOLATION.enum_items["LINEAR"].value


def check_finite(values: NDArray[np.floating[Any]], what: str) -> None:
    """The last guard before Blender data: a NaN in a shape key or keyframe is saved with the
    .blend and breaks the mesh wherever it is played, so no such value is ever written."""
    if not np.all(np.isfinite(values)):
        raise BakeError(f"{what} would hold NaN or infinite values, so the bake was undone; "
                        f"{NOT_FINITE}.")


def value_path(key_name: str) -> str:
    """The data path of a shape key's value (a quote in the name escaped as Blender does)."""
    return f'key_blocks["{bpy.utils.escape_identifier(key_name)}"].value'


def key_action(key: Any, name: str, group: str,
               curves: Iterable[Curve]) -> tuple[Action, ActionSlot, float, float]:
    """A new action for the shape-key datablock `key`, one LINEAR F-curve a curve; returns it,
    its slot and the first and last keyed frames. On failure no action is left behind."""
    action = bpy.data.actions.new(name)
    try:
        slot = action.slots.new("KEY", key.name)
        bag = action_channelbag(action, slot)
        first, last = np.inf, -np.inf
        for key_name, frames, values in curves:
            check_finite(values, f"The keyframes of '{key_name}'")
            _fill(bag.fcurves.new(value_path(key_name), group_name=group), frames, values)
            first, last = min(first, float(frames[0])), max(last, float(frames[-1]))
    except BaseException:
        bpy.data.actions.remove(action)
        raise
    return action, slot, float(first), float(last)


def _fill(fc: Any, frames: NDArray[np.float64], values: NDArray[np.floating[Any]]) -> None:
    n = len(frames)
    fc.keyframe_points.add(n)
    co = np.empty(2 * n, dtype=np.float32)
    co[0::2], co[1::2] = frames, values
    fc.keyframe_points.foreach_set("co", co)
    fc.keyframe_points.foreach_set("interpolation", np.full(n, _LINEAR, dtype=np.int32))
    fc.update()


# (data path, array index, values) of one F-curve of an object's own property
Channel = tuple[str, int, NDArray[np.float64]]


def key_object_action(obj: Any, name: str, group: str, frames: NDArray[np.float64],
                      channels: Iterable[Channel]) -> tuple[Action, ActionSlot]:
    """A new action for the object `obj` itself (a slot of type OBJECT: a pose bone's
    channels), one LINEAR F-curve a channel over the same frames. On failure no action is left
    behind."""
    action = bpy.data.actions.new(name)
    try:
        slot = action.slots.new("OBJECT", obj.name)
        bag = action_channelbag(action, slot)
        for path, index, values in channels:
            check_finite(values, f"The keyframes of '{group}'")
            _fill(bag.fcurves.new(path, index=index, group_name=group), frames, values)
    except BaseException:
        bpy.data.actions.remove(action)
        raise
    return action, slot


def add_track(key: Any, name: str, start: float, action: Action, slot: ActionSlot,
              extrapolation: str = "HOLD", prev: Any = None, unique: bool = True) -> Any:
    """A locked NLA track of its own on `key` playing the action from `start` (REPLACE), on top
    of the stack or just above `prev`. Blender lets two tracks share a name, so a take's track
    (`unique`) takes a name no other track has: a user's track named like it is never taken
    for it by a look-up by name."""
    anim = key.animation_data or key.animation_data_create()
    track = anim.nla_tracks.new(prev=prev)
    track.name = free_track_name(key, name, track) if unique else name
    strip = track.strips.new(name, int(start), action)
    if strip.action_slot != slot:
        strip.action_slot = slot
    strip.blend_type = "REPLACE"
    strip.extrapolation = extrapolation
    track.lock = True
    return track


def free_track_name(key: Any, name: str, track: Any = None) -> str:
    """`name`, or `name.001`, `name.002`... the first that no track of `key` but `track` has."""
    anim = key.animation_data if key is not None else None
    taken = {t.name for t in anim.nla_tracks if t != track} if anim is not None else set()
    n = 0
    free = name
    while free in taken:
        n += 1
        free = f"{name}.{n:03d}"
    return free


def take_track(key: Any, action_name: str, track_name: str = "") -> Any:
    """The NLA track a take made on `key` (a shape-key datablock or an object), or None.

    A name does not tell it: Blender lets two tracks share one, and the user may name theirs
    like ours. So the track is known by what it plays: it has strips, and every one of them
    plays the take's own action (an ID, whose name is unique); among such tracks the one of the
    recorded name is preferred. A track that holds anything else is never the take's."""
    action = bpy.data.actions.get(action_name) if action_name else None
    if action is None:
        return None
    return track_playing(key, lambda played: played == action, track_name)


def track_playing(key: Any, ours: Callable[[Any], bool], name: str = "") -> Any:
    """The NLA track of `key` whose strips all play an action `ours` accepts (one of `name`
    first), or None: how the add-on knows the tracks it made, whatever they are called."""
    anim = key.animation_data if key is not None else None
    if anim is None:
        return None
    found = [t for t in anim.nla_tracks if len(t.strips) and all(ours(s.action) for s in t.strips)]
    return next((t for t in found if t.name == name), found[0] if found else None)


def remove_track(key: Any, action_name: str, track_name: str = "") -> None:
    """Remove the take's NLA track of `key` (`take_track`), if there. Where the user has put
    strips of their own on it, only the strips playing the take's action go (they would play
    nothing once the take's action is removed), and the track stays with the user's."""
    track = take_track(key, action_name, track_name)
    if track is not None:
        key.animation_data.nla_tracks.remove(track)
        return
    anim = key.animation_data if key is not None else None
    action = bpy.data.actions.get(action_name) if action_name else None
    if anim is None or action is None:
        return
    for t in anim.nla_tracks:
        for strip in [s for s in t.strips if s.action == action]:
            t.strips.remove(strip)


@contextmanager
def active_key_kept(obj: Any) -> Iterator[None]:
    """Keep the object's active shape key across removing and adding keys.

    Blender keeps the active key by index, and removing a key resets it, so the user's own key
    (shown alone with Shape Key Lock) would give way to Basis. It is kept by name: the same key,
    or a key of that name made meanwhile (a replaced take's), else the nearest key above it
    that is still there."""
    key = getattr(obj.data, "shape_keys", None) if obj.type == "MESH" else None
    before = [kb.name for kb in key.key_blocks] if key is not None else []
    index = obj.active_shape_key_index
    try:
        yield
    finally:
        key = obj.data.shape_keys if before else None
        if key is not None and 0 <= index < len(before):
            names = [kb.name for kb in key.key_blocks]
            kept = [n for n in reversed(before[:index + 1]) if n in names]
            obj.active_shape_key_index = names.index(kept[0]) if kept else 0


def remove_action(action_name: str) -> None:
    """Remove a take's action once nothing plays it any more (call it after the take's strips
    are gone). A copy of the head (Shift+D) shares its takes' actions with the original, so
    removing the copy's take must leave the original's playing."""
    action = bpy.data.actions.get(action_name) if action_name else None
    if action is not None and action.users - int(action.use_fake_user) == 0:
        bpy.data.actions.remove(action)
