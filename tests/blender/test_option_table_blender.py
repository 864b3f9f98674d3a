"""One declaration of a new bake option reaches the panel, its properties and the operator.

The package is copied with jaw_strength declared in its table and nothing else changed
(option_helpers), then registered in a Blender of its own: the test session already has the
installed add-on's operator under the same name.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from option_helpers import PACKAGE, package_with_jaw_strength

SCRIPT = """
import json, sys
from types import SimpleNamespace
sys.path.insert(0, {where!r})
import bpy
import {pkg} as pkg
from {pkg}.blender import operators, panel
from {pkg}.blender.props import S2LSettings

pkg.register()
found = {{}}
for surface, props in (("scene", S2LSettings.bl_rna.properties),
                       ("operator", bpy.ops.s2l.bake.get_rna_type().properties)):
    p = props["jaw_strength"]
    found[surface] = [p.type, p.name, p.description, p.default, p.hard_min, p.hard_max,
                      p.soft_max, p.subtype]
settings = bpy.context.scene.s2l
settings.jaw_strength = 1.75
op = SimpleNamespace()
panel.copy_to_operator(settings, op)
found["copied"] = op.jaw_strength
log = []

class Layout:
    enabled, scale_y = True, 1.0
    def _child(self, *a, **k):
        return Layout()
    column = row = box = _child
    def separator(self, **k):
        pass
    def label(self, text="", **k):
        pass
    def prop(self, data, name, **k):
        log.append(name)
    def operator(self, *a, **k):
        return SimpleNamespace()

panel.VIEW3D_PT_s2l.draw(SimpleNamespace(layout=Layout()), bpy.context)
found["drawn"] = log
given = SimpleNamespace(object_name="Head", strip_name="", strip_scene="", jaw_strength=0.25,
                        properties=SimpleNamespace(is_property_set=lambda name: True))
found["params"] = operators.params_from(given, bpy.context).jaw_strength
print(json.dumps(found))
"""


def test_a_new_option_is_one_declaration_blender_surfaces(tmp_path: Path) -> None:
    where = package_with_jaw_strength(tmp_path)
    code = SCRIPT.format(where=str(where), pkg=PACKAGE)
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    declared = ["FLOAT", "Jaw Strength", "How far the jaw opens on open vowels", 1.0, 0.0, 2.0,
                1.5, "FACTOR"]
    assert found["scene"] == found["operator"] == declared
    assert found["copied"] == 1.75
    drawn = found["drawn"]
    assert drawn.index("jaw_strength") == drawn.index("mouth_strength") + 1
    assert found["params"] == 0.25
