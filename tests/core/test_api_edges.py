"""The public API's edges (issue #20 item 6): every argument that sizes work or says where the
face is gets a one-sentence S2LError subclass, quickly, instead of a bare exception, a hang or a
huge allocation."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from blender_s2l.core.animate import MAX_FRAMES, Animator, check_timing, default_frame_times
from blender_s2l.core.errors import LandmarkError, MeshError, S2LError
from blender_s2l.core.head.fitting import fit_landmarks
from blender_s2l.core.head.keypoints import REQUIRED
from blender_s2l.core.models.upper_face import sample_upper_face_weights
from blender_s2l.demo_head.make import DemoHead, make_demo_head

WAV = (0.2 * np.sin(2 * np.pi * 180 * np.arange(16000) / 16000)).astype(np.float32)


@pytest.fixture(scope="module")
def anim(random_weights_dir: Path) -> Animator:
    return Animator.load(device="cpu", weights_dir=random_weights_dir)


@pytest.fixture(scope="module")
def head() -> DemoHead:
    return make_demo_head(0)


def _sentence(call: Any, match: str, kind: type[S2LError] = S2LError,
              seconds: float = 5.0) -> str:
    start = time.perf_counter()
    with pytest.raises(kind, match=match) as info:
        call()
    assert time.perf_counter() - start < seconds
    text = str(info.value)
    assert "\n" not in text and text.endswith(".")
    return text


@pytest.mark.parametrize("fps", [0.0, -24.0, float("nan"), float("inf"), "30", None, True])
def test_bad_fps_is_a_sentence(anim: Animator, head: DemoHead, fps: Any) -> None:
    _sentence(lambda: anim.landmarks(WAV, fps=fps), "frame rate")
    _sentence(lambda: anim.animate(WAV, head.vertices, head.faces, head.landmark_vertices,
                                   fps=fps), "frame rate")


def test_huge_frame_counts_and_spans_are_refused_at_once(anim: Animator) -> None:
    _sentence(lambda: anim.landmarks(WAV, fps=1e6), "limit per bake")
    _sentence(lambda: anim.landmarks(WAV, fps=1e300), "limit per bake")
    _sentence(lambda: anim.landmarks(WAV, frame_times=np.array([0.0, 1e7])), "between")
    _sentence(lambda: anim.landmarks(WAV, frame_times=np.array([-1e7, 0.0])), "between")
    _sentence(lambda: anim.landmarks(WAV, frame_times=np.zeros(MAX_FRAMES + 1)), "more than")
    _sentence(lambda: anim.landmarks(WAV, frame_times=np.array(["a"])), "array of seconds")
    _sentence(lambda: anim.landmarks(WAV, frame_times=np.array([0.5, 0.1, 0.2])), "in order")
    _sentence(lambda: default_frame_times(1800.0, 241.0), "limit per bake")
    assert len(default_frame_times(1800.0, 240.0)) == MAX_FRAMES  # the limit itself
    # Fast, high rates on short sounds are fine: only the amount of work is bounded.
    assert anim.landmarks(WAV[:1600], fps=1000.0).shape == (101, 68, 3)


def test_frame_times_are_exact_at_fractional_rates() -> None:
    fps = 30000 / 1001
    t = default_frame_times(600.0, fps)
    assert len(t) == int(np.floor(600.0 * fps)) + 1
    assert t[-1] == pytest.approx((len(t) - 1) * 1001 / 30000, abs=1e-12)
    with pytest.raises(S2LError, match="positive"):
        default_frame_times(1.0, 0.0)


def test_frames_outside_the_sound_stay_at_rest_within_the_limit(anim: Animator) -> None:
    times = np.array([-600.0, 0.5, 1200.0])
    lm = anim.landmarks(WAV, frame_times=times)
    rest = anim.landmarks(np.zeros(16000, np.float32), frame_times=times)
    np.testing.assert_array_equal(lm[[0, 2]], rest[[0, 2]])


def test_blink_generator_is_bounded() -> None:
    start = time.perf_counter()
    with pytest.raises(S2LError, match="within"):
        sample_upper_face_weights(np.array([0.0, 1e7]), 0)
    with pytest.raises(S2LError, match="finite"):
        sample_upper_face_weights(np.array([0.0, np.nan]), 0)
    with pytest.raises(S2LError, match="seed"):
        sample_upper_face_weights(np.array([0.0]), float("nan"))  # type: ignore[arg-type]
    with pytest.raises(S2LError, match="blink rate"):
        sample_upper_face_weights(np.array([0.0]), 0, blink_rate_per_min=float("nan"))
    # The longest allowed timeline (90 min) is quick: blinks there are sparse.
    w = sample_upper_face_weights(np.array([0.0, 5400.0]), 0)
    assert w.shape == (2, 8) and np.isfinite(w).all()
    assert time.perf_counter() - start < 5.0


@pytest.mark.parametrize("smoothing", [1e9, -0.1, float("nan"), float("inf"), "0.5"])
def test_smoothing_must_be_between_0_and_1(anim: Animator, head: DemoHead,
                                           smoothing: Any) -> None:
    _sentence(lambda: anim.landmarks(WAV, smoothing=smoothing), "Smoothing")
    _sentence(lambda: anim.animate(WAV, head.vertices, head.faces, head.landmark_vertices,
                                   smoothing=smoothing), "Smoothing")


def test_valid_timing_passes() -> None:
    check_timing(30, None)
    check_timing(np.float32(29.97), None)
    check_timing("ignored with frame times", np.arange(10) / 24)


def _kp(h: DemoHead) -> dict[int, int]:
    return {k: int(h.landmark_vertices[k]) for k in REQUIRED}


@pytest.mark.parametrize(("faces", "match"), [
    (None, "Faces must be"),
    ("faces", "Faces must be"),
    (np.array([[0.5, 1.0, 2.0]]), "Faces must be"),
    ([[0, 10**20, 1]], "Faces must be"),
    ([[0, 1]], "fewer than three"),
])
def test_fit_landmarks_bad_faces_are_mesh_errors(head: DemoHead, faces: Any, match: str) -> None:
    _sentence(lambda: fit_landmarks(head.vertices, faces, _kp(head)), match, MeshError)


def test_fit_landmarks_on_degenerate_faces_is_a_mesh_error(head: DemoHead) -> None:
    collapsed = [[v, v, v] for v in range(len(head.vertices))]
    _sentence(lambda: fit_landmarks(head.vertices, collapsed, _kp(head)), "degenerate", MeshError)
    flat = head.vertices.copy()
    flat[:, 2] = 0.0
    flat[:, 1] = 0.0  # every polygon collapsed onto the x axis: no area anywhere
    _sentence(lambda: fit_landmarks(flat, head.faces, _kp(head)), "degenerate", S2LError)
    # The key points on vertices that no polygon uses: no surface to fit onto.
    lone = np.concatenate([head.vertices, head.vertices[list(_kp(head).values())]])
    kp = {k: len(head.vertices) + i for i, k in enumerate(_kp(head))}
    _sentence(lambda: fit_landmarks(lone, head.faces, kp), "no polygon", MeshError)


def test_animate_with_faces_none_is_a_mesh_error(anim: Animator, head: DemoHead) -> None:
    _sentence(lambda: anim.animate(WAV, head.vertices, None,  # type: ignore[arg-type]
                                   head.landmark_vertices), "Faces must be", MeshError)


def test_landmark_positions_off_the_mesh_are_refused(anim: Animator, head: DemoHead) -> None:
    on = head.vertices[head.landmark_vertices].astype(np.float64)
    anim.animate(WAV[:4000], head.vertices, head.faces, on)  # on the surface: accepted
    near = on + np.array([0.0, 0.0, 0.003])  # a few mm (the head is in metres): accepted
    anim.animate(WAV[:4000], head.vertices, head.faces, near)
    for offset in ([0.0, 0.0, 1.0], [1.0, 0.0, 0.0]):  # a metre off: world vs object space
        _sentence(lambda o=offset: anim.animate(WAV, head.vertices, head.faces,  # type: ignore[misc]
                                                on + np.array(o)), "off the mesh", LandmarkError)
    one = on.copy()
    one[8] += [0.0, -0.1, 0.0]  # the chin 10 cm below the mesh
    text = _sentence(lambda: anim.animate(WAV, head.vertices, head.faces, one), "Landmark 8",
                     LandmarkError)
    assert "object space" in text


@pytest.mark.parametrize(("faces", "match"), [
    ("tail", "outside the mesh"),  # -1 inside a row: an index from the end, not padding
    ("short", "fewer than three"),  # padding leaves two corners
    ([[0, 1]], "fewer than three"),
])
def test_animate_refuses_faces_that_are_not_polygons(anim: Animator, head: DemoHead,
                                                     faces: Any, match: str) -> None:
    """A face [a, b, -1] passed the API's checks: -1 read as padding, leaving an edge."""
    f = np.asarray(head.faces)[:, :3] if not isinstance(head.faces, list) else \
        np.array([p[:3] for p in head.faces])
    bad = {"tail": np.vstack([f, [[0, -1, 1]]]), "short": np.vstack([f, [[0, 1, -1]]])}
    given = bad[faces] if isinstance(faces, str) else faces
    _sentence(lambda: anim.animate(WAV, head.vertices, given, head.landmark_vertices), match,
              MeshError)
