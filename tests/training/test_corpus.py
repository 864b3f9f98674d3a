"""End to end on a tiny corpus: manifest, reader, determinism, caching, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from blender_s2l.training.corpus.build import build_corpus, plan
from blender_s2l.training.corpus.manifest import load_corpus
from blender_s2l.training.corpus.phones import ARPABET, SILENCE
from blender_s2l.training.corpus.visemes import ICT_EXPRESSIONS

N = 3


@pytest.fixture(scope="module")
def tts() -> None:
    import shutil

    missing = [b for b in ("flite", "festival", "espeak-ng") if shutil.which(b) is None]
    if missing:
        pytest.skip(f"needs the Debian TTS engines ({', '.join(missing)} not installed)")


@pytest.fixture(scope="module")
def tiny(ict_npz, tts, tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("corpus")
    build_corpus(root, seconds=1e9, seed=3, max_utterances=N)
    return root


def test_plan_is_a_function_of_seed_and_index() -> None:
    assert plan(1, 5) == plan(1, 5)
    assert plan(1, 5) != plan(1, 6)
    assert plan(1, 5) != plan(2, 5)


def test_plan_holds_out_voices_and_identities() -> None:
    plans = [plan(0, i) for i in range(300)]
    train = {p["voice"] for p in plans if p["split"] == "train"}
    held = {p["voice"] for p in plans if p["split"] == "heldout_voice"}
    assert held and not (train & held)
    assert len(train | held) >= 6
    train_ids = {p["identity_index"] for p in plans if p["split"] == "train"}
    held_ids = {p["identity_index"] for p in plans if p["split"] != "train"}
    assert not (train_ids & held_ids)


def test_manifest_and_reader(tiny: Path) -> None:
    lines = (tiny / "manifest.jsonl").read_text().splitlines()
    assert len(lines) == N
    rec = json.loads(lines[0])
    for key in ("id", "voice", "engine", "split", "wav", "phones", "duration", "sample_rate",
                "augmentation", "identity_index", "style", "text"):
        assert key in rec
    for u in load_corpus(tiny):
        audio, sr = u.audio()
        assert sr == 16000 and audio.dtype == np.float32
        assert abs(len(audio) / sr - u.duration) < 0.01
        w = u.expression_weights
        assert w.shape[1] == len(ICT_EXPRESSIONS)
        assert abs(len(w) / 100.0 - u.duration) < 0.02
        assert u.upper_face_weights.shape == (len(w), 8)
        assert u.identity.shape == (100,)
        labels = {p for _, _, p in u.phones}
        assert labels <= set(ARPABET) | {SILENCE}
        assert u.phones[-1][1] <= u.duration + 1e-3
        assert np.all(np.diff([s for s, _, _ in u.phones]) > 0)
        assert w[:, ICT_EXPRESSIONS.index("jawOpen")].max() > 0.1
        assert np.all(np.abs(audio) <= 1.0) and np.abs(audio).max() > 0.01


def test_deterministic_and_cached(tiny: Path, tmp_path: Path) -> None:
    build_corpus(tmp_path, seconds=1e9, seed=3, max_utterances=N)
    a, b = load_corpus(tiny), load_corpus(tmp_path)
    for ua, ub in zip(a, b, strict=True):
        assert ua.record["id"] == ub.record["id"]
        np.testing.assert_array_equal(ua.expression_weights, ub.expression_weights)
        np.testing.assert_array_equal(ua.upper_face_weights, ub.upper_face_weights)
        np.testing.assert_array_equal(ua.identity, ub.identity)
        np.testing.assert_array_equal(ua.audio()[0], ub.audio()[0])
    wav = tiny / a[0].record["wav"]
    before = wav.stat().st_mtime_ns
    build_corpus(tiny, seconds=1e9, seed=3, max_utterances=N)
    assert wav.stat().st_mtime_ns == before, "a cached utterance was rendered again"


def test_cli_builds_a_prefix(ict_npz, tts, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from blender_s2l.training.__main__ import main

    assert main(["corpus", "--out", str(tmp_path), "--minutes", "0.02", "--seed", "3"]) == 0
    utts = load_corpus(tmp_path)
    assert 1 <= len(utts) <= 4
    assert sum(u.duration for u in utts) >= 1.2
    assert utts[0].id == plan(3, 0)["id"]


def test_stored_targets_close_bilabials_on_the_sampled_identity(tiny: Path) -> None:
    from blender_s2l.training.ict import load_ict

    ict = load_ict()
    lm = ict.landmarks68
    checked = 0
    for u in load_corpus(tiny):
        rest = ict.identity(u.identity)[lm]
        w = u.expression_weights.astype(np.float32)
        v = rest + ict.expression_displacement(w)[:, lm]
        gap = np.linalg.norm(v[:, 62] - v[:, 66], axis=1)
        lead = float(u.record["style"]["lead"])
        for s, e, p in u.phones:
            if p in {"B", "P", "M"}:
                k0, k1 = int(s * 100), int(np.ceil(e * 100)) + 1
                assert gap[max(k0, 0):k1].min() < 0.1, f"{u.id}: {p} at {s:.2f}s not closed"
                checked += 1
            if p in {"AA", "AE", "AO"} and e - s > 0.08:
                k = round((0.5 * (s + e) - 0.5 * lead) * 100)
                assert gap[k] > 4.0, f"{u.id}: {p} at {s:.2f}s only opens {gap[k]:.1f} mm"
        sil = [(s, e) for s, e, p in u.phones if p == SILENCE and e - s > 0.3]
        for s, e in sil:
            mid = gap[int((0.5 * (s + e)) * 100)]
            assert mid < 1.2, f"{u.id}: silence at {s:.2f}s not at rest"
    assert checked > 0


def test_teacher_change_retargets_without_rendering(tiny: Path, tmp_path: Path) -> None:
    import shutil

    from blender_s2l.training.corpus.targets import retarget_corpus
    from blender_s2l.training.corpus.visemes import TEACHER_VERSION

    root = tmp_path / "c"
    shutil.copytree(tiny, root)
    ref = [u.expression_weights for u in load_corpus(root)]
    # pretend the corpus was made by an older teacher with different targets
    lines = []
    for line in (root / "manifest.jsonl").read_text().splitlines():
        rec = json.loads(line)
        rec["teacher_version"] = TEACHER_VERSION - 1
        (root / "utts" / f"{rec['id']}.json").write_text(json.dumps(rec))
        with np.load(root / rec["targets"]) as z:
            arrays = {k: z[k] for k in z.files}
        arrays["expression"] = np.zeros_like(arrays["expression"])
        np.savez_compressed(root / rec["targets"], **arrays)
        lines.append(json.dumps(rec))
    (root / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    wav = root / json.loads(lines[0])["wav"]
    before = wav.stat().st_mtime_ns
    assert retarget_corpus(root) == N
    for u, r in zip(load_corpus(root), ref, strict=True):
        np.testing.assert_array_equal(u.expression_weights, r)
        assert u.record["teacher_version"] == TEACHER_VERSION
    assert wav.stat().st_mtime_ns == before
    assert retarget_corpus(root) == 0


def test_tune_closure_scores_each_range(tiny: Path, random_weights_dir: Path) -> None:
    from blender_s2l.core.animate import Animator
    from blender_s2l.training.tune_closure import markdown, score_ranges

    anim = Animator.load(device="cpu", weights_dir=random_weights_dir)
    always, off = score_ranges(anim, load_corpus(tiny), [(0.0, 1e-4), (1.1, 1.2)])
    assert abs(always.open_vowel_auc - 0.5) < 0.1  # lips held shut: vowels look like /p b m/
    assert always.mouth_err_mm != off.mouth_err_mm
    table = markdown([always, off])
    assert table.count("**best**") == 1 and "(off)" in table


def test_corpus_options_leave_the_default_plans_alone() -> None:
    """Everyday text and an engine subset are opt-in: the default plan is the old one."""
    base = plan(4, 11)
    assert "text_style" not in base and plan(4, 11, "coverage", None) == base
    every = plan(4, 11, "everyday", ("festival", "flite"))
    assert every["text_style"] == "everyday" and every["text"] != base["text"]
    engines = {plan(4, i, "everyday", ("festival", "flite"))["engine"] for i in range(60)}
    assert engines == {"festival", "flite"}
    with pytest.raises(ValueError, match="text style"):
        plan(4, 11, "poetry")
