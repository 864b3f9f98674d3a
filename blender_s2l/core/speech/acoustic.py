"""Phone posteriors per 10 ms frame from pocketsphinx's own acoustic model, computed in numpy.

Why: pocketsphinx's decoder only says which phone won; the face wants how sure it was of every
phone at every frame (soft evidence for closures, a shape for each vowel). The model files that
ship inside the pocketsphinx package hold everything needed, so this reads them directly and
needs no compiled decoder at run time, only numpy (and the files).

Pipeline, each step as the model's feat.params asks for it:

* front end: 16 kHz, 100 frames/s, 25.625 ms Hamming window (410 samples), pre-emphasis 0.97
  (within each frame), 512-point power spectrum, 25 triangular mel filters (unit area, edges
  rounded to FFT bins) from 130 to 6800 Hz, natural log, orthonormal DCT-II to 13 cepstra,
  sine lifter 22;
* `-cmn batch`: the utterance's mean cepstrum is subtracted (c0 included), so input gain and
  the sample scale cancel;
* `-feat 1s_c_d_dd`: cepstra, deltas c[t+2]-c[t-2], double deltas
  (c[t+3]-c[t-1]) - (c[t+1]-c[t-3]), ends padded by repeating the first/last frame; split into
  the three 13-wide streams of `-svspec 0-12/13-25/26-38`;
* `-model ptm`: one codebook of 128 diagonal Gaussians per CI phone and stream; every senone
  (tied triphone state) uses the codebooks of its base phone with its own mixture weights, read
  from `sendump` where they are stored as 8-bit quantised negative logs;
* a senone's log-likelihood is the sum over streams of the log of its weighted mixture; only
  each CI phone's own three states are scored (not the 5,126 triphone states: see
  phone_log_scores); a phone's score is the log-mean-exp over its states, and a softmax over
  the phones gives the posterior.

Not done: pocketsphinx's `-remove_noise yes` (its running noise-floor subtraction in the mel
domain) is not reproduced; on clean speech it changes little, on noisy speech the posteriors
will differ from what the decoder sees. Even with it switched off in pocketsphinx, a minority of
frames (around onsets) still differ in a few mel bands where pocketsphinx has less energy; the
cause is not found (tests/core/test_acoustic.py measures the agreement).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

SAMPLE_RATE = 16000
FRAME_SHIFT = 160  # 100 frames/s, the rate the model was trained at
WINDOW = 410  # int(0.025625 s * 16 kHz), sphinx's default -wlen
N_FFT = 512
PRE_EMPHASIS = 0.97
N_CEP = 13
# log of the mel energy is floored here (int16 sample scale): digital silence then gives a
# constant, finite cepstrum instead of -inf.
MEL_FLOOR = 1e-5
VAR_FLOOR = 1e-4  # sphinx's -varfloor: no Gaussian sharper than this
# sendump's weights are -log(w) in base 1.0001 logmath units, right-shifted by 10 bits
SENDUMP_LOG_UNIT = 1024.0 * float(np.log(1.0001))
BLOCK = 2048  # frames of the front end computed at once: bounds memory for long clips
# phones of the en-us model (SIL and the two noise models included), the S2L input's width;
# load_model checks the model files agree
ACOUSTIC_CHANNELS = 42
# a phone this unlikely is absent: the S2L input's floor (natural log)
LOG_POSTERIOR_FLOOR = -12.0
# frame i's window [160 i, 160 i + 410) is centred this many 10 ms frames after i * 10 ms
CENTRE_FRAMES = WINDOW / 2 / FRAME_SHIFT
SCORE_BLOCK = 256  # frames scored at once (the Gaussian scores of a block fit the cache)


def model_dir() -> Path:
    """The en-us acoustic model inside the installed pocketsphinx package (not imported: the
    package's C extension is not needed, only its files)."""
    import importlib.util

    spec = importlib.util.find_spec("pocketsphinx")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("pocketsphinx is not installed: no acoustic model files")
    return Path(spec.origin).parent / "model" / "en-us" / "en-us"


def _feat_params(path: Path) -> dict[str, str]:
    """feat.params: '-name value' lines, the front end the model was trained with."""
    params: dict[str, str] = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith("-"):
            params[parts[0][1:]] = parts[1]
    return params


@dataclass(frozen=True)
class Mdef:
    """What is needed from the binary model definition: CI phone names, and for every senone
    the CI phone whose codebook it uses and to which it counts."""

    phones: tuple[str, ...]
    senone_phone: NDArray[np.int64]  # (n_senones,)
    ci_senones: NDArray[np.int64]  # (CI phones, states): each CI phone's own senones


def read_mdef(path: Path) -> Mdef:
    """Binary mdef ('BMDF'): its own header documents the layout (read with `strings`)."""
    data = path.read_bytes()
    if data[:4] != b"BMDF":
        raise ValueError(f"{path}: not a binary mdef")
    (doc_len,) = struct.unpack_from("<i", data, 8)
    off = 12 + doc_len
    (n_ci, n_phone, n_emit, n_ci_sen, n_sen, _n_tmat, n_sseq, _n_ctx, n_cd_tree, _sil) = (
        struct.unpack_from("<10i", data, off)
    )
    off += 40
    names: list[str] = []
    for _ in range(n_ci):
        end = data.index(b"\0", off)
        names.append(data[off:end].decode("ascii"))
        off = end + 1
    off = (off + 3) // 4 * 4
    off += 8 * n_cd_tree  # the triphone lookup tree: not needed here
    phone_rec = np.frombuffer(data, dtype=np.dtype([("ssid", "<i4"), ("tmat", "<i4"),
                                                    ("info", "u1", 4)]),
                              count=n_phone, offset=off)
    off += 12 * n_phone
    (n_sseq_vals,) = struct.unpack_from("<i", data, off)  # the sseq table's length precedes it
    off += 4
    if n_emit <= 0 or n_sseq_vals != n_sseq * n_emit:
        raise ValueError(f"{path}: phones with differing state counts are not supported")
    sseq = np.frombuffer(data, dtype="<i2", count=n_sseq * n_emit, offset=off).reshape(
        n_sseq, n_emit)
    # base phone: a CI phone is its own; a CD phone's info is (word position, base, left, right)
    base = np.arange(n_phone)
    base[n_ci:] = phone_rec["info"][n_ci:, 1]
    senone_phone = np.full(n_sen, -1, dtype=np.int64)
    for p in range(n_phone):
        senone_phone[sseq[phone_rec["ssid"][p]]] = base[p]
    if (senone_phone < 0).any() or n_ci_sen != n_ci * n_emit:
        raise ValueError(f"{path}: senones without a phone")
    ci_senones = sseq[phone_rec["ssid"][:n_ci]].astype(np.int64)
    return Mdef(tuple(names), senone_phone, ci_senones)


def _read_s3(path: Path) -> tuple[NDArray[np.float32], tuple[int, int, int, int]]:
    """SphinxTrain's binary Gaussian parameter file (means, variances): text header up to
    'endhdr', byte-order word 0x11223344, then n_mgau, n_feat, n_density, the feature widths,
    the float count and the floats (mgau, feat, density, dims)."""
    data = path.read_bytes()
    off = data.index(b"endhdr\n") + len(b"endhdr\n")
    (magic,) = struct.unpack_from("<I", data, off)
    end = "<" if magic == 0x11223344 else ">"
    off += 4
    n_mgau, n_feat, n_dens = struct.unpack_from(end + "3i", data, off)
    off += 12
    widths = struct.unpack_from(end + f"{n_feat}i", data, off)
    off += 4 * n_feat
    (total,) = struct.unpack_from(end + "i", data, off)
    off += 4
    if len(set(widths)) != 1 or total != n_mgau * n_dens * sum(widths):
        raise ValueError(f"{path}: unexpected layout")
    vals = np.frombuffer(data, dtype=end + "f4", count=total, offset=off)
    out = vals.reshape(n_mgau, n_feat, n_dens, widths[0]).astype(np.float32)
    return out, (n_mgau, n_feat, n_dens, widths[0])


def read_sendump(path: Path) -> NDArray[np.uint8]:
    """(n_feat, n_density, n_senones) quantised mixture weights.

    Layout (from the file's own description strings): length-prefixed NUL-terminated strings up
    to a zero length, among them 'feature_count N'; then int32 codeword count, int32 senone count,
    and for each stream and codeword one byte per senone."""
    data = path.read_bytes()
    off = 0
    n_feat = 0
    while True:
        (n,) = struct.unpack_from("<i", data, off)
        off += 4
        if n == 0:
            break
        text = data[off : off + n].rstrip(b"\0").decode("ascii", "replace")
        off += n
        if text.startswith("feature_count "):
            n_feat = int(text.split()[1])
        if text.startswith("cluster_count ") and int(text.split()[1]) != 0:
            raise ValueError(f"{path}: clustered weights are not supported")
    n_code, n_sen = struct.unpack_from("<2i", data, off)
    off += 8
    if n_feat <= 0 or len(data) - off < n_feat * n_code * n_sen:
        raise ValueError(f"{path}: unexpected layout")
    return np.frombuffer(data, dtype=np.uint8, count=n_feat * n_code * n_sen,
                         offset=off).reshape(n_feat, n_code, n_sen)


@dataclass(frozen=True)
class AcousticModel:
    """The model, arranged for scoring the CI phones' own states: every codebook's Gaussians of a
    stream as one quadratic form over [x^2, x] (one matrix product scores them all), and the CI
    senones' mixture weights in linear scale."""

    phones: tuple[str, ...]
    params: dict[str, str]
    mel: NDArray[np.float64]  # (N_FFT // 2 + 1, nfilt)
    dct: NDArray[np.float64]  # (nfilt, N_CEP), lifter folded in
    quad: NDArray[np.float32]  # (n_feat, n_cb * n_dens, 2 * width): -0.5/var beside mean/var
    const: NDArray[np.float32]  # (n_feat, n_cb * n_dens, 1): log normaliser - 0.5 mean^2/var
    ci_weights: NDArray[np.float32]  # (n_feat, n_cb, states, n_dens) of each CI phone's states


def _mel(hz: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(2595.0 * np.log10(1.0 + hz / 700.0), dtype=np.float64)


def _mel_inv(mel: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(700.0 * (10.0 ** (mel / 2595.0) - 1.0), dtype=np.float64)


def mel_filters(lower: float, upper: float, nfilt: int) -> NDArray[np.float64]:
    """Triangles equally spaced on the mel scale, their three corners rounded to the nearest FFT
    bin and each scaled to unit area (sphinx's -round_filters and -unit_area defaults); the
    Nyquist bin is left out as sphinx does."""
    step = SAMPLE_RATE / N_FFT
    edges = _mel_inv(np.linspace(_mel(np.array(lower)), _mel(np.array(upper)), nfilt + 2))
    edges = np.floor(edges / step + 0.5) * step
    hz = np.arange(N_FFT // 2 + 1) * step
    fb = np.zeros((N_FFT // 2 + 1, nfilt))
    for i in range(nfilt):
        lo, mid, hi = edges[i], edges[i + 1], edges[i + 2]
        up = (hz - lo) / (mid - lo)
        down = (hi - hz) / (hi - mid)
        tri = np.minimum(up, down) * 2.0 / (hi - lo)
        inside = (hz >= lo) & (hz <= hi)
        inside[-1] = False
        fb[inside, i] = tri[inside]
    return fb


def dct_lifter(nfilt: int, lifter: int) -> NDArray[np.float64]:
    """Orthonormal DCT-II (sphinx's -transform dct) to N_CEP cepstra, times the sine lifter."""
    i = np.arange(N_CEP)[None, :]
    j = np.arange(nfilt)[:, None]
    basis = np.cos(np.pi * i * (j + 0.5) / nfilt) * np.sqrt(2.0 / nfilt)
    basis[:, 0] = np.sqrt(1.0 / nfilt)
    if lifter > 0:
        basis *= 1.0 + lifter / 2.0 * np.sin(np.pi * np.arange(N_CEP) / lifter)[None, :]
    return np.asarray(basis, dtype=np.float64)


ACOUSTIC_KIND = "acoustic"  # the kind in the bundled .npz's header


@dataclass(frozen=True)
class ModelFiles:
    """What this module needs of the model, as read from pocketsphinx's files or the bundled
    copy: phone names, feat.params, raw Gaussians and the CI states' quantised weights."""

    phones: tuple[str, ...]
    params: dict[str, str]
    means: NDArray[np.float32]  # (phones, streams, densities, width)
    variances: NDArray[np.float32]  # the same, before the variance floor
    ci_sendump: NDArray[np.uint8]  # (streams, densities, phones, states), sendump's 8-bit units


def read_package_files(directory: Path) -> ModelFiles:
    """The model as pocketsphinx ships it (mdef, means, variances, sendump, feat.params)."""
    d = directory
    params = _feat_params(d / "feat.params")
    if params.get("feat", "1s_c_d_dd") != "1s_c_d_dd" or params.get("model", "ptm") != "ptm":
        raise ValueError(f"{d}: only 1s_c_d_dd PTM models are supported")
    mdef = read_mdef(d / "mdef")
    means, (n_cb, n_feat, n_dens, _w) = _read_s3(d / "means")
    var, shape = _read_s3(d / "variances")
    if shape[:3] != (n_cb, n_feat, n_dens) or not n_cb == len(mdef.phones) == ACOUSTIC_CHANNELS:
        raise ValueError(f"{d}: means and variances disagree with the mdef")
    q = read_sendump(d / "sendump")
    if q.shape[:2] != (n_feat, n_dens) or q.shape[2] != len(mdef.senone_phone):
        raise ValueError(f"{d}: sendump disagrees with the model")
    ci = np.ascontiguousarray(q[:, :, mdef.ci_senones].transpose(0, 2, 1, 3))
    return ModelFiles(mdef.phones, params, means, var, ci)


def bundled_file() -> Path:
    """Where the extension keeps its copy of the model's parts this module uses."""
    from ..models.load import ACOUSTIC_FILE

    return ACOUSTIC_FILE


def read_bundled(path: Path) -> ModelFiles:
    """The bundled copy (a checked blender_s2l .npz; no pocketsphinx needed)."""
    from ..errors import WeightsError
    from ..models.npz_weights import load_npz

    w = load_npz(path, ACOUSTIC_KIND)
    phones = tuple(str(p) for p in w.config["phones"])
    params = {str(k): str(v) for k, v in w.config["params"].items()}
    if len(phones) != ACOUSTIC_CHANNELS:
        raise WeightsError(f"{path.name} holds {len(phones)} phones where the speech model "
                           f"needs {ACOUSTIC_CHANNELS}: rebuild it with export-numpy.")
    return ModelFiles(phones, params, w.arrays["means"], w.arrays["variances"],
                      w.arrays["ci_sendump"].astype(np.uint8))


def files_as_npz(files: ModelFiles) -> tuple[dict[str, object], dict[str, NDArray[np.float32]]]:
    """Config and arrays of the bundled copy (export-numpy writes them)."""
    config: dict[str, object] = {"phones": list(files.phones), "params": dict(files.params)}
    arrays = {"means": files.means, "variances": files.variances,
              "ci_sendump": files.ci_sendump.astype(np.float32)}
    return config, arrays


@cache
def load_model(directory: str | None = None) -> AcousticModel:
    """Read and arrange the model once per process: from `directory` (pocketsphinx's files), else
    the bundled copy, else the installed pocketsphinx package."""
    if directory is not None:
        files = read_package_files(Path(directory))
    elif bundled_file().is_file():
        files = read_bundled(bundled_file())
    else:
        files = read_package_files(model_dir())
    return arrange(files)


def arrange(files: ModelFiles) -> AcousticModel:
    """Gaussians as quadratic forms over [x^2, x], CI weights in linear scale."""
    params, means = files.params, files.means.astype(np.float32)
    var = np.maximum(files.variances.astype(np.float32), VAR_FLOOR)
    n_cb, n_feat, n_dens, width = means.shape
    quad = np.concatenate([-0.5 / var, means / var], axis=3)  # (cb, feat, dens, 2 * width)
    quad = quad.transpose(1, 0, 2, 3).reshape(n_feat, n_cb * n_dens, 2 * width)
    const = -0.5 * (np.log(2.0 * np.pi * var).sum(-1) + (means**2 / var).sum(-1))
    const = const.transpose(1, 0, 2).reshape(n_feat, n_cb * n_dens, 1)
    return AcousticModel(
        phones=files.phones, params=params,
        mel=mel_filters(float(params.get("lowerf", 133.33334)),
                        float(params.get("upperf", 6855.4976)), int(params.get("nfilt", 40))),
        dct=dct_lifter(int(params.get("nfilt", 40)), int(params.get("lifter", 0))),
        quad=np.ascontiguousarray(quad, dtype=np.float32),
        const=np.ascontiguousarray(const, dtype=np.float32),
        ci_weights=np.ascontiguousarray(np.exp(
            -files.ci_sendump.astype(np.float64) * SENDUMP_LOG_UNIT).astype(np.float32)
            .transpose(0, 1, 3, 2)),
    )


def n_frames(n_samples: int) -> int:
    """Frames for a clip: one per 10 ms, at least one. Frame i is the window of samples
    [160 i, 160 i + 410), so its centre is at i * 10 ms + 12.8 ms; windows running past the end
    are padded with zeros. (pocketsphinx itself stops at the last full window and adds one
    padded frame, so its count can differ from this by one or two at the end.)"""
    return max(1, int(n_samples) // FRAME_SHIFT)


def cepstra(
    wav_16k: NDArray[np.float32], model: AcousticModel | None = None
) -> NDArray[np.float64]:
    """(frames, 13) MFCCs before mean normalisation, samples scaled to int16 as sphinx reads
    them; the end is padded with zeros to fill the last window."""
    m = model or load_model()
    x = np.asarray(wav_16k, dtype=np.float64).ravel() * 32768.0
    x = np.nan_to_num(x, nan=0.0, posinf=32767.0, neginf=-32768.0)
    n = n_frames(len(x))
    need = (n - 1) * FRAME_SHIFT + WINDOW
    x = np.concatenate([x, np.zeros(max(0, need - len(x)))])
    win = np.hamming(WINDOW)
    out = np.empty((n, N_CEP))
    for s in range(0, n, BLOCK):
        idx = np.arange(s, min(n, s + BLOCK))[:, None] * FRAME_SHIFT + np.arange(WINDOW)[None, :]
        fr = x[idx]
        # pre-emphasis within each frame, its first sample kept: measured against pocketsphinx
        # (tests/core/test_acoustic.py) this matches its cepstra 3x more closely than filtering
        # the whole signal once
        fr[:, 1:] -= PRE_EMPHASIS * x[idx[:, :-1]]
        spec = np.abs(np.fft.rfft(fr * win, N_FFT)) ** 2
        out[s : s + len(idx)] = np.log(np.maximum(spec @ m.mel, MEL_FLOOR)) @ m.dct
    return out


def features(wav_16k: NDArray[np.float32], model: AcousticModel | None = None) -> NDArray[
        np.float32]:
    """(frames, 39): mean-normalised cepstra, deltas and double deltas (1s_c_d_dd)."""
    c = cepstra(wav_16k, model)
    c = c - c.mean(axis=0)
    p = np.concatenate([np.repeat(c[:1], 3, 0), c, np.repeat(c[-1:], 3, 0)])
    n = len(c)

    def at(k: int) -> NDArray[np.float64]:
        return np.asarray(p[3 + k : 3 + k + n], dtype=np.float64)

    d = at(2) - at(-2)
    dd = (at(3) - at(-1)) - (at(1) - at(-3))
    return np.asarray(np.concatenate([c, d, dd], axis=1), dtype=np.float32)


def phone_log_scores(wav_16k: NDArray[np.float32]) -> NDArray[np.float32]:
    """(frames, phones) log-mean-exp of the likelihoods of each CI phone's own states (full
    mixtures, where pocketsphinx keeps only the top 4 Gaussians per stream).

    Why the CI states and not all 5,126 tied triphone states: they score in a third of the time,
    and their best phone a frame agrees with pocketsphinx's allphone decode as often or more
    (reports/acoustic.md). Frames are scored in blocks small enough that one block's Gaussian
    scores stay in the CPU cache, several blocks at a time (as many as the networks use,
    numpy_nets.worker_threads): numpy lets go of the GIL in the matrix products and the
    exponentials that are nearly all of the cost, so the threads use the cores."""
    m = load_model()
    feat = features(wav_16k, m)
    out = np.empty((len(feat), m.ci_weights.shape[1]), dtype=np.float32)
    starts = range(0, len(feat), SCORE_BLOCK)

    def score(s: int) -> None:
        out[s : s + SCORE_BLOCK] = _score_block(m, feat[s : s + SCORE_BLOCK])

    from ..models.numpy_nets import one_blas_thread, worker_threads

    threads = worker_threads()  # the networks' own count: a farm's OMP_NUM_THREADS=1 holds
    if len(starts) < 2 or threads < 2:
        for s in starts:
            score(s)
        return out
    from concurrent.futures import ThreadPoolExecutor

    with one_blas_thread(), ThreadPoolExecutor(threads) as pool:
        list(pool.map(score, starts))  # list(): an error in a block is raised here
    return out


def _score_block(m: AcousticModel, blk: NDArray[np.float32]) -> NDArray[np.float32]:
    """(frames, phones) scores of one block. Laid out Gaussian-major (codebook, density, frame)
    so every step runs over contiguous memory, in place: no transposed copies of the block's
    Gaussian scores, which were a third of the time."""
    n_feat, _, two_w = m.quad.shape
    n_cb, n_states, n_dens = m.ci_weights.shape[1:]
    width, n = two_w // 2, len(blk)
    acc = np.zeros((n_cb, n_states, n), dtype=np.float32)
    for f in range(n_feat):
        x = blk[:, f * width : (f + 1) * width]
        ll = m.quad[f] @ np.concatenate([x * x, x], axis=1).T  # (n_cb * n_dens, n)
        ll += m.const[f]
        ll = ll.reshape(n_cb, n_dens, n)
        top = ll.max(axis=1, keepdims=True)
        ll -= top
        np.exp(ll, out=ll)
        mix = np.matmul(m.ci_weights[f], ll)  # (n_cb, n_states, n)
        np.maximum(mix, 1e-30, out=mix)
        np.log(mix, out=mix)
        mix += top
        acc += mix
    best = acc.max(axis=1)
    acc -= best[:, None, :]
    np.exp(acc, out=acc)
    return np.asarray((best + np.log(acc.mean(axis=1))).T, dtype=np.float32)


def phone_posteriors(wav_16k: NDArray[np.float32]) -> NDArray[np.float32]:
    """(frames, len(PHONES)) posterior of each CI phone per 10 ms frame: a softmax over the phone
    scores (equal phone priors). Rows sum to 1; silence and clipping give finite rows."""
    return np.exp(log_posteriors(wav_16k)).astype(np.float32)


def log_posteriors(wav_16k: NDArray[np.float32]) -> NDArray[np.float32]:
    """(frames, phones) natural-log posteriors (a log-softmax of the phone scores), unfloored."""
    s = phone_log_scores(wav_16k).astype(np.float64)
    s -= s.max(axis=1, keepdims=True)
    s -= np.log(np.exp(s).sum(axis=1, keepdims=True))
    return np.asarray(s, dtype=np.float32)


def s2l_channels(wav_16k: NDArray[np.float32], n_out: int) -> NDArray[np.float32]:
    """(n_out, phones) log posteriors floored at LOG_POSTERIOR_FLOOR, on the log-mel frame grid
    (frame i at i * 10 ms; this model's frame j is centred 12.8 ms later); the posteriors are
    interpolated linearly, so each row still sums to 1 (up to the floor).

    Why floored: below it a phone is simply absent, and the network should not spend capacity on
    how absent (the raw values reach -1000 on digital silence)."""
    post = phone_posteriors(wav_16k)
    pos = np.clip(np.arange(n_out, dtype=np.float64) - CENTRE_FRAMES, 0.0, len(post) - 1.0)
    j0 = np.floor(pos).astype(np.int64)
    j1 = np.minimum(j0 + 1, len(post) - 1)
    w = (pos - j0)[:, None]
    at = post[j0] * (1.0 - w) + post[j1] * w
    out: NDArray[np.float32] = np.log(np.maximum(at, np.exp(LOG_POSTERIOR_FLOOR))).astype(
        np.float32)
    return out


def phones() -> tuple[str, ...]:
    """The model's CI phone names, columns of phone_posteriors (SIL, +NSN+, +SPN+ included)."""
    return load_model().phones


def __getattr__(name: str) -> tuple[str, ...]:
    """PHONES is read from the mdef on first use, so importing this module reads no files."""
    if name == "PHONES":
        return phones()
    raise AttributeError(name)
