"""The phone-rule teacher in ICT landmark space: bilabials shut, vowels open, rest near shut."""

from __future__ import annotations

import numpy as np
import pytest

from blender_s2l.training.corpus.visemes import (
    GAP_YZ,
    ICT_EXPRESSIONS,
    REST_GAP,
    Style,
    phones_to_expression_weights,
)

PHONES = [
    (0.0, 0.4, "sil"), (0.4, 0.48, "B"), (0.48, 0.66, "AA1"), (0.66, 0.74, "M"),
    (0.74, 0.9, "IY0"), (0.9, 0.98, "P"), (0.98, 1.15, "AE1"), (1.15, 1.22, "T"),
    (1.22, 1.8, "pau"), (1.8, 1.9, "W"), (1.9, 2.1, "AO2"), (2.1, 2.6, "sp"),
]


def _centre(label: str) -> list[float]:
    return [0.5 * (s + e) for s, e, p in PHONES if p == label]


@pytest.fixture(scope="module")
def ict(ict_npz):  # type: ignore[no-untyped-def]
    from blender_s2l.training.ict import load_ict

    return load_ict()


def _gap(ict, w: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    lm = ict.landmarks68
    v = ict.neutral[lm] + ict.expression_displacement(w)[..., lm, :]
    return np.linalg.norm(v[..., 62, :] - v[..., 66, :], axis=-1)


def test_expression_order_matches_ict(ict) -> None:  # type: ignore[no-untyped-def]
    assert tuple(ict.expression_names) == ICT_EXPRESSIONS


def test_gap_constants_match_ict(ict) -> None:  # type: ignore[no-untyped-def]
    lm = ict.landmarks68
    rest = ict.neutral[lm[62]] - ict.neutral[lm[66]]
    np.testing.assert_allclose(rest[1:], REST_GAP, atol=0.01)
    for name, (gy, gz) in GAP_YZ.items():
        d = ict.expression_deltas[ict.expression_index(name)]
        g = d[lm[62]] - d[lm[66]]
        np.testing.assert_allclose(g[1:], (gy, gz), atol=0.01, err_msg=name)


@pytest.mark.parametrize("style", [Style(), Style(jaw=1.3, articulation=1.25, lead=0.055,
                                                   smile=0.12, asymmetry=0.1, width=1.25)])
def test_bilabials_close_vowels_open_rest_near_closed(ict, style: Style) -> None:  # type: ignore[no-untyped-def]
    t = np.arange(0.0, 2.6, 0.01)
    loud = np.abs(np.sin(t * 7)) + 0.1
    w = phones_to_expression_weights(PHONES, t, style, loud)
    assert w.shape == (len(t), 53) and w.min() >= 0 and w.max() <= 1
    g = _gap(ict, w)
    width = np.linalg.norm(ict.neutral[ict.landmarks68[48]] - ict.neutral[ict.landmarks68[54]])
    for label in ("B", "M", "P"):
        for c in _centre(label):
            k = round(c * 100)  # lips shut during the acoustic closure itself
            assert g[k] < 0.1, f"{label} at {c:.2f}s leaves a {g[k]:.2f} mm lip gap"
    for label in ("AA", "AE", "AO"):
        for c in _centre(label + ("1" if label != "AO" else "2")):
            k = round((c - 0.5 * style.lead) * 100)
            assert g[k] > 0.15 * width, f"{label} only opens {g[k]:.1f} mm"
    rest = g[(t > 1.45) & (t < 1.6)]
    assert np.all(rest < 1.2), "silence must fall back to the near-closed rest pose"
    upper = [ICT_EXPRESSIONS.index(n) for n in ICT_EXPRESSIONS if n.startswith(("eye", "brow"))]
    assert np.all(w[:, upper] == 0)


def test_lips_lead_the_sound() -> None:
    """Gestures start about `lead` earlier (anticipation); releases move much less."""
    t = np.arange(0.0, 2.6, 0.001)
    jaw = ICT_EXPRESSIONS.index("jawOpen")
    a = phones_to_expression_weights(PHONES, t, Style(lead=0.0))[:, jaw]
    b = phones_to_expression_weights(PHONES, t, Style(lead=0.05))[:, jaw]
    onset = lambda w: t[np.argmax(w > 0.02)]  # noqa: E731
    assert 0.03 <= onset(a) - onset(b) <= 0.06  # movement starts 30-60 ms before the sound
    after_pause = t > 1.8
    release = lambda w: t[after_pause][np.argmax(w[after_pause] < 0.02)]  # noqa: E731
    assert abs(release(a) - release(b)) <= 0.03
    close = ICT_EXPRESSIONS.index("mouthClose")
    cb = phones_to_expression_weights(PHONES, t, Style(lead=0.05))[:, close]
    shut = t[cb > 0.99 * cb.max()]
    assert shut.min() >= 0.4 - 0.001  # lips meet at the acoustic closure of B, not earlier


def test_frame_rate_independent_and_stress_digits() -> None:
    ph = [(0.0, 0.2, "pau"), (0.2, 0.4, "AA1"), (0.4, 0.6, "sil")]
    ph2 = [(0.0, 0.2, "sil"), (0.2, 0.4, "aa"), (0.4, 0.6, "SP")]
    t = np.array([0.1, 0.27, 0.33333])
    np.testing.assert_array_equal(phones_to_expression_weights(ph, t),
                                  phones_to_expression_weights(ph2, t))
    full = phones_to_expression_weights(ph, np.arange(0, 0.6, 0.001))
    np.testing.assert_allclose(phones_to_expression_weights(ph, np.array([0.27]))[0],
                               full[270], atol=1e-6)


def test_loudness_scales_jaw() -> None:
    t = np.arange(0.0, 2.6, 0.01)
    jaw = ICT_EXPRESSIONS.index("jawOpen")
    st = Style(loudness_follow=0.6)
    quiet_first = np.where(t < 1.0, 0.2, 1.0)
    w = phones_to_expression_weights(PHONES, t, st, quiet_first)
    ref = phones_to_expression_weights(PHONES, t, st, np.ones_like(t))
    k = round((_centre("AA1")[0] - 0.5 * st.lead) * 100)
    assert w[k, jaw] < 0.9 * ref[k, jaw]
    with pytest.raises(ValueError):
        phones_to_expression_weights(PHONES, t, st, np.ones(3))


def test_any_frame_order() -> None:
    t = np.arange(0.0, 2.6, 1 / 30)
    loud = np.abs(np.sin(t * 5))
    ref = phones_to_expression_weights(PHONES, t, Style(), loud)
    p = np.random.default_rng(0).permutation(len(t))
    np.testing.assert_array_equal(phones_to_expression_weights(PHONES, t[p], Style(), loud[p]),
                                  ref[p])
