"""The voice roster and the one entry point that renders text with any of them.

Held-out voices (one per engine family) are only used for the evaluation split, so the
synthetic yardsticks measure generalisation to unseen speakers.
"""

from __future__ import annotations

from .phones import to_arpabet
from .tts_espeak import render_espeak
from .tts_festival import render_festival
from .tts_flite import render_flite
from .tts_types import Rendered, Voice

VOICES: tuple[Voice, ...] = (
    Voice("flite_slt", "flite", "slt", 175.0),
    Voice("flite_kal", "flite", "kal", 105.0),
    Voice("flite_kal16", "flite", "kal16", 105.0),
    Voice("flite_awb", "flite", "awb", 110.0),
    Voice("flite_rms", "flite", "rms", 105.0, heldout=True),
    Voice("festival_kal", "festival", "voice_kal_diphone", 105.0),
    Voice("festival_slt_hts", "festival", "voice_cmu_us_slt_arctic_hts", 165.0,
          can_shift_pitch=False),
    Voice("festival_ked", "festival", "voice_ked_diphone", 110.0, heldout=True),
    Voice("espeak_us_m3", "espeak", "en-us+m3", 110.0),
    Voice("espeak_us_f2", "espeak", "en-us+f2", 200.0),
    Voice("espeak_gb_m1", "espeak", "en+m1", 110.0),
    Voice("espeak_rp_f4", "espeak", "en-GB-x-rp+f4", 200.0),
    Voice("espeak_scot_m2", "espeak", "en-GB-scotland+m2", 110.0),
    Voice("espeak_nyc_f1", "espeak", "en-US-nyc+f1", 200.0),
    Voice("espeak_car_m5", "espeak", "en-029+m5", 110.0, heldout=True),
)


def voice_by_name(name: str) -> Voice:
    for v in VOICES:
        if v.name == name:
            return v
    raise KeyError(f"unknown voice {name!r}")


def render(text: str, voice: Voice, rate: float = 1.0, pitch: float = 1.0) -> Rendered:
    """Render and map the phones to ARPAbet ('sil' for pauses)."""
    if voice.engine == "flite":
        out = render_flite(text, voice, rate, pitch)
    elif voice.engine == "festival":
        out = render_festival(text, voice, rate, pitch)
    elif voice.engine == "espeak":
        out = render_espeak(text, voice, rate, pitch)
    else:
        raise KeyError(f"unknown engine {voice.engine!r}")
    out.phones = [(s, e, to_arpabet(p, voice.engine)) for s, e, p in out.phones]
    return out
