"""How well transcripts in other languages align: espeak-ng voices with known phone timings.

`python -m blender_s2l.training.language_bench [--langs es,de,fr,it] [--rates 140,190]`

A language may name the voice that speaks it: `es:es-419` aligns the Spanish sentences, with
Spanish (Spain) pronunciations, spoken by the Latin-American voice; `de:de+f3` by a female
variant.

Each sentence (written here, rich in p, b and m) is spoken by espeak-ng through its C library,
whose phoneme events give every phone's start in the audio (sample-exact). One correction,
checked on the waveform: espeak-ng fires a stop's event at its burst, after the silent closure,
so a stop's start is moved back over the silence just before it (the closure is part of the
stop, as in every phone-labelled corpus). The true phones go through the same IPA -> ARPAbet
table as the aligner's pronunciations; the sentence is then aligned from its text alone with
`languages.align_language`, and measured:

- aligned: sentences the aligner placed, and the share of true speech time that aligned
  speech overlaps;
- boundary error: |aligned start - true start| (ms) of the phones that match in sequence;
- closure (aligned): true /p b m/ overlapped by an aligned P/B/M within ±1 frame at 30 fps;
- closure (bake): the metrics.py count (`bilabial_closure`) on the canonical landmarks the bake
  makes with the aligned phones as key poses, against the audio alone (no key poses).
"""

from __future__ import annotations

import argparse
import ctypes
import difflib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import numpy as np
from numpy.typing import NDArray

from ..core.errors import S2LError
from ..core.speech import align
from ..core.speech import audio as audio_io
from ..core.speech.languages import align_language, ipa_to_arpabet
from ..core.speech.phones import BILABIALS, SIL, Phone

FPS = 30.0
SENTENCES: dict[str, tuple[str, ...]] = {
    "es": (
        "Papá compró un barco amarillo para el verano.",
        "Mi madre bebe mucho mate por la mañana.",
        "El bombero abrió la puerta de la biblioteca.",
        "Pablo pintó un mapa bonito de Bogotá.",
        "Bajamos a la playa a buscar palmeras.",
        "Mañana tomamos el metro a la plaza mayor.",
        "Pepe perdió su bicicleta en el campo.",
        "La paloma blanca baila sobre el tejado.",
        "Mis primos compraron pan y membrillo.",
        "El pobre hombre pidió un poco más de sopa.",
        "Miguel abre la ventana y mira el mar.",
        "Bebimos limonada bajo un árbol pequeño.",
    ),
    "de": (
        "Papa bringt morgen ein paar Birnen mit.",
        "Meine Mutter backt im Sommer Pflaumenkuchen.",
        "Peter bummelt mit dem Bruder durch Bremen.",
        "Bitte bleib bei mir, bis der Bus kommt.",
        "Im Park spielen zwei Buben mit dem Ball.",
        "Mama malt ein Bild vom blauen Meer.",
        "Der Bäcker backt am Montag Brot und Brezeln.",
        "Paul baut ein Boot aus bunten Brettern.",
        "Mein Opa pflanzt Bäume am Bach.",
        "Wir probieren pünktlich um zehn ein Bier.",
        "Die Biene summt im warmen Abendlicht.",
        "Ben nimmt die Post mit zum Markt.",
    ),
    "fr": (
        "Papa a pris le bateau pour Bordeaux.",
        "Maman mange une pomme bien mûre.",
        "Le boulanger prépare du pain le matin.",
        "Paul boit un bol de lait chaud.",
        "Ma mère porte un beau chapeau blanc.",
        "Nous partons en bus pour Paris.",
        "Le petit bébé pleure dans la chambre.",
        "Marie a mis sa robe bleue pour le bal.",
        "Pierre emporte un panier de prunes.",
        "Mon ami peint un paysage de montagne.",
        "Le pompier monte par la grande échelle.",
        "Bernard aime beaucoup le beurre et le miel.",
    ),
    "it": (
        "Papà ha comprato un pacco di biscotti.",
        "La mamma prepara il pranzo per i bambini.",
        "Paolo beve un bicchiere di birra.",
        "Il bambino mangia una mela matura.",
        "Maria porta il pane al mercato.",
        "Abbiamo preso il battello per Palermo.",
        "Il pittore dipinge un paesaggio bellissimo.",
        "Mio padre ama le poesie di primavera.",
        "Bruno e Pietro parlano del campionato.",
        "Il piccolo bambino piange per la pioggia.",
        "Mettiamo le pesche in una borsa.",
        "Il pompiere sale sopra il palazzo.",
    ),
}
PAD_S = 0.25
RATES = (140, 190)  # espeak-ng words per minute: slow-ish and brisk
_STOPS = frozenset("pbtdkgɡcɟq")


# -- espeak-ng's C library: audio and phoneme events ----------------------------------------
class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.POINTER(_Event))
_SYNCHRONOUS, _PHONEME_EVENTS_IPA = 2, 0x0003  # AUDIO_OUTPUT_SYNCHRONOUS; events + IPA names
_EVENT_END, _EVENT_PHONEME, _RATE, _UTF8 = 0, 7, 1, 1


class Espeak:
    """espeak-ng loaded once (its state is global): speak() gives samples and phone events."""

    def __init__(self) -> None:
        try:
            self.lib: Any = ctypes.CDLL("libespeak-ng.so.1")
        except OSError as exc:
            raise S2LError("The language bench needs libespeak-ng.so.1 (apt install "
                           "espeak-ng).") from exc
        self.rate = int(self.lib.espeak_Initialize(_SYNCHRONOUS, 0, None, _PHONEME_EVENTS_IPA))
        self.chunks: list[NDArray[np.int16]] = []
        self.events: list[tuple[int, str]] = []
        self._callback = _CALLBACK(self._collect)  # kept: the library holds only a pointer
        self.lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav: Any, n: int, events: Any) -> int:
        if n > 0:
            self.chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while events[i].type != _EVENT_END:
            if events[i].type == _EVENT_PHONEME:
                name = bytes(events[i].id).split(b"\0")[0].decode("utf-8", "replace")
                self.events.append((int(events[i].sample), name))
            i += 1
        return 0

    def speak(self, text: str, voice: str, wpm: int) -> tuple[NDArray[np.float32], list[Phone]]:
        """16 kHz samples and the true IPA phones ("" = pause) of one sentence."""
        self.chunks, self.events = [], []
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise S2LError(f"espeak-ng has no voice {voice!r}.")
        self.lib.espeak_SetParameter(_RATE, wpm, 0)
        data = text.encode()
        self.lib.espeak_Synth(data, len(data) + 1, 0, 1, 0, _UTF8, None, None)
        self.lib.espeak_Synchronize()
        raw = np.concatenate(self.chunks).astype(np.float32) / 32768.0
        starts = [s / self.rate for s, _ in self.events] + [len(raw) / self.rate]
        phones = [Phone(starts[i], starts[i + 1], name) for i, (_, name) in
                  enumerate(self.events) if starts[i + 1] > starts[i]]
        phones = stops_from_closure(phones, raw, self.rate)
        # a recorded line has some silence around the words
        pad = np.zeros(int(PAD_S * self.rate), np.float32)
        shifted = [Phone(p.start + PAD_S, p.end + PAD_S, p.phone) for p in phones]
        padded = np.concatenate([pad, raw, pad])
        return audio_io.load_audio(padded, self.rate), shifted


def stops_from_closure(phones: list[Phone], wav: NDArray[np.float32], rate: int,
                       max_s: float = 0.15) -> list[Phone]:
    """Move each stop's start back over the silent closure espeak-ng puts before its event
    (that silence is the stop: the lips of a /p/ are shut during it)."""
    frame = rate // 200  # 5 ms
    n = len(wav) // frame
    loud = np.sqrt(np.mean(wav[: n * frame].reshape(n, frame) ** 2, axis=1))
    quiet = loud < 0.02 * float(np.percentile(loud, 95))
    out = list(phones)
    for i in range(1, len(out)):
        if not out[i].phone or out[i].phone.rstrip("ː")[:1] not in _STOPS:
            continue
        k = min(int(out[i].start * 200), n) - 1
        first = k + 1
        while k >= 0 and quiet[k] and (out[i].start - k / 200) <= max_s:
            first = k
            k -= 1
        start = max(first / 200, out[i - 1].start + 0.01)
        if start < out[i].start:
            out[i - 1] = out[i - 1]._replace(end=start)
            out[i] = out[i]._replace(start=start)
    return out


def truth_arpabet(phones: Sequence[Phone]) -> list[Phone]:
    """The true IPA phones in ARPAbet by the aligner's own table (a phone mapped to two, like
    ts, splits its time), repeats merged (Italian mm is one long m), pauses SIL."""
    out: list[Phone] = []
    for p in phones:
        arpa = ipa_to_arpabet(p.phone) or [SIL]
        step = (p.end - p.start) / len(arpa)
        for k, label in enumerate(arpa):
            start, end = p.start + k * step, p.start + (k + 1) * step
            if out and out[-1].phone == label:
                out[-1] = out[-1]._replace(end=end)
            else:
                out.append(Phone(start, end, label))
    return out


# -- measures --------------------------------------------------------------------------------
def speech(phones: Sequence[Phone]) -> list[Phone]:
    return [p for p in phones if p.phone != SIL]


def covered(truth: Sequence[Phone], aligned: Sequence[Phone]) -> float:
    """Share of true speech time that aligned speech (any phone but SIL) overlaps."""
    said = speech(aligned)
    total = sum(p.end - p.start for p in speech(truth))
    inside = sum(max(0.0, min(p.end, s.end) - max(p.start, s.start))
                 for p in speech(truth) for s in said)
    return inside / total if total else 0.0


def boundary_errors_ms(truth: Sequence[Phone], aligned: Sequence[Phone]) -> list[float]:
    """|start difference| of the phones the two sequences share, matched in order."""
    a, b = speech(truth), speech(aligned)
    match = difflib.SequenceMatcher(None, [p.phone for p in a], [p.phone for p in b],
                                    autojunk=False)
    return [abs(a[i + k].start - b[j + k].start) * 1000.0
            for i, j, size in match.get_matching_blocks() for k in range(size)]


def bilabials_hit(truth: Sequence[Phone], aligned: Sequence[Phone]) -> tuple[int, int]:
    """(true /p b m/ overlapped by an aligned P/B/M within ±1 frame, true /p b m/)."""
    tol = 1.0 / FPS
    shut = [p for p in aligned if p.phone in BILABIALS]
    labials = [p for p in truth if p.phone in BILABIALS]
    hit = sum(any(s.start < p.end + tol and p.start - tol < s.end for s in shut)
              for p in labials)
    return hit, len(labials)


@dataclass
class Tally:
    sentences: int = 0
    aligned: int = 0
    coverage: list[float] = field(default_factory=list)
    errors: list[float] = field(default_factory=list)
    phones: int = 0
    hit: int = 0
    labials: int = 0
    audio_s: float = 0.0
    align_s: float = 0.0
    second_try: int = 0
    bake: list[float] = field(default_factory=list)
    audio_only: list[float] = field(default_factory=list)


def bake_closure(anim: Any, wav: NDArray[np.float32], truth: Sequence[Phone],
                 phones: Sequence[Phone] | None) -> float:
    """metrics.bilabial_closure on the bake's canonical landmarks (key poses from phones)."""
    from .evaluate import rest_width
    from .metrics import bilabial_closure, lip_gap

    times = np.arange(int(len(wav) / audio_io.SAMPLE_RATE * FPS) + 1) / FPS
    track = anim.landmarks(wav, fps=FPS, phones=list(phones) if phones else None)
    return bilabial_closure(lip_gap(track, rest_width()), truth, times)


def run(langs: Sequence[str], rates: Sequence[int], bake: bool) -> dict[str, Tally]:
    """Every sentence of each language (`lang` or `lang:voice`) at each rate, tallied."""
    espeak = Espeak()
    anim: Any = None
    if bake:
        from ..core.animate import Animator

        anim = Animator.load(device="cpu")
    tallies: dict[str, Tally] = {}
    # counts the sentences the first search lost (align_language's second try, wide beams)
    with mock.patch.object(align, "aligner", wraps=align.aligner) as made:
        for spec in langs:
            lang, _, voice = spec.partition(":")
            t = tallies.setdefault(spec, Tally())
            for wpm in rates:
                for text in SENTENCES[lang]:
                    wav, ipa = espeak.speak(text, voice or lang, wpm)
                    measure(t, anim, wav, truth_arpabet(ipa), text, lang)
            t.second_try = sum(bool(c.kwargs.get("wide")) for c in made.call_args_list)
            made.reset_mock()
    return tallies


def measure(t: Tally, anim: Any, wav: NDArray[np.float32], truth: list[Phone], text: str,
            lang: str) -> None:
    """One sentence aligned from its text and measured against its true phones."""
    t.sentences += 1
    t.phones += len(speech(truth))
    t.audio_s += len(wav) / audio_io.SAMPLE_RATE
    started = time.perf_counter()
    try:
        aligned = align_language(wav, text, lang)
    except S2LError as exc:
        print(f"  {lang} not aligned: {text} ({exc})")
        aligned = []
    t.align_s += time.perf_counter() - started
    if aligned:
        t.aligned += 1
        t.coverage.append(covered(truth, aligned))
        t.errors.extend(boundary_errors_ms(truth, aligned))
    hit, n = bilabials_hit(truth, aligned)
    t.hit += hit
    t.labials += n
    if anim is not None:
        t.bake.append(bake_closure(anim, wav, truth, aligned))
        t.audio_only.append(bake_closure(anim, wav, truth, None))


def table(tallies: dict[str, Tally]) -> str:
    head = ("| language | sentences aligned | speech covered | boundary error median / mean "
            "(ms, matched phones) | /p b m/ aligned (±1 frame) | closure on the bake: key "
            "poses / audio alone (mean of sentences) | second search | align time |")
    rows = [head, "|" + "---|" * 8]
    for lang, t in tallies.items():
        errors = np.array(t.errors) if t.errors else np.array([np.nan])
        bake = (f"{np.nanmean(t.bake):.2f} / {np.nanmean(t.audio_only):.2f}" if t.bake
                else "-")
        rows.append(
            f"| {lang} | {t.aligned}/{t.sentences} | "
            f"{np.mean(t.coverage) if t.coverage else 0:.1%} | "
            f"{np.median(errors):.0f} / {np.mean(errors):.0f} ({len(t.errors)} of {t.phones}) | "
            f"{t.hit}/{t.labials} = {t.hit / max(t.labials, 1):.3f} | {bake} | {t.second_try} | "
            f"{t.align_s / max(t.audio_s, 1e-9):.2f}x real time ({t.audio_s:.0f} s) |")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--langs", default="es,de,fr,it")
    ap.add_argument("--rates", default=",".join(map(str, RATES)))
    ap.add_argument("--no-bake", action="store_true", help="alignment only, no landmarks")
    args = ap.parse_args(argv)
    tallies = run(args.langs.split(","), [int(r) for r in args.rates.split(",")],
                  not args.no_bake)
    print(table(tallies))


if __name__ == "__main__":
    main()
