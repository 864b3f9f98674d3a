"""scripts/render_gallery.py: frame choice, the z-buffer renderer, and a small end-to-end run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from numpy.typing import NDArray
from script_helpers import load_script

gallery = load_script("render_gallery")  # puts scripts/ on sys.path for mesh_raster
raster = load_script("mesh_raster")


def _square(
    x0: float, x1: float, y0: float, y1: float, z: float
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    v = np.array([[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]], dtype=np.float64)
    return v, np.array([[0, 1, 2], [0, 2, 3]], dtype=np.int64)  # counter-clockwise from +Z


def test_pick_frames_takes_peaks_and_troughs_apart() -> None:
    t = np.arange(120)
    gap = 0.5 + 0.5 * np.sin(2 * np.pi * t / 40.0)  # peaks at 10, 50, 90; troughs at 30, 70, 110
    speaking = np.ones(len(t), dtype=bool)
    speaking[100:] = False  # the last trough is in a pause: not a "closed" frame
    picks = gallery.pick_frames(gap, speaking, 4, min_sep=5)
    assert [f for f, _ in picks] == sorted(f for f, _ in picks)
    opened = sorted(f for f, w in picks if w == "open")
    closed = sorted(f for f, w in picks if w == "closed")
    assert len(opened) == 2 and len(closed) == 2
    assert all(gap[f] > 0.99 for f in opened)
    assert closed == [30, 70]


def test_speaking_frames_exclude_long_silence() -> None:
    sr = 16_000
    wav = np.zeros(3 * sr, dtype=np.float32)
    t = np.arange(sr) / sr
    wav[sr : 2 * sr] = 0.3 * np.sin(2 * np.pi * 200 * t)  # voice from 1 s to 2 s
    times = np.array([0.3, 1.1, 1.5, 1.9, 2.6])
    assert gallery.speaking_frames(wav, times).tolist() == [False, True, True, True, False]


def test_render_depth_order_and_back_faces() -> None:
    far_v, far_f = _square(-10, 10, -10, 10, z=0.0)
    near_v, near_f = _square(-5, 5, -5, 5, z=5.0)
    verts = np.concatenate([far_v, near_v])
    tris = np.concatenate([far_f, near_f + 4])
    colours = np.array([[0.0, 0.0, 1.0]] * 4 + [[1.0, 0.0, 0.0]] * 4)
    box = (-20.0, 20.0, -20.0, 20.0)
    # The near (red) square is drawn first: only the depth test puts it in front.
    img = raster.render(verts, tris[::-1].copy(), box, 40, colours=colours)
    assert img.shape == (40, 40, 3)
    centre, ring, corner = img[20, 20], img[20, 12], img[1, 1]
    assert centre[0] > 0.5 and centre[2] < 0.1  # near square wins
    assert ring[2] > 0.5 and ring[0] < 0.1  # far square around it
    np.testing.assert_allclose(corner, raster.BACKGROUND)  # outside both
    # Wound the other way the square is seen from behind: the dark inside colour.
    back = raster.render(far_v, far_f[:, ::-1].copy(), box, 40)
    lam = abs(float(raster.LIGHT[2]))
    np.testing.assert_allclose(back[20, 20], raster.INSIDE * (0.55 + 0.45 * lam), atol=1e-6)
    assert raster.facing_sign(far_v, far_f[:, ::-1], np.zeros((1, 3))) == -1.0


def test_render_edges_darken_only_near_edges() -> None:
    v, f = _square(-10, 10, -10, 10, z=0.0)
    box = (-10.0, 10.0, -10.0, 10.0)
    plain = raster.render(v, f, box, 64)
    wire = raster.render(v, f, box, 64, edges=True)
    diagonal = [(i, i) for i in range(8, 56, 4)]  # the shared edge of the two triangles
    assert all(wire[63 - y, x].sum() < plain[63 - y, x].sum() - 0.1 for x, y in diagonal)
    np.testing.assert_allclose(wire[10, 50], plain[10, 50])  # away from every edge


def test_script_end_to_end_with_random_weights(random_weights_dir: Path, tmp_path: Path) -> None:
    sr = 16_000
    t = np.arange(int(1.6 * sr)) / sr
    env = np.clip(np.sin(2 * np.pi * 2.5 * t), 0, None) ** 2
    wav = (0.3 * env * np.sin(2 * np.pi * 150 * t)).astype(np.float32)
    audio = tmp_path / "clip.wav"
    sf.write(audio, wav, sr)
    out = tmp_path / "img" / "three_heads.png"
    rc = gallery.main([
        "--audio", str(audio), "--out", str(out), "--weights", str(random_weights_dir),
        "--frames", "2", "--skip-ict", "--demo-vertices", "3000", "--remesh-vertices", "2000",
        "--scale", "0.5",
    ])
    assert rc == 0
    closeup = out.with_name("demo_head_closeup.png")
    import matplotlib.image as mpimg

    for png in (out, closeup):
        img = mpimg.imread(png)[..., :3]
        assert img.shape[0] > 150 and img.shape[1] > 400
        skin = np.all(np.abs(img - raster.SKIN * 0.9) < 0.15, axis=-1)
        assert skin.mean() > 0.02, f"{png.name} shows no lit skin"


def test_bad_audio_is_one_line(random_weights_dir: Path, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    rc = gallery.main(["--audio", str(tmp_path / "missing.wav"), "--out",
                       str(tmp_path / "x.png"), "--weights", str(random_weights_dir),
                       "--skip-ict", "--demo-vertices", "3000", "--remesh-vertices", "2000"])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err


@pytest.mark.shared
def test_inner_parts_picture(ict_npz: Path, tmp_path: Path) -> None:
    """scripts/render_inner_parts.py draws the three rows with teeth in them (needs ICT)."""
    inner = load_script("render_inner_parts")
    out = tmp_path / "inner.png"
    assert inner.main(["--out", str(out), "--width", "120"]) == 0
    import matplotlib.image as mpimg

    img = mpimg.imread(out)[..., :3]
    teeth = np.all(np.abs(img - raster.TEETH) < 0.12, axis=-1)
    assert img.shape[0] > 200 and teeth.sum() > 50


@pytest.mark.shared
def test_lip_contact_picture(ict_npz: Path, speech_dir: Path, tmp_path: Path) -> None:
    """scripts/render_lip_contact.py draws four heads x four shots, with the mouth's inside
    showing on the parted neutrals and the open vowels (needs ICT and the ARCTIC clip)."""
    picture = load_script("render_lip_contact")
    out = tmp_path / "lips.png"
    assert picture.main(["--out", str(out), "--width", "100"]) == 0
    import matplotlib.image as mpimg

    img = mpimg.imread(out)[..., :3]
    dark = np.all(np.abs(img - raster.MOUTH) < 0.12, axis=-1)
    teeth = np.all(np.abs(img - raster.TEETH) < 0.12, axis=-1)
    assert img.shape[0] > 300 and dark.sum() > 20 and teeth.sum() > 50
