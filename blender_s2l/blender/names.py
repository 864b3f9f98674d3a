"""Names of what a take owns, so a take can always be found and removed again."""

from __future__ import annotations

import re

from ..core.errors import BakeError

PREFIX = "s2l"
TAKES_PROP = "s2l_takes"  # object custom property: JSON record of the takes it owns
BASIS_PROP = "s2l_owns_basis"  # object custom property: the add-on created the Basis key
LANDMARK_ATTR = "s2l_landmark"  # INT point attribute: iBUG index 0..67 on landmarks, else -1
KEYPOINTS_PROP = "s2l_keypoints"  # mesh custom property: JSON {iBUG index: vertex index}
LANDMARK_POS_PROP = "s2l_landmarks68"  # mesh custom property: JSON fitted (68, 3) positions
LANDMARK_GROUP = "s2l.landmarks"  # vertex group showing the vertices nearest the fitted 68
HOLD_GROUP = "s2l.mask"  # vertex group the user paints: 1 = the bake never moves this vertex
MAX_TAKE_LEN = 40
_TAKE_RE = re.compile(r"^[A-Za-z0-9_\-]+$")


def check_take_name(take: str) -> str:
    """Take names end up in shape key names and F-curve data paths, so keep them plain."""
    if not take:
        raise BakeError("The take name is empty; type a name such as 'take1'.")
    if len(take) > MAX_TAKE_LEN or not _TAKE_RE.match(take):
        raise BakeError(
            f"The take name '{take}' may only use letters, digits, '_' and '-' "
            f"(at most {MAX_TAKE_LEN} characters)."
        )
    return take


def take_from_label(label: str) -> str:
    """A valid take name derived from a strip name ('Voice.001' -> 'Voice_001')."""
    clean = re.sub(r"[^A-Za-z0-9_\-]+", "_", label).strip("_")[:MAX_TAKE_LEN]
    return clean or "take"


def key_name(take: str, k: int) -> str:
    return f"{PREFIX}.{take}.{k:04d}"


def action_name(object_name: str, take: str) -> str:
    return f"{PREFIX}.{object_name}.{take}"


def track_name(take: str) -> str:
    return f"{PREFIX}.{take}"
