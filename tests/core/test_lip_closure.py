"""The closure head's post-step: probabilities -> frame weights -> lips pulled together."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from blender_s2l.core.head.landmarks import canonical_neutral
from blender_s2l.core.speech import acoustic
from blender_s2l.core.speech.lip_closure import (
    ACOUSTIC_GATE_HALF_S,
    ACOUSTIC_GATE_TAU,
    CLOSURE_HIGH,
    CLOSURE_LOW,
    LIP_PAIRS,
    PRESSED_OFFSET,
    acoustic_gate,
    close_lips,
    closure_at_frames,
    closure_at_times,
    closure_weight,
    gated_weight,
    press_factor,
)

UP = [a for a, _ in LIP_PAIRS]
LO = [b for _, b in LIP_PAIRS]


def test_weight_is_zero_when_unsure_one_when_confident_and_monotone() -> None:
    p = np.linspace(0, 1, 101)
    w = closure_weight(p)
    assert np.all(w[p <= CLOSURE_LOW] == 0.0)
    assert np.all(w[p >= CLOSURE_HIGH] == 1.0)
    assert np.all(np.diff(w) >= 0)


def test_frame_sampling_never_steps_over_a_short_closure() -> None:
    prob = np.zeros(300, np.float32)
    prob[117:119] = 0.9  # 20 ms closure between the 30 fps frames at 1.1667 s and 1.2 s
    times = np.arange(0, 3.0, 1 / 30)
    linear = np.interp(times * 100, np.arange(300), prob)
    assert linear.max() < CLOSURE_HIGH  # plain sampling only half sees it ...
    got = closure_at_times(prob, times, 100.0)
    assert got.max() == pytest.approx(0.9)  # ... the window max keeps it, on one frame only
    assert np.sum(got > 0.5) == 1


def test_frame_sampling_matches_a_brute_force_window_max() -> None:
    rng = np.random.default_rng(0)
    prob = rng.random(997).astype(np.float32)
    for fps in (24.0, 30000 / 1001, 60.0, 200.0):
        times = np.arange(0, 9.9, 1 / fps)
        half = max(0.5 / fps, 0.005)
        want = [prob[max(0, int(np.ceil((t - half) * 100 - 1e-9))):
                     int(np.floor((t + half) * 100 + 1e-9)) + 1].max() for t in times]
        assert np.allclose(closure_at_times(prob, times, 100.0), want)


def test_frame_time_sampling_still_gives_a_short_closure_one_full_frame() -> None:
    prob = np.zeros(300, np.float32)
    prob[117:119] = 0.9  # 20 ms closure between the frames at 1.1667 s and 1.2 s
    times = np.arange(0, 3.0, 1 / 30)
    got = closure_at_frames(prob, times, 100.0)
    assert got.max() == pytest.approx(0.9)
    assert np.sum(got > 0.5) == 1


def test_a_short_vowel_beside_a_closure_keeps_its_open_frame() -> None:
    # /b/ 1.40-1.52 s, then a 40 ms vowel whose one 30 fps frame (1.5333 s) lies within half a
    # frame of the /b/'s last sample: the window lends the vowel the closure, the frame's own
    # time does not.
    prob = np.zeros(300, np.float32)
    prob[140:153] = 0.9
    times = np.arange(0, 3.0, 1 / 30)
    vowel = int(np.argmin(np.abs(times - 1.5333)))
    assert closure_at_times(prob, times, 100.0)[vowel] == pytest.approx(0.9)
    got = closure_at_frames(prob, times, 100.0)
    assert got[vowel] < CLOSURE_LOW
    assert np.allclose(got[(times >= 1.40) & (times <= 1.52)], 0.9)


def test_one_frame_dips_are_filled_and_wider_ones_kept() -> None:
    times = np.arange(0, 3.0, 1 / 30)
    prob = np.zeros(300, np.float32)
    prob[100:111] = prob[114:124] = 0.9  # a 30 ms dip: one frame (1.1333 s) inside it
    got = closure_at_frames(prob, times, 100.0)
    assert np.all(got[(times >= 1.0) & (times <= 1.23)] > 0.5)
    assert closure_at_frames(prob, times, 100.0, fill_dips=False)[34] < 0.5
    prob[108:120] = 0.0  # now 1.08-1.20 s open: three frames, two of them open
    got = closure_at_frames(prob, times, 100.0)
    assert np.sum(got[(times > 1.08) & (times < 1.20)] < 0.5) >= 2


def test_a_plateau_is_not_widened_and_peaks_off_the_frames_are_dropped() -> None:
    times = np.arange(0, 2.0, 1 / 30)
    prob = np.zeros(300, np.float32)
    prob[51:80] = 0.9  # 0.51-0.79 s: the window reaches it from the frames at 0.5 and 0.8 s
    prob[290:] = 0.9  # after the last frame (1.9667 s) by more than half a frame
    got = closure_at_frames(prob, times, 100.0, fill_dips=False)
    shut = times[got > 0.5]
    assert shut.min() >= 0.51 and shut.max() <= 0.79
    window = times[closure_at_times(prob, times, 100.0) > 0.5]
    assert window.min() < 0.51 and window[window < 1.0].max() > 0.79
    assert got[-1] == 0.0
    assert len(closure_at_frames(np.zeros(0, np.float32), times, 100.0)) == len(times)


def _open_mouth(frames: int) -> np.ndarray:
    disp = np.zeros((frames, 68, 3), np.float32)
    disp[:, LO, 1] = -6.0  # lower lip 6 mm down
    disp[:, UP, 1] = 1.0
    disp[:, 8, 1] = -8.0  # chin
    return disp


def test_full_weight_presses_the_lips_together_and_nothing_else_moves() -> None:
    disp = _open_mouth(4)
    out = close_lips(disp, np.array([0.0, 0.5, 1.0, 1.0]), press=np.array([0, 0, 1, 0]))
    assert np.allclose(out[2, UP] - out[2, LO], PRESSED_OFFSET, atol=1e-4)
    assert np.allclose(out[3, UP] - out[3, LO], 0.0, atol=1e-4)  # unpressed: neutral opening
    lm = canonical_neutral()[None] + out
    inner_gap = lm[2, 62, 1] - lm[2, 66, 1]
    assert 0.0 <= inner_gap < 0.1  # the inner lips touch (the neutral's are 0.8 mm apart)
    assert np.allclose(out[0], disp[0])  # weight 0: untouched
    gap = np.linalg.norm(lm[:, UP] - lm[:, LO], axis=-1)
    assert np.all(gap[1] < gap[0])
    others = [i for i in range(68) if i not in UP + LO]
    assert np.array_equal(out[:, others], disp[:, others])
    # the lower lip travels further than the upper: the jaw carries it
    assert abs(out[2, 66, 1] - disp[2, 66, 1]) > abs(out[2, 62, 1] - disp[2, 62, 1])


def test_strength_scales_and_pressed_lips_are_left_alone() -> None:
    disp = _open_mouth(2)
    assert np.array_equal(close_lips(disp, np.ones(2), strength=0.0), disp)
    half = close_lips(disp, np.ones(2), strength=0.5)
    full = close_lips(disp, np.ones(2))
    assert np.allclose(half - disp, 0.5 * (full - disp), atol=1e-5)
    pressed = np.zeros((1, 68, 3), np.float32)
    pressed[:, UP, 1] = -1.0  # upper lip pushed onto the lower one, harder than PRESSED_OFFSET
    assert np.array_equal(close_lips(pressed, np.ones(1)), pressed)


def test_short_closures_press_and_pauses_rest() -> None:
    times = np.arange(60) / 30.0
    weight = np.zeros(60)
    weight[5:8] = 1.0  # 67 ms: a /b/
    weight[20:40] = 1.0  # 633 ms: a pause
    weight[45] = 0.4  # not closed enough to count
    press = press_factor(weight, times)
    assert np.array_equal(np.flatnonzero(press), [5, 6, 7])


def test_sensitivity_slides_the_range_through_the_tuned_one() -> None:
    from blender_s2l.core.speech.lip_closure import (
        CAUTIOUS_RANGE,
        CLOSURE_HIGH,
        CLOSURE_LOW,
        EAGER_RANGE,
        sensitivity_range,
    )

    assert sensitivity_range(0.5) == (CLOSURE_LOW, CLOSURE_HIGH)
    assert np.allclose(sensitivity_range(1.0), EAGER_RANGE)
    assert np.allclose(sensitivity_range(0.0), CAUTIOUS_RANGE)
    lows = [sensitivity_range(s)[0] for s in np.linspace(0, 1, 11)]
    assert all(a > b for a, b in pairwise(lows))
    assert sensitivity_range(0.5, (0.3, 0.6)) == (0.3, 0.6)  # a tuned range stays the middle
    with pytest.raises(ValueError, match="between 0 and 1"):
        sensitivity_range(1.2)


def _features_with_bilabial_mass(mass: NDArray[np.float64], n_mels: int = 80,
                                 heard: tuple[str, ...] = ("P", "B", "M")
                                 ) -> NDArray[np.float32]:
    """S2L input rows whose acoustic columns put `mass` on the `heard` phones and the rest on
    AA."""
    names = acoustic.phones()
    post = np.full((len(mass), len(names)), 1e-6)
    for ph in heard:
        post[:, names.index(ph)] = mass / len(heard) + 1e-6
    post[:, names.index("AA")] = 1.0 - mass
    logs = np.log(np.maximum(post, 1e-9))
    out: NDArray[np.float32] = np.concatenate([np.zeros((len(mass), n_mels)), logs],
                                              axis=1).astype(np.float32)
    return out


def test_the_acoustic_gate_damps_the_head_only_where_no_bilabial_is_heard() -> None:
    rate = 100.0
    half = round(ACOUSTIC_GATE_HALF_S * rate)
    mass = np.zeros(200)
    mass[100] = 0.5  # one frame where the acoustic model hears a bilabial
    mass[150] = ACOUSTIC_GATE_TAU / 2  # one where it half hears one
    gate = acoustic_gate(_features_with_bilabial_mass(mass), 80, rate)
    assert gate is not None and gate.shape == (200,)
    assert np.allclose(gate[100 - half:100 + half + 1], 1.0)  # heard within +-HALF_S: unchanged
    assert np.allclose(gate[150 - half:150 + half + 1], 0.5, atol=1e-3)  # b / TAU
    assert gate[100 - half - 2] < 0.01 and gate[:40].max() < 0.01  # nothing heard: damped
    assert np.all((gate >= 0) & (gate <= 1))


def test_silence_and_noise_do_not_open_the_gate() -> None:
    """Noise in a take raises these posteriors inside speech; pauses are `gated_weight`'s."""
    for heard in (("SIL",), ("+NSN+",)):
        gate = acoustic_gate(_features_with_bilabial_mass(np.ones(100), heard=heard), 80, 100.0)
        assert gate is not None and gate.max() < 0.01


def test_a_model_without_posteriors_has_no_gate() -> None:
    assert acoustic_gate(np.zeros((50, 80), np.float32), 80, 100.0) is None


def test_the_gate_damps_speech_closures_but_never_a_pause() -> None:
    """A short closure the acoustic model does not hear is damped; a pause the head calls shut
    (here one at the clip's start, as hiss before the speech would be heard) keeps its weight,
    the lips at rest."""
    rate = 100.0
    prob = np.zeros(300, np.float32)
    prob[:60] = 0.95  # a pause: the clip starts shut
    prob[150:156] = 0.95  # a 60 ms closure inside speech
    gate = np.zeros(300, np.float32)  # the acoustic model hears no bilabial anywhere
    times = np.arange(0, 3.0, 1 / 30)
    w = gated_weight(prob, gate, times, rate, CLOSURE_LOW, CLOSURE_HIGH)
    plain = gated_weight(prob, None, times, rate, CLOSURE_LOW, CLOSURE_HIGH)
    assert np.all(w[times < 0.55] == 1.0) and np.array_equal(w[times < 0.55],
                                                             plain[times < 0.55])
    speech = (times > 1.4) & (times < 1.7)
    assert plain[speech].max() == 1.0 and w[speech].max() == 0.0
    assert np.array_equal(gated_weight(prob, np.ones(300, np.float32), times, rate,
                                       CLOSURE_LOW, CLOSURE_HIGH), plain)


def test_a_pause_inside_the_line_rests_and_a_short_gap_is_gated() -> None:
    """Inside a line too: a closed run longer than MAX_PRESS_S is a pause (the lips rest); a
    shorter one, heard as no bilabial, is gated like any closure of speech."""
    rate = 100.0
    times = np.arange(0, 4.0, 1 / 30)
    prob = np.zeros(400, np.float32)
    prob[100:150] = 0.95  # 0.5 s pause in the middle of the line
    prob[250:270] = 0.95  # a 0.2 s gap: too short to be a pause
    gate = np.zeros(400, np.float32)
    w = gated_weight(prob, gate, times, rate, CLOSURE_LOW, CLOSURE_HIGH)
    assert np.all(w[(times > 1.05) & (times < 1.45)] == 1.0)
    assert w[(times > 2.4) & (times < 2.8)].max() == 0.0
    with pytest.raises(ValueError, match="one value a frame"):
        gated_weight(prob, gate[:-1], times, rate, CLOSURE_LOW, CLOSURE_HIGH)
    assert acoustic_gate(np.zeros((0, 122), np.float32), 80, rate) is None
    assert acoustic_gate(np.zeros((10, 100), np.float32), 80, rate) is None  # other posteriors


def test_a_rest_keeps_its_last_frame_and_a_vowel_after_a_closure_opens() -> None:
    """The same one-frame overhang on two runs: a pause (the lips held at the neutral) keeps
    the frame the window reaches, a closure of speech gives it back to the vowel after it."""
    rate = 100.0
    times = np.arange(0, 3.0, 1 / 30)
    prob = np.zeros(300, np.float32)
    prob[100:153] = 0.95  # pause 1.00-1.52 s: the frame at 1.5333 s sees its last sample
    prob[200:213] = 0.95  # /b/ 2.00-2.12 s: so does the vowel's frame at 2.1333 s
    rest_edge = int(np.argmin(np.abs(times - 1.5333)))
    vowel = int(np.argmin(np.abs(times - 2.1333)))
    window = closure_weight(closure_at_times(prob, times, rate))
    assert window[rest_edge] == 1.0 and window[vowel] == 1.0
    for gate in (None, np.ones(300, np.float32)):
        w = gated_weight(prob, gate, times, rate, CLOSURE_LOW, CLOSURE_HIGH)
        assert w[rest_edge] == 1.0
        assert w[vowel] == 0.0
        assert np.all(w[(times >= 2.0) & (times <= 2.12)] == 1.0)


def test_a_bake_hears_the_closure_through_the_gate(speech_dir: Path) -> None:
    """The bundled S2L hears the posteriors: a bake carries the gate read from S2L's own input
    and uses it, and still shuts both /p b m/ of a real clip. A guard of what ships, on the two
    labelled clips CI has; nothing is chosen by it (stage_selection.md, session 16)."""
    from blender_s2l.core.animate import Animator
    from blender_s2l.core.models.inference import FEATURE_RATE
    from blender_s2l.core.progress import Task
    from blender_s2l.core.speech import audio as audio_io
    from blender_s2l.core.speech.features import N_MELS, s2l_input
    from blender_s2l.core.speech.phones import read_phones
    from blender_s2l.training.metrics import bilabial_closure, lip_gap

    anim = Animator.load(device="cpu")
    assert anim.s2l.config.n_acoustic > 0
    # faceformer/test: the head is sure of a closure the acoustic model does not hear
    wav_path = speech_dir / "faceformer" / "test.wav"
    wav = audio_io.normalise_loudness(audio_io.load_audio(wav_path))
    out = anim._s2l_output(wav, Task(), None)
    assert out.closure is not None and out.gate is not None
    feats = s2l_input(wav, anim.s2l.config.n_acoustic)
    expected = acoustic_gate(feats, N_MELS, FEATURE_RATE)
    assert expected is not None and np.array_equal(out.gate, expected)
    assert np.any((out.closure > 0.5) & (out.gate < 0.2))
    gated = anim.landmarks(wav_path, fps=30.0)
    monkey = Animator(anim.s2l, anim.s2d, anim.upper, anim.device, anim.jaw)
    monkey._s2l_output = lambda *a: type(out)(out.disp, out.closure, None)  # type: ignore
    ungated = monkey.landmarks(wav_path, fps=30.0)
    assert np.abs(gated - ungated).max() > 0.5  # mm: the gate changed the mouth somewhere
    wav_path = speech_dir / "cmu_arctic" / "arctic_a0009.wav"
    lm = anim.landmarks(wav_path, fps=30.0)
    times = np.arange(len(lm)) / 30.0
    phones = read_phones(speech_dir / "cmu_arctic" / "arctic_a0009_phone.lab")
    assert bilabial_closure(lip_gap(lm), phones, times) == 1.0
