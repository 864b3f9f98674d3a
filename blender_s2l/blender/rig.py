"""The RIG bake mode's Blender half: reading the character's own shape keys, and keying them.

Gather (`find_rig`): the head's shape keys (the reference key is the rest; each other key's
offset from the key it is relative to, scaled by its vertex group, is what a weight of 1 adds;
slider_min/max bound it), the rig set they form (`core/rig/names.py`), the other meshes of the
character that share those keys (children of the head, meshes on the head's armature), and the
jaw bone. Keys a driver sets or that are muted are left out with a note.

Write (`key_take`): on each object an action keying exactly the keys the solve used, played by a
track `s2l.<take>` whose strip extrapolates NOTHING, so that outside the take a key falls through
to the tracks below: rig takes at different times all play. Blender's NLA gives a channel it
animates its property's default wherever no strip plays (1.0 for a shape key's value in 5.0),
so one track of the object's own, `s2l.(rest)`, under its takes, holds every key they
animate at its rest value (0, within its slider range); it follows the object's takes
(`sync_rest`) and goes with the last one. No shape key is ever added or removed. Takes of new
keys (`bake.py`) share that track: a muted NLA track is not evaluated at all, so without it
their keys would keep what the frame shown last gave them.

The jaw bone (`jaw_rig`, `key_bone_take`): when the head has an armature with a jaw bone, the
take also keys that bone's pose from the jaw's fitted motion (core/rig/jaw.py) in an action of
the armature's own, on the armature's own NLA track `s2l.<take>` (a member of the take's group
like the teeth): its rotation in the bone's rotation mode, and its location where the motion
shifts the bone's head. The shape keys are then solved for what the bone's skinning leaves.
Outside the take the bone's channels fall to the tracks below: the armature's own `s2l.(rest)`
holds the bones its takes key at their rest pose (`sync_bone_rest`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import bpy
import numpy as np
from numpy.typing import NDArray

from ..core.bake.plans import KeyPlan, RigPlan
from ..core.errors import BakeError
from ..core.rig.jaw import BoneTrack, JawRig, axis_angles, quaternions
from ..core.rig.target import RigTarget
from . import storage
from .compat import action_channelbag, slot_fcurves
from .keying import (
    Channel,
    add_track,
    key_action,
    key_object_action,
    remove_action,
    remove_track,
    take_track,
    track_playing,
    value_path,
)
from .rna import Object
from .storage import TakeRecord, read_takes

REST_MARK = "s2l_rest"  # an ID property on rest actions: Blender may add .001 to their names
# An ID property on rest actions: each held key's value before the rest track held it, given
# back when no take animates the key any more.
BEFORE_PROP = "s2l_before"
REST_TRACK = "s2l.(rest)"  # '(' is no letter of a take name, so no take's track is named so
REST_FRAME = 1.0
# Bone names that are the jaw's own control on common rigs, best first; otherwise any bone
# with "jaw" in its name that no constraint moves.
JAW_BONES = ("jaw_master", "c_jawbone.x", "CC_Base_JawRoot", "jaw", "Jaw", "DEF-jaw")
NOT_CONTROLS = ("mch-", "org-", "tgt-", "vis_", "ik_", "mch_")
RIG_WORDS = "ARKit, viseme or VRM"


@dataclass
class Character:
    """Where a rig take is written besides the head: the other meshes sharing its keys (with
    the head key names each has) and the armature; found when the bake starts, again before
    it is written."""

    others: list[tuple[Object, list[str]]] = field(default_factory=list)
    armature: Object | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class FoundRig:
    target: RigTarget
    character: Character


# -- gather ---------------------------------------------------------------------------------------
def armature_of(obj: Object) -> Object | None:
    """The armature that moves the object: its parent, else its Armature modifier's object."""
    parent = obj.parent
    if parent is not None and parent.type == "ARMATURE":
        return parent
    for mod in obj.modifiers:
        if mod.type == "ARMATURE" and mod.object is not None:
            return mod.object
    return None


def character_meshes(head: Object) -> list[Object]:
    """The head's mesh children (at any depth) and the meshes the head's armature moves."""
    found = {o.name: o for o in head.children_recursive if o.type == "MESH"}
    armature = armature_of(head)
    if armature is not None:
        for o in bpy.data.objects:
            if o.type == "MESH" and armature_of(o) == armature:
                found[o.name] = o
    found.pop(head.name, None)
    return [found[n] for n in sorted(found)]


def _recogniser() -> Any:
    from ..core.rig import names as rig_names

    return rig_names


@dataclass
class PanelChoices:
    """What the Rig sub-panel stored on the head (Object.s2l_rig): its table of rig name ->
    shape key, and the jaw bone picked."""

    rows: list[tuple[str, str]] = field(default_factory=list)
    jaw_bone: str = ""


def panel_choices(obj: Object) -> PanelChoices:
    """The head's Rig sub-panel choices, also where the add-on is not registered (batch with
    the bpy module): Blender 5.0 keeps what a registered property group stored as the object's
    system properties, which the property's own name reads only while it is registered."""
    settings = getattr(obj, "s2l_rig", None)
    if settings is not None:
        return PanelChoices([(r.rig_name, r.key_name) for r in settings.rows],
                            str(settings.jaw_bone))
    try:
        stored = obj.bl_system_properties_get()
        group = stored.get("s2l_rig") if stored is not None else None
    except (AttributeError, TypeError):
        group = None
    if group is None or not hasattr(group, "get"):
        return PanelChoices()
    rows = []
    for row in group.get("rows") or []:
        if hasattr(row, "get"):
            rows.append((str(row.get("rig_name", "")), str(row.get("key_name", ""))))
    bone = group.get("jaw_bone", "")
    return PanelChoices(rows, bone if isinstance(bone, str) else "")


def user_map(obj: Object, path: str = "") -> dict[str, str]:
    """Rig name -> the head's key name ("" leaves that shape unkeyed): the object's table in
    the panel, then the map file's entries over it."""
    out = {rig.strip(): key.strip() for rig, key in panel_choices(obj).rows if rig.strip()}
    if path:
        out.update(_recogniser().load_rig_map(path))
    return out


def match(obj: Object, key_names: list[str], mapping: dict[str, str]) -> tuple[
        str, list[str], list[str], list[str]]:
    """(rig set, head key names, their rig names, notes) of the keys the recogniser knows."""
    found = _recogniser().match_rig(key_names, mapping or None)
    if isinstance(found, str):
        raise BakeError(re.sub(r"\b[Tt]his mesh\b", f"'{obj.name}'", found))
    return (str(found.rig_set), list(found.key_names), list(found.canonical),
            list(getattr(found, "notes", [])))


def driven_keys(key: Any) -> set[str]:
    """Names of the keys whose value a driver sets (keying them would change nothing)."""
    anim = key.animation_data
    if anim is None:
        return set()
    paths = {d.data_path for d in anim.drivers}
    return {kb.name for kb in key.key_blocks if value_path(kb.name) in paths}


def actively_keyed(key: Any) -> set[str]:
    """Keys the datablock's own active action keys: it plays over every NLA track."""
    anim = key.animation_data
    if anim is None or anim.action is None:
        return set()
    paths = {fc.data_path for fc in slot_fcurves(anim.action, anim.action_slot)}
    return {kb.name for kb in key.key_blocks if value_path(kb.name) in paths}


def users_strips(owner: Any, take_actions: set[str]) -> Iterator[tuple[Any, Any]]:
    """(track, strip) of every NLA strip of the user's on `owner`: a strip whose action is
    neither a take's (`take_actions`, from the take records) nor a rest action, on whatever
    track it lies (the user may put strips on a take's track, or name an action like ours)."""
    anim = owner.animation_data if owner is not None else None
    for track in anim.nla_tracks if anim is not None else ():
        for strip in track.strips:
            action = strip.action
            if action is not None and action.name not in take_actions \
                    and not is_rest_action(action):
                yield track, strip


def keyed_on_tracks(key: Any, take_actions: set[str]) -> dict[str, str]:
    """Keys the user's own NLA strips animate (`users_strips`), with the first such strip's
    track name: the rest track of rig takes plays over them."""
    paths = {value_path(kb.name): kb.name for kb in key.key_blocks}
    out: dict[str, str] = {}
    for track, strip in users_strips(key, take_actions):
        for fc in slot_fcurves(strip.action, strip.action_slot):
            if fc.data_path in paths:
                out.setdefault(paths[fc.data_path], track.name)
    return out


def _co(block: Any, n: int) -> NDArray[np.float32]:
    co = np.zeros(n * 3, dtype=np.float32)
    block.data.foreach_get("co", co)
    return co.reshape(n, 3)


def group_weights(obj: Object, group_name: str) -> NDArray[np.float32]:
    """(V,) weights of a vertex group, 0 where a vertex is not in it."""
    n = len(obj.data.vertices)
    group = obj.vertex_groups.get(group_name)
    out = np.zeros(n, dtype=np.float32)
    if group is None:
        return out
    index = group.index
    for v in obj.data.vertices:
        for g in v.groups:
            if g.group == index:
                out[v.index] = g.weight
    return out


def key_offsets(obj: Object, key_names: list[str]) -> NDArray[np.float32]:
    """(K, V, 3) what a value of 1 adds: each key's offset from its relative key, times its
    vertex group's weights where it has one (as Blender evaluates relative keys)."""
    key = obj.data.shape_keys
    n = len(obj.data.vertices)
    out = np.zeros((len(key_names), n, 3), dtype=np.float32)
    for k, name in enumerate(key_names):
        kb = key.key_blocks[name]
        relative = kb.relative_key if kb.relative_key is not None else key.reference_key
        out[k] = _co(kb, n) - _co(relative, n)
        if kb.vertex_group:
            out[k] *= group_weights(obj, kb.vertex_group)[:, None]
    return out


def rest_value(kb: Any) -> float:
    """The value a key holds outside the takes: 0, within its slider range."""
    return float(min(max(0.0, kb.slider_min), kb.slider_max))


def _listing(key_names: list[str]) -> str:
    shown = ", ".join(f"'{n}'" for n in key_names[:4])
    return shown + (f" and {len(key_names) - 4} more" if len(key_names) > 4 else "")


def _left_out(key_names: list[str], obj: Object, one: str, many: str) -> str:
    why = one if len(key_names) == 1 else many
    return f"The take leaves out {_listing(key_names)} of '{obj.name}': {why}."


def check_armature(armature: Object | None) -> None:
    if armature is not None and armature.mode == "POSE":
        raise BakeError(f"The armature '{armature.name}' is in Pose Mode; switch to Object "
                        "Mode to bake onto the rig (a batch bake needs the file saved in "
                        "Object Mode).")


def check_jaw_armature(armature: Object) -> None:
    """Refuse an armature whose jaw bone a take could not key (nothing is changed)."""
    if armature.library is not None or not armature.is_editable:
        raise BakeError(f"The armature '{armature.name}' is linked from a library, so its jaw "
                        "bone cannot be keyed; make it local (Object > Library Override) "
                        "first.")
    anim = armature.animation_data
    if anim is not None and anim.use_tweak_mode:
        raise BakeError(f"The armature '{armature.name}' is in NLA tweak mode; leave it first.")


def skin_modifier(head: Object, armature: Object, bone: str) -> Any:
    """The head's Armature modifier that deforms it by the bone's vertex group, or None: a
    modifier of that armature, shown in the viewport, using vertex groups, a group named like
    the bone and the bone deforming."""
    data_bone = armature.data.bones.get(bone)
    if head.vertex_groups.get(bone) is None or data_bone is None or not data_bone.use_deform:
        return None
    return next((m for m in head.modifiers if m.type == "ARMATURE" and m.object == armature
                 and m.show_viewport and m.use_vertex_groups), None)


def skin_share(head: Object, armature: Object, bone: str) -> tuple[NDArray[np.float32],
                                                                   list[str]]:
    """(V,) each head vertex's share of the bone's motion through the head's Armature modifier
    (its weight in the bone's group over its weights in all deforming bones' groups, times the
    modifier's own group, as Blender blends bones), 0 without such a modifier or group; and
    notes."""
    n = len(head.data.vertices)
    zeros = np.zeros(n, dtype=np.float32)
    mod = skin_modifier(head, armature, bone)
    if mod is None:
        return zeros, []
    group = head.vertex_groups[bone]
    bones = armature.data.bones
    deform = {g.index for g in head.vertex_groups
              if (b := bones.get(g.name)) is not None and b.use_deform}
    total = np.zeros(n)
    mine = np.zeros(n)
    for v in head.data.vertices:
        for g in v.groups:
            if g.group in deform:
                total[v.index] += g.weight
                if g.group == group.index:
                    mine[v.index] += g.weight
    share = np.where(total > 1e-4, mine / np.maximum(total, 1e-12), 0.0)
    if mod.vertex_group:
        w = group_weights(head, mod.vertex_group).astype(np.float64)
        share *= (1.0 - w) if mod.invert_vertex_group else w
    notes = []
    if mod.use_deform_preserve_volume:
        notes.append(f"The Armature modifier '{mod.name}' of '{head.name}' preserves volume; "
                     "the shape keys were solved for plain (linear) skinning.")
    return share.astype(np.float32), notes


def jaw_rig(head: Object, armature: Object, bone: str) -> tuple[JawRig, list[str]]:
    """What the bake needs of the jaw bone: the head's space -> the bone's rest frame, the
    head's skin weights on it, and whether the bone may move; with notes."""
    data_bone = armature.data.bones[bone]
    pose_bone = armature.pose.bones[bone]
    to_bone = (data_bone.matrix_local.inverted_safe() @ armature.matrix_world.inverted_safe()
               @ head.matrix_world)
    skin, notes = skin_share(head, armature, bone)
    translate = not data_bone.use_connect and not any(pose_bone.lock_location)
    anim = armature.animation_data
    prefix = f'pose.bones["{bpy.utils.escape_identifier(bone)}"].'
    posed = (prefix + "rotation_", prefix + "location")
    if anim is not None and anim.action is not None and any(
            fc.data_path.startswith(posed)
            for fc in slot_fcurves(anim.action, anim.action_slot)):
        notes.append(f"The jaw bone '{bone}' of '{armature.name}' is also keyed in its action "
                     f"'{anim.action.name}', whose rotation or location of it plays over the "
                     "take.")
    if any(c.enabled and c.influence > 0 for c in pose_bone.constraints):
        notes.append(f"The jaw bone '{bone}' of '{armature.name}' has constraints, which may "
                     "override the pose the take keys.")
    if not skin.any():
        notes.append(f"'{head.name}' is not skinned to the jaw bone '{bone}' (no Armature "
                     "modifier or no weights in its vertex group): the bone is keyed for what "
                     "it carries, and the shape keys make the whole motion.")
    return JawRig(bone, np.array(to_bone, dtype=np.float64), skin, translate), notes


PICKED_IN_PANEL = "the jaw bone picked in the Rig sub-panel"
GIVEN_TO_BAKE = "the jaw bone the bake was given: --jaw-bone, the jaw_bone column or jaw_bone="


def find_jaw_bone(armature: Object | None, chosen: str, where: str = PICKED_IN_PANEL) -> str:
    """The jaw's control bone as "armature/bone": the one chosen (`where` says by whom, for the
    sentence refusing a bone the armature lacks), else the bone named like a jaw on common rigs
    (see JAW_BONES), else ""."""
    if armature is None:
        if chosen:
            raise BakeError(f"The jaw bone '{chosen}' was picked, but the head has no armature.")
        return ""
    bones = armature.data.bones
    if chosen:
        if bones.get(chosen) is None:
            raise BakeError(f"The armature '{armature.name}' has no bone '{chosen}' ({where}).")
        return f"{armature.name}/{chosen}"
    for name in JAW_BONES:
        if bones.get(name) is not None:
            return f"{armature.name}/{name}"
    pose = armature.pose
    for bone in sorted(bones, key=lambda b: len(b.name)):
        low = bone.name.lower()
        if "jaw" not in low or low.startswith(NOT_CONTROLS):
            continue
        pose_bone = pose.bones.get(bone.name) if pose is not None else None
        if pose_bone is not None and any(c.enabled for c in pose_bone.constraints):
            continue
        return f"{armature.name}/{bone.name}"
    return ""


def recognise(head: Object, rig_map: str = "") -> tuple[str, list[str], list[str], list[str]]:
    """(rig set, head key names, their rig names, notes): the names alone, cheap enough for the
    panel; one sentence when the head has no rig the recogniser knows."""
    key = head.data.shape_keys
    if key is None or len(key.key_blocks) < 2:
        raise BakeError(f"'{head.name}' has no shape keys; Rig Shape Keys keys the character's "
                        f"own {RIG_WORDS} shape keys (or pick Compact to add keys of its own).")
    if not key.use_relative:
        raise BakeError(f"The shape keys of '{head.name}' are absolute (Relative is off); "
                        "Rig Shape Keys keys relative shape keys only.")
    own = [kb.name for kb in key.key_blocks
           if kb != key.reference_key and not kb.name.startswith(f"{storage.PREFIX}.")]
    return match(head, own, user_map(head, rig_map))


def find_rig(head: Object, rig_map: str = "", jaw_bone: str = "") -> FoundRig:
    """What a rig bake of the head keys, or one sentence why it cannot (nothing is changed)."""
    rig_set, matched, canonical, notes = recognise(head, rig_map)
    key = head.data.shape_keys
    driven = driven_keys(key)
    keep: list[tuple[str, str]] = []
    left_driven = [n for n in matched if n in driven]
    left_muted = [n for n in matched if n not in driven and key.key_blocks[n].mute]
    keep = [(n, c) for n, c in zip(matched, canonical, strict=True)
            if n not in driven and not key.key_blocks[n].mute]
    if left_driven:
        notes.append(_left_out(left_driven, head, "a driver sets it", "drivers set them"))
    if left_muted:
        notes.append(_left_out(left_muted, head, "it is muted", "they are muted"))
    if not keep:
        raise BakeError(f"Every {RIG_WORDS} shape key of '{head.name}' follows a driver or is "
                        "muted, so there is nothing to key; remove the drivers or unmute them.")
    key_names = [n for n, _ in keep]
    overridden = sorted(actively_keyed(key) & set(key_names))
    if overridden:
        notes.append(f"{_listing(overridden)} of '{head.name}' "
                     f"{'is' if len(overridden) == 1 else 'are'} also keyed in its shape keys' "
                     f"action '{key.animation_data.action.name}', which plays over the take.")
    below = keyed_on_tracks(key, {r.action for r in read_takes(head).values()})
    hidden = [n for n in key_names if n in below]
    if hidden:
        notes.append(f"{_listing(hidden)} of '{head.name}' "
                     f"{'is' if len(hidden) == 1 else 'are'} also keyed on the NLA track "
                     f"'{below[hidden[0]]}', which the take's track '{REST_TRACK}' plays over.")
    ranges = np.array([[key.key_blocks[n].slider_min, key.key_blocks[n].slider_max]
                       for n in key_names], dtype=np.float64)
    armature = armature_of(head)
    check_armature(armature)
    others: list[tuple[Object, list[str]]] = []
    for obj in character_meshes(head):
        other = obj.data.shape_keys
        if other is None or not other.use_relative:
            continue
        shared = [n for n in key_names if other.key_blocks.get(n) is not None]
        if not shared:
            continue
        left = [n for n in shared if n in driven_keys(other) or other.key_blocks[n].mute]
        if left:
            notes.append(_left_out(left, obj, "a driver sets it or it is muted",
                                   "drivers set them or they are muted"))
        shared = [n for n in shared if n not in left]
        if shared:
            others.append((obj, shared))
    given = jaw_bone.strip()
    found_bone = (find_jaw_bone(armature, given, GIVEN_TO_BAKE) if given
                  else find_jaw_bone(armature, panel_choices(head).jaw_bone))
    jaw = None
    if found_bone and armature is not None:
        check_jaw_armature(armature)
        jaw, jaw_notes = jaw_rig(head, armature, found_bone[len(armature.name) + 1:])
        notes.extend(jaw_notes)
    target = RigTarget(
        rig_set=rig_set, key_names=key_names, canonical=[c for _, c in keep],
        deltas=key_offsets(head, key_names), ranges=ranges,
        others={obj.name: shared for obj, shared in others},
        jaw_bone=found_bone, jaw=jaw, notes=notes)
    return FoundRig(target, Character(others, armature, list(notes)))


# -- write ----------------------------------------------------------------------------------------
def used_keys(plan: RigPlan) -> list[str]:
    """The plan's keys whose weights leave their rest value somewhere: the others are not
    keyed at all (the solve did not use them)."""
    return [n for n, m in zip(plan.key_names, plan.moved(), strict=True) if m]


def key_take(obj: Object, plan: KeyPlan, record: TakeRecord, track_name: str) -> None:
    """Key record.animated on obj with the plan's weights of the same names, on a new track
    (named track_name until the take it replaces is gone); the rest track grows to hold them."""
    if not isinstance(plan, RigPlan):
        raise TypeError(f"A {plan.mode} plan adds shape keys; it cannot key a rig.")
    key = obj.data.shape_keys
    missing = [n for n in record.animated if key is None or key.key_blocks.get(n) is None]
    if missing:
        raise BakeError(f"'{obj.name}' no longer has the shape keys {_listing(missing)}; "
                        "bake again.")
    column = {n: k for k, n in enumerate(plan.key_names)}
    action, slot, first, last = key_action(
        key, storage.action_name(obj.name, record.take), storage.track_name(record.take),
        ((n, *plan.fcurve(column[n])) for n in record.animated))
    record.action = action.name
    record.frame_start, record.frame_end = int(np.floor(first)), int(np.ceil(last))
    sync_rest(obj, [*read_takes(obj).values(), record])
    record.track = add_track(key, track_name, record.frame_start, action, slot, "NOTHING").name


def anim_owner(obj: Object) -> Any:
    """Where a take of the object lives: the armature itself (its jaw bone's take), else the
    mesh's shape keys (None without them)."""
    return obj if obj.type == "ARMATURE" else getattr(obj.data, "shape_keys", None)


def bone_channels(pose_bone: Any, track: BoneTrack) -> list[Channel]:
    """The bone's F-curves over the plan's frames and one rest frame either side: its rotation
    in its own rotation mode (quaternions kept on one hemisphere, Euler angles continuous),
    and its location when the track keys it."""
    from mathutils import Euler, Matrix

    base = f'pose.bones["{bpy.utils.escape_identifier(pose_bone.name)}"]'
    mode = pose_bone.rotation_mode
    rows: list[list[float]] = []
    if mode == "QUATERNION":
        rows = quaternions(track.rotation).tolist()
        prop, rest = "rotation_quaternion", [1.0, 0.0, 0.0, 0.0]
    elif mode == "AXIS_ANGLE":
        rows = axis_angles(track.rotation).tolist()
        prop, rest = "rotation_axis_angle", [0.0, 0.0, 1.0, 0.0]
    else:
        prev = Euler((0.0, 0.0, 0.0), mode)
        for r in track.rotation:
            e = Matrix(r.tolist()).to_euler(mode, prev)
            prev = e
            rows.append([e.x, e.y, e.z])
        prop, rest = "rotation_euler", [0.0, 0.0, 0.0]
    values = np.array([rest, *rows, rest], dtype=np.float64)
    out: list[Channel] = [(f"{base}.{prop}", i, values[:, i]) for i in range(values.shape[1])]
    if track.keys_location:
        loc = np.concatenate([np.zeros((1, 3)), track.location, np.zeros((1, 3))])
        out += [(f"{base}.location", i, loc[:, i]) for i in range(3)]
    return out


def rest_channels(pose_bone: Any) -> list[Channel]:
    """The bone's rotation (in its rotation mode) and location at rest, one frame."""
    base = f'pose.bones["{bpy.utils.escape_identifier(pose_bone.name)}"]'
    mode = pose_bone.rotation_mode
    prop, rest = (("rotation_quaternion", [1.0, 0.0, 0.0, 0.0]) if mode == "QUATERNION"
                  else ("rotation_axis_angle", [0.0, 0.0, 1.0, 0.0]) if mode == "AXIS_ANGLE"
                  else ("rotation_euler", [0.0, 0.0, 0.0]))
    out: list[Channel] = [(f"{base}.{prop}", i, np.array([v])) for i, v in enumerate(rest)]
    return out + [(f"{base}.location", i, np.zeros(1)) for i in range(3)]


def sync_bone_rest(armature: Object, takes: Iterable[TakeRecord]) -> None:
    """The armature's rest track: the bones its takes key, at their rest pose, under its
    takes, so that where no take plays (muted, or outside every take) the jaw is at rest
    rather than where a take last left it; it goes with the last take. It is made with the
    first take (on top of the user's tracks, under the take) and then changed in place."""
    records = [r for r in takes if r.bones]
    pose = armature.pose
    anim = armature.animation_data
    track = rest_track(armature)
    bones = sorted({b for r in _over_rest(armature, records, track) for b in r.bones
                    if pose is not None and pose.bones.get(b) is not None})
    action = _own_rest_action(track, armature.name)
    # A channel the user's own NLA tracks animate is left to them: where none of their strips
    # plays, Blender's NLA sets it to its default, which for a bone is the rest pose anyway.
    theirs = channels_on_users_tracks(armature, {r.action for r in read_takes(armature).values()}
                                      | {r.action for r in records})
    channels = [c for b in bones for c in rest_channels(pose.bones[b])
                if (c[0], c[1]) not in theirs]
    wanted = bones if channels else []
    noted = dict(action.get(BEFORE_PROP, {})) if action is not None else {}
    for name, values in noted.items():  # a bone no take keys any more: the user's pose back
        if name not in wanted and pose is not None and pose.bones.get(name) is not None:
            _set_pose(pose.bones[name], [float(v) for v in values])
    # A pose is noted only where it is the user's: not where a take's track or the old rest
    # track (a file from before the notes) already moves the bone.
    held = {fc.data_path for fc in slot_fcurves(action, track.strips[0].action_slot)
            } if action is not None else set()
    played = _played(armature, records)
    before = {b: [float(v) for v in noted[b]] if b in noted else _pose_of(pose.bones[b])
              for b in wanted if b in noted or (
                  b not in played and rest_channels(pose.bones[b])[0][0] not in held)}
    if track is None or not wanted or action is None:
        if track is not None:
            anim.nla_tracks.remove(track)
        if action is not None and action.users == 0:
            bpy.data.actions.remove(action)
        if wanted:
            action, slot = key_object_action(
                armature, storage.action_name(armature.name, "(rest)"), REST_TRACK,
                np.array([REST_FRAME]), channels)
            action[REST_MARK] = True
            action[BEFORE_PROP] = before
            add_track(armature, REST_TRACK, REST_FRAME, action, slot, "HOLD",
                      prev=_below(armature, records), unique=False)
        return
    action[BEFORE_PROP] = before
    _holds_everywhere(track.strips[0])
    bag = action_channelbag(action, track.strips[0].action_slot)
    for fc in list(bag.fcurves):
        bag.fcurves.remove(fc)
    for path, index, values in channels:
        fc = bag.fcurves.new(path, index=index, group_name=REST_TRACK)
        fc.keyframe_points.insert(REST_FRAME, float(values[0]))


def _own_rest_action(track: Any, owner_name: str) -> Any:
    """The rest track's action, made this object's own first if another object plays it too.

    A copy of the head (Shift+D) plays the same rest action as the original; the rest track is
    changed in place as takes come and go, so without its own copy a Remove on the copy would
    stop holding the original's keys, and a take muted on the original would freeze again."""
    if track is None or not len(track.strips) or track.strips[0].action is None:
        return None
    strip = track.strips[0]
    action = strip.action
    if action.users - int(action.use_fake_user) <= 1:
        return action
    slot = strip.action_slot
    own = action.copy()
    own.name = storage.action_name(owner_name, "(rest)")
    own[REST_MARK] = True
    strip.action = own
    if slot is not None:
        strip.action_slot = own.slots.get(slot.identifier) or own.slots[0]
    return own


def _played(owner: Any, records: Iterable[TakeRecord]) -> set[str]:
    """The keys and bones that a take already on `owner`'s NLA stack moves: their values now
    may be what that take played, not what the user set."""
    return {n for r in records if take_track(owner, r.action, r.track) is not None
            for n in (*r.keys, *r.animated, *r.bones)}


def _pose_of(bone: Any) -> list[float]:
    """The bone's pose as the rest track notes it: location, then its rotation in every mode."""
    return [*bone.location, *bone.rotation_quaternion, *bone.rotation_euler,
            *bone.rotation_axis_angle]


def _set_pose(bone: Any, values: list[float]) -> None:
    bone.location = values[0:3]
    bone.rotation_quaternion = values[3:7]
    bone.rotation_euler = values[7:10]
    bone.rotation_axis_angle = values[10:14]


def channels_on_users_tracks(owner: Any, take_actions: set[str]) -> set[tuple[str, int]]:
    """(data path, index) of every F-curve that a strip of the user's (`users_strips`) on
    `owner` plays."""
    return {(fc.data_path, fc.array_index) for _, strip in users_strips(owner, take_actions)
            for fc in slot_fcurves(strip.action, strip.action_slot)}


def key_bone_take(armature: Object, plan: KeyPlan, record: TakeRecord, track_name: str) -> None:
    """Key the plan's jaw bone on the armature in an action of its own, on a new track of the
    armature (named track_name until the take it replaces is gone)."""
    if not isinstance(plan, RigPlan) or plan.jaw is None:
        raise TypeError("Only a rig plan with a jaw track keys a jaw bone.")
    pose_bone = armature.pose.bones.get(plan.jaw.bone) if armature.pose is not None else None
    if pose_bone is None:
        raise BakeError(f"The armature '{armature.name}' no longer has the bone "
                        f"'{plan.jaw.bone}'; bake again.")
    f = np.asarray(plan.frames, dtype=np.float64)
    frames = np.concatenate([[f[0] - 1], f, [f[-1] + 1]])
    action, slot = key_object_action(
        armature, storage.action_name(armature.name, record.take), plan.jaw.bone, frames,
        bone_channels(pose_bone, plan.jaw))
    record.action = action.name
    record.frame_start, record.frame_end = int(np.floor(frames[0])), int(np.ceil(frames[-1]))
    sync_bone_rest(armature, [*read_takes(armature).values(), record])
    record.track = add_track(armature, track_name, record.frame_start, action, slot,
                             "NOTHING").name


def rest_track(key: Any) -> Any:
    """The rest track the add-on made on `key` (shape keys or an armature), or None. Known by
    what it plays, as take tracks are (`keying.take_track`): every strip plays a rest action
    (`s2l.<object>.(rest)`; no take is named with '('), so a track of the user's that happens to
    be named `s2l.(rest)` is never emptied or removed."""
    return track_playing(key, is_rest_action, REST_TRACK)


def is_rest_action(action: Any) -> bool:
    """Whether the action is a rest track's: marked so (REST_MARK), or, in files baked before
    the mark, named `s2l.<object>.(rest)` exactly."""
    return action is not None and (bool(action.get(REST_MARK)) or (
        action.name.startswith(f"{storage.PREFIX}.") and action.name.endswith(".(rest)")))


def sync_rest(obj: Object, takes: Iterable[TakeRecord]) -> None:
    """Make the object's rest track hold exactly the keys its takes animate, the character's
    own and the keys takes created alike (and go when none does). It is made under the lowest
    take (`_below`: over it where that take lies at the very bottom, and then that take is not
    held), so the takes play over it; where none plays (muted in the NLA editor, or outside
    them all) it does, and the face is at rest rather than where a take last left it. On an
    armature it holds the bones its takes key at their rest pose (`sync_bone_rest`)."""
    if obj.type == "ARMATURE":
        sync_bone_rest(obj, takes)
        return
    key = anim_owner(obj) if obj.type == "MESH" else None
    if key is None:
        return
    records = list(takes)
    track = rest_track(key)
    wanted = sorted({n for r in _over_rest(key, records, track) for n in (*r.keys, *r.animated)
                     if key.key_blocks.get(n)})
    action = _own_rest_action(track, obj.name)
    if action is not None:  # a key no take animates any more gets back the value it had
        paths = {value_path(kb.name): kb for kb in key.key_blocks}
        for fc in slot_fcurves(action, track.strips[0].action_slot):
            kb = paths.get(fc.data_path)
            if kb is not None and kb.name not in wanted:
                kb.value = _value_before(action, kb)
    if not wanted:
        if track is not None:
            key.animation_data.nla_tracks.remove(track)
        if action is not None and action.users == 0:
            bpy.data.actions.remove(action)
        return
    if action is None:
        if track is not None:
            key.animation_data.nla_tracks.remove(track)
        curves = [(n, np.array([REST_FRAME]), np.array([rest_value(key.key_blocks[n])],
                                                        dtype=np.float32)) for n in wanted]
        played = _played(key, records)
        before = {n: float(key.key_blocks[n].value) for n in wanted if n not in played}
        action, slot, _, _ = key_action(key, storage.action_name(obj.name, "(rest)"), REST_TRACK,
                                        curves)
        action[REST_MARK] = True
        action[BEFORE_PROP] = before
        add_track(key, REST_TRACK, REST_FRAME, action, slot, "HOLD",
                  prev=_below(key, records), unique=False)
        return
    strip = track.strips[0]
    _holds_everywhere(strip)
    bag = action_channelbag(action, strip.action_slot)
    have = {fc.data_path: fc for fc in bag.fcurves}
    paths = {value_path(n): n for n in wanted}
    for path, fc in have.items():
        if path not in paths:
            bag.fcurves.remove(fc)
    before = dict(action.get(BEFORE_PROP, {}))
    played = _played(key, records)
    for path, n in paths.items():
        if path not in have:
            if n not in played:
                before[n] = float(key.key_blocks[n].value)
            fc = bag.fcurves.new(path, group_name=REST_TRACK)
            fc.keyframe_points.insert(REST_FRAME, rest_value(key.key_blocks[n]))
    action[BEFORE_PROP] = {n: v for n, v in before.items() if value_path(n) in paths}


def _holds_everywhere(strip: Any) -> None:
    """The rest strip plays before and after itself, wherever it was dragged: held only
    forward (Blender's choice for a strip that is not first), the frames before it would give
    the keys Blender's default, 1.0, where no take plays."""
    if strip.extrapolation != "HOLD":
        strip.extrapolation = "HOLD"


def _value_before(action: Any, kb: Any) -> float:
    """The value the key had before a take first had the rest track hold it (a dial the user
    set by hand on the character's own key), or its rest value in a file that did not note it
    (a key a take created had no value before: its rest value is it)."""
    noted = action.get(BEFORE_PROP, {})
    return float(noted[kb.name]) if kb.name in noted else rest_value(kb)


def _below(key: Any, records: Iterable[TakeRecord]) -> Any:
    """The track just under the lowest track of the given takes (None: the rest goes on top, as
    it does when the object has no take on a track yet). Blender adds no track at the bottom
    of the stack, so where that take lies at the bottom (a take of new keys in a file baked
    before they had a rest track, or whose rest track the user deleted) the rest goes just
    over it, and `_over_rest` leaves it out rather than silence it."""
    found = (take_track(key, r.action, r.track) for r in records)
    take_tracks = {t.as_pointer() for t in found if t is not None}
    tracks = list(key.animation_data.nla_tracks) if key.animation_data else []
    for i, t in enumerate(tracks):
        if t.as_pointer() in take_tracks:
            return tracks[max(i - 1, 0)]
    return None


def _over_rest(key: Any, records: list[TakeRecord], rest: Any) -> list[TakeRecord]:
    """The takes whose keys the rest track may hold: a take's track over it (where it is, or
    where `_below` will make it), or none yet (it is about to go on top). A rest track over a
    take would hold that take's keys at rest wherever it plays."""
    tracks = list(key.animation_data.nla_tracks) if key.animation_data else []
    at = {t.as_pointer(): i for i, t in enumerate(tracks)}
    floor_track = rest if rest is not None else _below(key, records)
    floor = at[floor_track.as_pointer()] if floor_track is not None else -1
    out = []
    for r in records:
        track = take_track(key, r.action, r.track)
        if track is None or at[track.as_pointer()] > floor:
            out.append(r)
    return out


def discard(obj: Object, record: TakeRecord) -> None:
    """Remove a take's track and its action (once nothing else plays it): all a rig take owns
    (its keys and bones are the user's); a take of new keys also owns those."""
    remove_track(anim_owner(obj), record.action, record.track)
    remove_action(record.action)


def rest_bones(obj: Object, record: TakeRecord) -> None:
    """The pose keeps what a removed take last played: its bones go back to their rest pose
    (an action or track of the user's that animates them sets them again when it plays), and
    `sync_bone_rest` then gives a bone no take keys any more the pose it had before."""
    if obj.type == "ARMATURE" and obj.pose is not None:
        for name in record.bones:
            bone = obj.pose.bones.get(name)
            if bone is not None:
                bone.location = (0.0, 0.0, 0.0)
                bone.rotation_quaternion = (1.0, 0.0, 0.0, 0.0)
                bone.rotation_euler = (0.0, 0.0, 0.0)
                bone.rotation_axis_angle = (0.0, 0.0, 1.0, 0.0)


# -- panel ----------------------------------------------------------------------------------------
RIG_SET_WORDS = {"ARKIT": "ARKit", "VISEMES": "viseme", "VRM": "VRM"}


def summary(head: Object) -> str:
    """What a rig bake of the head would key, from the names alone (raises the sentence why it
    cannot): "12 ARKit keys, also on Teeth"."""
    rig_set, matched, _, _ = recognise(head)
    shared = [o.name for o in character_meshes(head) if o.data.shape_keys is not None
              and any(o.data.shape_keys.key_blocks.get(n) is not None for n in matched)]
    also = f", also on {', '.join(shared)}" if shared else ""
    return f"{len(matched)} {RIG_SET_WORDS.get(rig_set, rig_set)} keys{also}"
