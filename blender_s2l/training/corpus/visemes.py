"""The phone-rule teacher: ARPAbet phones -> ICT expression weights, with coarticulation.

Each phone contributes a viseme target with a dominance curve (Cohen-Massaro style) over the
phone, whose start is moved `Style.lead` earlier because the lips anticipate the sound; the
weights at a time are the dominance-weighted mean of the targets, so neighbours blend and
silences fall back to rest. Measured: movement onsets lead the sound by ~0.8 x lead, the
overall cross-correlation lag of the lip gap is ~0.4 x lead. Bilabials are then closed
exactly, during the acoustic closure: ICT's mouthClose only closes against an open jaw, so
its weight (and mouthPress) are solved from the lip-gap geometry (measured on ICT, checked by
the tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ...core.speech.key_poses import closure_window
from .phones import SILENCE, to_arpabet

# Bump when the rules change what targets look like: corpora re-make their targets (no TTS).
TEACHER_VERSION = 3  # 3: upper-face emphasis raises kept >= 1.5 s apart

ICT_EXPRESSIONS: tuple[str, ...] = (
    "browDown_L", "browDown_R", "browInnerUp_L", "browInnerUp_R", "browOuterUp_L",
    "browOuterUp_R", "cheekPuff_L", "cheekPuff_R", "cheekSquint_L", "cheekSquint_R",
    "eyeBlink_L", "eyeBlink_R", "eyeLookDown_L", "eyeLookDown_R", "eyeLookIn_L", "eyeLookIn_R",
    "eyeLookOut_L", "eyeLookOut_R", "eyeLookUp_L", "eyeLookUp_R", "eyeSquint_L", "eyeSquint_R",
    "eyeWide_L", "eyeWide_R", "jawForward", "jawLeft", "jawOpen", "jawRight", "mouthClose",
    "mouthDimple_L", "mouthDimple_R", "mouthFrown_L", "mouthFrown_R", "mouthFunnel", "mouthLeft",
    "mouthLowerDown_L", "mouthLowerDown_R", "mouthPress_L", "mouthPress_R", "mouthPucker",
    "mouthRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthSmile_L", "mouthSmile_R", "mouthStretch_L", "mouthStretch_R", "mouthUpperUp_L",
    "mouthUpperUp_R", "noseSneer_L", "noseSneer_R",
)
N_EXPR = len(ICT_EXPRESSIONS)
_IDX = {n: i for i, n in enumerate(ICT_EXPRESSIONS)}

# Inner-lip gap (landmark 62 minus 66, mm; y up, z forward) of the ICT mean face: at rest and
# per unit of each mouth weight. Measured from ICT FaceKit; tests/training/test_corpus_visemes.py
# re-measures them, so a different face pack cannot silently break bilabial closure.
REST_GAP = (0.763, 0.284)
GAP_YZ: dict[str, tuple[float, float]] = {
    "jawOpen": (32.76, 19.05), "mouthClose": (-38.94, -14.79), "mouthFunnel": (13.73, -0.3),
    "mouthLowerDown_L": (3.38, 0.66), "mouthLowerDown_R": (3.38, 0.66),
    "mouthUpperUp_L": (3.55, -0.16), "mouthUpperUp_R": (3.55, -0.16),
    "mouthRollLower": (-3.75, 12.84), "mouthRollUpper": (1.82, -11.04),
    "mouthShrugLower": (-6.87, -5.52), "mouthShrugUpper": (5.26, 1.01),
    "mouthPucker": (-0.52, -2.11), "mouthPress_L": (-1.27, -1.09), "mouthPress_R": (-1.27, -1.09),
    "mouthSmile_L": (0.04, -0.7), "mouthSmile_R": (0.04, -0.7),
    "mouthStretch_L": (-0.15, -0.19), "mouthStretch_R": (-0.15, -0.19),
    "jawForward": (1.29, -8.93),
}
_GAP = np.zeros((N_EXPR, 2))
for _n, _g in GAP_YZ.items():
    _GAP[_IDX[_n]] = _g
_OPENERS = ("mouthFunnel", "mouthLowerDown_L", "mouthLowerDown_R", "mouthUpperUp_L",
            "mouthUpperUp_R", "mouthShrugUpper", "mouthRollUpper", "mouthStretch_L",
            "mouthStretch_R", "mouthSmile_L", "mouthSmile_R")
_BILABIAL_JAW = 0.04

# Viseme targets by ARPAbet phone; "Smile" etc. mean both sides. (dominance, {shape: weight}).
_V: dict[str, tuple[float, dict[str, float]]] = {
    "sil": (1.0, {}),
    "AA": (1.0, {"jawOpen": 0.34, "LowerDown": 0.2, "UpperUp": 0.1}),
    "AE": (1.0, {"jawOpen": 0.3, "Stretch": 0.25, "Smile": 0.12, "LowerDown": 0.25,
                 "UpperUp": 0.12}),
    "AH": (0.9, {"jawOpen": 0.26, "LowerDown": 0.18}),
    "AO": (1.0, {"jawOpen": 0.29, "mouthFunnel": 0.3, "mouthPucker": 0.1}),
    "EH": (0.9, {"jawOpen": 0.22, "Stretch": 0.2, "LowerDown": 0.2, "Smile": 0.08}),
    "ER": (1.0, {"jawOpen": 0.14, "mouthFunnel": 0.35, "mouthPucker": 0.2}),
    "IH": (0.8, {"jawOpen": 0.14, "Stretch": 0.28, "Smile": 0.18, "LowerDown": 0.1}),
    "IY": (1.0, {"jawOpen": 0.08, "Stretch": 0.35, "Smile": 0.32}),
    "UH": (1.0, {"jawOpen": 0.14, "mouthFunnel": 0.3, "mouthPucker": 0.3}),
    "UW": (1.4, {"jawOpen": 0.08, "mouthPucker": 0.7, "mouthFunnel": 0.3}),
    "B": (2.0, {}), "P": (2.0, {}), "M": (2.0, {}),
    "F": (1.8, {"jawOpen": 0.06, "mouthRollLower": 0.45, "UpperUp": 0.2}),
    "V": (1.8, {"jawOpen": 0.06, "mouthRollLower": 0.4, "UpperUp": 0.18}),
    "TH": (1.0, {"jawOpen": 0.12, "LowerDown": 0.15}),
    "DH": (0.9, {"jawOpen": 0.12, "LowerDown": 0.12}),
    "T": (0.6, {"jawOpen": 0.12, "LowerDown": 0.1, "Stretch": 0.1}),
    "D": (0.6, {"jawOpen": 0.12, "LowerDown": 0.1, "Stretch": 0.1}),
    "N": (0.5, {"jawOpen": 0.1, "LowerDown": 0.08}),
    "L": (0.6, {"jawOpen": 0.14, "LowerDown": 0.1}),
    "S": (1.1, {"jawOpen": 0.05, "Stretch": 0.3, "Smile": 0.15}),
    "Z": (1.0, {"jawOpen": 0.05, "Stretch": 0.28, "Smile": 0.12}),
    "SH": (1.4, {"jawOpen": 0.1, "mouthFunnel": 0.45, "mouthPucker": 0.25, "UpperUp": 0.2}),
    "ZH": (1.3, {"jawOpen": 0.1, "mouthFunnel": 0.42, "mouthPucker": 0.22, "UpperUp": 0.18}),
    "CH": (1.4, {"jawOpen": 0.1, "mouthFunnel": 0.4, "mouthPucker": 0.25, "UpperUp": 0.2}),
    "JH": (1.3, {"jawOpen": 0.1, "mouthFunnel": 0.38, "mouthPucker": 0.22, "UpperUp": 0.18}),
    "K": (0.5, {"jawOpen": 0.16, "LowerDown": 0.1}),
    "G": (0.5, {"jawOpen": 0.16, "LowerDown": 0.1}),
    "NG": (0.5, {"jawOpen": 0.14, "LowerDown": 0.08}),
    "HH": (0.3, {"jawOpen": 0.18}),
    "R": (1.1, {"jawOpen": 0.1, "mouthPucker": 0.4, "mouthFunnel": 0.2}),
    "W": (1.6, {"jawOpen": 0.05, "mouthPucker": 0.85, "mouthFunnel": 0.2}),
    "Y": (0.8, {"jawOpen": 0.08, "Stretch": 0.25, "Smile": 0.2}),
    "?": (0.4, {"jawOpen": 0.12, "LowerDown": 0.08}),  # unknown label: weak neutral opening
}
_DIPHTHONGS = {"AW": ("AA", "UW"), "AY": ("AA", "IY"), "EY": ("EH", "IY"), "OW": ("AO", "UW"),
               "OY": ("AO", "IY")}
LEAD_AT_END = 0.0  # gestures start `lead` early (anticipation) and release on the sound
BILABIALS = frozenset({"B", "P", "M"})
OPEN_VOWELS = frozenset({"AA", "AE", "AH", "AO", "AW", "AY"})


def _target(spec: dict[str, float]) -> NDArray[np.float64]:
    w = np.zeros(N_EXPR)
    for name, val in spec.items():
        if name in _IDX:
            w[_IDX[name]] = val
        else:
            w[_IDX[f"mouth{name}_L"]] = val
            w[_IDX[f"mouth{name}_R"]] = val
    return w


_TARGETS = {p: (dom, _target(spec)) for p, (dom, spec) in _V.items()}


@dataclass(frozen=True)
class Style:
    """Per-utterance speaking style (how a person articulates), sampled per corpus item."""

    articulation: float = 1.0  # scales every mouth target
    jaw: float = 1.0  # scales jawOpen (and lower-lip drop)
    lead: float = 0.04  # seconds each mouth gesture starts before its sound
    width: float = 1.0  # coarticulation width (larger = more blending)
    loudness_follow: float = 0.3  # how much jaw amplitude follows loudness (0..1)
    smile: float = 0.0  # constant smile bias while speaking
    asymmetry: float = 0.0  # + favours the subject's left side

    def to_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.__dict__.items()}


def sample_style(rng: np.random.Generator) -> Style:
    return Style(
        articulation=float(rng.uniform(0.75, 1.25)),
        jaw=float(rng.uniform(0.75, 1.3)),
        lead=float(rng.uniform(0.025, 0.055)),
        width=float(rng.uniform(0.8, 1.25)),
        loudness_follow=float(rng.uniform(0.0, 0.6)),
        smile=float(rng.uniform(0.0, 0.12)),
        asymmetry=float(rng.uniform(-0.1, 0.1)),
    )


def _expand(phones: list[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """ARPAbet labels, diphthongs split into two halves."""
    out: list[tuple[float, float, str]] = []
    for s, e, label in phones:
        try:
            p = to_arpabet(label)
        except KeyError:
            p = "?"
        if p in _DIPHTHONGS:
            mid = 0.5 * (s + e)
            a, b = _DIPHTHONGS[p]
            out += [(s, mid, a), (mid, e, b)]
        else:
            out.append((float(s), float(e), p))
    return out


def _dominance(t: NDArray[np.float64], s: float, e: float, dom: float, tau: float) -> NDArray[
    np.float64
]:
    c, h = 0.5 * (s + e), 0.5 * (e - s)
    d = np.maximum(0.0, np.abs(t - c) - 0.6 * h)
    return np.asarray(dom * np.exp(-((d / tau) ** 2)), dtype=np.float64)


def phones_to_expression_weights(
    phones: list[tuple[float, float, str]],
    frame_times: NDArray[np.floating[Any]],
    style: Style | None = None,
    loudness: NDArray[np.floating[Any]] | None = None,
) -> NDArray[np.float32]:
    """(T, 53) ICT expression weights (ICT order) for phones given as (start, end, label).

    Labels are ARPAbet (stress digits allowed) or engine spellings; 'sil'/'pau'/'sp' are silence.
    `loudness` is any non-negative per-frame level aligned with frame_times (e.g. RMS).
    """
    st = style or Style()
    t_in = np.asarray(frame_times, dtype=np.float64).reshape(-1)
    order = np.argsort(t_in, kind="stable")
    t = t_in[order]  # sorted, so every phone only touches its own window of frames
    items = _expand(phones)
    num = np.zeros((len(t), N_EXPR))
    den = np.full(len(t), 1e-4)  # rest wins far from every phone
    sil = np.full(len(t), 1e-4)
    closure = np.zeros(len(t))
    tau = 0.045 * st.width
    for s, e, p in items:
        dom, target = _TARGETS[p]
        s2, e2 = s - st.lead, e - LEAD_AT_END * st.lead
        width = tau if p != SILENCE else 0.6 * tau
        sl = _span(t, s2 - 6 * width, e2 + 6 * width)  # beyond: below 1e-15 of the rest term
        d = _dominance(t[sl], s2, e2, dom, width)
        num[sl] += d[:, None] * target
        den[sl] += d
        if p == SILENCE:
            sil[sl] += d
        if p in BILABIALS:
            sl = _span(t, s - 0.1 - st.lead, e + 0.05)
            closure[sl] = np.maximum(closure[sl], closure_window(t[sl], s, e, st.lead))
    loud = None
    if loudness is not None:
        loud = np.asarray(loudness, dtype=np.float64).reshape(-1)
        if len(loud) != len(t):
            raise ValueError(f"loudness has {len(loud)} frames but frame_times has {len(t)}")
        loud = loud[order]
    w = num / den[:, None]
    w *= st.articulation
    jaw_gain = st.jaw * _loudness_gain(loud, len(t), st.loudness_follow)
    w[:, _IDX["jawOpen"]] *= jaw_gain
    for side in ("_L", "_R"):
        w[:, _IDX["mouthLowerDown" + side]] *= 0.5 + 0.5 * jaw_gain
    speaking = np.clip(1.0 - sil / den, 0.0, 1.0)
    for side, sign in (("_L", 1.0), ("_R", -1.0)):
        w[:, _IDX["mouthSmile" + side]] += st.smile * speaking
        for base in ("mouthSmile", "mouthStretch", "mouthLowerDown", "mouthUpperUp"):
            w[:, _IDX[base + side]] *= 1.0 + sign * st.asymmetry
    _close_lips(w, closure)
    out = np.empty_like(w)
    out[order] = w
    return np.asarray(np.clip(out, 0.0, 1.0), dtype=np.float32)


def _span(ts: NDArray[np.float64], a: float, b: float) -> slice:
    return slice(int(np.searchsorted(ts, a, "left")), int(np.searchsorted(ts, b, "right")))


def _loudness_gain(loudness: NDArray[np.floating[Any]] | None, n: int, follow: float) -> NDArray[
    np.float64
]:
    if loudness is None or follow <= 0:
        return np.ones(n)
    lv = np.asarray(loudness, dtype=np.float64).reshape(-1)
    if len(lv) != n:
        raise ValueError(f"loudness has {len(lv)} frames but frame_times has {n}")
    ref = np.percentile(lv, 95) if np.any(lv > 0) else 1.0
    rel = np.clip(lv / max(float(ref), 1e-9), 0.0, 1.2)
    return np.asarray((1.0 - follow) + follow * np.sqrt(rel) * 1.1)


def _close_lips(w: NDArray[np.float64], closure: NDArray[np.float64]) -> None:
    """Where closure is 1 the inner lips meet: openers fade, jaw nearly shut, and mouthClose and
    mouthPress are solved so that the lip gap (y and z) is zero."""
    c = closure[:, None]
    jaw = _IDX["jawOpen"]
    w[:, jaw] = (1 - closure) * w[:, jaw] + closure * np.minimum(w[:, jaw], _BILABIAL_JAW)
    opener_idx = [_IDX[n] for n in _OPENERS]
    w[:, opener_idx] *= 1 - c
    close, press = _IDX["mouthClose"], [_IDX["mouthPress_L"], _IDX["mouthPress_R"]]
    w[:, close] = 0.0
    w[:, press] *= 1 - c
    rest = np.asarray(REST_GAP) + np.clip(w, 0, 1) @ _GAP  # (T, 2) gap without close/press
    a = np.array([_GAP[close], _GAP[press[0]] + _GAP[press[1]]]).T  # columns: close, press
    sol = -rest @ np.linalg.inv(a).T  # (T, 2): (mouthClose, mouthPress per side)
    only_close = -rest[:, 0] / a[0, 0]
    bad = sol[:, 1] < 0
    sol[bad, 0], sol[bad, 1] = only_close[bad], 0.0
    sol = np.clip(sol, 0.0, 1.0)
    w[:, close] = closure * sol[:, 0]
    for i in press:
        w[:, i] += closure * sol[:, 1]
