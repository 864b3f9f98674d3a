"""A rigged head for the RIG bake mode's tests: the demo head with ARKit-named shape keys made
from simple displacements of its mouth and jaw, a Teeth mesh sharing two of them, optionally an
armature with a jaw bone; and a plain least-squares solve that may stand in for
core/rig/solve.py where a test is about the Blender side, with weights it can predict.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from blender_helpers import bpy, demo_head_object, grid_object, mesh_co, submodule

HEAD_KEYS = ("jawOpen", "mouthClose", "mouthFunnel", "mouthSmileLeft", "mouthSmileRight")
TEETH_KEYS = ("jawOpen", "mouthFunnel")
USER_KEY = "Frown_custom"  # the user's own key: never keyed, never changed
TEETH_OWN = "TeethOwn"


def _bump(co: np.ndarray, centre: np.ndarray, radius: float) -> np.ndarray:
    d2 = ((co - centre) ** 2).sum(axis=1)
    return np.exp(-d2 / radius**2)


def head_offsets(co: np.ndarray, lm: np.ndarray) -> dict[str, np.ndarray]:
    """(V, 3) offsets of each key of the test head, from its landmarks (object space, metres,
    +Z up, facing -Y)."""
    mouth = 0.5 * (co[lm[62]] + co[lm[66]])
    chin = co[lm[8]]
    below = np.clip((mouth[2] - co[:, 2]) / (mouth[2] - chin[2]), 0.0, 1.0)
    front = np.exp(-(co[:, 0] ** 2) / 0.05**2) * (co[:, 1] < mouth[1] + 0.04)
    out = {
        "jawOpen": (below * front)[:, None] * np.array([0.0, 0.003, -0.012]),
        "mouthClose": _bump(co, co[lm[66]], 0.008)[:, None] * np.array([0.0, 0.0, 0.003]),
        "mouthFunnel": _bump(co, mouth, 0.015)[:, None] * np.array([0.0, -0.004, 0.0]),
        "mouthSmileLeft": _bump(co, co[lm[54]], 0.012)[:, None] * np.array([0.004, 0.0, 0.004]),
        "mouthSmileRight": _bump(co, co[lm[48]], 0.012)[:, None] * np.array([-0.004, 0.0, 0.004]),
        USER_KEY: _bump(co, co[lm[19]], 0.015)[:, None] * np.array([0.0, 0.0, -0.003]),
    }
    return out


def add_key(obj: Any, name: str, offsets: np.ndarray) -> Any:
    if obj.data.shape_keys is None:
        obj.shape_key_add(name="Basis", from_mix=False)
    kb = obj.shape_key_add(name=name, from_mix=False)
    co = (mesh_co(obj) + offsets).astype(np.float32)
    kb.data.foreach_set("co", co.ravel())
    kb.value = 0.0  # a new key starts at 1.0 in Blender 5.0
    return kb


def small_mesh(name: str, centre: np.ndarray, size: float = 0.02, n: int = 6) -> Any:
    xs, zs = np.meshgrid(np.linspace(-size, size, n), np.linspace(-size / 2, size / 2, n))
    verts = np.stack([xs.ravel(), np.zeros(n * n), zs.ravel()], 1) + centre
    return grid_object(name, verts, n)


def teeth_offsets(co: np.ndarray) -> dict[str, np.ndarray]:
    lower = (co[:, 2] < co[:, 2].mean()).astype(float)
    return {
        "jawOpen": lower[:, None] * np.array([0.0, 0.002, -0.01]),
        "mouthFunnel": np.tile([0.0, -0.002, 0.0], (len(co), 1)),
        TEETH_OWN: np.tile([0.001, 0.0, 0.0], (len(co), 1)),
    }


def rigged_head(pkg: ModuleType, keys: Iterable[str] = HEAD_KEYS, teeth: bool = True,
                armature: bool = False) -> tuple[Any, Any]:
    """The demo head "Head" with the given keys (and the user's own), and "Teeth" (a child of
    the head, or of the armature "Rig" beside it) with jawOpen, mouthFunnel and a key of its own."""
    head = demo_head_object(pkg)
    co = mesh_co(head)
    lm = np.asarray(importlib.import_module("blender_s2l.demo_head.make")
                    .make_demo_head(0).landmark_vertices)
    offsets = head_offsets(co, lm)
    for name in (*keys, USER_KEY):
        add_key(head, name, offsets[name])
    bpy.context.view_layer.objects.active = head
    tooth = None
    if teeth:
        mouth = 0.5 * (co[lm[62]] + co[lm[66]])
        tooth = small_mesh("Teeth", mouth + np.array([0.0, 0.01, 0.0]))
        t_off = teeth_offsets(mesh_co(tooth))
        for name in (*TEETH_KEYS, TEETH_OWN):
            add_key(tooth, name, t_off[name])
    if armature:
        rig = armature_with_jaw()
        head.parent = rig
        if tooth is not None:
            tooth.parent = rig
    elif tooth is not None:
        tooth.parent = head
    bpy.context.view_layer.objects.active = head
    return head, tooth


def armature_with_jaw(bones: tuple[str, ...] = ("root", "jaw")) -> Any:
    data = bpy.data.armatures.new("Rig")
    rig = bpy.data.objects.new("Rig", data)
    bpy.context.scene.collection.objects.link(rig)
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode="EDIT")
    for k, name in enumerate(bones):
        bone = data.edit_bones.new(name)
        bone.head, bone.tail = (0.0, 0.0, 0.1 * k), (0.0, -0.05, 0.1 * k)
    bpy.ops.object.mode_set(mode="OBJECT")
    return rig


def key_values(obj: Any) -> dict[str, tuple[float, float, float, list[float]]]:
    """Every key's value, range and shape: what a rig bake must never change."""
    key = obj.data.shape_keys
    out = {}
    for kb in key.key_blocks:
        co = np.zeros(len(kb.data) * 3, np.float32)
        kb.data.foreach_get("co", co)
        out[kb.name] = (kb.value, kb.slider_min, kb.slider_max, co.tolist())
    return out


def tracks(obj: Any) -> list[str]:
    key = obj.data.shape_keys
    anim = key.animation_data if key is not None else None
    return [t.name for t in anim.nla_tracks] if anim is not None else []


def keyed_paths(action: Any) -> list[str]:
    return sorted(fc.data_path for layer in action.layers for strip in layer.strips
                  for bag in strip.channelbags for fc in bag.fcurves)


def path_key(path: str) -> str:
    return path.split('"')[1]


# -- a plain solve: the Blender side's tests hold what is written, not how well it fits ----------
def lstsq_solve(pkg: ModuleType, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The RIG plan from a plain least-squares fit of every frame's motion by the keys' offsets,
    clipped to their ranges; returns the list each plan made is appended to."""
    plans = submodule(pkg, "core.bake.plans")
    made: list[Any] = []

    def build(motion: Any, inputs: Any) -> Any:
        target = inputs.rig
        k = len(target.key_names)
        a = target.deltas.reshape(k, -1).T.astype(np.float64)
        b = motion.dense.reshape(motion.n_frames, -1).T.astype(np.float64)
        weights = np.linalg.lstsq(a, b, rcond=None)[0].T
        lo, hi = target.ranges[:, 0], target.ranges[:, 1]
        weights = np.clip(weights, lo, hi)
        rest = np.clip(0.0, lo, hi)
        plan = plans.RigPlan(frames=np.asarray(inputs.frames, np.float64), motion=motion,
                             max_error_mm=0.0, key_names=list(target.key_names),
                             weights=weights.astype(np.float32), rest=rest.astype(np.float32))
        made.append(plan)
        return plan

    monkeypatch.setitem(plans.PLANS, "RIG", dataclasses.replace(plans.PLANS["RIG"], build=build))
    return made


def motion_of_keys(monkeypatch: pytest.MonkeyPatch, head: Any,
                   names: tuple[str, ...] = ("jawOpen", "mouthFunnel", "mouthSmileLeft")) -> None:
    """The fake animator's three motion fields become these keys' offsets, so the solve has
    real work: jawOpen follows sin (half the time below 0), mouthFunnel stays below 0 (unused
    once clipped), mouthSmileLeft grows with time."""
    import fake_animator

    key = head.data.shape_keys
    n = len(head.data.vertices)
    rest = mesh_co(head)
    fields = []
    for name in names:
        co = np.zeros(n * 3, np.float32)
        key.key_blocks[name].data.foreach_get("co", co)
        fields.append(co.reshape(n, 3) - rest)
    basis = np.stack(fields).astype(np.float32)
    original: Callable[..., np.ndarray] = fake_animator.basis_for
    monkeypatch.setattr(fake_animator, "basis_for",
                        lambda v, scale=0.004: basis if v == n else original(v, scale))
