"""The bake: gather inputs on the main thread, infer anywhere, write the take on the main thread.

A take is shape keys named ``s2l.<take>.NNNN`` plus one action (slot of type KEY) that a
dedicated NLA track ``s2l.<take>`` on the shape-key datablock plays. Key datablocks have a
single active action, which stays the user's own: every take lives on its own NLA track, so
takes coexist, the user's action and keys are never touched, and removing a take deletes
exactly its keys, track and action. The object records what it owns in a custom property.

A rig take (mode RIG, `rig.py`) adds no key: it keys the character's own shape keys, on the head
and on every other mesh of the character that shares them, a take on each, and the jaw bone of
the head's armature in a take on the armature; removing it removes its tracks and actions from
all of them and never a key or a bone.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import bpy
import numpy as np
from numpy.typing import NDArray

from ..core.bake.cache import BakeCache, session_cache
from ..core.bake.pipeline import BakeInputs, infer
from ..core.bake.plans import PLANS, KeyPlan, RigPlan, large_bake_note, nothing_moved
from ..core.bake.settings import DEVICES, BakeSettings, settings_of
from ..core.bake.timing import strip_frames
from ..core.errors import BakeError
from ..core.progress import CancelFn, ProgressFn
from . import rig, storage
from .keying import (
    active_key_kept,
    add_track,
    check_finite,
    free_track_name,
    key_action,
    take_track,
)
from .prefs import cache_folder, get_prefs
from .rna import Context, Mesh, Object
from .storage import (
    TakeRecord,
    hold_weights,
    neutral_vertices,
    read_takes,
    stored_landmarks,
    write_takes,
)
from .strips import StripAudio, check_strip, find_strip, strip_audio, strip_timing


@dataclass(frozen=True)
class BakeParams(BakeSettings):
    """Everything the user chose: the settings plus the Blender data they apply to."""

    object_name: str = ""
    strip_name: str = ""
    strip_scene: str = ""
    take: str = ""


@dataclass
class Snapshot:
    """A bake's inputs copied out of Blender on the main thread, and where its result goes."""

    params: BakeParams
    inputs: BakeInputs  # all the worker reads (core/bake/pipeline.py)
    audio: StripAudio  # the sound file the inputs name; a temporary copy is removed after
    object_name: str
    object_uid: int  # session_uid: finds the object again even if it was renamed meanwhile
    take: str
    # A rig bake's other objects (teeth, tongue...) by name -> session_uid, found again likewise
    other_uids: dict[str, int] = field(default_factory=dict)


def resolve_object(context: Context, object_name: str) -> Object:
    if object_name:
        obj = bpy.data.objects.get(object_name)
        if obj is None:
            raise BakeError(f"There is no object named '{object_name}'.")
    else:
        obj = context.active_object
        if obj is None:
            raise BakeError("No active object; select the head mesh to animate.")
    return obj


def check_object(obj: Object, baking: bool = True) -> None:
    """Refuse objects whose shape keys the bake could not (or must not) change. baking=False
    (removing a take) lets absolute keys through: taking a take's keys out restores them."""
    if obj.type != "MESH":
        kind = obj.type.lower().replace("_", " ")
        article = "an" if kind[:1] in "aeiou" else "a"
        raise BakeError(f"'{obj.name}' is {article} {kind}, not a mesh; select a head mesh.")
    if obj.mode == "EDIT" or obj.data.is_editmode:
        raise BakeError(f"'{obj.name}' is in Edit Mode; switch to Object Mode to bake.")
    key = obj.data.shape_keys
    linked = [i for i in (obj, obj.data, key) if i is not None and (i.library or not i.is_editable)]
    if linked:
        raise BakeError(
            f"'{obj.name}' uses linked library data that cannot be edited; make it local first."
        )
    if obj.data.users > 1:
        raise BakeError(
            f"The mesh of '{obj.name}' is shared by {obj.data.users} users; "
            "make it single-user first."
        )
    if baking and key is not None and not key.use_relative:
        # Absolute keys are a sequence blended by Evaluation Time, not added to the basis:
        # a take's keys would join the sequence and move the user's pose, and never play.
        raise BakeError(f"The shape keys of '{obj.name}' are absolute (Relative is off), but the "
                        "bake needs relative shape keys; tick Relative in the Shape Keys panel.")
    if key is not None and key.animation_data is not None and key.animation_data.use_tweak_mode:
        raise BakeError(f"The shape keys of '{obj.name}' are in NLA tweak mode; leave it first.")
    if len(obj.data.vertices) == 0:
        raise BakeError(f"The mesh '{obj.name}' has no vertices.")


def mesh_faces(mesh: Mesh) -> NDArray[np.int64]:
    """Polygons as an (F, K) index array padded with -1 (read in bulk, no Python loop)."""
    n = len(mesh.polygons)
    if n == 0:
        return np.zeros((0, 3), dtype=np.int64)
    starts = np.zeros(n, dtype=np.int32)
    totals = np.zeros(n, dtype=np.int32)
    mesh.polygons.foreach_get("loop_start", starts)
    mesh.polygons.foreach_get("loop_total", totals)
    loops = np.zeros(len(mesh.loops), dtype=np.int32)
    mesh.loops.foreach_get("vertex_index", loops)
    width = int(totals.max())
    cols = np.arange(width)
    idx = starts[:, None] + cols[None, :]
    valid = cols[None, :] < totals[:, None]
    out = np.full((n, width), -1, dtype=np.int64)
    out[valid] = loops[idx[valid]]
    return out


def gather(context: Context, params: BakeParams) -> Snapshot:
    """Check everything and copy what inference needs; raises S2LError with one sentence."""
    if params.mode not in PLANS:
        raise BakeError(f"Unknown bake mode '{params.mode}'; use {' or '.join(PLANS)}.")
    if params.device not in DEVICES:
        raise BakeError(f"Unknown device '{params.device}'; use AUTO, CPU or CUDA.")
    obj = resolve_object(context, params.object_name)
    check_object(obj)
    target_scene = context.scene
    if target_scene is None:
        raise BakeError("There is no active scene.")
    seq_scene, strip = find_strip(context, params.strip_name, params.strip_scene)
    take = storage.check_take_name(params.take
                                   or storage.take_for_strip(storage.read_takes(obj), strip.name))
    found = (rig.find_rig(obj, params.rig_map, params.jaw_bone)
             if params.mode == RigPlan.mode else None)
    others = [o for o, _ in found.character.others] if found is not None else []
    for other in others:
        check_object(other)
    armature = rig.armature_of(obj) if found is not None and found.target.jaw else None
    check_take_free(obj, [*others, *([armature] if armature else [])], take, params.replace,
                    found is not None)
    check_strip(seq_scene, strip, target_scene)
    frames, times = strip_frames(strip_timing(seq_scene, strip))
    settings = BakeSettings(**settings_of(params))
    landmarks = stored_landmarks(obj)
    audio = strip_audio(strip)
    inputs = BakeInputs(
        settings=settings, audio_path=audio.path, vertices=neutral_vertices(obj),
        faces=mesh_faces(obj.data), frames=frames, times=times, landmarks68=landmarks,
        hold=hold_weights(obj), label=strip.name, mesh_name=obj.name,
        rig=found.target if found is not None else None, cache=bake_cache(context, params),
    )
    return Snapshot(params=params, inputs=inputs, audio=audio, object_name=obj.name,
                    object_uid=int(obj.session_uid), take=take,
                    other_uids={o.name: int(o.session_uid) for o in others})


def take_group(obj: Object, take: str) -> list[tuple[Object, TakeRecord]]:
    """The objects holding the take, with their records: the object alone, or every object one
    rig bake wrote it on (the same group)."""
    record = read_takes(obj).get(take)
    if record is None:
        return []
    if not record.group:
        return [(obj, record)]
    found = [(obj, record)]
    for other in bpy.data.objects:
        if other != obj and other.get(storage.TAKES_PROP):
            theirs = read_takes(other).get(take)
            if theirs is not None and theirs.group == record.group:
                found.append((other, theirs))
    return found


def check_take_free(obj: Object, others: list[Object], take: str, replace: bool,
                    rig_bake: bool) -> None:
    """Refuse a take name that is taken: on the object (unless replacing), on another object
    the bake writes on by a different bake, or by a rig bake that reaches further."""
    if take in read_takes(obj) and not replace:
        raise BakeError(
            f"'{obj.name}' already has a take named '{take}'; tick Replace or pick another name."
        )
    group = {o.session_uid for o, _ in take_group(obj, take)}
    for other in others:
        if take in read_takes(other) and other.session_uid not in group:
            raise BakeError(f"'{other.name}' already has a take named '{take}' from another "
                            "bake; pick another take name.")
    if len(group) > 1 and not rig_bake:
        shared = next(o.name for o, _ in take_group(obj, take) if o != obj)
        raise BakeError(f"The take '{take}' of '{obj.name}' was baked onto the rig together with "
                        f"'{shared}'; remove it first or pick another take name.")


def write_take(obj: Object, plan: KeyPlan, take: str, strip_name: str,
               character: rig.Character | None = None) -> TakeRecord:
    """Write one take (a rig plan's on the character's other objects too); on any failure
    everything written so far is removed again."""
    return WRITERS[plan.writes](obj, plan, take, strip_name, character or rig.Character())


def _write_new_keys_take(obj: Object, plan: KeyPlan, take: str, strip_name: str,
                         character: rig.Character) -> TakeRecord:
    """The take's new keys, action and track; the user's active key stays active, even where
    the take it replaces had keys above it."""
    with active_key_kept(obj):
        return _write_new_keys(obj, plan, take, strip_name)


def _write_new_keys(obj: Object, plan: KeyPlan, take: str, strip_name: str) -> TakeRecord:
    """A replacement is written under a name of its own first, and the take it replaces goes
    only once it is whole: a failure part-way leaves the old take as it was."""
    _check_fits(obj, plan)
    replacing = take in read_takes(obj)
    ours_basis = bool(obj.get(storage.BASIS_PROP))
    record = TakeRecord(take=storage.REPLACING if replacing else take, strip=strip_name,
                        mode=plan.mode, max_error_mm=plan.max_error_mm,
                        notes=list(plan.motion.notes))
    created_basis = obj.data.shape_keys is None
    try:
        _write(obj, plan, record, created_basis)
    except Exception:
        _take_back(obj, record)
        if created_basis and obj.data.shape_keys is not None:
            obj.shape_key_clear()
        raise
    if replacing:
        try:
            remove_take(obj, take, pending={obj.session_uid: record})
        except Exception:
            _take_back(obj, record)
            raise
        _rename_take(obj, record, take)
        if ours_basis:
            obj[storage.BASIS_PROP] = True
    takes = read_takes(obj)
    takes[take] = record
    write_takes(obj, takes)
    if created_basis:
        obj[storage.BASIS_PROP] = True
    return record


def _write_rig_take(head: Object, plan: KeyPlan, take: str, strip_name: str,
                    character: rig.Character) -> TakeRecord:
    """A take on the head keying the keys the solve used, and one on every other object of the
    character keying its keys of the same names with the same weights (one group). The take
    they replace goes only once all are written, so a failure leaves it as it was."""
    if not isinstance(plan, RigPlan):
        raise TypeError(f"A {plan.mode} plan adds shape keys; it cannot key a rig.")
    used = rig.used_keys(plan)
    if not used:
        raise BakeError(nothing_moved(head.name))
    armature = character.armature if plan.jaw is not None else None
    group = uuid.uuid4().hex if character.others or armature is not None else ""
    notes = list(dict.fromkeys(  # the solve may repeat the gather's notes
        [*plan.motion.notes, *character.notes, *getattr(plan, "notes", [])]))
    pending = storage.track_name(take) + " (new)"
    written: list[tuple[Object, TakeRecord]] = []
    try:
        for obj, allowed in [(head, list(plan.key_names)), *character.others]:
            animated = [n for n in used if n in allowed]
            if obj != head and not animated:
                continue
            record = TakeRecord(
                take=take, strip=strip_name, mode=plan.mode, animated=animated, group=group,
                max_error_mm=plan.max_error_mm,
                notes=notes if obj == head else [])
            written.append((obj, record))
            rig.key_take(obj, plan, record, pending)
        if armature is not None and plan.jaw is not None:
            record = TakeRecord(take=take, strip=strip_name, mode=plan.mode,
                                bones=[plan.jaw.bone], group=group)
            written.append((armature, record))
            rig.key_bone_take(armature, plan, record, pending)
    except Exception:
        for obj, record in written:
            rig.discard(obj, record)
            rig.sync_rest(obj, read_takes(obj).values())
        raise
    if take in read_takes(head):
        remove_take(head, take, pending={o.session_uid: r for o, r in written})
    for obj, record in written:
        _take_names(obj, record, take)
        takes = read_takes(obj)
        takes[take] = record
        write_takes(obj, takes)
    return written[0][1]


def _take_back(obj: Object, record: TakeRecord) -> None:
    """Remove what a take of new keys has written so far, and let the rest track hold only the
    takes that stay."""
    _discard(obj, record)
    rig.sync_rest(obj, read_takes(obj).values())


def _rename_take(obj: Object, record: TakeRecord, take: str) -> None:
    """Give a replacement written under storage.REPLACING the names of the take it replaced:
    its keys (Blender renames the F-curves that animate them), action and track."""
    key = obj.data.shape_keys
    names = []
    for k, name in enumerate(record.keys):
        kb = key.key_blocks[name]
        kb.name = storage.key_name(take, k)
        names.append(kb.name)
    record.keys = names
    _take_names(obj, record, take)
    record.take = take
    rig.sync_rest(obj, [*read_takes(obj).values(), record])


def _take_names(obj: Object, record: TakeRecord, take: str) -> None:
    """A take written under a name of its own (while the one it replaces still stood) gets the
    take's track and action names."""
    owner = rig.anim_owner(obj)
    track = take_track(owner, record.action, record.track)
    track.name = record.track = free_track_name(owner, storage.track_name(take), track)
    track.strips[0].name = record.track
    action = bpy.data.actions[record.action]
    action.name = storage.action_name(obj.name, take)
    record.action = action.name


def _check_fits(obj: Object, plan: KeyPlan) -> None:
    """The plan was made for this mesh: the user may have edited it while the bake ran."""
    n_vert = len(obj.data.vertices)
    if plan.motion.n_vertices != n_vert:
        raise BakeError(
            f"The motion has {plan.motion.n_vertices} vertices but '{obj.name}' has {n_vert}."
        )


def _write(obj: Object, plan: KeyPlan, record: TakeRecord, created_basis: bool) -> None:
    if created_basis:
        obj.shape_key_add(name="Basis", from_mix=False)
    key = obj.data.shape_keys
    ref = key.reference_key
    n_vert = len(obj.data.vertices)
    ref_co = np.zeros(n_vert * 3, dtype=np.float32)
    ref.data.foreach_get("co", ref_co)
    active_index = obj.active_shape_key_index
    for k in range(plan.n_shapes):
        kb = obj.shape_key_add(name=storage.key_name(record.take, k), from_mix=False)
        record.keys.append(kb.name)
        kb.relative_key = ref
        lo, hi = plan.slider_range(k)
        kb.slider_min, kb.slider_max = lo, hi
        kb.value = 0.0
        co = ref_co + plan.shape_offsets(k).reshape(-1)
        check_finite(co, f"Shape key '{kb.name}'")
        kb.data.foreach_set("co", co)
    obj.active_shape_key_index = active_index

    action, slot, first, last = key_action(
        key, storage.action_name(obj.name, record.take), storage.track_name(record.take),
        ((name, *plan.fcurve(k)) for k, name in enumerate(record.keys)))
    record.action = action.name
    record.frame_start, record.frame_end = int(np.floor(first)), int(np.ceil(last))
    rig.sync_rest(obj, [*read_takes(obj).values(), record])
    # first/last keys are 0: HOLD keeps the face neutral outside the take
    record.track = add_track(key, storage.track_name(record.take), record.frame_start, action,
                             slot, "HOLD").name


# How each kind of plan reaches Blender (KeyPlan.writes): a new kind of output joins here.
TakeWriter = Callable[[Object, KeyPlan, str, str, rig.Character], TakeRecord]
WRITERS: dict[str, TakeWriter] = {
    "NEW_SHAPE_KEYS": _write_new_keys_take,
    "RIG_KEYS": _write_rig_take,
}


def _discard(obj: Object, record: TakeRecord) -> None:
    key = rig.anim_owner(obj)
    rig.discard(obj, record)  # the take's track and action
    rig.rest_bones(obj, record)
    if key is not None and obj.type == "MESH":
        for name in record.keys:
            kb = key.key_blocks.get(name)
            if kb is not None:
                obj.shape_key_remove(kb)


def remove_take(obj: Object, take: str,
                pending: dict[int, TakeRecord] | None = None) -> None:
    """Delete exactly what the take owns, on every object its bake wrote it on (a rig take's
    keys stay: they are the character's); drop the Basis too when the add-on made it.
    `pending`: takes being written that the rest tracks must keep holding (by session_uid)."""
    group = take_group(obj, take)
    if not group:
        raise BakeError(storage.NO_TAKE.format(name=obj.name, take=take))
    for member, record in group:
        with active_key_kept(member):  # the user's active key, not the index Blender resets
            _remove_member_take(member, take, record, pending)


def mute_take(obj: Object, take: str) -> bool:
    """Switch the take's track on the object off (or back on), as the panel's toggle does;
    True when now off (the other objects of a rig take have toggles of their own).

    A muted NLA track is not evaluated, so the keys it animated keep the values of the frame
    shown when it was muted until the rest track under it plays: the take's own keys are set
    to 0 at once, which a take an earlier version baked, held by no rest track, needs (a rig
    take's keys are the character's, and its rest track holds them)."""
    record = read_takes(obj).get(take)
    owner = rig.anim_owner(obj)
    track = take_track(owner, record.action, record.track) if record is not None else None
    if record is None or track is None:
        raise BakeError(storage.NO_TAKE.format(name=obj.name, take=take))
    track.mute = not track.mute
    if track.mute and obj.type == "MESH":
        for name in record.keys:
            kb = owner.key_blocks.get(name)
            if kb is not None:
                kb.value = 0.0
    return bool(track.mute)


def _remove_member_take(member: Object, take: str, record: TakeRecord,
                        pending: dict[int, TakeRecord] | None) -> None:
    takes = read_takes(member)
    takes.pop(take, None)
    _discard(member, record)
    write_takes(member, takes)
    extra = (pending or {}).get(member.session_uid)
    rig.sync_rest(member, [*takes.values(), *([extra] if extra else [])])
    key = rig.anim_owner(member)
    if not takes and member.get(storage.BASIS_PROP):
        del member[storage.BASIS_PROP]
        only_basis = key is not None and len(key.key_blocks) == 1
        if only_basis and (key.animation_data is None or not key.animation_data.nla_tracks):
            member.shape_key_clear()


def bake_cache(context: Context, params: BakeParams) -> BakeCache:
    """The session's cache of the folder the bake names (--cache-dir), else the preferences'."""
    prefs = get_prefs(context)
    folder = cache_folder(params.cache_dir) if params.cache_dir else prefs.cache_dir
    return session_cache(folder, prefs.cache_limit_mb)


def size_note(snap: Snapshot) -> str | None:
    """The warning a bake of these inputs deserves before it starts (large_bake_note)."""
    return large_bake_note(snap.params.mode, len(snap.inputs.frames),
                           len(snap.inputs.vertices))


def run_sync(
    context: Context,
    params: BakeParams,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    warn: Callable[[str], None] | None = None,
) -> TakeRecord:
    """Gather, infer and write in the calling (main) thread: background mode and batch. warn
    hears, before inference starts, what the user should know first (a huge bake)."""
    snap = gather(context, params)
    note = size_note(snap)
    if note is not None and warn is not None:
        warn(note)
    try:
        plan = infer(snap.inputs, progress, cancel)
    finally:
        snap.audio.cleanup()
    return complete(snap, plan)


def complete(snap: Snapshot, plan: KeyPlan) -> TakeRecord:
    """`finish`, with what would keep the written take from playing (`play_notes`) among the
    notes every report of a bake shows (the operator, Bake All's summary, batch's line)."""
    record = finish(snap, plan)
    obj = _find(snap.object_uid)
    if obj is not None:
        record.notes = list(dict.fromkeys([*record.notes, *play_notes(obj, record.take)]))
    return record


def play_notes(obj: Object, take: str) -> list[str]:
    """One sentence for each datablock holding the take whose NLA will not play its track: the
    NLA switched off, or another track soloed. The take is written all the same (the user
    may mean to turn the NLA back on); only the report says it will not play as it is."""
    notes: list[str] = []
    for member, record in take_group(obj, take):
        owner = rig.anim_owner(member)
        data = owner.animation_data if owner is not None else None
        if data is None or not record.track:
            continue
        whose = (f"the shape keys of '{member.name}'" if member.type == "MESH"
                 else f"'{member.name}'")
        own = take_track(owner, record.action, record.track)
        solo = next((t.name for t in data.nla_tracks if t.is_solo and t != own), None)
        if not data.use_nla:
            why = f"the NLA of {whose} is switched off; turn it on in the NLA editor"
        elif solo is not None:
            why = f"the NLA track '{solo}' of {whose} is soloed, so it alone plays; unsolo it"
        else:
            continue
        notes.append(f"The take '{take}' will not play as it is: {why}.")
    return notes


def _find(uid: int) -> Object | None:
    found: list[Object] = [o for o in bpy.data.objects if o.session_uid == uid]
    return found[0] if found else None


def finish(snap: Snapshot, plan: KeyPlan) -> TakeRecord:
    """Main-thread half: re-find the object (data may have changed) and write the take."""
    obj = _find(snap.object_uid)
    if obj is None:
        raise BakeError(f"The object '{snap.object_name}' was removed during the bake.")
    check_object(obj)
    vertices = snap.inputs.vertices
    if (len(obj.data.vertices) != vertices.shape[0]
            or not np.array_equal(neutral_vertices(obj), vertices)):
        raise BakeError(f"The mesh '{obj.name}' was edited during the bake, so the motion no "
                        "longer fits it; bake again.")
    target = snap.inputs.rig
    if target is None:
        return write_take(obj, plan, snap.take, snap.inputs.label)
    if not isinstance(plan, RigPlan) or not set(plan.key_names) <= set(target.key_names):
        raise BakeError(f"The solve named shape keys that are not among the {target.rig_set} "
                        f"keys of '{obj.name}', so nothing was written.")
    character = rig.Character(notes=list(target.notes), armature=rig.armature_of(obj))
    rig.check_armature(character.armature)
    if plan.jaw is not None:
        if character.armature is None:
            raise BakeError(f"The armature of '{obj.name}' was removed during the bake.")
        rig.check_jaw_armature(character.armature)
    for name, uid in snap.other_uids.items():
        other = _find(uid)
        if other is None:
            raise BakeError(f"The object '{name}' was removed during the bake.")
        check_object(other)
        character.others.append((other, target.others[name]))
    jaw_armature = [character.armature] if plan.jaw is not None else []
    check_take_free(obj, [*(o for o, _ in character.others), *jaw_armature], snap.take, True,
                    True)
    return write_take(obj, plan, snap.take, snap.inputs.label, character)
