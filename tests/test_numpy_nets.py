"""The numpy runtime: same numbers as the torch modules, safe loading, and a bake path that never
imports torch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from blender_s2l.core.animate import Animator
from blender_s2l.core.demo_head import make_demo_head
from blender_s2l.core.errors import DeviceError, WeightsError
from blender_s2l.core.models.numpy_nets import (
    NumpyS2D,
    NumpyS2L,
    load_numpy_s2d,
    load_numpy_s2l,
    s2d_shapes,
    s2l_shapes,
)
from blender_s2l.core.models.runners import TorchS2D, TorchS2L
from blender_s2l.core.models.s2d import random_s2d
from blender_s2l.core.models.s2l import S2L, S2LConfig
from blender_s2l.core.weights_path import BUNDLED_DIR, NUMPY_FILES
from blender_s2l.training.export_numpy import numpy_mismatches, state_arrays

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("closure_head", [True, False])
@pytest.mark.parametrize("frames", [5, 40, 301])
def test_numpy_s2l_equals_torch(closure_head: bool, frames: int) -> None:
    torch.manual_seed(3)
    model = S2L(S2LConfig(channels=24, dilations=[1, 2, 4, 8, 16], closure_head=closure_head))
    with torch.no_grad():  # non-trivial normalisation, so those arrays are exercised too
        model.feat_mean.normal_(0, 1)
        model.feat_std.uniform_(0.5, 2.0)
    model.eval()
    assert set(state_arrays(model)) == set(s2l_shapes(model.config))
    mel = np.random.default_rng(frames).normal(0, 2, (frames, 80)).astype(np.float32)
    disp, logit = NumpyS2L(model.config, state_arrays(model)).predict(mel)
    with torch.no_grad():
        t_disp, t_logit = model.predict(torch.from_numpy(mel)[None])
    assert disp.shape == (frames, 68, 3) and disp.dtype == np.float32
    assert np.allclose(disp, t_disp[0].numpy(), atol=2e-5)
    if closure_head:
        assert logit is not None and t_logit is not None
        assert np.allclose(logit, t_logit[0].numpy(), atol=2e-5)
    else:
        assert logit is None


def test_numpy_s2d_equals_torch_and_is_exactly_still_at_rest() -> None:
    model = random_s2d(seed=4, basis_layers=2)
    arrays = state_arrays(model)
    assert {k: v.shape for k, v in arrays.items()} == s2d_shapes(model.config)
    net = NumpyS2D(model.config, arrays)
    rng = np.random.default_rng(0)
    feats = rng.normal(0, 1, (500, model.config.feature_dim)).astype(np.float32)
    lm = rng.normal(0, 3, (7, 68, 3)).astype(np.float32)
    with torch.no_grad():
        basis = model.mesh_basis(torch.from_numpy(feats)).numpy()
        codes = model.codes(torch.from_numpy(lm)).numpy()
    assert np.allclose(net.mesh_basis(feats), basis, atol=1e-4)
    assert np.allclose(net.codes(lm), codes, atol=1e-5)
    assert np.array_equal(net.codes(np.zeros((2, 68, 3), np.float32)), np.zeros((2, 8)))
    with pytest.raises(ValueError):
        net.codes(np.zeros((2, 10, 3), np.float32))


def test_threads_follow_omp_num_threads_and_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    from blender_s2l.core.models import numpy_nets

    x = np.random.default_rng(5).normal(0, 2, (3000, 128)).astype(np.float32)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert numpy_nets.worker_threads() == 1
    one = numpy_nets.gelu(x.copy())
    monkeypatch.setenv("OMP_NUM_THREADS", "junk")
    assert numpy_nets.worker_threads() == min(os.cpu_count() or 1, numpy_nets.MAX_THREADS)
    monkeypatch.setattr(numpy_nets.os, "cpu_count", lambda: 4)
    assert numpy_nets.worker_threads() == 4
    assert np.array_equal(numpy_nets.gelu(x.copy()), one)  # row blocks: the same numbers


def test_bundled_numpy_weights_are_the_bundled_checkpoints() -> None:
    """Run `python -m blender_s2l.training export-numpy` after changing a bundled .pt."""
    assert numpy_mismatches(BUNDLED_DIR) == []


def _copy_weights(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_damaged_numpy_weights_are_one_sentence_errors(random_weights_dir: Path,
                                                       tmp_path: Path) -> None:
    good = random_weights_dir / NUMPY_FILES["s2l"]
    assert isinstance(load_numpy_s2l(good), NumpyS2L)
    with np.load(good) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(str(arrays["__header__"][()]))

    def write(name: str, **changes: object) -> Path:
        path = tmp_path / name
        np.savez(path, **{**arrays, **changes})
        return path

    cut = tmp_path / "cut.npz"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"PK\x03\x04 this is not an archive")
    nan = arrays["inp.bias"].copy()
    nan[0] = np.nan
    newer = np.array(json.dumps({**header, "format_version": 99}))
    other_kind = np.array(json.dumps({**header, "kind": "s2d"}))
    cases = {
        "absent": tmp_path / "absent.npz",
        "cut": cut,
        "garbage": garbage,
        "no header": tmp_path / "no_header.npz",
        "wrong shape": write("shape.npz", **{"head.bias": np.zeros(3, np.float32)}),
        "nan": write("nan.npz", **{"inp.bias": nan}),
        "float64": write("f64.npz", **{"inp.bias": arrays["inp.bias"].astype(np.float64)}),
        "pickled": write("pickled.npz", **{"inp.bias": np.array([object()], dtype=object)}),
        "newer": write("newer.npz", __header__=newer),
        "other kind": write("kind.npz", __header__=other_kind),
        "extra array": write("extra.npz", surprise=np.zeros(2, np.float32)),
    }
    np.savez(cases["no header"], **{k: v for k, v in arrays.items() if k != "__header__"})
    for what, path in cases.items():
        with pytest.raises(WeightsError) as info:
            load_numpy_s2l(path)
        assert "\n" not in str(info.value), what
    with pytest.raises(WeightsError, match="'s2l' model"):
        load_numpy_s2d(good)


def test_animator_picks_numpy_on_cpu_and_torch_without_exports(random_weights_dir: Path,
                                                              tmp_path: Path) -> None:
    head = make_demo_head(target_vertices=3000)
    t = np.arange(16000) / 16000
    wav = (0.3 * np.clip(np.sin(2 * np.pi * 3 * t), 0, None) ** 2
           * np.sin(2 * np.pi * 170 * t)).astype(np.float32)
    numpy_anim = Animator.load(device="cpu", weights_dir=random_weights_dir)
    assert isinstance(numpy_anim.s2l, NumpyS2L) and isinstance(numpy_anim.s2d, NumpyS2D)
    assert isinstance(Animator.load(device="auto", weights_dir=random_weights_dir).s2l, NumpyS2L)
    pt_only = _copy_weights(random_weights_dir, tmp_path / "pt_only")
    for name in NUMPY_FILES.values():
        (pt_only / name).unlink()
    torch_anim = Animator.load(device="cpu", weights_dir=pt_only)
    assert isinstance(torch_anim.s2l, TorchS2L) and isinstance(torch_anim.s2d, TorchS2D)
    args = (wav, head.vertices, head.faces, head.landmark_vertices)
    a = numpy_anim.animate(*args, sample_rate=16000, seed=2)
    b = torch_anim.animate(*args, sample_rate=16000, seed=2)
    assert np.abs(a.dense).max() * a.mm_per_unit > 1e-3
    assert np.allclose(a.dense, b.dense, atol=1e-5 * max(1.0, float(np.abs(b.dense).max())))
    assert np.allclose(a.landmarks, b.landmarks, atol=1e-4)


NO_TORCH = """
import sys
sys.modules["torch"] = None  # any `import torch` now raises ImportError
import numpy as np
from blender_s2l.core.animate import Animator
from blender_s2l.core.demo_head import make_demo_head
from blender_s2l.core.errors import DeviceError
anim = Animator.load(device="auto")
head = make_demo_head(target_vertices=3000)
t = np.arange(24000) / 16000
wav = (0.3 * np.sin(2 * np.pi * 3 * t) ** 2 * np.sin(2 * np.pi * 170 * t)).astype(np.float32)
mo = anim.animate(wav, head.vertices, head.faces, head.landmark_vertices, sample_rate=16000)
assert np.isfinite(mo.dense).all() and np.abs(mo.dense).max() > 0
try:
    Animator.load(device="cuda")
except DeviceError as exc:
    print("cuda:", exc)
print("frames", mo.dense.shape[0])
"""


def test_bundled_weights_bake_without_torch() -> None:
    """What a Blender without torch in its Python does: bundled numpy weights, CPU."""
    proc = subprocess.run([sys.executable, "-c", NO_TORCH], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "frames 46" in proc.stdout
    assert "cuda: This needs torch" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_cuda_without_cuda_is_a_device_error(random_weights_dir: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(DeviceError):
        Animator.load(device="cuda", weights_dir=random_weights_dir)
