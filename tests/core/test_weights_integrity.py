"""Weight files are checked before they are trusted: a digest over config and arrays, and limits
on every size a file declares, read from the zip directory and .npy headers before any data
(issue #20 item 5). Every bad file is made here, in tmp_path."""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from blender_s2l.core.animate import Animator
from blender_s2l.core.errors import WeightsError
from blender_s2l.core.head.inner_parts import load_jaw, reseal_jaw
from blender_s2l.core.models.load import WEIGHT_KINDS, weights_file
from blender_s2l.core.models.npz_weights import (
    HEADER,
    MAX_BYTES,
    NpzWeights,
    json_depth,
    load_npz,
    save_npz,
    weights_digest,
)
from blender_s2l.core.models.numpy_nets import load_numpy_s2d, load_numpy_s2l
from blender_s2l.core.models.upper_face import UpperFaceModel


def _contents(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files if k != HEADER}
        header = json.loads(str(z[HEADER][()]))
    return header, arrays


def _write(path: Path, header: dict[str, Any] | str, arrays: dict[str, np.ndarray]) -> Path:
    text = header if isinstance(header, str) else json.dumps(header)
    np.savez(path, **{HEADER: np.array(text)}, **arrays)
    return path


def _refused(load: Any, path: Path, match: str) -> str:
    """The loader refuses with one sentence that says why, quickly."""
    start = time.perf_counter()
    with pytest.raises(WeightsError, match=match) as info:
        load(path)
    assert time.perf_counter() - start < 5.0
    text = str(info.value)
    assert "\n" not in text and text.endswith(".")
    return text


@pytest.fixture
def s2l_file(random_weights_dir: Path) -> Path:
    return weights_file("s2l", random_weights_dir)


def test_every_bundled_weight_file_carries_a_matching_digest() -> None:
    for kind in WEIGHT_KINDS:
        header, arrays = _contents(weights_file(kind))
        assert header["format_version"] == 2, kind
        assert header["sha256"] == weights_digest(header["kind"], header["config"], arrays), kind


def test_an_edited_value_is_refused_by_the_digest(s2l_file: Path, tmp_path: Path) -> None:
    header, arrays = _contents(s2l_file)
    assert isinstance(load_numpy_s2l(s2l_file).params, dict)
    edited = dict(arrays)
    edited["head.bias"] = arrays["head.bias"].copy()
    edited["head.bias"][5] += 25.0  # a landmark offset by 25 mm: plausible, finite, wrong
    _refused(load_numpy_s2l, _write(tmp_path / "edited.npz", header, edited), "checksum")
    scaled = {k: v * np.float32(1e30) if k == "inp.weight" else v for k, v in arrays.items()}
    _refused(load_numpy_s2l, _write(tmp_path / "scaled.npz", header, scaled), "large")
    # A config edit moves the face as surely as an array edit (disp_scale_mm scales all motion).
    s2d_header, s2d_arrays = _contents(weights_file("s2d", s2l_file.parent))
    s2d_header["config"]["disp_scale_mm"] = 1000.0
    _refused(load_numpy_s2d, _write(tmp_path / "s2d.npz", s2d_header, s2d_arrays), "checksum")


def test_a_resealed_file_with_absurd_values_is_still_refused(s2l_file: Path,
                                                            tmp_path: Path) -> None:
    header, arrays = _contents(s2l_file)
    arrays["inp.weight"] = arrays["inp.weight"] * np.float32(1e30)
    path = tmp_path / "resealed.npz"
    save_npz(path, NpzWeights("s2l", header["config"], arrays, {}))
    _refused(load_numpy_s2l, path, r"implausibly large values in inp\.weight")


def test_files_without_a_digest_are_refused_with_the_command_that_fixes_them(
        random_weights_dir: Path, tmp_path: Path) -> None:
    for name, load in (("s2l.npz", load_numpy_s2l), ("jaw.npz", load_jaw)):
        header, arrays = _contents(random_weights_dir / name)
        old = {**{k: v for k, v in header.items() if k != "sha256"}, "format_version": 1}
        text = _refused(load, _write(tmp_path / name, old, arrays), "older export")
        assert "export-numpy" in text
    # export-numpy's way for jaw.npz, which has no .pt to export from: same arrays, now sealed.
    jaw = weights_file("jaw", tmp_path)
    assert reseal_jaw(jaw) is True
    assert reseal_jaw(jaw) is False  # already sealed: left alone
    _, before = _contents(weights_file("jaw", random_weights_dir))
    _, after = _contents(jaw)
    assert all(before[k].tobytes() == after[k].tobytes() for k in before)
    assert load_jaw(jaw).matrix.shape == (6, 204)


def test_reseal_does_not_bless_an_edited_sealed_file(random_weights_dir: Path,
                                                     tmp_path: Path) -> None:
    header, arrays = _contents(weights_file("jaw", random_weights_dir))
    arrays["pivot"] = arrays["pivot"] + np.float32(1.0)
    path = _write(tmp_path / "jaw.npz", header, arrays)
    with pytest.raises(WeightsError, match="checksum"):
        reseal_jaw(path)


def test_deep_or_huge_headers_are_refused_before_parsing(s2l_file: Path, tmp_path: Path) -> None:
    header, arrays = _contents(s2l_file)
    deep = json.dumps(header)[:-1] + ', "x": ' + "[" * 5000 + "]" * 5000 + "}"
    _refused(load_numpy_s2l, _write(tmp_path / "deep.npz", deep, arrays), "nested too deeply")
    deeper = '{"a": ' + "[" * 200_000 + "]" * 200_000 + "}"  # a RecursionError for json
    _refused(load_numpy_s2l, _write(tmp_path / "deeper.npz", deeper, arrays), "short text")
    nan = json.dumps(header).replace('"dropout": 0.1', '"dropout": NaN')
    assert "NaN" in nan
    _refused(load_numpy_s2l, _write(tmp_path / "nan.npz", nan, arrays), "not valid JSON")
    _refused(load_numpy_s2l, _write(tmp_path / "list.npz", "[1, 2]", arrays), "JSON object")


def test_json_depth_skips_strings_and_stays_linear(s2l_file: Path, tmp_path: Path) -> None:
    assert json_depth('{"a": [1, {"b": "[[[{"}], "c\\"[": 2}') == 3
    assert json_depth("[]") == 1 and json_depth('"[["') == 0
    _, arrays = _contents(s2l_file)
    unclosed = '"' + '\\"' * 20_000  # an unclosed string of escapes: once quadratic
    start = time.perf_counter()
    assert json_depth(unclosed) == 0
    assert time.perf_counter() - start < 1.0
    _refused(load_numpy_s2l, _write(tmp_path / "esc.npz", unclosed, arrays), "not valid JSON")


@pytest.mark.parametrize(("field", "value", "match"), [
    ("channels", "16", "whole number"),
    ("channels", 16.0, "whole number"),
    ("channels", 10**9, "whole number"),
    ("dilations", "abc", "dilations"),
    ("dilations", [1, None], "whole number"),
    ("kernel", 4, "odd"),
    ("closure_head", 1, "true or false"),
    ("dropout", "0.1", "number"),
    ("n_mels", 40, "mel bands"),
])
def test_wrongly_typed_config_values_are_one_sentence(s2l_file: Path, tmp_path: Path,
                                                      field: str, value: Any,
                                                      match: str) -> None:
    header, arrays = _contents(s2l_file)
    path = tmp_path / "config.npz"  # sealed: the config itself is what is refused
    save_npz(path, NpzWeights("s2l", {**header["config"], field: value}, arrays, {}))
    _refused(load_numpy_s2l, path, match)


def test_s2d_and_upper_face_configs_are_checked(random_weights_dir: Path,
                                                tmp_path: Path) -> None:
    header, arrays = _contents(weights_file("s2d", random_weights_dir))
    for field, value in (("n_codes", [8]), ("disp_scale_mm", -1.0), ("feature_dim", 12),
                         ("basis_layers", True)):
        path = tmp_path / f"s2d_{field}.npz"
        save_npz(path, NpzWeights("s2d", {**header["config"], field: value}, arrays, {}))
        _refused(load_numpy_s2d, path, "s2d")
    header, arrays = _contents(weights_file("upper_face", random_weights_dir))
    swapped = list(reversed(header["config"]["expressions"]))
    path = tmp_path / "upper_face.npz"
    save_npz(path, NpzWeights("upper_face", {"expressions": swapped}, arrays, {}))
    _refused(UpperFaceModel.load, path, "other expressions")


def _npy(shape: tuple[int, ...], data: bytes, descr: str = "<f4") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(  # type: ignore[no-untyped-call]
        buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue() + data


def _zip_with(good: Path, path: Path, name: str, member: bytes,
              compression: int = zipfile.ZIP_STORED) -> Path:
    """good's members, with one replaced (or added) by raw bytes."""
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            if info.filename != name:
                dst.writestr(info.filename, src.read(info))
        dst.writestr(name, member, compress_type=compression)
    return path


def test_huge_declared_arrays_are_refused_before_any_allocation(s2l_file: Path,
                                                               tmp_path: Path) -> None:
    huge = _npy((100_000_000_000,), b"\0" * 16)  # 373 GiB declared, 16 bytes present
    text = _refused(load_numpy_s2l, _zip_with(s2l_file, tmp_path / "huge.npz", "inp.bias.npy",
                                              huge), "declares")
    assert "400000000000 bytes" in text
    # Honest size, wrong shape for the config: refused from the header alone.
    other = _npy((17,), b"\0" * 68)
    _refused(load_numpy_s2l, _zip_with(s2l_file, tmp_path / "shape.npz", "inp.bias.npy", other),
             r"inp\.bias of shape \(17,\)")
    fortran = io.BytesIO()
    np.lib.format.write_array_header_1_0(  # type: ignore[no-untyped-call]
        fortran, {"descr": "<f4", "fortran_order": True, "shape": (16,)})
    _refused(load_numpy_s2l, _zip_with(s2l_file, tmp_path / "f.npz", "inp.bias.npy",
                                       fortran.getvalue() + b"\0" * 64), "Fortran")
    _refused(load_numpy_s2l, _zip_with(s2l_file, tmp_path / "odd.npz", "notes.txt", b"hi"),
             "unexpected member")


def test_a_zip_bomb_is_refused_from_its_directory_at_once(s2l_file: Path,
                                                          tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.npz"
    n = (MAX_BYTES + (8 << 20)) // 4  # floats a little over the limit, deflated to ~70 KB
    with zipfile.ZipFile(s2l_file) as src, zipfile.ZipFile(bomb, "w") as dst:
        for info in src.infolist():
            if info.filename != "inp.weight.npy":
                dst.writestr(info.filename, src.read(info))
        entry = zipfile.ZipInfo("inp.weight.npy")
        entry.compress_type = zipfile.ZIP_DEFLATED
        with dst.open(entry, "w", force_zip64=True) as f:
            f.write(_npy((n,), b""))
            zeros = bytes(1 << 20)
            for _ in range(n * 4 >> 20):
                f.write(zeros)
    assert bomb.stat().st_size < 4 * s2l_file.stat().st_size
    _refused(load_numpy_s2l, bomb, "MiB once unpacked")


def test_odd_weight_paths_are_sentences(tmp_path: Path) -> None:
    fifo = tmp_path / "s2l.npz"
    os.mkfifo(fifo)
    _refused(load_numpy_s2l, fifo, "not a regular file")  # never blocks on open
    _refused(load_numpy_s2l, tmp_path / ("x" * 5000 + ".npz"), "cannot be opened|not found")
    with pytest.raises(WeightsError, match="not found"):
        load_npz(tmp_path, "s2l")
    with pytest.raises(WeightsError, match="cannot be read"):  # was a bare OSError
        Animator.load(device="cpu", weights_dir=tmp_path / ("w" * 5000))
