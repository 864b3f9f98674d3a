"""Lip contact on the mesh: /p b m/ meet and the lips never cross, whatever the neutral gap.

Read as an animator would: the gap of the three inner-lip pairs on the baked mesh (neutral +
motion), along the head's up axis, in millimetres.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from lip_helpers import PHONES, UP, demo_with_gap
from numpy.typing import NDArray

from blender_s2l.core.animate import Animator
from blender_s2l.core.bake.plans import compact_plan
from blender_s2l.core.head.landmarks import canonical_neutral
from blender_s2l.core.head.lip_contact import (
    LOWER_INNER,
    UPPER_INNER,
    LipContact,
    column_weights,
    regression_contact,
    surface_points,
)
from blender_s2l.core.head.mesh_features import mesh_features, on_face_mask
from blender_s2l.core.models.inference import S2LTrack
from blender_s2l.core.speech.lip_closure import without_pauses
from blender_s2l.core.speech.phones import BILABIALS, Phone
from blender_s2l.training.mesh_lips import MeshHead, mesh_lip_metrics, read_mesh_lips

F64 = NDArray[np.float64]
FPS = 30.0


@pytest.fixture(scope="module")
def voice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A voiced buzz that rises and falls like syllables (the phones carry the closures)."""
    rate = 16000
    t = np.arange(int(1.7 * rate)) / rate
    env = np.clip(np.sin(2 * np.pi * 2.5 * (t - 0.25)), 0, 1) * ((t > 0.25) & (t < 1.35))
    wav = 0.3 * env * np.sign(np.sin(2 * np.pi * 140 * t)) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    path = tmp_path_factory.mktemp("voice") / "line.wav"
    sf.write(path, wav.astype(np.float32), rate)
    return path


def mesh_track(anim: Animator, voice: Path, v: F64, faces: Any, lm: NDArray[np.int64],
               **kw: Any) -> tuple[Any, F64, F64]:
    mo = anim.animate(voice, v, faces, lm, fps=FPS, phones=PHONES, upper_face=False, **kw)
    tr = read_mesh_lips(mo, MeshHead(v, faces, lm, 1.0, UP))
    return mo, tr.gaps_mm, tr.neutral_gaps_mm


def bilabial_lows(gaps: F64, times: F64) -> list[float]:
    g = gaps.mean(axis=1)
    out = []
    for s, e, ph in PHONES:
        if ph in BILABIALS:
            sel = (times >= s - 1.0 / FPS) & (times < e + 1.0 / FPS)
            out.append(float(g[sel].min()))
    return out


@pytest.mark.parametrize("gap_mm", [0.0, 3.0, 6.0])
def test_key_poses_meet_and_never_cross_on_any_rest_gap(
    anim: Animator, voice: Path, gap_mm: float
) -> None:
    v, faces, lm = demo_with_gap(gap_mm)
    mo, gaps, neutral = mesh_track(anim, voice, v, faces, lm)
    assert np.allclose(neutral, gap_mm, atol=0.05)
    lows = bilabial_lows(gaps, mo.frame_times)
    assert len(lows) == 4 and max(lows) <= 0.5, lows
    assert -gaps.min() <= 0.3
    # Between the closures the mouth opens from its own rest: the open vowels are wider
    # than the rest gap, by about what the mean head opens.
    assert gaps.mean(axis=1).max() > gap_mm + 2.0


def test_without_contact_the_same_heads_fail(anim: Animator, voice: Path) -> None:
    """The yardstick is not toothless: the landmark motion alone leaves a 3 mm head open and
    drives a sealed one's lips through each other."""
    v, faces, lm = demo_with_gap(3.0)
    mo, gaps, _ = mesh_track(anim, voice, v, faces, lm, lip_contact=False)
    assert max(bilabial_lows(gaps, mo.frame_times)) > 0.5
    v, faces, lm = demo_with_gap(0.0)
    mo, gaps, _ = mesh_track(anim, voice, v, faces, lm, lip_contact=False)
    assert -gaps.min() > 0.3


def test_compact_bake_keeps_contact_within_its_tolerance(anim: Animator, voice: Path) -> None:
    v, faces, lm = demo_with_gap(3.0)
    mo = anim.animate(voice, v, faces, lm, fps=FPS, phones=PHONES)
    plan = compact_plan(mo, np.arange(mo.n_frames) + 1.0)
    assert plan.max_error_mm <= 0.1
    assert plan.shapes is not None and plan.weights is not None
    dense = np.einsum("tk,kvc->tvc", plan.weights, plan.shapes)
    pts = surface_points(v, faces, v[lm], lm)
    up, low = pts.subset(UPPER_INNER), pts.subset(LOWER_INNER)
    gaps = (up.sample(v + dense) - low.sample(v + dense)) @ UP
    assert max(bilabial_lows(gaps, mo.frame_times)) <= 0.5 + 0.1
    assert -gaps.min() <= 0.3 + 0.1


def test_rest_is_the_mesh_neutral_outside_the_sound(anim: Animator, voice: Path) -> None:
    v, faces, lm = demo_with_gap(4.0)
    times = np.concatenate([[-0.5, -0.1], np.arange(0, 1.7, 1 / FPS), [2.0, 3.0]])
    mo = anim.animate(voice, v, faces, lm, frame_times=times, phones=PHONES, upper_face=False)
    outside = (times < 0) | (times > 1.7)
    assert np.abs(mo.dense[outside]).max() == 0.0


def test_mouth_strength_zero_moves_nothing(anim: Animator, voice: Path) -> None:
    v, faces, lm = demo_with_gap(3.0)
    mo = anim.animate(voice, v, faces, lm, fps=FPS, phones=PHONES, mouth_strength=0.0,
                      upper_face=False)
    assert np.abs(mo.dense).max() < 1e-6


def test_lip_closure_zero_leaves_the_mesh_its_own_opening(anim: Animator, voice: Path) -> None:
    v, faces, lm = demo_with_gap(3.0)
    mo, gaps, _ = mesh_track(anim, voice, v, faces, lm, lip_closure=0.0)
    assert max(bilabial_lows(gaps, mo.frame_times)) > 0.5  # nothing asked the lips to meet
    assert -gaps.min() <= 0.3  # ... but they still never cross


def contact_of(v: F64, faces: Any, lm_pos: F64, lm_idx: NDArray[np.int64] | None
               ) -> LipContact | str:
    feats = mesh_features(v, faces, lm_pos, lm_idx)
    return LipContact.of_mesh(v, faces, lm_pos, lm_idx, on_face_mask(feats))


def test_fields_close_exactly_one_millimetre_per_unit_and_fade() -> None:
    v, faces, lm = demo_with_gap(3.0)
    c = contact_of(v, faces, v[lm], lm)
    assert isinstance(c, LipContact)
    assert np.allclose(c.solve, np.eye(3), atol=1e-3)
    f = c.fields.sum(axis=0)[:, 1]
    assert np.all(f[lm[list(UPPER_INNER)]] < 0) and np.all(f[lm[list(LOWER_INNER)]] > 0)
    assert abs(f[lm[66]]) > abs(f[lm[62]])  # the lower lip does most of the travel
    far = np.linalg.norm(v - v[lm[66]], axis=1) > 70.0
    assert np.abs(c.fields[:, far]).max() == 0.0  # forehead, neck, back of the head
    assert np.abs(c.fields[:, :, [0, 2]]).max() == 0.0  # vertical only
    assert abs(f[lm[8]]) > 0.1  # the chin comes with the jaw


def test_column_weights_partition_the_mouth() -> None:
    nodes = np.array([-25.0, -12.0, 0.0, 11.0, 24.0])
    x = np.linspace(-30, 30, 601)
    w = column_weights(x, nodes)
    inside = (x > -12) & (x < 11)
    assert np.allclose(w[inside].sum(axis=1), 1.0)
    assert np.all(w[(x <= -25) | (x >= 24)] == 0.0)
    for j, node in enumerate(nodes[1:4]):
        assert np.allclose(w[np.argmin(np.abs(x - node))], np.eye(3)[j], atol=0.02)


def test_fitted_positions_on_the_surface_work_like_vertices(anim: Animator, voice: Path) -> None:
    """A head with fitted landmarks (positions between vertices) closes as well."""
    v, faces, lm = demo_with_gap(3.0)
    rng = np.random.default_rng(1)
    pos = v[lm].copy()
    # Slide each point a little within the surface: mix it with a neighbour vertex.
    tris = np.array([f[:3] for f in faces if len(f) >= 3])
    for k in range(68):
        t = tris[np.flatnonzero((tris == lm[k]).any(axis=1))[0]]
        w = rng.dirichlet(np.ones(3)) * 0.3 + np.array([0.7 if i == lm[k] else 0 for i in t])
        pos[k] = (w / w.sum()) @ v[t]
    mo = anim.animate(voice, v, faces, pos, fps=FPS, phones=PHONES, upper_face=False)
    tr = read_mesh_lips(mo, MeshHead(v, faces, pos, 1.0, UP))
    assert max(bilabial_lows(tr.gaps_mm, mo.frame_times)) <= 0.5
    assert -tr.gaps_mm.min() <= 0.3


def test_lips_crossed_in_the_neutral_keep_their_own_crossing(
    anim: Animator, voice: Path
) -> None:
    """Documented behaviour: the neutral's crossing is the contact; closures press no
    further and the rest stays the user's neutral."""
    v, faces, lm = demo_with_gap(-1.0)
    _mo, gaps, neutral = mesh_track(anim, voice, v, faces, lm)
    assert np.all(neutral < -0.9)
    assert np.all(gaps >= neutral[None] - 0.3)
    c = contact_of(v, faces, v[lm], lm)
    assert isinstance(c, LipContact) and np.allclose(c.reference, c.neutral_gap)


def test_landmarks_that_are_not_lips_are_refused_with_a_note(
    anim: Animator, voice: Path
) -> None:
    """A fit gone wrong (inner-lip points on the nose and the chin) must not pull the nose to
    the chin: the lips are left to the landmark motion and the motion says why."""
    v, faces, lm = demo_with_gap(1.0)
    bad = v[lm].copy()
    bad[list(UPPER_INNER)] = v[lm[[31, 33, 35]]]
    bad[list(LOWER_INNER)] = v[lm[[7, 8, 9]]]
    mo = anim.animate(voice, v, faces, bad, fps=FPS, phones=PHONES, upper_face=False)
    assert mo.notes and "not closed" in mo.notes[0] and "62 and 66" in mo.notes[0]
    ref = anim.animate(voice, v, faces, bad, fps=FPS, phones=PHONES, upper_face=False,
                       lip_contact=False)
    assert np.allclose(mo.dense, ref.dense)


def test_a_fused_mouth_is_left_alone() -> None:
    """No slit: the inner-lip points are one vertex each; there is no gap to close."""
    v, faces, lm = demo_with_gap(1.0)
    fused = lm.copy()
    fused[list(LOWER_INNER)] = lm[list(UPPER_INNER)]
    c = contact_of(v, faces, v[fused], fused)
    # Either refused with a sentence, or harmless: a zero gap that no frame needs to close.
    if isinstance(c, LipContact):
        assert np.allclose(c.neutral_gap, 0.0)
        assert np.allclose(c.amounts(np.zeros((5, 3)), np.ones(5)), 0.0)
    else:
        assert "told apart" in c


def test_pauses_and_clip_ends_get_no_contact() -> None:
    t = np.arange(60) / 30.0
    w = np.zeros(60, np.float32)
    w[0:4] = 1.0  # runs into the clip's start
    w[10:13] = [0.3, 1.0, 0.4]  # a stop closure with its ramps
    w[20:35] = 1.0  # half a second: a pause
    w[57:] = 1.0  # runs into the end
    out = without_pauses(w, t)
    assert np.all(out[0:4] == 0) and np.all(out[20:35] == 0) and np.all(out[57:] == 0)
    assert np.allclose(out[10:13], [0.3, 1.0, 0.4])


def _closing_track(rest: NDArray[np.float32], n: int, runs: list[tuple[int, int, float]]
                   ) -> NDArray[np.float32]:
    """S2L output at 100 Hz, its rest response except where each run (first, end, share)
    lowers the canonical inner lower lip by that share of the canonical rest gap."""
    lm0 = canonical_neutral().astype(np.float64)
    rest_gap = (lm0[list(UPPER_INNER)] - lm0[list(LOWER_INNER)]) @ UP
    disp = np.repeat(rest[None].astype(np.float32), n, axis=0)
    for a, b, share in runs:
        disp[a:b, list(LOWER_INNER), 1] += (share * rest_gap).astype(np.float32)
    return disp


def test_regression_share_follows_the_canonical_lips_except_in_pauses() -> None:
    rest = np.zeros((68, 3), np.float32)
    times = np.arange(300) / 100.0
    disp = _closing_track(rest, 300, [(40, 48, 1.0), (100, 108, 0.5), (150, 200, 1.0),
                                      (295, 300, 1.0)])
    disp[250:260, list(LOWER_INNER), 1] -= 3.0  # an open vowel
    share = regression_contact(disp, times)
    assert share.shape == (300, 3)
    assert np.allclose(share[40:48], 1.0) and np.allclose(share[100:108], 0.5)
    assert np.all(share[150:200] == 0) and np.all(share[295:] == 0)  # a pause, the clip's end
    assert np.all(share[250:260] == 0) and np.all(share[:40] == 0)  # open, at rest


def test_the_regressions_own_closure_meets_on_any_rest_gap(
    anim: Animator, voice: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A closure the landmark regression makes alone (no closure head, no phones), as it does
    inside a misheard word: the canonical lips touch, so on a mesh whose lips rest 3 mm or
    6 mm apart they meet too, and a sealed mesh's lips do not cross."""
    n = 170
    track = S2LTrack(_closing_track(anim._rest, n, [(60, 70, 1.0)]), None)
    monkeypatch.setattr(anim, "_s2l_output", lambda *a, **k: track)
    for gap_mm in (0.0, 3.0, 6.0):
        v, faces, lm = demo_with_gap(gap_mm)
        mo = anim.animate(voice, v, faces, lm, fps=100.0, upper_face=False)
        gaps = read_mesh_lips(mo, MeshHead(v, faces, lm, 1.0, UP)).gaps_mm.mean(axis=1)
        t = mo.frame_times
        assert gaps[(t >= 0.6) & (t < 0.7)].min() <= 0.5, gap_mm
        assert np.allclose(gaps[t < 0.5], gap_mm, atol=0.3)  # at rest elsewhere
        assert -gaps.min() <= 0.3
        # Lip contact off: the same closure stops short on the parted heads.
        mo = anim.animate(voice, v, faces, lm, fps=100.0, upper_face=False, lip_contact=False)
        gaps = read_mesh_lips(mo, MeshHead(v, faces, lm, 1.0, UP)).gaps_mm.mean(axis=1)
        if gap_mm > 0:
            assert gaps[(t >= 0.6) & (t < 0.7)].min() > 0.5 + gap_mm / 2, gap_mm


def test_amounts_close_to_contact_and_undo_crossings() -> None:
    v, faces, lm = demo_with_gap(2.0)
    c = contact_of(v, faces, v[lm], lm)
    assert isinstance(c, LipContact)
    gaps = np.array([[2.0, 2.0, 2.0], [3.0, 5.0, 3.0], [-0.4, 1.0, 0.2]])
    shut = c.amounts(gaps, np.ones(3)) @ np.linalg.inv(c.solve).T
    assert np.allclose(gaps - shut, 0.0)
    free = c.amounts(gaps, np.zeros(3)) @ np.linalg.inv(c.solve).T
    assert np.allclose(gaps - free, np.maximum(gaps, 0.0))
    half = c.amounts(gaps[:1], np.array([0.5])) @ np.linalg.inv(c.solve).T
    assert np.allclose(gaps[:1] - half, 1.0)


def test_ict_panel_heads_meet_on_real_speech(anim: Animator, speech_dir: Path,
                                             ict_npz: Path) -> None:
    """The shared ARCTIC line with its true phones on the panel's extremes: the widest rest
    gap, a sealed head, a head in metres facing -Y, and the re-topologised one."""
    from blender_s2l.core.speech.phones import read_phones
    from blender_s2l.training.head_panel import head_panel

    wav = speech_dir / "cmu_arctic" / "arctic_a0009.wav"
    phones: list[Phone] = read_phones(speech_dir / "cmu_arctic" / "arctic_a0009_phone.lab")
    times = np.arange(0, 3.09, 1 / FPS)
    wanted = {"ict-9054", "ict-sealed", "ict-9112-blender-m", "ict-retopo"}
    heads = [h for h in head_panel() if h.name in wanted]
    assert len(heads) == len(wanted)
    for h in heads:
        mo = anim.animate(wav, h.vertices, h.faces, h.landmarks68, frame_times=times,
                          phones=[(p.start, p.end, p.phone) for p in phones])
        m = mesh_lip_metrics(read_mesh_lips(mo, MeshHead(h.vertices, h.faces, h.landmarks68,
                                                         h.mm_per_unit, h.up)), phones, times)
        assert m["meet"] == 1.0 and m["n_bilabial"] == 2, (h.name, m)
        assert m["worst_crossing_mm"] <= 0.3, (h.name, m)
