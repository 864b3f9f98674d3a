"""The numpy runtime: the same numbers as the torch modules CUDA builds from the same .npz, safe
loading, one sentence for a folder of .pt files only, and a bake path that never imports torch."""

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
from blender_s2l.core.errors import DeviceError, WeightsError
from blender_s2l.core.models import load as model_load
from blender_s2l.core.models.load import BUNDLED_DIR, load_model, to_torch, weights_file
from blender_s2l.core.models.npz_weights import REEXPORT
from blender_s2l.core.models.numpy_nets import (
    NumpyS2D,
    NumpyS2L,
    load_numpy_s2d,
    load_numpy_s2l,
    s2d_shapes,
    s2l_shapes,
    save_numpy,
)
from blender_s2l.core.models.runners import TorchS2D, TorchS2L
from blender_s2l.core.models.s2d import random_s2d
from blender_s2l.core.models.s2l import S2L, S2LConfig
from blender_s2l.demo_head.make import make_demo_head
from blender_s2l.training.__main__ import main as training_main
from blender_s2l.training.checkpoint import CHECKPOINT_DIR
from blender_s2l.training.export_numpy import numpy_mismatches, state_arrays

ROOT = Path(__file__).resolve().parents[2]


def _same_state(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return set(sa) == set(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize(("closure_head", "n_acoustic"), [(True, 0), (False, 0), (True, 42)])
@pytest.mark.parametrize("frames", [5, 40, 301])
def test_numpy_s2l_equals_the_torch_module_of_the_same_npz(closure_head: bool, n_acoustic: int,
                                                           frames: int, tmp_path: Path) -> None:
    torch.manual_seed(3)
    model = S2L(S2LConfig(channels=24, dilations=[1, 2, 4, 8, 16], closure_head=closure_head,
                          n_acoustic=n_acoustic))
    with torch.no_grad():  # non-trivial normalisation, so those arrays are exercised too
        model.feat_mean.normal_(0, 1)
        model.feat_std.uniform_(0.5, 2.0)
    model.eval()
    assert set(state_arrays(model)) == set(s2l_shapes(model.config))
    path = tmp_path / "s2l.npz"  # the export, then both engines from that one file
    save_numpy(path, NumpyS2L(model.config, state_arrays(model)), {})
    net = load_numpy_s2l(path)
    runner = to_torch(net, "cpu")
    assert isinstance(runner, TorchS2L) and _same_state(runner.model, model)
    mel = np.random.default_rng(frames).normal(0, 2, (frames, 80 + n_acoustic)).astype(
        np.float32)
    disp, logit = net.predict(mel)
    t_disp, t_logit = runner.predict(mel)
    assert disp.shape == (frames, 68, 3) and disp.dtype == np.float32
    assert np.allclose(disp, t_disp, atol=2e-5)
    if closure_head:
        assert logit is not None and t_logit is not None
        assert np.allclose(logit, t_logit, atol=2e-5)
    else:
        assert logit is None and t_logit is None


def test_numpy_s2d_equals_the_torch_module_of_the_same_npz_and_is_still_at_rest(
        tmp_path: Path) -> None:
    model = random_s2d(seed=4, basis_layers=2)
    arrays = state_arrays(model)
    assert {k: v.shape for k, v in arrays.items()} == s2d_shapes(model.config)
    path = tmp_path / "s2d.npz"
    save_numpy(path, NumpyS2D(model.config, arrays), {})
    net = load_numpy_s2d(path)
    runner = to_torch(net, "cpu")
    assert isinstance(runner, TorchS2D) and _same_state(runner.model, model)
    rng = np.random.default_rng(0)
    feats = rng.normal(0, 1, (500, model.config.feature_dim)).astype(np.float32)
    lm = rng.normal(0, 3, (7, 68, 3)).astype(np.float32)
    assert np.allclose(net.mesh_basis(feats), runner.mesh_basis(feats), atol=1e-4)
    assert np.allclose(net.codes(lm), runner.codes(lm), atol=1e-5)
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
    assert numpy_mismatches(CHECKPOINT_DIR, BUNDLED_DIR) == []
    assert not list(BUNDLED_DIR.glob("*.pt"))  # checkpoints are training files, never shipped


def test_bundled_networks_agree_on_both_engines() -> None:
    """What CUDA runs (torch modules built from the bundled .npz) against what the CPU runs."""
    net = load_model("s2l", "cpu")
    assert isinstance(net, NumpyS2L)
    frames = np.random.default_rng(8).normal(0, 2, (240, net.config.n_inputs)).astype(np.float32)
    (disp, logit), (t_disp, t_logit) = net.predict(frames), to_torch(net).predict(frames)
    assert logit is not None and t_logit is not None
    assert np.allclose(disp, t_disp, atol=1e-4) and np.allclose(logit, t_logit, atol=1e-4)
    s2d = load_model("s2d", "auto")
    assert isinstance(s2d, NumpyS2D)
    lm = np.random.default_rng(9).normal(0, 3, (5, 68, 3)).astype(np.float32)
    assert np.allclose(s2d.codes(lm), to_torch(s2d).codes(lm), atol=1e-4)


def _copy_weights(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_damaged_numpy_weights_are_one_sentence_errors(random_weights_dir: Path,
                                                       tmp_path: Path) -> None:
    good = weights_file("s2l", random_weights_dir)
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


def test_animator_runs_numpy_on_cpu_and_torch_from_the_same_npz_on_cuda(
        random_weights_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CUDA path, end to end, on the CPU: the only difference is where the modules live."""
    head = make_demo_head(target_vertices=3000)
    t = np.arange(16000) / 16000
    wav = (0.3 * np.clip(np.sin(2 * np.pi * 3 * t), 0, None) ** 2
           * np.sin(2 * np.pi * 170 * t)).astype(np.float32)
    numpy_anim = Animator.load(device="cpu", weights_dir=random_weights_dir)
    assert isinstance(numpy_anim.s2l, NumpyS2L) and isinstance(numpy_anim.s2d, NumpyS2D)
    assert isinstance(Animator.load(device="auto", weights_dir=random_weights_dir).s2l, NumpyS2L)
    monkeypatch.setattr(model_load, "resolve_device", lambda choice: torch.device("cpu"))
    torch_anim = Animator.load(device="cuda", weights_dir=random_weights_dir)
    assert isinstance(torch_anim.s2l, TorchS2L) and isinstance(torch_anim.s2d, TorchS2D)
    assert next(torch_anim.s2l.model.parameters()).device == torch.device("cpu")
    args = (wav, head.vertices, head.faces, head.landmark_vertices)
    # Exactly equal at the tuned sensitivity. At the default, these random weights' flat closure
    # head saturates into one clip-long pause with the lips exactly at their rest opening, where
    # float rounding alone decides which frames count as closed: the landmarks still agree, the
    # mesh's lip contact within 0.05 mm (a trained head is never flat at that edge).
    a = numpy_anim.animate(*args, sample_rate=16000, seed=2, closure_sensitivity=0.5)
    b = torch_anim.animate(*args, sample_rate=16000, seed=2, closure_sensitivity=0.5)
    assert np.abs(a.dense).max() * a.mm_per_unit > 1e-3
    assert np.allclose(a.dense, b.dense, atol=1e-5 * max(1.0, float(np.abs(b.dense).max())))
    assert np.allclose(a.landmarks, b.landmarks, atol=1e-4)
    a = numpy_anim.animate(*args, sample_rate=16000, seed=2)
    b = torch_anim.animate(*args, sample_rate=16000, seed=2)
    assert np.allclose(a.landmarks, b.landmarks, atol=1e-4)
    assert np.allclose(a.dense, b.dense, rtol=0, atol=0.05 / a.mm_per_unit)


def test_a_folder_of_checkpoints_only_gets_the_command_that_exports_it(
        random_weights_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A weights folder from before the .npz runtime: one sentence, and its command works."""
    pt_only = _copy_weights(random_weights_dir, tmp_path / "pt_only")
    for kind in ("s2l", "s2d", "upper_face"):
        weights_file(kind, pt_only).unlink()
    assert sorted(p.suffix for p in pt_only.iterdir()) == [".npz", ".pt", ".pt", ".pt"]
    for device in ("auto", "cpu"):
        with pytest.raises(WeightsError) as info:
            Animator.load(device=device, weights_dir=pt_only)
        text = str(info.value)
        assert REEXPORT in text and str(pt_only) in text and "\n" not in text
    monkeypatch.setenv("BLENDER_S2L_WEIGHTS", str(pt_only))
    with pytest.raises(WeightsError, match="export-numpy --weights-dir"):
        load_model("s2l")
    assert training_main([*REEXPORT.split()[3:-1], str(pt_only)]) == 0
    assert numpy_mismatches(pt_only) == []
    assert isinstance(load_model("s2l"), NumpyS2L)


NO_TORCH = """
import sys
sys.modules["torch"] = None  # any `import torch` now raises ImportError
import numpy as np
from blender_s2l.core.animate import Animator
from blender_s2l.demo_head.make import make_demo_head
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
    for kind in ("s2l", "s2d", "upper_face", "jaw"):
        with pytest.raises(DeviceError, match="no usable CUDA GPU; choose CPU or Auto") as info:
            load_model(kind, "cuda", random_weights_dir)
        assert "\n" not in str(info.value)
    with pytest.raises(DeviceError, match="Unknown device"):
        load_model("s2l", "tpu")


def test_one_blas_thread_while_our_threads_work_then_back() -> None:
    """Inside one_blas_thread numpy's OpenBLAS runs on one thread (found here, in the wheel's
    own folder), nested or from several threads at once, and its count comes back after the
    last one leaves; a BLAS that cannot be found is left as it is."""
    import threading

    from blender_s2l.core.models import numpy_nets

    control = numpy_nets._blas_threads_control()
    assert control is not None  # the pinned numpy wheel carries OpenBLAS
    get = control[0]
    before = get()
    inside: list[int] = []
    release = threading.Event()

    def user() -> None:
        with numpy_nets.one_blas_thread():
            inside.append(get())
            release.wait(5)

    other = threading.Thread(target=user)
    other.start()
    with numpy_nets.one_blas_thread(), numpy_nets.one_blas_thread():
        inside.append(get())
    assert get() == 1  # the other thread is still inside
    release.set()
    other.join()
    assert inside == [1, 1] and get() == before


def test_without_a_known_blas_nothing_is_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    from blender_s2l.core.models import numpy_nets

    real = numpy_nets._blas_threads_control()
    assert real is not None
    before = real[0]()
    monkeypatch.setattr(numpy_nets, "_blas_threads_control", lambda: None)
    with numpy_nets.one_blas_thread():
        assert real[0]() == before
    assert real[0]() == before and numpy_nets._BLAS_USERS[0] == 0


def test_gelu_matches_the_erf_definition_everywhere() -> None:
    """The float32 polynomial erf against double-precision erf, from the far tails through zero
    (a signed zero and subnormals included): the network's activations, not an approximation
    of them."""
    from scipy.special import erf

    from blender_s2l.core.models import numpy_nets

    x = np.concatenate([np.linspace(-40, 40, 100001), [0.0, -0.0, 1e-40, -1e-40, 1e-8]])
    x = x.astype(np.float32).reshape(-1, 1)
    want = x.astype(np.float64) * 0.5 * (1.0 + erf(x.astype(np.float64) / np.sqrt(2.0)))
    got = numpy_nets.gelu(x.copy())
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
