"""S2L and S2D forward passes in numpy, equal to the torch modules to float rounding.

Both networks are small (convolutions over 128 channels, MLPs over 256), so numpy's BLAS runs
them within 0.1-0.2 s per minute of speech of torch on the CPU (BENCHMARKS.md), and a bake then
needs neither torch installed in Blender's Python nor its 1.5 s import. Layouts are time-major
(T, C): a 1-D convolution is one matrix product per tap, shifted by its dilation.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, replace
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit

from ..errors import WeightsError
from ..head.landmarks import N_LANDMARKS
from ..head.mesh_features import FEATURE_DIM
from ..speech.acoustic import ACOUSTIC_CHANNELS
from ..speech.features import N_MELS
from .configs import S2DConfig, S2LConfig
from .npz_weights import NpzWeights, load_npz, save_npz

F32 = NDArray[np.float32]
LAYER_NORM_EPS = 1e-5  # torch.nn.LayerNorm's default
MAX_THREADS = 4
PARALLEL_MIN_VALUES = 1 << 18  # below this, starting threads costs more than it saves
_POOL: ThreadPoolExecutor | None = None


# erf(z) = 1 - poly(t) exp(-z^2), t = 1 / (1 + p z), for z >= 0 (Abramowitz and Stegun 7.1.26):
# within 1.5e-7 of erf, under float32's own rounding of the activations.
_ERF_P = np.float32(0.3275911)
_ERF_POLY = tuple(np.float32(c) for c in (1.061405429, -1.453152027, 1.421413741, -0.284496736,
                                           0.254829592))
_INV_SQRT2 = np.float32(1 / np.sqrt(2))


def _gelu_inplace(x: F32) -> None:
    """x * (1 + erf(x / sqrt 2)) / 2 in float32 passes: scipy's erf works element by element in
    double precision and was half of S2L's time (BENCHMARKS.md)."""
    z = np.abs(x)
    z *= _INV_SQRT2
    t = z * _ERF_P
    t += 1.0
    np.reciprocal(t, out=t)
    poly = t * _ERF_POLY[0]
    for c in _ERF_POLY[1:]:
        poly += c
        poly *= t
    z *= z
    np.negative(z, out=z)
    np.exp(z, out=z)
    poly *= z  # 1 - erf(|x| / sqrt 2)
    poly *= 0.5  # the factor (1 + erf) / 2 is 1 - poly / 2 above zero, poly / 2 below
    np.subtract(1.0, poly, out=poly, where=x >= 0)
    x *= poly


def _silu_inplace(x: F32) -> None:
    x *= expit(x)


def worker_threads() -> int:
    """Cores to use: a render farm that runs one Blender per core sets OMP_NUM_THREADS=1 (as
    for BLAS), and then the activations stay on one core too."""
    limit = os.environ.get("OMP_NUM_THREADS", "").strip()
    cap = int(limit) if limit.isdigit() and int(limit) > 0 else MAX_THREADS
    return max(1, min(os.cpu_count() or 1, MAX_THREADS, cap))


@cache
def _blas_threads_control() -> tuple[Callable[[], int], Callable[[int], None]] | None:
    """numpy's own OpenBLAS thread count (get, set), or None where it cannot be found (another
    BLAS, another layout): then nothing is changed. numpy wheels keep the library beside the
    package (numpy.libs on Linux and Windows, .libs or .dylibs inside it elsewhere); loading it
    again by path gives the copy numpy already loaded."""
    base = Path(np.__file__).parent
    for folder in (base.parent / "numpy.libs", base / ".libs", base / ".dylibs"):
        for path in sorted(folder.glob("*openblas*")) if folder.is_dir() else ():
            try:
                lib = ctypes.CDLL(str(path))
            except OSError:
                continue
            for suffix in ("64_", "_64", ""):
                get = getattr(lib, f"openblas_get_num_threads{suffix}", None)
                put = getattr(lib, f"openblas_set_num_threads{suffix}", None)
                if get is not None and put is not None:
                    get.restype, put.argtypes = ctypes.c_int, [ctypes.c_int]
                    return get, put
    return None


_BLAS_LOCK = threading.Lock()
_BLAS_USERS = [0, 0]  # [threads inside one_blas_thread, BLAS's count before the first]


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS on one thread while our own threads share the cores: each of them calling an
    OpenBLAS that starts a thread of its own puts twice as many threads as cores to work, and
    OpenBLAS's threads spin while they wait (BENCHMARKS.md: the phone scores). The count
    is put back when the last user leaves."""
    control = _blas_threads_control()
    if control is None:
        yield
        return
    get, put = control
    with _BLAS_LOCK:
        if _BLAS_USERS[0] == 0:
            _BLAS_USERS[1] = get()
            put(1)
        _BLAS_USERS[0] += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_USERS[0] -= 1
            if _BLAS_USERS[0] == 0:
                put(_BLAS_USERS[1])


def _in_parts(fn: Callable[[F32], None], x: F32) -> F32:
    """Apply an in-place elementwise fn over row blocks in threads: numpy's own elementwise
    loops use one core, and these activations are half of S2L's time."""
    n = worker_threads()
    if n < 2 or x.size < PARALLEL_MIN_VALUES:
        fn(x)
        return x
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(MAX_THREADS, thread_name_prefix="blender_s2l")
    bounds = np.linspace(0, len(x), n + 1).astype(int)
    list(_POOL.map(fn, [x[a:b] for a, b in pairwise(bounds)]))
    return x


def gelu(x: F32) -> F32:
    """The erf GELU, as torch.nn.functional.gelu computes it by default (to float32 rounding);
    in place."""
    return _in_parts(_gelu_inplace, x)


def silu(x: F32) -> F32:
    """x * sigmoid(x), in place."""
    return _in_parts(_silu_inplace, x)


def layer_norm(x: F32, weight: F32, bias: F32) -> F32:
    y: F32 = x - x.mean(axis=-1, keepdims=True)
    var = np.einsum("tc,tc->t", y, y)[:, None] / np.float32(x.shape[-1])
    y /= np.sqrt(var + np.float32(LAYER_NORM_EPS))
    y *= weight
    y += bias
    return y


def conv_taps(weight: F32) -> list[F32]:
    """(C_out, C_in, K) torch layout -> K contiguous (C_in, C_out) matrices: a strided slice
    would make numpy skip BLAS and run ten times slower."""
    return [np.ascontiguousarray(weight[:, :, j].T) for j in range(weight.shape[2])]


def conv1d(x: F32, taps: list[F32], bias: F32, dilation: int = 1) -> F32:
    """(T, C_in) -> (T, C_out), zero padding that keeps frames centred (odd kernel)."""
    t = x.shape[0]
    half = (len(taps) - 1) // 2
    out = x @ taps[half] + bias
    for j, tap in enumerate(taps):
        s = (j - half) * dilation  # out[t] += W_j x[t + s]
        if j == half or abs(s) >= t:
            continue
        if s > 0:
            out[: t - s] += x[s:] @ tap
        else:
            out[-s:] += x[: t + s] @ tap
    result: F32 = out.astype(np.float32, copy=False)
    return result


def s2l_shapes(c: S2LConfig) -> dict[str, tuple[int, ...]]:
    ch, k = c.channels, c.kernel
    shapes: dict[str, tuple[int, ...]] = {
        "feat_mean": (c.n_inputs,), "feat_std": (c.n_inputs,),
        "inp.weight": (ch, c.n_inputs, k), "inp.bias": (ch,),
        "out_norm.norm.weight": (ch,), "out_norm.norm.bias": (ch,),
        "head.weight": (c.n_landmarks * 3 + int(c.closure_head), ch, 1),
        "head.bias": (c.n_landmarks * 3 + int(c.closure_head),),
    }
    for i in range(len(c.dilations)):
        p = f"blocks.{i}."
        shapes.update({
            p + "conv.weight": (ch, ch, k), p + "conv.bias": (ch,),
            p + "mix.weight": (ch, ch, 1), p + "mix.bias": (ch,),
            p + "norm.norm.weight": (ch,), p + "norm.norm.bias": (ch,),
        })
    return shapes


class NumpyS2L:
    """The S2L network over numpy arrays: (T, n_inputs) features -> (T, 68, 3) mm [+ (T,) logit]."""

    kind = "s2l"

    def __init__(self, config: S2LConfig, params: dict[str, F32]) -> None:
        self.config = config
        self.params = params
        self._taps = {name[: -len(".weight")]: conv_taps(w) for name, w in params.items()
                      if name.endswith(".weight") and w.ndim == 3}

    @property
    def receptive_frames(self) -> int:
        return self.config.receptive_frames

    def predict(self, mel: NDArray[np.floating[Any]]) -> tuple[F32, F32 | None]:
        p, c, taps = self.params, self.config, self._taps
        x = (np.asarray(mel, dtype=np.float32) - p["feat_mean"]) / p["feat_std"]
        x = conv1d(x, taps["inp"], p["inp.bias"])
        for i, d in enumerate(c.dilations):
            b = f"blocks.{i}."
            h = layer_norm(x, p[b + "norm.norm.weight"], p[b + "norm.norm.bias"])
            h = gelu(conv1d(h, taps[b + "conv"], p[b + "conv.bias"], d))
            x = x + conv1d(h, taps[b + "mix"], p[b + "mix.bias"])
        h = gelu(layer_norm(x, p["out_norm.norm.weight"], p["out_norm.norm.bias"]))
        y = conv1d(h, taps["head"], p["head.bias"])
        n = c.n_landmarks * 3
        disp: F32 = y[:, :n].reshape(len(y), c.n_landmarks, 3)
        return disp, (y[:, n] if c.closure_head else None)

    def with_params(self, changes: dict[str, F32]) -> NumpyS2L:
        """A copy with some arrays replaced (tests force the closure head this way)."""
        return NumpyS2L(replace(self.config), {**self.params, **changes})


def _mlp_names(prefix: str, layers: int, bias: bool) -> list[tuple[str, str | None]]:
    """(weight, bias) names of an nn.Sequential of Linear/SiLU pairs ending in a Linear."""
    return [(f"{prefix}.{2 * i}.weight", f"{prefix}.{2 * i}.bias" if bias else None)
            for i in range(layers + 1)]


def s2d_shapes(c: S2DConfig) -> dict[str, tuple[int, ...]]:
    n_in = N_LANDMARKS * 3
    shapes: dict[str, tuple[int, ...]] = {"code_linear.weight": (c.n_codes, n_in)}
    widths = [c.feature_dim] + [c.basis_hidden] * c.basis_layers + [c.n_codes * 3]
    for (w, b), (a, o) in zip(_mlp_names("basis_net", c.basis_layers, True), pairwise(widths),
                              strict=True):
        shapes[w] = (o, a)
        shapes[str(b)] = (o,)
    widths = [n_in, c.code_hidden, c.code_hidden, c.n_codes]
    for (w, _), (a, o) in zip(_mlp_names("code_net", 2, False), pairwise(widths), strict=True):
        shapes[w] = (o, a)
    return shapes


def _mlp(x: F32, params: dict[str, F32], names: list[tuple[str, str | None]]) -> F32:
    for k, (w, b) in enumerate(names):
        x = x @ params[w].T
        if b is not None:
            x = x + params[b]
        if k < len(names) - 1:
            x = silu(x)
    return x.astype(np.float32, copy=False)


class NumpyS2D:
    """The factorised S2D over numpy arrays: mesh features -> basis, landmark motion -> codes."""

    kind = "s2d"

    def __init__(self, config: S2DConfig, params: dict[str, F32]) -> None:
        self.config = config
        self.params = params

    def mesh_basis(self, feats: NDArray[np.floating[Any]]) -> F32:
        """(V, F) vertex features -> (J, V, 3) basis in mm per unit code."""
        c = self.config
        if feats.ndim != 2 or feats.shape[1] != c.feature_dim:
            raise ValueError(f"features must be (V, {c.feature_dim}); got {feats.shape}")
        x = _mlp(np.asarray(feats, dtype=np.float32), self.params,
                 _mlp_names("basis_net", c.basis_layers, True))
        out: F32 = (x.reshape(len(x), c.n_codes, 3) * np.float32(c.disp_scale_mm))
        return np.ascontiguousarray(out.transpose(1, 0, 2))

    def codes(self, lm_disp: NDArray[np.floating[Any]]) -> F32:
        """(T, 68, 3) landmark displacement in canonical mm -> (T, J); exactly 0 for 0 input."""
        if lm_disp.ndim != 3 or lm_disp.shape[1:] != (N_LANDMARKS, 3):
            raise ValueError(f"landmark motion must be (T, 68, 3); got {tuple(lm_disp.shape)}")
        x = (np.asarray(lm_disp, dtype=np.float32).reshape(len(lm_disp), -1)
             / np.float32(self.config.disp_scale_mm))
        out: F32 = (x @ self.params["code_linear.weight"].T
                    + _mlp(x, self.params, _mlp_names("code_net", 2, False)))
        return out.astype(np.float32, copy=False)


def _runnable_s2l(config: dict[str, Any]) -> S2LConfig:
    """The config, if this runtime's features and landmark set can feed and use it."""
    c = S2LConfig.from_dict(config)
    if c.n_mels != N_MELS or c.n_landmarks != N_LANDMARKS:
        raise WeightsError(f"The s2l weights expect {c.n_mels} mel bands and {c.n_landmarks} "
                           f"landmarks; this add-on computes {N_MELS} and {N_LANDMARKS}.")
    if c.n_acoustic not in (0, ACOUSTIC_CHANNELS):
        raise WeightsError(f"The s2l weights expect {c.n_acoustic} phone posteriors; this add-on "
                           f"computes {ACOUSTIC_CHANNELS}.")
    return c


def _runnable_s2d(config: dict[str, Any]) -> S2DConfig:
    c = S2DConfig.from_dict(config)
    if c.feature_dim != FEATURE_DIM:
        raise WeightsError(f"The s2d weights expect {c.feature_dim} mesh features per vertex; "
                           f"this add-on computes {FEATURE_DIM}.")
    return c


def load_numpy_s2l(path: str | Path) -> NumpyS2L:
    w = load_npz(path, NumpyS2L.kind, lambda c: s2l_shapes(_runnable_s2l(c)))
    return NumpyS2L(_runnable_s2l(w.config), w.arrays)


def load_numpy_s2d(path: str | Path) -> NumpyS2D:
    w = load_npz(path, NumpyS2D.kind, lambda c: s2d_shapes(_runnable_s2d(c)))
    return NumpyS2D(_runnable_s2d(w.config), w.arrays)


def save_numpy(path: str | Path, net: NumpyS2L | NumpyS2D, metadata: dict[str, Any]) -> None:
    save_npz(path, NpzWeights(net.kind, asdict(net.config), net.params, metadata))
