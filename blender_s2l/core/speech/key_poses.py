"""Key mouth poses anchored on known phones (KMTalk's point): lips shut on every /p b m/.

When the phones of a line are known (an alignment file, or a transcript aligned to the audio),
the closures need not be guessed from the sound: each bilabial gets the closure window the
training targets use, and the audio model completes everything else.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import S2LError
from .phones import BILABIALS, SIL, Phone, normalise_phone

MIN_SHUT_S = 0.04  # real stop closures last 50-100 ms; a shorter label still shows a closed frame


def closure_window(t: NDArray[np.float64], s: float, e: float, lead: float) -> NDArray[
    np.float64
]:
    """1 while the lips are shut for a bilabial sounding from s to e (seconds).

    The closing gesture starts `lead` early, but the lips only meet at the acoustic closure (they
    cannot be shut while a vowel still sounds) and part at the release; shut for at least
    MIN_SHUT_S. The phone-rule teacher that made the training targets uses the same window.
    """
    shut_end = e - 0.01
    shut_start = min(s + 0.005, shut_end - MIN_SHUT_S)
    up_ramp = max(lead, 0.015)
    up = np.clip((t - (shut_start - up_ramp)) / up_ramp, 0.0, 1.0)
    down = np.clip((shut_end + 0.02 - t) / 0.02, 0.0, 1.0)
    return np.asarray(np.minimum(up, down))


def closure_from_phones(
    phones: Sequence[Phone | tuple[float, float, str]], rate: float, n: int,
    lead: float = 0.04,
) -> NDArray[np.float32]:
    """(n,) closure weight at k / rate seconds: 1 where a labelled bilabial shuts the lips."""
    t = np.arange(n, dtype=np.float64) / rate
    out = np.zeros(n, np.float64)
    for p in phones:
        s, e, label = float(p[0]), float(p[1]), str(p[2])
        if e <= s or normalise_phone(label) not in BILABIALS:
            continue
        lo = int(np.searchsorted(t, s - lead - 0.05))
        hi = int(np.searchsorted(t, e + 0.05))
        if hi > lo:
            out[lo:hi] = np.maximum(out[lo:hi], closure_window(t[lo:hi], s, e, lead))
    return out.astype(np.float32)


def open_from_phones(
    phones: Sequence[Phone | tuple[float, float, str]], rate: float, n: int,
) -> NDArray[np.bool_]:
    """(n,) True at k / rate seconds inside a labelled speech sound that is not /p b m/: the lips
    are not shut there, whatever the closure head guesses (candidate V in
    reports/stage_selection.md: six fewer wrong closures on development speech, none lost)."""
    t = np.arange(n, dtype=np.float64) / rate
    out = np.zeros(n, bool)
    for p in phones:
        s, e, label = float(p[0]), float(p[1]), normalise_phone(str(p[2]))
        if e > s and label not in BILABIALS and label != SIL:
            out[int(np.searchsorted(t, s)) : int(np.searchsorted(t, e))] = True
    return out


def check_phones(phones: Any) -> list[Phone]:
    """Phones given to the API as (start, end, label) in seconds, checked once."""
    out = []
    try:
        for p in phones:
            s, e, label = float(p[0]), float(p[1]), str(p[2])
            if not (np.isfinite(s) and np.isfinite(e)) or e < s:
                raise ValueError
            out.append(Phone(s, e, normalise_phone(label)))
    except (TypeError, ValueError, IndexError) as exc:
        raise S2LError("Phones must be (start, end, label) with end >= start, in seconds.") from exc
    return out
