"""A copy of the package with one more bake option declared, and nothing else changed.

Issue 16 asks that a new option be one declaration: the tests that prove it edit a copy of the
package exactly once, here, and look for the option on every surface (imported by name: pytest
puts tests/ on sys.path).
"""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "jaw_s2l"
ANCHOR = ('    """The user\'s choices that do not name Blender data (object, strip, take live '
          'beside them)."""\n\n')
DECLARATION = '''    jaw_strength: float = Option(
        1.0, "Jaw Strength", "How far the jaw opens on open vowels", min=0.0, max=2.0,
        soft_max=1.5, subtype="FACTOR", panel=35, flag="--jaw-strength", column="jaw",
    ).as_field()
'''


def package_with_jaw_strength(tmp_path: Path) -> Path:
    """The folder holding `jaw_s2l`: the package plus a float option jaw_strength."""
    where = tmp_path / "packages"
    copy = where / PACKAGE
    shutil.copytree(ROOT / "blender_s2l", copy,
                    ignore=shutil.ignore_patterns("training", "weights", "__pycache__"))
    table = copy / "core" / "bake" / "settings.py"
    text = table.read_text()
    assert text.count(ANCHOR) == 1, "the BakeSettings docstring moved: update ANCHOR"
    table.write_text(text.replace(ANCHOR, ANCHOR + DECLARATION))
    changed = [p for p in copy.rglob("*.py")
               if p.read_bytes() != (ROOT / "blender_s2l" / p.relative_to(copy)).read_bytes()]
    assert changed == [table]
    return where
