"""VOCASET loader on tiny files written here: units, axes, origin, 100 Hz targets, safe pickles."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from blender_s2l.core.errors import AudioError, LandmarkError, S2LError
from blender_s2l.core.head.keypoints import OPTIONAL, REQUIRED
from blender_s2l.demo_head.make import build_canonical, make_demo_head
from blender_s2l.training.datasets import LandmarkEmbedding, resample_track
from blender_s2l.training.safe_pickle import safe_load_pickle
from blender_s2l.training.vocaset import LANDMARKS_JSON, default_split, load_vocaset

TRAIN, TEST = "FaceTalk_170728_03272_TA", "FaceTalk_170809_00138_TA"  # standard split names
N_VERTS = 100
LM = np.arange(68) + 20  # landmark i on vertex 20 + i
# Frame numbers per sentence: one from 0, one starting late with a gap (VOCASET keys are ints).
FRAMES = {"sentence01": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], "sentence02": [2, 3, 4, 6, 7, 8]}
SR = 22000


def _write(root: Path, templates: dict[str, np.ndarray], velocity: np.ndarray,
           frames_of: dict[str, list[int]] = FRAMES) -> dict[str, Any]:
    """data_verts rows (shuffled) = template + velocity * t, in metres; returns the truth."""
    rng = np.random.default_rng(0)
    frames, index, audio = [], {}, {}
    for s, tpl in templates.items():
        index[s], audio[s] = {}, {}
        for sentence, numbers in frames_of.items():
            index[s][sentence] = {}
            for f in numbers:
                index[s][sentence][f] = len(frames)
                frames.append(tpl + velocity * (f / 60.0))
            n = int(SR * (numbers[-1] + 1) / 60)
            wav = (rng.uniform(-1, 1, n) * 20000).astype(np.int16)
            audio[s][sentence] = {"audio": wav, "sample_rate": SR}
    order = rng.permutation(len(frames))  # rows not in frame order
    where = np.argsort(order)
    for s in index:
        for sentence in index[s]:
            index[s][sentence] = {f: int(where[r]) for f, r in index[s][sentence].items()}
    np.save(root / "data_verts.npy", np.stack(frames)[order].astype(np.float32))
    for name, obj in (("templates", templates), ("subj_seq_to_idx", index),
                      ("raw_audio_fixed", audio)):
        (root / f"{name}.pkl").write_bytes(pickle.dumps(obj, protocol=2))
    return {"audio": audio}


@pytest.fixture()
def toy(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray], np.ndarray, dict[str, Any]]:
    rng = np.random.default_rng(1)
    base = rng.normal(0, 0.05, (N_VERTS, 3)) + np.array([0.01, 0.02, -0.03])  # metres
    templates = {TRAIN: base.astype(np.float32),
                 TEST: (base * 1.1 + 0.002).astype(np.float32)}
    velocity = rng.normal(0, 0.01, (N_VERTS, 3))  # m/s, same for every subject
    truth = _write(tmp_path, templates, velocity)
    return tmp_path, templates, velocity, truth


def test_shapes_units_axes_origin(toy: Any) -> None:
    root, templates, velocity, _ = toy
    utts = load_vocaset(root, landmarks68=LM)
    assert [u.id for u in utts] == [f"{s}/{n}" for s in sorted(templates) for n in FRAMES]
    for u in utts:
        tpl_m = templates[u.subject].astype(np.float64)
        numbers = np.array(FRAMES[u.sentence])
        t = u.frame_times
        np.testing.assert_allclose(t, numbers / 60.0)
        # metres -> mm, axes unchanged, origin on the template's landmark 27 (nose bridge).
        np.testing.assert_allclose(u.origin, tpl_m[LM[27]] * 1000, atol=1e-3)
        np.testing.assert_allclose(u.template, tpl_m * 1000 - u.origin, atol=1e-3)
        assert np.abs(u.template[LM[27]]).max() < 1e-3
        v = u.vertices()
        assert v.shape == (len(numbers), N_VERTS, 3) and v.dtype == np.float32
        want = (tpl_m[None] + velocity[None] * t[:, None, None]) * 1000 - u.origin
        np.testing.assert_allclose(v, want, atol=2e-3)
        np.testing.assert_allclose(u.displacements(), velocity[None] * t[:, None, None] * 1000,
                                   atol=2e-3)
        assert u.phones == [] and u.root == root
        assert u.landmark_vertices is not None
        np.testing.assert_allclose(u.landmark_vertices.apply(u.template), u.template[LM])


def test_landmark_targets_at_exact_100hz_times(toy: Any) -> None:
    root, _, velocity, _ = toy
    utts = {u.sentence: u for u in load_vocaset(root, [TRAIN], landmarks68=LM)}
    # Motion is linear in time, so interpolation at the exact times k / 100 is exact,
    # across the gap too; before the first frame (sentence02 starts at 2 / 60 s) it is held.
    for sentence, numbers in FRAMES.items():
        tgt = utts[sentence].landmark_targets()
        last = numbers[-1] / 60.0
        assert tgt.shape == (int(np.floor(last * 100 + 1e-9)) + 1, 68, 3)
        times = np.maximum(np.arange(len(tgt)) / 100.0, numbers[0] / 60.0)
        want = velocity[LM][None] * times[:, None, None] * 1000
        np.testing.assert_allclose(tgt, want, atol=2e-3)
    # Landmarks can also be passed at call time (here: a shifted set).
    other = utts["sentence01"].landmark_targets(LM + 1)
    np.testing.assert_allclose(other[15], velocity[LM + 1] * 0.15 * 1000, atol=2e-3)


def test_resample_track_hits_coincident_and_between_times() -> None:
    rng = np.random.default_rng(2)
    track = rng.normal(size=(7, 2, 3))
    times = np.arange(7) / 60.0
    out = resample_track(track, times, 100.0)
    assert out.shape == (11, 2, 3)  # 0 .. 0.10 s
    np.testing.assert_allclose(out[0], track[0], atol=1e-6)
    np.testing.assert_allclose(out[5], track[3], atol=1e-6)  # 0.05 s is frame 3 exactly
    np.testing.assert_allclose(out[10], track[6], atol=1e-6)  # 0.10 s is frame 6
    np.testing.assert_allclose(out[1], 0.4 * track[0] + 0.6 * track[1], atol=1e-6)  # 0.01 s
    with pytest.raises(S2LError):
        resample_track(track, times[::-1], 100.0)


def test_audio_is_mono_float_at_its_rate(toy: Any) -> None:
    root, _, _, truth = toy
    u = load_vocaset(root, [TEST], ["sentence02"])[0]
    wav, sr = u.audio()
    raw = truth["audio"][TEST]["sentence02"]["audio"]
    assert sr == SR and wav.dtype == np.float32 and wav.shape == raw.shape
    np.testing.assert_array_equal(wav, raw.astype(np.float32) / 32768.0)
    truth["audio"][TEST]["sentence02"] = {"audio": raw}  # no sample rate
    (root / "raw_audio_fixed.pkl").write_bytes(pickle.dumps(truth["audio"]))
    with pytest.raises(AudioError, match="sample_rate"):
        load_vocaset(root, [TEST], ["sentence02"])[0].audio()


class _Evil:
    def __init__(self, marker: Path, via_eval: bool) -> None:
        self.marker, self.via_eval = marker, via_eval

    def __reduce__(self) -> tuple[Any, ...]:
        if self.via_eval:
            return (eval, (f"open({str(self.marker)!r}, 'w').close()",))
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("via_eval", [False, True])
def test_code_in_a_pickle_is_refused_and_never_runs(toy: Any, via_eval: bool) -> None:
    root = toy[0]
    marker = root / "pwned"
    payload = {TRAIN: _Evil(marker, via_eval)}
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        (root / "templates.pkl").write_bytes(pickle.dumps(payload, protocol=protocol))
        with pytest.raises(S2LError, match="refusing"):
            load_vocaset(root, landmarks68=LM)
        with pytest.raises(S2LError):
            safe_load_pickle(root / "templates.pkl")
    assert not marker.exists()
    pickle.loads(pickle.dumps(payload))  # the payload is live: plain pickle runs it
    assert marker.exists()


def test_safe_pickle_reads_arrays_of_every_protocol(tmp_path: Path) -> None:
    obj = {"a": np.arange(6, dtype=np.int16).reshape(2, 3), "b": [np.float32(1.5), (1, "x")],
           "c": np.zeros((2, 2), np.float64)}
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        path = tmp_path / f"p{protocol}.pkl"
        path.write_bytes(pickle.dumps(obj, protocol=protocol))
        back = safe_load_pickle(path)
        np.testing.assert_array_equal(back["a"], obj["a"])
        assert back["b"][0] == np.float32(1.5) and back["b"][1] == (1, "x")
        assert back["c"].dtype == np.float64


@pytest.mark.parametrize("name", ["data_verts.npy", "raw_audio_fixed.pkl", "templates.pkl",
                                  "subj_seq_to_idx.pkl"])
def test_missing_file_is_a_clear_error(toy: Any, name: str) -> None:
    root = toy[0]
    (root / name).unlink()
    with pytest.raises(S2LError, match=name.replace(".", r"\.")):
        load_vocaset(root)


def test_filters_and_splits(toy: Any) -> None:
    root = toy[0]
    assert {u.subject for u in load_vocaset(root, [TEST])} == {TEST}
    only = load_vocaset(root, sentences=["sentence02"])
    assert [u.id for u in only] == [f"{TRAIN}/sentence02", f"{TEST}/sentence02"]
    assert {u.subject: u.split for u in only} == {TRAIN: "train", TEST: "test"}
    custom = load_vocaset(root, splits={TRAIN: "val"})
    assert {u.subject: u.split for u in custom} == {TRAIN: "val", TEST: "test"}
    assert default_split("someone_else") == "train"
    with pytest.raises(S2LError, match="no subject nobody"):
        load_vocaset(root, ["nobody"])
    with pytest.raises(S2LError, match="No VOCASET utterance"):
        load_vocaset(root, sentences=["sentence99"])


def test_landmark_sources(toy: Any) -> None:
    root = toy[0]
    bare = load_vocaset(root)
    assert all(u.landmark_vertices is None for u in bare)
    np.testing.assert_array_equal(bare[0].origin, np.zeros(3))
    with pytest.raises(LandmarkError):
        bare[0].landmark_targets()
    with pytest.raises(LandmarkError, match="faces"):
        load_vocaset(root, keypoints={36: 0, 45: 1, 30: 2, 48: 3, 54: 4, 8: 5})
    with pytest.raises(LandmarkError):
        load_vocaset(root, landmarks68=np.arange(67))
    with pytest.raises(LandmarkError):
        load_vocaset(root, landmarks68=LM + N_VERTS)
    (root / LANDMARKS_JSON).write_text(json.dumps(LM.tolist()))
    from_json = load_vocaset(root)[0]
    assert from_json.landmark_vertices is not None
    np.testing.assert_allclose(from_json.landmark_vertices.apply(from_json.template),
                               from_json.template[LM])


def test_landmarks_fitted_from_key_points(tmp_path: Path) -> None:
    """The project's demo head stands in for FLAME: key points -> 68 landmarks on the surface."""
    head = make_demo_head(0)
    canon_mm, faces, lm, _ = build_canonical(head.resolution)
    tpl = (canon_mm / 1000.0 + np.array([0.0, 0.03, 0.01])).astype(np.float32)
    velocity = np.zeros_like(canon_mm)
    velocity[:, 1] = -0.01 * (canon_mm[:, 1] < canon_mm[lm[62], 1])  # below the lips moves down
    _write(tmp_path, {TRAIN: tpl}, velocity, {"sentence01": [0, 1, 2]})
    kp = {k: int(lm[k]) for k in REQUIRED + OPTIONAL}
    u = load_vocaset(tmp_path, faces=faces, keypoints=kp)[0]
    emb = u.landmark_vertices
    assert emb is not None
    fitted = emb.apply(u.template)
    err = np.linalg.norm(fitted - u.template[lm], axis=1)
    assert err.mean() < 1.5, err.mean()
    for k, vid in kp.items():  # key points are honoured exactly
        np.testing.assert_allclose(fitted[k], u.template[vid], atol=1e-3)
    assert np.abs(fitted[27]).max() < 1e-3  # origin on landmark 27
    tgt = u.landmark_targets()  # the chin (8) moves down 10 mm/s, the brows stay
    np.testing.assert_allclose(tgt[-1, 8], [0.0, -10 * 0.03, 0.0], atol=1e-3)  # at 0.03 s
    assert np.abs(tgt[:, 17:27]).max() < 1e-4


def test_embedding_follows_the_surface() -> None:
    verts = np.array([[0.0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]])
    faces = [[0, 1, 2, 3]]
    points = np.array([[0.7, 0.2, 0.3], [0.25, 0.5, 0.0], [2.0, 2.0, 0.0]])
    emb = LandmarkEmbedding.on_surface(verts, faces, points)
    np.testing.assert_allclose(emb.weights.sum(1), 1.0)
    np.testing.assert_allclose(emb.apply(verts), [[0.7, 0.2, 0], [0.25, 0.5, 0], [1, 1, 0]],
                               atol=1e-6)
    moved = verts * [2.0, 1.0, 1.0] + [0, 0, 5]  # stretch and lift: points ride along
    np.testing.assert_allclose(emb.apply(moved), [[1.4, 0.2, 5], [0.5, 0.5, 5], [2, 1, 5]],
                               atol=1e-6)
    with pytest.raises(S2LError):
        LandmarkEmbedding.on_surface(verts, [[0, 1, 7]], points)
