"""The one way a bake gets its models, after Whisper's `load_model`: a kind, a device, a folder.

Where the files are (`weights_file` is the only place a name is spelled, so the bundle, the
loader, export-numpy and the build cannot disagree) and which device runs them are decided here
too, with a sentence instead of a CUDA traceback. The .npz
files are the only runtime format. The CPU (and "auto") runs them with numpy and never
imports torch; CUDA builds the torch modules from the very same arrays (their names are the
state-dict names export-numpy wrote them under), so both devices run one set of weights and a
checksummed file is the only thing ever read.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, overload

from ..errors import DeviceError, WeightsError
from ..head.inner_parts import JawModel, load_jaw
from .npz_weights import REEXPORT
from .numpy_nets import NumpyS2D, NumpyS2L, load_numpy_s2d, load_numpy_s2l
from .runners import S2DRunner, S2LRunner, TorchS2D, TorchS2L
from .upper_face import UpperFaceModel

if TYPE_CHECKING:
    import torch

__all__ = ["Models", "load_model", "load_models", "resolve_device", "to_torch"]

Model = S2LRunner | S2DRunner | UpperFaceModel | JawModel


# -- where the weights live: an explicit folder, $BLENDER_S2L_WEIGHTS, or the bundled ones --
BUNDLED_DIR = Path(__file__).parents[1] / "weights"
# The networks and the jaw map a bake loads; the same names in every weights folder.
WEIGHT_KINDS = ("s2l", "s2d", "upper_face", "jaw")
# pocketsphinx's acoustic model, the part an S2L that hears phone posteriors needs
# (core/speech/acoustic.py): a fixed feature extractor, not trained here, so always the bundled
# copy whichever weights folder the networks come from.
ACOUSTIC_FILE = BUNDLED_DIR / "acoustic.npz"


def weights_dir(override: str | Path | None = None) -> Path:
    if override:
        return Path(override)
    env = os.environ.get("BLENDER_S2L_WEIGHTS")
    return Path(env) if env else BUNDLED_DIR


def weights_file(kind: str, folder: str | Path = BUNDLED_DIR) -> Path:
    """The file of one kind in a folder, whether or not it is there yet (export-numpy writes
    it)."""
    if kind not in WEIGHT_KINDS:
        raise ValueError(f"unknown weights kind {kind!r}; one of {WEIGHT_KINDS}")
    return Path(folder) / f"{kind}.npz"


def _is_file(path: Path) -> bool:
    """is_file() that answers a path the system cannot look up (too long, no permission) with
    a WeightsError sentence instead of an OSError."""
    try:
        return path.is_file()
    except OSError as exc:
        raise WeightsError(f"The weights folder cannot be read: {str(path)[:80]}... "
                           f"({(exc.strerror or type(exc).__name__).lower()}).") from None


def weights_path(kind: str, override: str | Path | None = None) -> Path:
    """The existing file of one kind in the folder a bake uses; else one sentence that says
    what to do. A folder from before the .npz format holds the training checkpoints instead, and
    only its owner can write the runtime copies (the arrays are theirs)."""
    path = weights_file(kind, weights_dir(override))
    if _is_file(path):
        return path
    if _is_file(path.with_suffix(".pt")):
        raise WeightsError(
            f"The weights folder {path.parent} holds {path.with_suffix('.pt').name} but no "
            f"{path.name}: .pt checkpoints are a training format that bakes no longer load, so "
            f"write the runtime files with `{REEXPORT}`.")
    raise WeightsError(f"The {kind} weights are missing: {path} does not exist.")


# Where the models run, as every surface offers it (identifier, label, description).
DEVICE_CHOICES: tuple[tuple[str, str, str], ...] = (
    ("AUTO", "Auto", "The CPU, with numpy (no torch needed); CUDA is chosen only by name"),
    ("CPU", "CPU", "Run the models on the CPU"),
    ("CUDA", "CUDA", "Run the models on an NVIDIA GPU (needs torch with CUDA)"),
)
DEVICES = tuple(c[0].lower() for c in DEVICE_CHOICES)


def torch_installed() -> bool:
    """Without importing it (1.5 s): only the CUDA device needs torch."""
    return importlib.util.find_spec("torch") is not None


def check_device_choice(device: str | None) -> str:
    choice = (device or "auto").lower()
    if choice not in DEVICES:
        raise DeviceError(f"Unknown device '{device}'; use one of auto, cpu, cuda.")
    return choice


def resolve_device(device: str = "auto") -> torch.device:
    """'auto' takes CUDA when present; 'cuda' without CUDA is an error the user can act on."""
    choice = check_device_choice(device)
    try:
        import torch
    except ImportError as exc:
        raise DeviceError(
            "This needs torch (the CUDA device runs the networks with it), and this Python has "
            "none; choose CPU or Auto, or install torch."
        ) from exc
    if choice == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if choice == "cuda":
        raise DeviceError(
            "CUDA was requested but this machine has no usable CUDA GPU; choose CPU or Auto."
        )
    return torch.device("cpu")


class Models(NamedTuple):
    """What an Animator is built from."""

    s2l: S2LRunner
    s2d: S2DRunner
    upper: UpperFaceModel
    jaw: JawModel
    device: str | torch.device  # "cpu", or the torch device the networks were moved to


def _torch_device(device: str) -> torch.device | None:
    """The CUDA device when one is asked for, checked before any file is read so a missing GPU
    is the error a user sees; None where numpy runs ("auto" and "cpu")."""
    choice = check_device_choice(device)
    return resolve_device(choice) if choice == "cuda" else None


@overload
def to_torch(net: NumpyS2L, device: str | torch.device = ...) -> TorchS2L: ...
@overload
def to_torch(net: NumpyS2D, device: str | torch.device = ...) -> TorchS2D: ...
def to_torch(net: NumpyS2L | NumpyS2D,
             device: str | torch.device = "cpu") -> TorchS2L | TorchS2D:
    """The torch module of a loaded network, on device: the config and arrays already passed
    every check of the .npz loader, so the state dict cannot surprise the module."""
    import torch

    from .s2d import S2D
    from .s2l import S2L

    state = {name: torch.from_numpy(a.copy()) for name, a in net.params.items()}
    module: torch.nn.Module = S2L(net.config) if isinstance(net, NumpyS2L) else S2D(net.config)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise WeightsError(f"The {net.kind} weights do not fit the torch {net.kind} model; "
                           "export them again.") from exc
    module = module.eval().to(device)
    return TorchS2L(module) if isinstance(net, NumpyS2L) else TorchS2D(module)


def _s2l(device: torch.device | None, folder: str | Path | None) -> S2LRunner:
    net = load_numpy_s2l(weights_path("s2l", folder))
    return net if device is None else to_torch(net, device)


def _s2d(device: torch.device | None, folder: str | Path | None) -> S2DRunner:
    net = load_numpy_s2d(weights_path("s2d", folder))
    return net if device is None else to_torch(net, device)


def _upper(device: torch.device | None, folder: str | Path | None) -> UpperFaceModel:
    return UpperFaceModel.load(weights_path("upper_face", folder))


def _jaw(device: torch.device | None, folder: str | Path | None) -> JawModel:
    return load_jaw(weights_path("jaw", folder))


_LOADERS: dict[str, Callable[[Any, str | Path | None], Model]] = {
    "s2l": _s2l, "s2d": _s2d, "upper_face": _upper, "jaw": _jaw,
}


@overload
def load_model(kind: Literal["s2l"], device: str = ...,
               weights_dir: str | Path | None = ...) -> S2LRunner: ...
@overload
def load_model(kind: Literal["s2d"], device: str = ...,
               weights_dir: str | Path | None = ...) -> S2DRunner: ...
@overload
def load_model(kind: Literal["upper_face"], device: str = ...,
               weights_dir: str | Path | None = ...) -> UpperFaceModel: ...
@overload
def load_model(kind: Literal["jaw"], device: str = ...,
               weights_dir: str | Path | None = ...) -> JawModel: ...
def load_model(kind: str, device: str = "auto", weights_dir: str | Path | None = None) -> Model:
    """One model of kind s2l, s2d, upper_face or jaw from a weights folder (None: the one
    weights_path names); a WeightsError or DeviceError sentence otherwise.

    "auto" runs numpy on the CPU like "cpu" does, as it always has: it then works in a Blender
    without torch and never pays torch's import, and these small networks run about as fast in
    numpy (BENCHMARKS.md). The blink basis and the jaw map are arrays, not networks, and stay
    numpy on every device."""
    if kind not in _LOADERS:
        raise ValueError(f"unknown model kind {kind!r}; one of {sorted(_LOADERS)}")
    return _LOADERS[kind](_torch_device(device), weights_dir)


def load_models(device: str = "auto", weights_dir: str | Path | None = None) -> Models:
    """Every model a bake needs, on one device."""
    dev = _torch_device(device)
    s2l = _s2l(dev, weights_dir)  # first: a folder of .pt checkpoints is told how to export it
    return Models(s2l, _s2d(dev, weights_dir), _upper(dev, weights_dir), _jaw(dev, weights_dir),
                  "cpu" if dev is None else dev)
