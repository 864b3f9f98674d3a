"""The numpy reading of pocketsphinx's acoustic model against pocketsphinx, on a real clip."""

from __future__ import annotations

import time
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from blender_s2l.core.speech import acoustic as ac

ps = pytest.importorskip("pocketsphinx")
CLIP = Path(__file__).resolve().parents[3] / "shared/data/speech/cmu_arctic/arctic_a0009.wav"
if not CLIP.exists():  # the worktree sits beside /work/shared; the main checkout has shared/
    CLIP = Path(__file__).resolve().parents[2] / "shared/data/speech/cmu_arctic/arctic_a0009.wav"
needs_clip = pytest.mark.skipif(not CLIP.exists(), reason="speech clip not present")


def _clip_int16() -> np.ndarray[Any, np.dtype[np.int16]]:
    import soundfile as sf

    wav, rate = sf.read(str(CLIP), dtype="int16")
    assert rate == ac.SAMPLE_RATE
    return np.asarray(wav, dtype=np.int16)


def _decoder(remove_noise: bool) -> Any:
    phone_lm = ac.model_dir().parent / "en-us-phone.lm.bin"  # the phone bigram beside the model
    assert phone_lm.exists()
    d = ps.Decoder(hmm=str(ac.model_dir()), allphone=str(phone_lm),
                   lw=2.0, beam=1e-20, pbeam=1e-20, loglevel="FATAL")
    if not remove_noise:  # feat.params turns it on; this front end leaves it out
        d.config["remove_noise"] = False
        d.reinit_feat()
    return d


def _cmn(d: Any) -> np.ndarray[Any, np.dtype[np.float64]]:
    return np.array([float(v) for v in d.get_cmn().split(",")])


def test_model_files_read_consistently() -> None:
    m = ac.load_model()
    assert len(m.phones) == 42 and "SIL" in m.phones and "AA" in m.phones
    assert m.phones == ac.PHONES
    mdef = ac.read_mdef(ac.model_dir() / "mdef")
    assert len(mdef.senone_phone) == 5126 and mdef.ci_senones.shape == (42, 3)
    # each CI phone's own states are senones of its own codebook, none shared
    assert (mdef.senone_phone[mdef.ci_senones] == np.arange(42)[:, None]).all()
    assert len(np.unique(mdef.ci_senones)) == 126
    n_feat, n_gauss, two_w = m.quad.shape
    assert (n_feat, n_gauss, two_w) == (3, 42 * 128, 26) and m.ci_weights.shape == (3, 42, 3, 128)
    # quantised mixture weights decode to distributions (mass lost only to the 8-bit floor)
    w = np.exp(-ac.read_sendump(ac.model_dir() / "sendump").astype(np.float64)
               * ac.SENDUMP_LOG_UNIT).sum(axis=1)
    assert w.min() > 0.85 and w.max() < 1.01


def test_frames_for_a_known_duration_and_finite_on_silence_and_clipping() -> None:
    rng = np.random.default_rng(0)
    assert ac.n_frames(16000) == 100 and ac.n_frames(1) == 1
    silence = np.zeros(16000, np.float32)
    clipped = np.clip(3.0 * rng.standard_normal(16000), -1.0, 1.0).astype(np.float32)
    square = np.sign(np.sin(np.arange(16000) * 2 * np.pi * 200 / 16000)).astype(np.float32)
    for wav in (silence, clipped, square, silence[:50]):
        post = ac.phone_posteriors(wav)
        assert post.shape == (ac.n_frames(len(wav)), len(ac.PHONES))
        assert np.isfinite(post).all()
        np.testing.assert_allclose(post.sum(axis=1), 1.0, atol=1e-4)


@needs_clip
def test_cepstra_match_pocketsphinx_frame_by_frame() -> None:
    """pocketsphinx does not hand out its cepstra, but with -cmn batch it reports the mean of an
    utterance's cepstra. Two utterances that end at the same sample share every frame but the
    first one of the longer, so frame i's cepstrum is n_a * mean_a - n_b * mean_b."""
    wav = _clip_int16()
    d = _decoder(remove_noise=False)

    def total(start: int, end: int) -> np.ndarray[Any, np.dtype[np.float64]]:
        d.start_utt()
        d.process_raw(wav[start:end].tobytes(), no_search=True, full_utt=True)
        d.end_utt()
        # n_frames() counts one more frame than the front end averaged (found by feeding
        # 100..1000 samples: one per full window, one for the partial tail, plus one)
        return float(d.n_frames() - 1) * _cmn(d)

    def frame(i: int) -> np.ndarray[Any, np.dtype[np.float64]]:
        start = i * ac.FRAME_SHIFT
        end = start + 2400  # a short shared tail keeps this fast
        return total(start, end) - total(start + ac.FRAME_SHIFT, end)

    mine = ac.cepstra(wav.astype(np.float32) / 32768.0)
    idx = list(range(len(mine) - 15))
    ref = np.array([frame(i) for i in idx])
    corr = [float(np.corrcoef(ref[:, k], mine[idx, k])[0, 1]) for k in range(ac.N_CEP)]
    err = np.median(np.abs(ref - mine[idx]), axis=0)
    print("cepstra corr per dim", np.round(corr, 4), "median abs err", np.round(err, 3))
    assert min(corr) >= 0.985 and float(np.mean(corr)) >= 0.99
    assert err.max() < 0.2


def _edit_distance(a: list[str], b: list[str]) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


def _phones(d: Any) -> list[str]:
    return [s.word for s in d.seg()]


@needs_clip
def test_pocketsphinx_hears_the_same_phones_from_these_cepstra() -> None:
    wav = _clip_int16()
    d = _decoder(remove_noise=False)
    d.start_utt()
    d.process_raw(wav.tobytes(), full_utt=True)
    d.end_utt()
    own = _phones(d)
    d.start_utt()
    d.process_cep(ac.cepstra(wav.astype(np.float32) / 32768.0).astype(np.float32).tobytes(),
                  full_utt=True)
    d.end_utt()
    ours = _phones(d)
    per = _edit_distance(own, ours) / len(own)
    print("allphone from own vs numpy cepstra: phone error rate", round(per, 3))
    assert per <= 0.15


@needs_clip
def test_best_phone_per_frame_agrees_with_pocketsphinx_allphone() -> None:
    wav = _clip_int16()
    d = _decoder(remove_noise=True)  # pocketsphinx as it normally runs
    d.start_utt()
    d.process_raw(wav.tobytes(), full_utt=True)
    d.end_utt()
    post = ac.phone_posteriors(wav.astype(np.float32) / 32768.0)
    ref = np.full(len(post), -1)
    for s in d.seg():
        ref[s.start_frame : s.end_frame + 1] = ac.PHONES.index(s.word)
    best = post.argmax(axis=1)
    agree = float(np.mean(best == ref))
    shifted = max(float(np.mean(np.roll(best, k) == ref)) for k in (-15, 15))
    rng = np.random.default_rng(0)
    shuffled = float(np.mean(rng.permutation(best) == ref))
    # the argmax flickers; phones held for 3 frames (30 ms) or more, collapsed, as a sequence
    runs = np.flatnonzero(np.diff(np.r_[-1, best, -1]))
    held = [ac.PHONES[best[a]] for a, b in pairwise(runs) if b - a >= 3]
    seq = [p for i, p in enumerate(held) if i == 0 or p != held[i - 1]]
    ref_seq = _phones(d)
    per = _edit_distance(ref_seq, seq) / len(ref_seq)
    chance = _edit_distance(ref_seq, list(rng.choice(ac.PHONES, len(seq)))) / len(ref_seq)
    print(f"frame agreement {agree:.3f}, shifted 150 ms {shifted:.3f}, shuffled {shuffled:.3f};"
          f" held phones {len(seq)} vs allphone {len(ref_seq)}: PER {per:.2f},"
          f" random {chance:.2f}")
    assert per < 0.6 and chance > 0.8
    assert agree >= 0.45 and shifted < 0.25 and shuffled < 0.2


def test_speed_for_a_minute() -> None:
    rng = np.random.default_rng(1)
    wav = (0.1 * rng.standard_normal(60 * ac.SAMPLE_RATE)).astype(np.float32)
    ac.load_model()
    t = time.perf_counter()
    post = ac.phone_posteriors(wav)
    dt = time.perf_counter() - t
    print(f"phone posteriors for 60 s of audio: {dt:.2f} s")
    assert post.shape == (6000, len(ac.PHONES))


def test_s2l_channels_sit_on_the_log_mel_grid() -> None:
    """The network's extra input: one row per log-mel frame, floored log posteriors, and a
    click heard at the same time in both (frame i of log-mel is centred at i * 10 ms)."""
    from blender_s2l.core.speech.features import N_MELS, n_frames, s2l_input, silence_input

    assert len(ac.PHONES) == ac.ACOUSTIC_CHANNELS
    rng = np.random.default_rng(0)
    wav = (0.001 * rng.standard_normal(ac.SAMPLE_RATE)).astype(np.float32)
    wav[8000:8800] += (0.5 * rng.standard_normal(800)).astype(np.float32)  # a burst at 0.5 s
    frames = s2l_input(wav, ac.ACOUSTIC_CHANNELS)
    assert frames.shape == (n_frames(len(wav)), N_MELS + ac.ACOUSTIC_CHANNELS)
    post = frames[:, N_MELS:]
    assert np.isfinite(post).all() and post.min() >= ac.LOG_POSTERIOR_FLOOR
    assert np.allclose(np.exp(post).sum(axis=1), 1.0, atol=0.05)
    # the posteriors change most where the burst starts, as the mel bands do (its end is
    # smeared over the deltas' +-3 frames)
    change = np.abs(np.diff(np.exp(post), axis=0)).sum(axis=1)
    loud = np.diff(frames[:, :N_MELS].mean(axis=1))
    assert abs(int(np.argmax(change[:53])) - int(np.argmax(loud))) <= 1
    assert np.array_equal(s2l_input(wav), frames[:, :N_MELS])
    quiet = silence_input(ac.ACOUSTIC_CHANNELS)
    assert quiet.shape == (N_MELS + ac.ACOUSTIC_CHANNELS,) and np.isfinite(quiet).all()


def test_the_bundled_copy_arranges_to_the_same_model(tmp_path: Path) -> None:
    """export-numpy's copy of the model reads back (checked .npz) into exactly the arrays
    pocketsphinx's own files give, so training (package) and bakes (copy) hear alike, and its
    licence notice is written beside it."""
    from blender_s2l.training.export_numpy import export_acoustic

    files = ac.read_package_files(ac.model_dir())
    path, licence = export_acoustic(tmp_path / "acoustic.npz")
    assert path == tmp_path / "acoustic.npz" and licence.parent == tmp_path
    assert "Alpha Cephei" in licence.read_text()  # the model's notice ships beside its copy
    a, b = ac.arrange(files), ac.arrange(ac.read_bundled(path))
    assert a.phones == b.phones and a.params == b.params
    for name in ("mel", "dct", "quad", "const", "ci_weights"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


def test_a_bundled_copy_with_the_wrong_phones_is_a_weights_error(tmp_path: Path) -> None:
    """A damaged or stale copy reads as the extension's own weights error (one sentence in the
    UI), not a ValueError from deep inside numpy code."""
    from blender_s2l.core.errors import WeightsError
    from blender_s2l.core.models.npz_weights import NpzWeights, save_npz

    config, arrays = ac.files_as_npz(ac.read_package_files(ac.model_dir()))
    config["phones"] = list(config["phones"])[:10]  # type: ignore[call-overload]
    save_npz(tmp_path / "acoustic.npz", NpzWeights(ac.ACOUSTIC_KIND, config, arrays, {}))
    with pytest.raises(WeightsError, match="rebuild it with export-numpy"):
        ac.read_bundled(tmp_path / "acoustic.npz")


def test_phone_scores_are_the_mixtures_written_out_in_float64() -> None:
    """The blocked, threaded, in-place scoring against its definition, spelled out directly from
    the model files in float64: every CI phone's three states, each a weighted sum of 128
    diagonal Gaussians per stream, streams multiplied, states averaged. Several blocks, so the
    threads' seams are inside the clip."""
    files = ac.read_package_files(ac.model_dir())
    rng = np.random.default_rng(3)
    t = np.arange(int(16000 * 6.5)) / 16000
    wav = (0.2 * np.sin(2 * np.pi * (150 + 80 * np.sin(t)) * t)
           + 0.05 * rng.standard_normal(len(t))).astype(np.float32)
    got = ac.phone_log_scores(wav)
    feat = ac.features(wav).astype(np.float64)
    assert len(feat) > 2 * ac.SCORE_BLOCK
    means = files.means.astype(np.float64)  # (cb, feat, dens, width)
    var = np.maximum(files.variances.astype(np.float64), ac.VAR_FLOOR)
    weights = np.exp(-files.ci_sendump.astype(np.float64) * ac.SENDUMP_LOG_UNIT)  # (f, cb, d, s)
    rows = rng.choice(len(feat), 40, replace=False)
    for i in rows:
        state_ll = np.zeros((len(files.phones), weights.shape[3]))
        for f in range(means.shape[1]):
            x = feat[i, f * 13 : (f + 1) * 13]
            logn = -0.5 * (np.log(2 * np.pi * var[:, f]).sum(-1)
                           + ((x - means[:, f]) ** 2 / var[:, f]).sum(-1))  # (cb, dens)
            top = logn.max(axis=1, keepdims=True)
            mix = np.einsum("cd,cds->cs", np.exp(logn - top), weights[f])
            state_ll += np.log(np.maximum(mix, 1e-30)) + top
        best = state_ll.max(axis=1, keepdims=True)
        want = best[:, 0] + np.log(np.exp(state_ll - best).mean(axis=1))
        np.testing.assert_allclose(got[i], want, rtol=1e-5, atol=2e-2)


def test_phone_scores_are_the_same_on_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """A farm that runs one Blender a core sets OMP_NUM_THREADS=1: the scoring then keeps to
    one thread (numpy_nets.worker_threads, as the networks do) and says the same numbers."""
    rng = np.random.default_rng(5)
    wav = (0.1 * rng.standard_normal(16000 * 7)).astype(np.float32)
    threaded = ac.phone_log_scores(wav)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    np.testing.assert_array_equal(ac.phone_log_scores(wav), threaded)
