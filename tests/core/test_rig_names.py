"""Rig sets recognised by name (core/rig/names.py): spellings, prefixes, partial rigs, user maps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from blender_s2l.core.errors import BakeError
from blender_s2l.core.rig.names import (
    ARKIT_52,
    RIG_SETS,
    SPLIT_HALVES,
    VISEMES_15,
    VRM_NAMES,
    RigMatch,
    canonical_name,
    load_rig_map,
    match_rig,
)

VISEME_SOUNDS = ["sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "I",
                 "O", "U"]


def matched(names: list[str], user_map: dict[str, str] | None = None) -> RigMatch:
    m = match_rig(names, user_map)
    assert isinstance(m, RigMatch), m
    return m


def test_the_sets_hold_their_specs_names() -> None:
    assert len(ARKIT_52) == len(set(ARKIT_52)) == 52
    assert {"eyeBlinkLeft", "jawOpen", "mouthClose", "tongueOut", "browInnerUp"} <= set(ARKIT_52)
    assert len(VISEMES_15) == 15 and VISEMES_15[0] == "viseme_sil"
    assert VRM_NAMES[:5] == ("A", "I", "U", "E", "O")
    assert set(RIG_SETS) == {"ARKIT", "VISEMES", "VRM"}
    assert set(SPLIT_HALVES.values()) == {"browInnerUp", "cheekPuff"}


def test_apples_own_names_are_a_whole_arkit_rig() -> None:
    m = matched(["Basis", *ARKIT_52])
    assert m.rig_set == "ARKIT" and m.label == "ARKit"
    assert m.key_names == m.canonical == list(ARKIT_52)
    assert m.missing == [] and m.notes == []


@pytest.mark.parametrize(("name", "canonical"), [
    # case and separators
    ("eyeBlinkLeft", "eyeBlinkLeft"), ("EyeBlinkLeft", "eyeBlinkLeft"),
    ("eyeblinkleft", "eyeBlinkLeft"), ("EYE_BLINK_LEFT", "eyeBlinkLeft"),
    ("eye blink left", "eyeBlinkLeft"), ("Eye-Blink-Right", "eyeBlinkRight"),
    # side spellings
    ("eyeBlink_L", "eyeBlinkLeft"), ("eyeBlink_R", "eyeBlinkRight"),
    ("eyeBlink_l", "eyeBlinkLeft"), ("eyeBlink_r", "eyeBlinkRight"),
    ("eyeBlink.L", "eyeBlinkLeft"), ("eyeBlink.R", "eyeBlinkRight"),
    ("eyeBlink.l", "eyeBlinkLeft"), ("eyeBlinkL", "eyeBlinkLeft"),
    ("eyeBlink_Left", "eyeBlinkLeft"), ("eyeBlink.Right", "eyeBlinkRight"),
    ("browDown_L", "browDownLeft"), ("noseSneer_R", "noseSneerRight"),
    # names whose Left/Right is the motion, not a side
    ("jawLeft", "jawLeft"), ("Jaw_L", "jawLeft"), ("jaw.R", "jawRight"),
    ("mouthRight", "mouthRight"), ("Mouth_L", "mouthLeft"),
    # no side
    ("jawOpen", "jawOpen"), ("JawOpen", "jawOpen"), ("jaw_open", "jawOpen"),
    ("mouthClose", "mouthClose"), ("tongue_out", "tongueOut"),
    # ICT's split halves belong to the set
    ("browInnerUp_L", "browInnerUpLeft"), ("cheekPuff_R", "cheekPuffRight"),
    ("browInnerUp", "browInnerUp"),
    # prefixes: Character Creator, Reallusion's ARKit profile, Daz, namespaces, objects
    ("CC_Jaw_Open", "jawOpen"), ("CC_Base_Body.jawOpen", "jawOpen"),
    ("A01_Brow_Inner_Up", "browInnerUp"), ("A02_Brow_Down_Left", "browDownLeft"),
    ("A25_Jaw_Open", "jawOpen"), ("A37_Mouth_Close", "mouthClose"),
    ("facs_bs_EyeBlinkLeft", "eyeBlinkLeft"), ("facs_jnt_JawOpen", "jawOpen"),
    ("Head:jawOpen", "jawOpen"), ("Genesis9.mouthSmile_L", "mouthSmileLeft"),
])
def test_arkit_spellings(name: str, canonical: str) -> None:
    assert canonical_name(name) == ("ARKIT", canonical)


@pytest.mark.parametrize(("name", "canonical"), [
    *((f"viseme_{s}", f"viseme_{s}") for s in VISEME_SOUNDS),
    ("viseme_ih", "viseme_I"), ("viseme_oh", "viseme_O"), ("viseme_ou", "viseme_U"),
    ("viseme_ee", "viseme_E"), ("VISEME_PP", "viseme_PP"), ("Viseme_Aa", "viseme_aa"),
    ("v_aa", "viseme_aa"), ("vrc.v_ih", "viseme_I"), ("V_Oh", "viseme_O"),
    ("Body.viseme_sil", "viseme_sil"), ("vrc.v_kk", "viseme_kk"),
])
def test_viseme_spellings(name: str, canonical: str) -> None:
    assert canonical_name(name) == ("VISEMES", canonical)


@pytest.mark.parametrize(("name", "canonical"), [
    ("A", "A"), ("I", "I"), ("U", "U"), ("E", "E"), ("O", "O"), ("Blink", "Blink"),
    ("Blink_L", "Blink_L"), ("Blink_R", "Blink_R"),
    # VRM 1.0
    ("aa", "A"), ("ih", "I"), ("ou", "U"), ("ee", "E"), ("oh", "O"), ("blink", "Blink"),
    ("blinkLeft", "Blink_L"), ("blinkRight", "Blink_R"),
    # VRoid, MMD
    ("Fcl_MTH_A", "A"), ("Fcl_MTH_O", "O"), ("Fcl_EYE_Close", "Blink"),
    ("Fcl_EYE_Close_R", "Blink_R"), ("あ", "A"), ("お", "O"), ("まばたき", "Blink"),
])
def test_vrm_spellings(name: str, canonical: str) -> None:
    assert canonical_name(name) == ("VRM", canonical)


@pytest.mark.parametrize("name", ["Basis", "Key 1", "Smile_Big", "jawOpenWide", "mouthSmile",
                                  "eyeBlink", "viseme_XX", "Fcl_MTH_Joy", "L", ""])
def test_other_names_belong_to_no_set(name: str) -> None:
    assert canonical_name(name) is None


def test_each_set_from_its_own_names() -> None:
    assert matched(["Basis", *VISEMES_15]).rig_set == "VISEMES"
    vrm = matched(["Basis", "aa", "ih", "ou", "ee", "oh", "blink"])
    assert vrm.rig_set == "VRM" and vrm.canonical == ["A", "I", "U", "E", "O", "Blink"]
    vroid = matched(["Fcl_ALL_Neutral", "Fcl_MTH_A", "Fcl_MTH_I", "Fcl_MTH_U", "Fcl_MTH_E",
                     "Fcl_MTH_O", "Fcl_EYE_Close", "Fcl_MTH_Joy"])
    assert vroid.rig_set == "VRM" and "Fcl_MTH_Joy" not in vroid.key_names
    cc = matched([f"CC_{n[0].upper()}{n[1:]}" for n in ARKIT_52])
    assert cc.rig_set == "ARKIT" and len(cc.key_names) == 52


def test_ict_names_are_arkit_with_split_halves(ict_npz: Path) -> None:
    names = [str(n) for n in np.load(ict_npz)["expression_names"]]
    m = matched(names)
    assert m.rig_set == "ARKIT" and len(m.key_names) == 53
    assert sorted(m.key_names) == sorted(names)
    assert m.canonical[m.key_names.index("browInnerUp_L")] == "browInnerUpLeft"
    assert m.canonical[m.key_names.index("jawOpen")] == "jawOpen"
    assert m.missing == ["tongueOut"]


def test_the_set_with_more_keys_wins_and_only_its_names_are_keyed() -> None:
    both = ["Basis", *ARKIT_52, *VISEMES_15, "Smile_Big", "A"]
    m = matched(both)
    assert m.rig_set == "ARKIT" and m.key_names == list(ARKIT_52)
    vis = matched(["Basis", *VISEMES_15, "aa", "oh", "jawOpen"])  # visemes beat VRM and ARKit
    assert vis.rig_set == "VISEMES" and vis.key_names == list(VISEMES_15)
    # A set that lacks its mouth is passed over for one that has it.
    assert matched(["eyeBlinkLeft", "eyeBlinkRight", "browInnerUp", "A", "I"]).rig_set == "VRM"


@pytest.mark.parametrize(("names", "words"), [
    ([n for n in ARKIT_52 if n != "jawOpen"], ["51 ARKit shape keys", "no jawOpen"]),
    ([n for n in VISEMES_15 if n != "viseme_aa"], ["14 Oculus viseme", "no viseme_aa"]),
    ([n for n in VISEMES_15 if n not in ("viseme_aa", "viseme_PP")],
     ["no viseme_aa and viseme_PP"]),
    (["I", "U", "E", "O", "Blink"], ["5 VRM shape keys", "no A"]),
])
def test_a_partial_rig_is_one_sentence(names: list[str], words: list[str]) -> None:
    m = match_rig(names)
    assert isinstance(m, str) and m.endswith(".") and m.count(". ") == 0
    for w in words:
        assert w in m
    assert "rig map" in m


def test_no_rig_is_one_sentence() -> None:
    m = match_rig(["Basis", "Key 1", "Smile"])
    assert isinstance(m, str) and m.startswith("No ARKit, viseme or VRM shape keys")
    assert isinstance(match_rig([]), str)


def test_the_plainer_of_two_spellings_is_keyed_and_the_other_noted() -> None:
    m = matched(["CC_Base_jawOpen", "jawOpen", "jaw_open"])
    assert m.key_names == ["jawOpen"]
    assert len(m.notes) == 2 and all("'jawOpen' is keyed" in n for n in m.notes)


def test_a_user_map_overrides_and_extends() -> None:
    names = ["Basis", *(n for n in ARKIT_52 if n != "jawOpen"), "MouthOpenBig", "jawOpen"]
    m = matched(names, {"jawOpen": "MouthOpenBig", "tongueOut": ""})
    assert m.key_names[m.canonical.index("jawOpen")] == "MouthOpenBig"
    assert "jawOpen" not in m.key_names  # the recognised key gave way to the mapped one
    assert "tongueOut" not in m.canonical  # an empty name leaves a shape unkeyed
    # A map completes a rig that lacks its mouth, in any spelling of the set's names.
    partial = [n for n in ARKIT_52 if n != "jawOpen"] + ["OpenWide"]
    assert isinstance(match_rig(partial), str)
    fixed = matched(partial, {"JAW_OPEN": "OpenWide"})
    assert fixed.key_names[fixed.canonical.index("jawOpen")] == "OpenWide"
    # A map decides the set, even against a larger recognised one.
    forced = matched([*ARKIT_52, "Mouth_A"], {"A": "Mouth_A"})
    assert forced.rig_set == "VRM" and forced.key_names == ["Mouth_A"]
    # A map's key is taken from the shape it was recognised as.
    moved = matched([*ARKIT_52], {"jawOpen": "mouthClose"})
    assert moved.key_names[moved.canonical.index("jawOpen")] == "mouthClose"
    assert "mouthClose" not in moved.canonical


@pytest.mark.parametrize(("user_map", "words"), [
    ({"jawOpn": "X"}, "names 'jawOpn', which is not an ARKit, viseme or VRM shape name"),
    ({"jawOpen": "Nope"}, "maps jawOpen to 'Nope', which is not a shape key of this mesh"),
    ({"jawOpen": "jawOpen", "viseme_aa": "jawOpen"}, "mixes shape names of different rigs"),
    ({"jawOpen": "jawOpen", "jaw_open": "jawOpen"}, "names jawOpen twice"),
    ({"jawOpen": 3}, "must map a shape name to the name of a shape key"),
])
def test_a_bad_user_map_is_one_sentence(user_map: dict[str, str], words: str) -> None:
    m = match_rig(list(ARKIT_52), user_map)
    assert isinstance(m, str) and words in m and m.endswith(".")


def test_rig_map_files(tmp_path: Path) -> None:
    good = tmp_path / "map.json"
    good.write_text(json.dumps({"jawOpen": "Mouth_Open", "tongueOut": None}), encoding="utf-8")
    assert load_rig_map(good) == {"jawOpen": "Mouth_Open", "tongueOut": ""}
    for text, words in (("{not json", "is not valid JSON"), ("[1, 2]", "one JSON object"),
                        ('{"jawOpen": 1}', "one JSON object")):
        bad = tmp_path / "bad.json"
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(BakeError, match=words):
            load_rig_map(bad)
    with pytest.raises(BakeError, match="cannot be read"):
        load_rig_map(tmp_path / "missing.json")
