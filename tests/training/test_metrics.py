"""Every yardstick on synthetic tracks whose answer is known in advance."""

from __future__ import annotations

import numpy as np
import pytest

from blender_s2l.core.head.landmarks import JAW, MOUTH
from blender_s2l.core.speech.phones import SIL, Phone
from blender_s2l.training.metrics import (
    auc,
    bilabial_closure,
    dense_metrics,
    false_closure,
    fdd,
    jitter,
    landmark_error,
    landmark_metrics,
    lip_gap,
    lve_m2,
    lve_mm,
    mean_angle_deg,
    mouth_width,
    open_vowel_auc,
    openness_lag,
    openness_lag_ms,
    openness_reference,
    phone_frames,
    real_speech_metrics,
    rest_stats,
    speech_seconds,
    spurious_closures,
)

FPS = 30.0


def neutral68() -> np.ndarray:
    """A plain face-like set of 68 points: width 50 mm mouth, lips 62/66 touching."""
    rng = np.random.default_rng(0)
    lm = rng.uniform(-40, 40, (68, 3))
    lm[48], lm[54] = [-25.0, -70.0, 5.0], [25.0, -70.0, 5.0]
    lm[62] = lm[66] = [0.0, -70.0, 6.0]
    return lm


def track_from_gap(g: np.ndarray) -> np.ndarray:
    """Landmarks whose lip gap is exactly g (lower lip 66 moves straight down)."""
    lm = np.repeat(neutral68()[None], len(g), axis=0)
    lm[:, 66, 1] -= g * 50.0
    return lm


# --- synthetic ----------------------------------------------------------------------------------


def test_lve_both_forms() -> None:
    true = np.zeros((2, 10, 3))
    pred = true.copy()
    pred[0, 3] = [0.0, 3.0, 0.0]  # 3 mm on a lip vertex in frame 0
    pred[0, 4] = [0.0, 0.0, 1.0]  # smaller error on another lip vertex: not the max
    pred[1, 9] = [50.0, 0.0, 0.0]  # not a lip vertex
    lips = np.array([3, 4, 5])
    assert lve_mm(pred, true, lips) == pytest.approx(1.5)
    assert lve_m2(pred, true, lips) == pytest.approx((9e-6 + 0.0) / 2)


def test_landmark_error_all_and_subset() -> None:
    true = np.zeros((4, 68, 3))
    pred = true + np.array([1.0, 2.0, 2.0])
    pred[:, MOUTH] += np.array([0.0, 0.0, 3.0])  # mouth error becomes |(1, 2, 5)|
    mouth = np.sqrt(30.0)
    assert landmark_error(pred, true, MOUTH) == pytest.approx(mouth)
    assert landmark_error(pred, true) == pytest.approx((48 * 3.0 + 20 * mouth) / 68)


def test_fdd_signed_in_mm_and_m2() -> None:
    mags = np.array([0.0, 2.0, 0.0, 2.0])  # std over time = 1 mm
    true = np.zeros((4, 5, 3))
    true[:, :3, 1] = mags[:, None]
    upper = np.array([0, 1, 2])
    assert fdd(np.zeros_like(true), true, upper) == pytest.approx(1.0)  # still: too little motion
    assert fdd(true * 0.5, true, upper) == pytest.approx(0.5)
    assert fdd(true * 2.0, true, upper) == pytest.approx(-1.0)  # too lively: negative
    assert fdd(true, true, upper) == 0.0
    # squared distances in m^2: [0, 4e-6, 0, 4e-6] -> std 2e-6
    assert fdd(np.zeros_like(true), true, upper, squared_metres=True) == pytest.approx(2e-6)


def test_mean_angle_only_on_moving_points() -> None:
    rng = np.random.default_rng(1)
    angle = rng.uniform(0, 2 * np.pi, (5, 30))
    true = np.stack([np.cos(angle), np.sin(angle), np.zeros_like(angle)], axis=2)
    true *= rng.uniform(0.8, 4.0, (5, 30, 1))
    true[:, :10] *= 0.1 / np.linalg.norm(true[:, :10], axis=2, keepdims=True)  # 0.1 mm: ignored
    c, s = np.cos(np.radians(30)), np.sin(np.radians(30))
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    pred = true @ rot.T * 1.7  # scale does not change an angle
    pred[:, :10] = -true[:, :10]  # opposite direction, but those points do not move enough
    moving = np.linalg.norm(true, axis=2) > 0.5
    assert moving[:, 10:].all()
    assert mean_angle_deg(pred, true) == pytest.approx(30.0)
    assert mean_angle_deg(np.zeros_like(true), true) == pytest.approx(90.0)
    assert np.isnan(mean_angle_deg(pred, np.zeros_like(true)))


def test_jitter_is_acceleration_in_mm_per_s2() -> None:
    t = np.arange(20) / FPS
    x = np.zeros((20, 2, 3))
    x[:, :, 0] = 0.5 * 100.0 * t[:, None] ** 2  # constant 100 mm/s^2
    x[:, 1, 1] = 7.0 * t  # constant velocity adds nothing
    assert jitter(x, FPS) == pytest.approx(100.0)
    assert jitter(x[:, :, :] * 0 + 3.0, FPS) == 0.0
    assert np.isnan(jitter(x[:2], FPS))


def test_metric_tables_have_every_field() -> None:
    rng = np.random.default_rng(2)
    true = rng.normal(size=(8, 68, 3))
    row = landmark_metrics(true + 1.0, true, FPS)
    assert row["lm_err_mm"] == pytest.approx(np.sqrt(3.0))
    assert row["jitter_pred"] == pytest.approx(row["jitter_true"])
    dense = dense_metrics(true, true, np.arange(48, 68), np.arange(17, 27), FPS)
    assert dense["vertex_err_mm"] == 0.0 and dense["lve_m2"] == 0.0 and dense["fdd_mm"] == 0.0
    assert dense["angle_deg"] == pytest.approx(0.0, abs=1e-5)


# --- real speech --------------------------------------------------------------------------------


def test_lip_gap_uses_median_or_given_rest_width() -> None:
    g = np.array([0.0, 0.2, 0.4, 0.1])
    lm = track_from_gap(g)
    np.testing.assert_allclose(lip_gap(lm), g)
    assert mouth_width(neutral68()) == pytest.approx(50.0)
    np.testing.assert_allclose(lip_gap(lm, rest_width=25.0), 2 * g)
    lm[0, 54, 0] += 20.0  # one wide frame does not move the median width
    np.testing.assert_allclose(lip_gap(lm), g)


def test_phone_frames_including_short_phones() -> None:
    t = np.arange(30) / FPS  # 0, 33.3, 66.7, ... ms
    assert phone_frames(t, Phone(0.1, 0.2, "AA")) == slice(3, 6)
    assert phone_frames(t, Phone(0.1, 0.2, "AA"), tol_frames=1) == slice(2, 7)
    short = Phone(0.105, 0.125, "P")  # holds no frame time: nearest to its middle (frame 3)
    assert phone_frames(t, short) == slice(3, 4)
    assert phone_frames(t, Phone(0.0, 0.05, "SIL"), tol_frames=1) == slice(0, 3)


def labelled_clip() -> tuple[list[Phone], np.ndarray]:
    """3 bilabials, 3 open vowels, other phones and two silences (one long, one short)."""
    seq = [("SIL", 0.6), ("M", 0.1), ("AA", 0.2), ("P", 0.1), ("IY", 0.15), ("T", 0.1),
           ("AE", 0.2), ("B", 0.1), ("AO", 0.2), ("SIL", 0.2), ("S", 0.1), ("SIL", 0.5)]
    phones, t0 = [], 0.0
    for ph, dur in seq:
        phones.append(Phone(round(t0, 6), round(t0 + dur, 6), ph))
        t0 += dur
    times = np.arange(round(t0 * FPS)) / FPS
    return phones, times


def test_bilabial_closure_counts_closed_phones_within_one_frame() -> None:
    phones, t = labelled_clip()
    g = np.full(len(t), 0.3)
    p95 = 0.3  # threshold 0.03
    m, p, b = (phones[i] for i in (1, 3, 7))
    g[phone_frames(t, m).start + 1] = 0.01  # closed inside /m/
    g[phone_frames(t, p).stop] = 0.0  # closed one frame after /p/: counts (±1 frame)
    g[phone_frames(t, b).stop + 1] = 0.0  # two frames after /b/: does not count
    assert np.percentile(g, 95) == pytest.approx(p95)
    assert bilabial_closure(g, phones, t) == pytest.approx(2 / 3)
    assert bilabial_closure(g, phones, t, tol_frames=2) == pytest.approx(1.0)
    assert np.isnan(bilabial_closure(g, [Phone(0.0, 1.0, "AA")], t))
    # a still face never closes below a tenth of its own (constant) gap
    assert bilabial_closure(np.full(len(t), 0.02), phones, t) == 0.0


def test_false_closure_counts_shut_vowel_interiors_only() -> None:
    phones, t = labelled_clip()
    vowels = [p for p in phones if p.phone in ("AA", "IY", "AE", "AO")]
    interior = sum(len(range(*phone_frames(t, v).indices(len(t)))) - 2 for v in vowels)
    g = np.full(len(t), 0.3)
    aa = phone_frames(t, vowels[0])
    g[aa.start] = 0.0  # a vowel's first frame: lips may still be opening, not counted
    assert false_closure(g, phones, t) == 0.0
    g[aa.start + 2] = 0.0  # inside the vowel: counted
    g[phone_frames(t, phones[1]).start + 1] = 0.0  # inside the /m/: not a vowel
    assert false_closure(g, phones, t) == pytest.approx(1 / interior)
    assert np.isnan(false_closure(g, [Phone(0.0, 1.0, "M")], t))


def test_spurious_closures_count_shut_runs_away_from_bilabials_and_pauses() -> None:
    phones, t = labelled_clip()
    g = np.full(len(t), 0.3)
    g[phone_frames(t, phones[1]).start] = 0.0  # on the /m/: a real closure
    assert spurious_closures(g, phones, t) == 0
    tee = phone_frames(t, phones[5])  # /t/, between IY and AE, no bilabial within a frame
    g[tee.start + 1 : tee.start + 3] = 0.0  # one run of two frames: one event
    assert spurious_closures(g, phones, t) == 1
    g[phone_frames(t, phones[6]).start + 3] = 0.0  # a shut frame inside the AE: another
    assert spurious_closures(g, phones, t) == 2
    g[phone_frames(t, phones[9]).start + 1] = 0.0  # in a pause: lips may rest shut there
    g[-1] = 0.0  # the closing pause
    assert spurious_closures(g, phones, t) == 2
    assert speech_seconds(phones, t) == pytest.approx(1.25)
    row = real_speech_metrics(track_from_gap(g), phones, t, rest_width=1.0)
    assert row["spurious_closures"] == 2.0
    assert row["spurious_per_min"] == pytest.approx(2 * 60 / 1.25)
    assert row["closure_precision"] == pytest.approx(1 / 3)  # the /m/ closed, two elsewhere


def test_open_vowel_auc() -> None:
    assert auc(np.array([3.0, 4.0]), np.array([1.0, 2.0])) == 1.0
    assert auc(np.array([1.0]), np.array([1.0, 2.0])) == pytest.approx(0.25)
    phones, t = labelled_clip()
    ref = openness_reference(phones, t, smooth_s=0.0)
    assert open_vowel_auc(ref, phones, t, tol_frames=0) == 1.0
    assert open_vowel_auc(-ref, phones, t, tol_frames=0) == 0.0
    assert open_vowel_auc(np.zeros(len(t)), phones, t) == 0.5


def test_rest_stats_only_in_long_silences() -> None:
    phones, t = labelled_clip()
    g = np.full(len(t), 0.5)
    # long silences: [0, 0.6) and [2.05, 2.55); core = minus 0.1 s each side
    core = ((t >= 0.1) & (t < 0.5)) | ((t >= 2.15 - 1e-9) & (t < 2.45))
    g[core] = 0.02
    lm = track_from_gap(g)
    lm[:, 48, 0] += 10.0 * t  # one lip corner drifts at 10 mm/s all the time
    gap, speed = rest_stats(g, lm, phones, t)
    assert gap == pytest.approx(0.02)
    n_lower = len(JAW) + len(MOUTH)
    assert speed == pytest.approx(np.sqrt(100.0 / n_lower))
    assert np.isnan(rest_stats(g, lm, [Phone(0.0, 3.0, "AA")], t)[0])


def test_openness_lag_sign_and_size() -> None:
    phones, t = labelled_clip()
    ref = openness_reference(phones, t)
    for shift in (-3, -1, 0, 2, 5):
        g = np.roll(ref, shift)  # g(t) = ref(t - shift): the face is `shift` frames late
        lag, r = openness_lag(g, phones, t)
        assert lag == shift
        assert r > 0.99
        assert openness_lag_ms(g, phones, t) == pytest.approx(shift * 1000 / FPS, abs=8.0)
    # a sub-frame delay of 50 ms (1.5 frames at 30 fps) is seen in milliseconds
    late = openness_reference(phones, t - 0.05)
    assert openness_lag_ms(late, phones, t) == pytest.approx(50.0, abs=8.0)
    assert openness_lag(late, phones, t)[0] in (1, 2)


def test_real_speech_row_for_a_phone_driven_face() -> None:
    """A face that opens as the reference says and closes on bilabials passes every target."""
    phones, t = labelled_clip()
    g = openness_reference(phones, t) * 0.4
    row = real_speech_metrics(track_from_gap(g), phones, t, rest_width=50.0)
    assert row["bilabial_closure"] == 1.0
    assert row["open_vowel_auc"] == 1.0
    assert row["lag_frames"] == 0.0
    assert row["rest_gap"] == pytest.approx(0.0, abs=1e-3)
    assert row["n_bilabial"] == 3 and row["n_open_vowel"] == 3
    assert row["spurious_closures"] == 0.0 and row["closure_precision"] == 1.0
    still = real_speech_metrics(track_from_gap(np.full(len(t), 0.016)), phones, t)
    assert still["bilabial_closure"] == 0.0 and still["open_vowel_auc"] == 0.5
    assert np.isnan(still["lag_frames"]) and np.isnan(still["lag_corr"])
    assert np.isnan(still["lag_ms"])


def test_on_arctic_labels(speech_dir) -> None:  # type: ignore[no-untyped-def]
    from blender_s2l.core.speech.phones import read_phones

    phones = read_phones(speech_dir / "cmu_arctic" / "arctic_a0009_phone.lab")
    t = np.arange(0, phones[-1].end, 1 / FPS)
    g = openness_reference(phones, t, smooth_s=0.0) * 0.4
    row = real_speech_metrics(track_from_gap(g), phones, t, rest_width=50.0)
    assert row["n_bilabial"] == 2  # the P of "sharply" and the B of "table"
    assert row["n_open_vowel"] == 7  # AA AE AH AH AO AH AH
    assert row["bilabial_closure"] == 1.0
    assert row["lag_frames"] == 0.0
    assert phones[0].phone == SIL
