"""A mesh's facts kept in the bake cache's folder (core/head/head_mesh.py, stored_facts.py, the
plan's R in core/bake/plans.py): a new process that reads them bakes what one that finds them
afresh bakes, bit for bit; a changed mesh or changed code never reads them; a damaged entry is
never used; a folder that cannot be written still bakes, and says so once."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rebake_helpers import assert_same_bake, demo_head, ict_head, motion_arrays, times_of, voice

from blender_s2l.core.animate import Animator
from blender_s2l.core.bake import cache as cache_mod
from blender_s2l.core.bake.cache import BakeCache
from blender_s2l.core.bake.plans import compact_plan
from blender_s2l.core.head import head_mesh as hm
from blender_s2l.core.head import stored_facts
from blender_s2l.core.head.eyelids import Eye, Eyelids
from blender_s2l.core.head.lip_contact import LipContact

pytestmark = pytest.mark.usefixtures("cold_meshes")


@pytest.fixture(scope="module")
def line(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return voice(tmp_path_factory.mktemp("line") / "line.wav", 2.0)


def _bake(anim: Animator, wav: Path, head: Any, cache: BakeCache | None,
          **choices: Any) -> dict[str, Any]:
    """A bake as a new process makes it (no mesh kept in memory): the motion and its plan."""
    hm.forget_meshes()
    if cache is not None:
        cache.start_bake()
    v, faces, lm = head
    times = times_of(2.0)
    mo = anim.animate(wav, v, faces, lm, frame_times=times, cache=cache, **choices)
    plan = compact_plan(mo, np.arange(len(times)) + 1.0, store=cache)
    head_now = hm.head_mesh(v, faces, lm, cache)
    return {**motion_arrays(mo), "notes": mo.notes, "source": mo.landmark_source,
            "shapes": plan.shapes, "weights": plan.weights, "error": plan.max_error_mm,
            "fused": head_now.mouth_fused()}


def _forbid_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every fact must come from the folder: finding one afresh fails the test."""
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a fact was found afresh")

    for name in ("polygon_graph", "mesh_features", "part_labels"):
        monkeypatch.setattr(hm, name, refuse)
    monkeypatch.setattr(hm.Eyelids, "of_mesh", refuse)
    monkeypatch.setattr(hm.LipContact, "of_mesh", refuse)
    monkeypatch.setattr(np.linalg, "qr", refuse)


def _mesh_entries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.npz")
                  if cache_mod._load_entry(p)[1].get("kind") == "mesh")


@pytest.mark.parametrize("name", ["demo", "ict"])
def test_facts_read_from_the_folder_bake_as_facts_found_afresh(
        anim: Animator, line: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        name: str) -> None:
    head = demo_head() if name == "demo" else ict_head()
    if head is None:
        pytest.skip("needs the ICT FaceKit pack in ../shared/data")
    plain = _bake(anim, line, head, None)
    folder = tmp_path / "cache"
    first = BakeCache(folder)
    assert_same_bake(plain, _bake(anim, line, head, first))
    assert first.mesh_hits == 0 and first.mesh_misses >= 7
    assert len(_mesh_entries(folder)) == first.mesh_misses
    again = BakeCache(folder)
    with monkeypatch.context() as m:
        _forbid_finding(m)
        read = _bake(anim, line, head, again)
    assert again.mesh_misses == 0 and again.mesh_hits == first.mesh_misses
    assert_same_bake(plain, read)
    # Another setting reads the same facts and bakes what a cold bake of it bakes.
    again = BakeCache(folder)
    assert_same_bake(_bake(anim, line, head, None, mouth_strength=0.6, upper_face=False),
                 _bake(anim, line, head, again, mouth_strength=0.6, upper_face=False))
    assert again.take_notes() == ()


def test_a_changed_mesh_misses(anim: Animator, line: Path, tmp_path: Path) -> None:
    v, faces, lm = demo_head()
    folder = tmp_path / "cache"
    _bake(anim, line, (v, faces, lm), BakeCache(folder))
    moved = v.copy()
    moved[lm[57]] += (0.0, 0.0, -0.002)  # the lower lip's middle, 2 mm down
    other_faces = faces.copy()
    other_faces[[0, 1]] = other_faces[[1, 0]]
    for mesh in [(moved, faces, lm), (v, other_faces, lm), (v, faces, np.roll(lm, 1)),
                 (v, faces, v[lm])]:
        cache = BakeCache(folder)
        baked = _bake(anim, line, mesh, cache)
        # Every fact of the mesh misses; the plan's R is keyed by the basis itself, which two
        # faces listed the other way round leave as it was.
        assert cache.mesh_misses >= 6 and cache.mesh_hits <= 1
        assert_same_bake(baked, _bake(anim, line, mesh, None))


def test_changed_code_or_weights_miss(anim: Animator, line: Path, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    head = demo_head()
    folder = tmp_path / "cache"
    _bake(anim, line, head, BakeCache(folder))
    monkeypatch.setattr(hm, "code_digest", lambda: "an edited eyelids.py")
    cache = BakeCache(folder)
    _bake(anim, line, head, cache)
    assert cache.mesh_hits == 1  # the plan's R: keyed by the basis itself, which is the same
    monkeypatch.undo()
    params = dict(anim.s2d.params)
    name = sorted(k for k in params if k.startswith("basis_net"))[-1]
    params[name] = params[name] + np.float32(0.01)
    other = Animator(anim.s2l, type(anim.s2d)(anim.s2d.config, params), anim.upper, "cpu",
                     anim.jaw)
    cache = BakeCache(folder)
    _bake(other, line, head, cache)
    # Only what depends on the S2D weights misses: the basis, and the plan's R of it.
    assert cache.mesh_misses == 2 and cache.mesh_hits >= 5


@pytest.mark.parametrize("how", ["flipped", "truncated", "structure"])
def test_a_damaged_fact_is_never_used(anim: Animator, line: Path, tmp_path: Path,
                                      how: str) -> None:
    head = demo_head()
    folder = tmp_path / "cache"
    plain = _bake(anim, line, head, None)
    _bake(anim, line, head, BakeCache(folder))
    entries = _mesh_entries(folder)
    for p in entries:
        _damage(p, how)
    cache = BakeCache(folder)
    baked = _bake(anim, line, head, cache)
    assert_same_bake({**plain, "notes": ()}, {**baked, "notes": ()})
    assert cache.mesh_hits == 0 and cache.mesh_misses == len(entries)
    notes = cache.take_notes()
    assert len(notes) == 1 and "damaged" in notes[0]
    again = BakeCache(folder)  # removed and written again whole
    _bake(anim, line, head, again)
    assert again.mesh_misses == 0 and again.mesh_hits == len(entries)


def _damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncated":
        path.write_bytes(bytes(data[: len(data) // 2]))
    elif how == "flipped":  # an array byte: only the digest sees it
        data[len(data) // 3] ^= 0x40
        path.write_bytes(bytes(data))
    else:  # sealed as the cache seals, but a structure no fact has
        arrays, meta = cache_mod._load_entry(path)
        meta["fact"] = {"value": {"type": "Animator", "fields": {}}}
        cache_mod._save_entry(path, arrays, meta)


@pytest.mark.parametrize("err", [errno.EROFS, errno.ENOSPC])
def test_a_folder_that_cannot_be_written_still_bakes(
        anim: Animator, line: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        err: int) -> None:
    head = demo_head()
    folder = tmp_path / "cache"
    plain = _bake(anim, line, head, None)
    _bake(anim, line, head, BakeCache(folder))  # filled while it could be written
    tried: list[Path] = []

    def failing_save(path: Path, arrays: Any, meta: Any) -> None:
        tried.append(path)
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(cache_mod, "_save_entry", failing_save)
    cache = BakeCache(folder)  # every fact read back: nothing to write, nothing to say
    assert_same_bake(plain, _bake(anim, line, head, cache))
    assert cache.mesh_hits >= 7 and tried == [] and cache.take_notes() == ()
    moved = (head[0] * 1.01, head[1], head[2])  # a new mesh: its facts cannot be kept
    cache = BakeCache(folder)
    assert_same_bake(_bake(anim, line, moved, None), _bake(anim, line, moved, cache))
    notes = cache.take_notes()
    assert len(tried) == 1 and len(notes) == 1 and os.strerror(err) in notes[0]


def test_facts_go_through_the_codec_whole() -> None:
    head = hm.head_mesh(*demo_head())
    lids, lips = head.eyelids(), head.lip_contact()
    assert isinstance(lids, Eyelids) and isinstance(lips, LipContact)
    assert any(isinstance(e, Eye) for e in lids.eyes)
    for fact in (lids, lips, head.features, head.labels, "a sentence", None, True):
        arrays, meta = stored_facts.encode(fact)
        back = stored_facts.decode(dict(arrays), json.loads(json.dumps(meta)))
        assert type(back) is type(fact)
        _assert_fact_equal(back, fact)


def _assert_fact_equal(a: Any, b: Any) -> None:
    if isinstance(b, np.ndarray):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    elif hasattr(b, "tocsr"):
        assert type(a) is type(b) and a.shape == b.shape and (a != b).nnz == 0
    elif hasattr(b, "__dataclass_fields__"):
        assert type(a) is type(b)
        for f in b.__dataclass_fields__:
            _assert_fact_equal(getattr(a, f), getattr(b, f))
    elif isinstance(b, tuple):
        assert isinstance(a, tuple) and len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_fact_equal(x, y)
    else:
        assert a == b and type(a) is type(b)


def test_the_codec_refuses_what_it_did_not_write() -> None:
    arrays, meta = stored_facts.encode(hm.head_mesh(*demo_head()).eyelids())
    bad_cases: list[tuple[dict[str, Any], dict[str, Any]]] = [
        (arrays, {"value": {"type": "Animator", "fields": {}}}),
        (arrays, {"value": {"type": "Eyelids", "fields": {"eyes": {"plain": None}}}}),
        ({**arrays, "stray": np.zeros(3)}, meta),
        ({k: a for k, a in arrays.items() if not k.endswith(".indptr")}, meta),
        (arrays, {}),
    ]
    csr = next(k[: -len(".indices")] for k in arrays if k.endswith(".indices"))
    broken = dict(arrays)
    broken[f"{csr}.indices"] = broken[f"{csr}.indices"] + 10**9  # columns beyond the shape
    bad_cases.append((broken, meta))
    for bad_arrays, bad_meta in bad_cases:
        with pytest.raises(ValueError):
            stored_facts.decode(dict(bad_arrays), bad_meta)
    with pytest.raises(TypeError):
        stored_facts.encode(object())
