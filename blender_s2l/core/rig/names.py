"""Which rig a head's shape keys belong to, recognised by name (the RIG bake mode's first step).

Three sets are known, each with the names of its own spec as the canonical names:

- ARKIT: Apple's 52 (`eyeBlinkLeft` ... `jawOpen` ... `mouthClose` ... `tongueOut`), as
  ARKit itself, Faceit, Ready Player Me, Unity/Unreal's enums, Reallusion's ARKit profile
  (`A25_Jaw_Open`), Character Creator (`CC_...`), Daz (`facs_bs_...`) and ICT FaceKit
  (`browDown_L`) spell them. ICT splits `browInnerUp` and `cheekPuff` into halves; a half is
  part of the set, canonically `browInnerUpLeft` / `browInnerUpRight` (`SPLIT_HALVES`).
- VISEMES: Oculus / VRChat's 15 (`viseme_sil` ... `viseme_U`), also as `v_aa`, `vrc.v_aa`, and
  with the alternative vowels `ih`, `oh`, `ou`, `ee`.
- VRM: `A I U E O` and `Blink` (VRM 0.x presets; canonical), VRM 1.0's `aa ih ou ee oh blink`,
  VRoid's `Fcl_MTH_A` ... `Fcl_EYE_Close`, MMD's `あ い う え お まばたき`.

A key name matches when, ignoring case and separators (`_ . : - |` and spaces), it is the
set's name, or ends in it after a prefix cut at a separator (`CC_Base_Jaw_Open`,
`A01_Brow_Inner_Up`, `Head:jawOpen`). Sides may be spelled `Left/Right`, `_L/_R`, `.L/.R`,
`_l/_r`, `-L`, or a bare capital `L`/`R` after a lower-case letter (`eyeBlinkL`).

The user map (`--rig-map map.json` in batch) goes **from the set's name to the key's name on the
head**: `{"jawOpen": "Mouth_Open_Big", "tongueOut": ""}`. It overrides and extends recognition;
an empty name leaves that shape unkeyed; the set's names may be written in any spelling above.
Only keys whose canonical name belongs to the chosen set are ever keyed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BakeError

# Apple's 52 names, in the column order of Live Link Face's CSV (core/rig/export.py writes it).
ARKIT_52: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft",
    "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight",
    "jawForward", "jawRight", "jawLeft", "jawOpen",
    "mouthClose", "mouthFunnel", "mouthPucker", "mouthRight", "mouthLeft",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthUpperUpLeft", "mouthUpperUpRight",
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "noseSneerLeft", "noseSneerRight",
    "tongueOut",
)
# Halves of ARKit shapes that have no side (ICT FaceKit's browInnerUp_L ...): part of the set.
SPLIT_HALVES: dict[str, str] = {
    f"{whole}{side}": whole for whole in ("browInnerUp", "cheekPuff") for side in ("Left", "Right")
}
VISEMES_15: tuple[str, ...] = (
    "viseme_sil", "viseme_PP", "viseme_FF", "viseme_TH", "viseme_DD", "viseme_kk", "viseme_CH",
    "viseme_SS", "viseme_nn", "viseme_RR", "viseme_aa", "viseme_E", "viseme_I", "viseme_O",
    "viseme_U",
)
VRM_NAMES: tuple[str, ...] = ("A", "I", "U", "E", "O", "Blink", "Blink_L", "Blink_R")

SEPARATORS = "_.:-| "
_SEPARATOR_CLASS = re.escape(SEPARATORS)
_SIDE_WORD = re.compile(rf"^(.+?)[{_SEPARATOR_CLASS}]?(left|right)$", re.IGNORECASE)
_SIDE_LETTER = re.compile(rf"^(.+?)[{_SEPARATOR_CLASS}]([lr])$", re.IGNORECASE)
_SIDE_CAMEL = re.compile(r"^(.*[a-z])([LR])$")
_NOT_WORD = re.compile(r"[\W_]+")
Form = tuple[str, str]  # (compact stem, side "" | "L" | "R")


def compact(name: str) -> str:
    """Lower case without separators: how names are compared."""
    return _NOT_WORD.sub("", name).lower()


def _forms(name: str) -> list[Form]:
    """Every reading of one name: as it is (no side), and with a side suffix split off."""
    forms: list[Form] = [(compact(name), "")]
    for pattern in (_SIDE_WORD, _SIDE_LETTER, _SIDE_CAMEL):
        m = pattern.match(name)
        if m and compact(m.group(1)):
            forms.append((compact(m.group(1)), m.group(2)[0].upper()))
    return forms


def _tails(name: str) -> list[str]:
    """The name, then what follows each separator (prefixes cut off), longest first."""
    name = name.strip()
    tails = [name]
    for i, ch in enumerate(name):
        if ch in SEPARATORS and name[i + 1:].strip(SEPARATORS):
            tails.append(name[i + 1:].strip(SEPARATORS))
    return tails


@dataclass(frozen=True)
class RigSet:
    """A family of shape-key names a rig bake can key."""

    id: str  # "ARKIT", "VISEMES", "VRM" (RigTarget.rig_set)
    label: str  # how sentences name it
    names: tuple[str, ...]  # canonical names, in the order a match lists its keys
    needs: tuple[str, ...]  # what a mouth needs: a rig without one of these is refused
    forms: dict[Form, str] = field(repr=False, default_factory=dict)  # spelling -> canonical

    def canonical(self, name: str, prefixes: bool = True) -> tuple[str, int] | None:
        """(canonical name, how many prefix cuts it took) of a key name, or None."""
        for cuts, tail in enumerate(_tails(name) if prefixes else [name.strip()]):
            for form in _forms(tail):
                if form in self.forms:
                    return self.forms[form], cuts
        return None


def _arkit_forms() -> dict[Form, str]:
    forms: dict[Form, str] = {}
    for name in (*ARKIT_52, *SPLIT_HALVES):
        m = re.match(r"^(.+?)(Left|Right)$", name)
        if m:
            forms[(compact(m.group(1)), m.group(2)[0])] = name
        else:
            forms[(compact(name), "")] = name
    return forms


def _viseme_forms() -> dict[Form, str]:
    alternatives = {"viseme_E": ("ee",), "viseme_I": ("ih", "i"), "viseme_O": ("oh", "o"),
                    "viseme_U": ("ou", "u"), "viseme_aa": ("a",)}
    forms: dict[Form, str] = {}
    for name in VISEMES_15:
        for sound in (name.removeprefix("viseme_"), *alternatives.get(name, ())):
            for prefix in ("viseme", "v"):
                forms[(prefix + sound.lower(), "")] = name
    return forms


def _vrm_forms() -> dict[Form, str]:
    spellings = {"A": ("a", "aa", "あ"), "I": ("i", "ih", "い"), "U": ("u", "ou", "う"),
                 "E": ("e", "ee", "え"), "O": ("o", "oh", "お"),
                 "Blink": ("blink", "eyeclose", "まばたき")}
    forms: dict[Form, str] = {}
    for name, words in spellings.items():
        for word in words:
            forms[(word, "")] = name
            if name == "Blink":
                forms[(word, "L")] = "Blink_L"
                forms[(word, "R")] = "Blink_R"
    return forms


RIG_SETS: dict[str, RigSet] = {
    s.id: s for s in (
        RigSet("ARKIT", "ARKit", ARKIT_52, ("jawOpen",), _arkit_forms()),
        RigSet("VISEMES", "Oculus viseme", VISEMES_15, ("viseme_aa", "viseme_PP"),
               _viseme_forms()),
        RigSet("VRM", "VRM", VRM_NAMES, ("A",), _vrm_forms()),
    )
}


@dataclass
class RigMatch:
    """The keys of one set found on a head: key_names[i] is the set's canonical[i]."""

    rig_set: str
    key_names: list[str]
    canonical: list[str]
    notes: list[str] = field(default_factory=list)  # keys left out, and why

    @property
    def label(self) -> str:
        return RIG_SETS[self.rig_set].label

    @property
    def missing(self) -> list[str]:
        """The set's names that no key of the head stands for."""
        have = set(self.canonical)
        wholes = {SPLIT_HALVES.get(c, c) for c in have}
        return [n for n in RIG_SETS[self.rig_set].names if n not in have and n not in wholes]


def canonical_name(name: str, rig_set: str | None = None) -> tuple[str, str] | None:
    """(set id, canonical name) a key name stands for, or None; the sets in RIG_SETS order."""
    for s in RIG_SETS.values():
        if rig_set not in (None, s.id):
            continue
        found = s.canonical(name)
        if found is not None:
            return s.id, found[0]
    return None


def _auto(s: RigSet, names: list[str]) -> tuple[dict[str, str], list[str]]:
    """canonical -> key by recognition (the fewest prefix cuts wins, then the first key)."""
    best: dict[str, tuple[int, int, str]] = {}
    for order, key in enumerate(names):
        found = s.canonical(key)
        if found is None:
            continue
        canon, cuts = found
        if canon not in best or (cuts, order) < best[canon][:2]:
            best[canon] = (cuts, order, key)
    chosen = {c: b[2] for c, b in best.items()}
    notes = []
    for key in names:
        found = s.canonical(key)
        if found is not None and chosen[found[0]] != key:
            notes.append(f"'{key}' also looks like {found[0]}; '{chosen[found[0]]}' is keyed.")
    return chosen, notes


def _user_set(user_map: Mapping[str, str]) -> tuple[str, dict[str, str]] | str:
    """The one set a user map's names belong to, and the map in canonical names; or why not."""
    if not isinstance(user_map, Mapping):
        return "The rig map must map the rig's shape names to the head's key names."
    sets: dict[str, dict[str, str]] = {}
    counts: dict[str, int] = {}
    for name, key in user_map.items():
        if not isinstance(name, str) or not (key is None or isinstance(key, str)):
            return (f"The rig map's entry {name!r}: {key!r} must map a shape name to the name "
                    "of a shape key (text).")
        owners = [(s.id, found[0]) for s in RIG_SETS.values()
                  if (found := s.canonical(name, prefixes=False)) is not None]
        if not owners:
            return (f"The rig map names '{name}', which is not an ARKit, viseme or VRM shape "
                    "name (for example jawOpen, viseme_aa or A).")
        for set_id, canon in owners:
            if canon in sets.get(set_id, {}):
                return f"The rig map names {canon} twice ('{name}' is another spelling of it)."
            sets.setdefault(set_id, {})[canon] = key or ""
            counts[set_id] = counts.get(set_id, 0) + 1
    full = [sid for sid in sets if counts[sid] == len(user_map)]
    if not full:
        return ("The rig map mixes shape names of different rigs (ARKit, visemes, VRM); "
                "use the names of one.")
    return full[0], sets[full[0]]


def match_rig(names: Iterable[str], user_map: Mapping[str, str] | None = None
              ) -> RigMatch | str:
    """The rig set a head's shape-key names belong to, or one sentence saying why there is none.

    names: the head's shape keys (the reference key may be among them; it matches nothing).
    user_map: the set's name -> the head's key name (see the module's words); its names decide
    the set. The set with the most keys that has what a mouth needs wins (ties: ARKit, visemes,
    VRM); a set without it is refused with a sentence naming what is missing.
    """
    keys = [str(n) for n in names]
    forced: tuple[str, dict[str, str]] | None = None
    if user_map:
        found = _user_set(user_map)
        if isinstance(found, str):
            return found
        forced = found
        on_head = set(keys)
        for canon, key in forced[1].items():
            if key and key not in on_head:
                return (f"The rig map maps {canon} to '{key}', which is not a shape key of this "
                        "mesh.")
    matches: list[RigMatch] = []
    for s in RIG_SETS.values():
        if forced is not None and s.id != forced[0]:
            continue
        chosen, notes = _auto(s, keys)
        if forced is not None:
            given = forced[1]
            taken = {k for k in given.values() if k}
            chosen = {c: k for c, k in chosen.items() if k not in taken and c not in given}
            chosen.update({c: k for c, k in given.items() if k})
        order = {n: i for i, n in enumerate(_listed(s))}
        listed = sorted(chosen, key=lambda c: order.get(c, len(order)))
        matches.append(RigMatch(s.id, [chosen[c] for c in listed], listed, notes))
    complete = [m for m in matches if _lacks(m) == []]
    if complete:
        return max(complete, key=lambda m: len(m.key_names))  # max keeps the first of a tie
    found_any = [m for m in matches if m.key_names]
    if not found_any:
        if forced is not None:
            return "The rig map names no shape key of this mesh."
        return ("No ARKit, viseme or VRM shape keys were found on this mesh (for example "
                "jawOpen, viseme_aa or A); name its keys so, or map them with a rig map.")
    best = max(found_any, key=lambda m: len(m.key_names))
    lacking = " and ".join(_lacks(best))
    return (f"This mesh has {len(best.key_names)} {best.label} shape keys but no {lacking}, which "
            "a speaking mouth needs; add it, or map a key to it with a rig map.")


def _listed(s: RigSet) -> list[str]:
    """The set's names in order, each split half right after its whole."""
    return [n for name in s.names
            for n in (name, *(h for h, whole in SPLIT_HALVES.items() if whole == name))]


def _lacks(m: RigMatch) -> list[str]:
    return [n for n in RIG_SETS[m.rig_set].needs if n not in m.canonical]


def load_rig_map(path: str | Path) -> dict[str, str]:
    """A rig map from a JSON file (an object: the set's name -> the head's key name)."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BakeError(f"The rig map {p} cannot be read ({exc.strerror or exc}).") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BakeError(f"The rig map {p} is not valid JSON ({exc}).") from None
    if not isinstance(data, dict) or not all(
            isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in data.items()):
        raise BakeError(f"The rig map {p} must be one JSON object of shape names to key names, "
                        'like {"jawOpen": "Mouth_Open"}.')
    return {k: v or "" for k, v in data.items()}
