"""BakeSettings is the one list of bake choices; settings_of copies them off anything."""

from __future__ import annotations

from types import SimpleNamespace

from blender_s2l.core.bake.settings import BakeSettings, settings_of


def test_settings_of_copies_only_known_fields_and_builds_settings_back() -> None:
    op = SimpleNamespace(mode="PER_FRAME", seed=7, lip_closure=0.3, object_name="Head")
    got = settings_of(op)
    assert got == {"mode": "PER_FRAME", "seed": 7, "lip_closure": 0.3}
    s = BakeSettings(**got)
    assert s.mode == "PER_FRAME" and s.seed == 7 and s.lip_closure == 0.3
    assert s.device == BakeSettings().device  # absent fields keep their defaults
    assert settings_of(s) == {k: getattr(s, k) for k in BakeSettings.__dataclass_fields__}
