"""The lip-closure test panel: every head well formed, the neutral gaps span shut to 5 mm apart,
the made-up heads hit their gaps, and units/orientation change nothing in real mm (needs
../shared/data; skips without it)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from blender_s2l.core.head.mesh import closest_on_triangles, triangulate
from blender_s2l.training.head_panel import (
    POOL_SIZE,
    PanelHead,
    head_panel,
    inner_lip_gaps_mm,
    seed_of,
)
from blender_s2l.training.s2d.data import EVAL_ID_SEED0

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def panel(ict_npz: Path) -> list[PanelHead]:
    from blender_s2l.training.ict import load_ict

    return head_panel(load_ict(str(ict_npz)))


def by_name(panel: list[PanelHead]) -> dict[str, PanelHead]:
    return {h.name: h for h in panel}


def spanning(panel: list[PanelHead]) -> list[PanelHead]:
    return [h for h in panel if re.fullmatch(r"ict-\d+", h.name)]


def test_heads_are_well_formed(panel: list[PanelHead]) -> None:
    assert len({h.name for h in panel}) == len(panel)
    for h in panel:
        v, f = h.vertices, h.faces
        assert v.dtype == np.float64 and v.ndim == 2 and v.shape[1] == 3, h.name
        assert np.isfinite(v).all() and not v.flags.writeable, h.name
        assert f.shape[1] in (3, 4) and f[:, :3].min() >= 0 and f.max() < len(v), h.name
        lm = h.landmarks68
        if lm.ndim == 1:
            assert lm.shape == (68,) and len(set(lm.tolist())) == 68 and lm.max() < len(v)
        else:
            assert lm.shape == (68, 3) and lm.dtype == np.float64
        assert np.linalg.norm(h.up) == pytest.approx(1.0)
        gaps = inner_lip_gaps_mm(v, lm, h.mm_per_unit, h.up)
        assert h.neutral_gap_mm == pytest.approx(float(gaps.mean()), abs=1e-9)
        # A wrong mm_per_unit shows up as an absurd mouth.
        assert 35.0 < h.mouth_width_mm < 70.0, (h.name, h.mouth_width_mm)


def test_held_out_identities_span_the_neutral_gap(panel: list[PanelHead]) -> None:
    heads = spanning(panel)
    assert len(heads) >= 8
    for h in heads:
        seed = seed_of(h.name)
        assert seed is not None and EVAL_ID_SEED0 <= seed < EVAL_ID_SEED0 + POOL_SIZE
        assert h.pair_gaps_mm.min() >= 0.0, h.name  # crossed lips are the bad-input head only
    gaps = sorted(h.neutral_gap_mm for h in heads)
    assert gaps[0] < 0.3 and gaps[-1] > 3.0
    assert np.diff(gaps).max() < 0.8  # no hole in the range
    crossed = [h for h in panel if h.name.startswith("ict-crossed-")]
    assert len(crossed) == 1
    assert crossed[0].neutral_gap_mm < -1.0
    assert seed_of(crossed[0].name) not in {seed_of(h.name) for h in heads}


def test_gaps_span_shut_to_five_mm(panel: list[PanelHead]) -> None:
    gaps = [h.neutral_gap_mm for h in panel if "crossed" not in h.name]
    assert min(gaps) <= 0.05 and max(gaps) >= 4.8


def test_sealed_and_apart(panel: list[PanelHead]) -> None:
    heads = by_name(panel)
    sealed = heads["ict-sealed"].pair_gaps_mm
    assert (sealed >= 0.0).all() and (sealed <= 0.05).all(), sealed
    assert heads["ict-apart5"].neutral_gap_mm == pytest.approx(5.0, abs=0.2)


def test_retopo_landmarks_are_points_on_its_surface(panel: list[PanelHead]) -> None:
    h = by_name(panel)["ict-retopo"]
    mean = by_name(panel)["ict-mean"]
    assert h.landmarks68.shape == (68, 3) and h.landmarks68.dtype == np.float64
    assert len(h.vertices) != len(mean.vertices)
    tri = triangulate(h.faces)
    a, b, c = (h.vertices[tri[:, i]] for i in range(3))
    for p in h.landmarks68:
        hits = closest_on_triangles(np.repeat(p[None], len(tri), axis=0), a, b, c)
        assert np.linalg.norm(hits - p, axis=1).min() * h.mm_per_unit < 1e-6
    moved = np.linalg.norm(h.landmarks68 - mean.landmark_points, axis=1) * h.mm_per_unit
    assert moved.max() < 1.5


def test_units_and_orientation_keep_the_gap(panel: list[PanelHead]) -> None:
    heads = by_name(panel)
    variants = [h for h in panel if re.fullmatch(r"ict-\d+-.+", h.name)]
    assert len(variants) >= 2
    frames = set()
    for h in variants:
        src = heads[f"ict-{seed_of(h.name)}"]
        assert h.neutral_gap_mm == pytest.approx(src.neutral_gap_mm, abs=1e-6)
        assert np.allclose(h.pair_gaps_mm, src.pair_gaps_mm, atol=1e-6)
        assert h.mouth_width_mm == pytest.approx(src.mouth_width_mm, abs=1e-6)
        assert h.mm_per_unit != src.mm_per_unit and not np.allclose(h.up, src.up)
        frames.add((h.mm_per_unit, tuple(np.round(h.up, 6))))
    assert len(frames) == len(variants)
    blender = next(h for h in variants if h.mm_per_unit == 1000.0)
    assert np.allclose(blender.up, [0.0, 0.0, 1.0])


def test_deterministic(panel: list[PanelHead], ict_npz: Path) -> None:
    from blender_s2l.training.ict import load_ict

    again = head_panel(load_ict(str(ict_npz)))
    assert [h.name for h in again] == [h.name for h in panel]
    for a, b in zip(panel, again, strict=True):
        for field in ("vertices", "faces", "landmarks68", "up"):
            assert np.array_equal(getattr(a, field), getattr(b, field)), (a.name, field)
        assert (a.mm_per_unit, a.neutral_gap_mm, a.note) == (b.mm_per_unit, b.neutral_gap_mm,
                                                             b.note)
