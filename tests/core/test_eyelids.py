"""Blinks on the mesh's own lids: the upper lid edge meets the lower one, never below it.

Read as an animator would: every upper-lid edge vertex against the lower lid edge at the same
place across the eye (its share of the corner-to-corner line), along the face's up axis, in mm.
The lower edge is read here from its vertices, not from the module's own measure.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from blender_s2l.core.animate import Animator
from blender_s2l.core.head.eyelids import EYES, Eye, Eyelids
from blender_s2l.core.head.mesh_features import mesh_features, on_face_mask
from blender_s2l.core.models.upper_face import BLINK_COLUMNS, UpperFaceModel
from blender_s2l.demo_head.make import (
    OBJECT_ROTATION,
    OBJECT_SCALE,
    SIZE_TARGETS,
    build_canonical,
    resolution_for,
    to_object_space,
)
from blender_s2l.demo_head.shape import RAY_ORIGIN

F64 = NDArray[np.float64]
UP = np.array([0.0, 1.0, 0.0])
COARSE = 20  # the demo head's grid at about 1.1k vertices, the low-poly lid
RATE = 16000


@cache
def coarse_head() -> tuple[F64, Any, NDArray[np.int64]]:
    """The demo head on its coarsest grid (canonical mm: the bake's own frame)."""
    v, faces, lm, _ = build_canonical(COARSE)
    return v, faces, lm


@cache
def remeshed_head() -> tuple[F64, Any, F64]:
    """The demo head re-meshed into 10 mm surface cells (irregular triangles, about 1.5k
    vertices, a few across each eye: a decimated head), its landmark points carried over."""
    from blender_s2l.training.head_panel import _retopo_landmarks
    from blender_s2l.training.s2d.remesh import voronoi_remesh

    v, faces, lm, _ = build_canonical(resolution_for(SIZE_TARGETS[0]))
    pattern = voronoi_remesh(v, faces, 10.0, np.random.default_rng(1))
    new = pattern.apply(v).astype(np.float64)
    cluster = np.asarray(pattern.averaging.T.tocsr()[lm].argmax(axis=1)).reshape(-1)
    return new, pattern.faces, _retopo_landmarks(new, pattern.faces, cluster, v[lm])


def lids_of(v: F64, faces: Any, lm: NDArray[Any]) -> Eyelids:
    """lm: landmark vertex indices, or points on the surface."""
    idx = lm if np.issubdtype(lm.dtype, np.integer) else None
    pts = v[lm] if idx is not None else lm
    return Eyelids.of_mesh(v, faces, pts, idx, on_face_mask(mesh_features(v, faces, pts, idx)))


def edge_heights(eye: Eye, pos: F64, lm_pos: F64) -> F64:
    """Height (along UP) of each upper-edge vertex above the lower edge at its share across."""
    _, upper_lm, _ = next(e for e in EYES if e[0] == eye.name)
    a, b = lm_pos[upper_lm[0]], lm_pos[upper_lm[-1]]
    across = (b - a) / np.linalg.norm(b - a)

    def share(p: F64) -> F64:
        out: F64 = (p - a) @ across
        return out

    low = pos[eye.lower]
    order = np.argsort(share(low))
    s_up = share(pos[eye.upper])
    below = np.interp(s_up, share(low)[order], low[order] @ UP)
    out: F64 = pos[eye.upper] @ UP - below
    return out


def check_full_blink(v: F64, faces: Any, lm_in: NDArray[Any]) -> None:
    lids = lids_of(v, faces, lm_in)
    lm_pos = v[lm_in] if np.issubdtype(lm_in.dtype, np.integer) else lm_in
    eyes = [e for e in lids.eyes if isinstance(e, Eye)]
    assert len(eyes) == 2, lids.eyes
    for eye in eyes:
        _, upper_lm, _ = next(e for e in EYES if e[0] == eye.name)
        corners = [upper_lm[0], upper_lm[-1]]
        rest = edge_heights(eye, v, lm_pos)
        assert rest.max() > 3.0  # an open eye
        # The edge spans the eye.
        width = np.linalg.norm(lm_pos[corners[1]] - lm_pos[corners[0]])
        share = eye.frame.flat(v[eye.upper])[:, 0]
        assert share.min() < 1 / 3 and share.max() > 2 / 3  # inner to outer third
        assert 0.2 * width < np.ptp(v[eye.lower] @ eye.frame.across) + 1e-9
        closed = v + eye.fields[0] + eye.fields[1]
        h = edge_heights(eye, closed, lm_pos)
        assert np.abs(h).max() <= 0.3, (eye.name, h)
        assert h.min() >= -1e-6, (eye.name, h)  # never below the lower lid
        half = edge_heights(eye, v + 0.5 * eye.fields[0] + 0.25 * eye.fields[1], lm_pos)
        assert half.min() >= -1e-6 and half.max() < rest.max()
        # Only the upper lid moves: the lower edge and the far skin stay.
        moved = np.abs(eye.fields).sum(axis=(0, 2)) > 0
        assert not moved[eye.lower].any()
        assert np.all(np.linalg.norm(v[moved] - lm_pos[corners].mean(axis=0),
                                     axis=1) < width)
        # Nothing travels further than a lid closing over the eye can.
        assert np.linalg.norm(eye.fields[0] + eye.fields[1], axis=1).max() < 0.6 * width


def test_a_coarse_lid_meets_the_lower_lid_across_its_width() -> None:
    check_full_blink(*coarse_head())


def test_a_decimated_lid_meets_too() -> None:
    check_full_blink(*remeshed_head())


def test_the_ict_mean_head_meets_too(ict_npz: Any) -> None:
    from blender_s2l.training.head_panel import _ict_parts
    from blender_s2l.training.ict import load_ict

    ict = load_ict()
    parts = _ict_parts(ict)
    check_full_blink(ict.neutral[parts.keep].astype(np.float64), parts.faces,
                     parts.landmarks68)


def test_an_empty_eye_socket_blinks_without_dragging_its_back(ict_npz: Any) -> None:
    """The ICT head without its eyeballs (a user's head mesh, the eyes being other objects):
    the back of the socket shows through the opening but is not lid edge, so a blink does not
    pull it forward onto the lid line (it travelled 20-36 mm)."""
    from blender_s2l.training.rig_eval import CM_TO_MM, ict_character

    character = ict_character()
    check_full_blink(character.head.vertices.astype(np.float64) * CM_TO_MM,
                     character.head.faces, character.landmarks68)


def voice() -> NDArray[np.float32]:
    t = np.arange(int(1.0 * RATE)) / RATE
    out: NDArray[np.float32] = (0.2 * np.sign(np.sin(2 * np.pi * 140 * t))
                                * np.clip(np.sin(2 * np.pi * 2 * t), 0, 1)).astype(np.float32)
    return out


TIMES = np.arange(0.0, 12.0, 1 / 30)


def with_upper(anim: Animator, keep: str) -> Animator:
    """The same models with only the blink rows ("blink") or only the brows ("brows")."""
    basis = anim.upper.basis.copy()
    blink = list(BLINK_COLUMNS)
    others = [k for k in range(len(basis)) if k not in blink]
    basis[others if keep == "blink" else blink] = 0.0
    out = Animator(anim.s2l, anim.s2d, UpperFaceModel(basis), jaw=anim.jaw)
    return out


def test_blinks_in_a_bake_close_and_rest(anim: Animator) -> None:
    """The bake's blinks on the coarse head as Blender holds it (metres, +Z up, facing -Y):
    lids at rest where the blink weight is 0 (within 0.01 mm), the upper edge never below the
    lower one, shut as far as the weight asks, and the landmark track blinks with them."""
    from blender_s2l.core.models.upper_face import sample_upper_face_weights

    v, faces, lm = coarse_head()
    obj = to_object_space(v).astype(np.float64)

    def in_mm(p: F64) -> F64:  # object space back to the canonical mm the eyes were found in
        out: F64 = (p @ OBJECT_ROTATION) / OBJECT_SCALE + RAY_ORIGIN
        return out

    mo = with_upper(anim, "blink").animate(voice(), obj, faces, lm, sample_rate=RATE,
                                           frame_times=TIMES, mouth_strength=0.0, seed=3)
    w = sample_upper_face_weights(TIMES, 3)[:, list(BLINK_COLUMNS)]
    assert w.max() > 0.8 and (w.max(axis=1) == 0).sum() > 10
    lids = lids_of(v, faces, lm)
    dense = mo.dense.astype(np.float64)
    still = w.max(axis=1) == 0
    assert np.abs(dense[still]).max() / OBJECT_SCALE <= 0.01
    for k, eye in enumerate(lids.eyes):
        assert isinstance(eye, Eye)
        rest = edge_heights(eye, v, v[lm])
        for t in np.flatnonzero(w[:, k] > 0.5):
            h = edge_heights(eye, in_mm(obj + dense[t]), v[lm])
            assert h.min() >= -1e-3
            assert h.max() <= (1.0 - w[t, k]) * rest.max() + 0.3
        t = int(np.argmax(w[:, k]))
        lm_up = list(EYES[k][1][1:3])
        drop = (in_mm(mo.landmarks[t, lm_up].astype(np.float64)) - v[lm[lm_up]]) @ UP
        assert np.all(drop < -2.0)


def test_a_closed_eye_neutral_gets_no_blink_and_a_note(anim: Animator) -> None:
    v, faces, lm = coarse_head()
    lids = lids_of(v, faces, lm)
    shut = v + sum(e.fields[0] + e.fields[1] for e in lids.eyes if isinstance(e, Eye))
    found = lids_of(shut, faces, lm)
    assert found.eyes == ("closed", "closed")
    mo = anim.animate(voice(), shut, faces, lm, sample_rate=RATE, frame_times=TIMES, seed=3)
    assert any("closed in this mesh's neutral" in n for n in mo.notes), mo.notes
    browser = with_upper(anim, "brows")
    ref = browser.animate(voice(), shut, faces, lm, sample_rate=RATE, frame_times=TIMES, seed=3)
    assert np.allclose(mo.dense, ref.dense, atol=1e-5)


def test_ict_closed_eyes_are_found_closed(ict_npz: Any) -> None:
    from blender_s2l.training.head_panel import _ict_parts
    from blender_s2l.training.ict import load_ict

    ict = load_ict()
    parts = _ict_parts(ict)
    v = ict.neutral[parts.keep].astype(np.float64)
    v = v + sum(ict.expression_deltas[ict.expression_index(n)][parts.keep]
                for n in ("eyeBlink_L", "eyeBlink_R"))
    lids = lids_of(v, parts.faces, parts.landmarks68)
    assert lids.eyes == ("closed", "closed")
    assert lids.notes() == ("The eyes are closed in this mesh's neutral (the upper and lower "
                            "lids touch or are one surface), so the bake adds no blinks to them.",)


def test_eyelids_false_keeps_the_networks_blink(anim: Animator) -> None:
    v, faces, lm = coarse_head()
    a = anim.animate(voice(), v, faces, lm, sample_rate=RATE, frame_times=TIMES, seed=3)
    b = anim.animate(voice(), v, faces, lm, sample_rate=RATE, frame_times=TIMES, seed=3,
                     eyelids=False)
    assert not np.allclose(a.dense, b.dense, atol=1e-3)
    assert a.notes == b.notes == ()


def test_lashes_ride_the_lid_and_the_eyeball_stays() -> None:
    """A separate lash strip along the upper edge (a part of its own, as game heads have)
    moves with the lid; the eyeball part does not move."""
    v, faces, lm = coarse_head()
    lids = lids_of(v, faces, lm)
    eye = lids.eyes[1]
    assert isinstance(eye, Eye)
    edge = v[eye.upper][np.argsort(eye.frame.flat(v[eye.upper])[:, 0])]
    out = eye.frame.forward * 0.6
    root, tip = edge + out, edge + 2.0 * out + 0.8 * eye.frame.up
    first = len(v)
    n = len(edge)
    strip = [(first + k, first + k + 1, first + n + k + 1, first + n + k) for k in range(n - 1)]
    lashed = np.concatenate([v, root, tip])
    lids2 = lids_of(lashed, [*faces, *strip], lm)
    eye2 = lids2.eyes[1]
    assert isinstance(eye2, Eye)
    full = eye2.fields[0] + eye2.fields[1]
    lash = np.arange(first, first + 2 * n)
    assert np.linalg.norm(full[lash], axis=1).min() > 1.0
    ball = np.flatnonzero(np.linalg.norm(lashed - lashed[lm[42:48]].mean(axis=0), axis=1) < 30)
    ball = ball[~on_face_mask(mesh_features(lashed, [*faces, *strip], lashed[lm], lm))[ball]]
    ball = np.setdiff1d(ball, lash)
    assert len(ball) > 20 and np.abs(full[ball]).max() == 0.0


def test_a_scan_with_closed_eyes_and_open_landmarks_gets_no_blink() -> None:
    """A scan's closed eye is one surface (no eyeball, no hole, nothing hidden), and landmarks
    fitted from a prior may still sit apart as on an open eye: no blink, a note."""
    v, faces, lm, parts = build_canonical(resolution_for(SIZE_TARGETS[0]))
    keep = np.ones(len(v), bool)
    keep[np.concatenate([parts["eye_left"], parts["eye_right"]])] = False
    index = np.cumsum(keep) - 1
    skin_faces = [tuple(int(i) for i in index[list(f)]) for f in faces if keep[list(f)].all()]
    v, lm = v[keep].copy(), index[lm]
    for eye in (slice(36, 42), slice(42, 48)):
        centre = v[lm[eye]].mean(axis=0)
        width = np.ptp(v[lm[eye], 0])
        d = np.linalg.norm(v[:, :2] - centre[:2], axis=1)
        ring = (d > 0.55 * width) & (d < 0.9 * width) & (v[:, 2] > centre[2] - 10.0)
        a = np.c_[np.ones(ring.sum()), v[ring, :2], v[ring, :2] ** 2]
        coef = np.linalg.lstsq(a, v[ring, 2], rcond=None)[0]
        inside = (d < 0.55 * width) & (v[:, 2] > centre[2] - 20.0)
        fill = np.c_[np.ones(inside.sum()), v[inside, :2], v[inside, :2] ** 2] @ coef
        v[inside, 2] = np.maximum(v[inside, 2], fill)
    assert np.all((v[lm[[37, 38, 43, 44]]] - v[lm[[41, 40, 47, 46]]]) @ UP > 3.0)
    lids = lids_of(v, skin_faces, lm)
    assert lids.eyes == ("closed", "closed")
    assert "closed in this mesh's neutral" in lids.notes()[0]


def test_a_shut_lid_stays_shut_while_the_brows_move(anim: Animator) -> None:
    """The rest of the motion (here the brows, through the network) moves the lids too; at a
    full blink the upper edge goes on meeting the lower one (it used to part or cross by a
    few tenths of a millimetre)."""
    from blender_s2l.core.models.upper_face import sample_upper_face_weights

    v, faces, lm = remeshed_head()
    lids = lids_of(v, faces, lm)
    weights = sample_upper_face_weights(TIMES, 0)
    weights[:, list(BLINK_COLUMNS)] = 0.0
    basis = anim.s2d.mesh_basis(mesh_features(v, faces, lm, None))
    codes = anim.s2d.codes(anim.upper.motion_of(weights))
    codes = codes[np.argsort(-np.abs(codes).sum(axis=1))[:20]]
    shut_basis, shut_codes, _, lm_fields = lids.extend(basis, codes, np.ones((len(codes), 2)))
    assert lm_fields.shape == (shut_basis.shape[0] - basis.shape[0], 68, 3)
    for frame in shut_codes.astype(np.float64):
        pos = v + np.einsum("j,jvc->vc", frame, shut_basis)
        for eye in lids.eyes:
            assert isinstance(eye, Eye)
            assert np.abs(edge_heights(eye, pos, lm)).max() <= 0.05
    open_basis, open_codes, _, _ = lids.extend(basis, codes, np.zeros((len(codes), 2)))
    assert np.allclose(np.einsum("tj,jvc->tvc", open_codes, open_basis),
                       np.einsum("tj,jvc->tvc", codes, basis), atol=1e-4)


def test_closed_eyes_blink_by_the_landmarks_when_asked(anim: Animator) -> None:
    """Blink Closed Eyes: the shut neutral's eyes get the network's landmark blink (what a bake
    did before it read the lids), with a note that says it was asked for."""
    v, faces, lm = coarse_head()
    lids = lids_of(v, faces, lm)
    shut = v + sum(e.fields[0] + e.fields[1] for e in lids.eyes if isinstance(e, Eye))
    asked = anim.animate(voice(), shut, faces, lm, sample_rate=RATE, frame_times=TIMES, seed=3,
                         blink_closed_eyes=True)
    assert any("Blink Closed Eyes makes them blink" in n for n in asked.notes), asked.notes
    assert not any("adds no blinks" in n for n in asked.notes)
    net = anim.animate(voice(), shut, faces, lm, sample_rate=RATE, frame_times=TIMES, seed=3,
                       eyelids=False)
    assert np.allclose(asked.dense, net.dense, atol=1e-5)
    still = anim.animate(voice(), shut, faces, lm, sample_rate=RATE, frame_times=TIMES, seed=3)
    assert not np.allclose(asked.dense, still.dense, atol=1e-3)  # the blink is there
