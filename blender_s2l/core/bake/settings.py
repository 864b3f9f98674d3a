"""How to bake, in one place: every bake option is declared once, here, and the rest is built.

An option used to be spelled out in five files (these settings, the scene's panel properties,
the operator's properties and the panel's copy onto it, the batch flags and the manifest
columns), and the copies drifted apart: tooltips in one, soft limits in another. Now each field
of BakeSettings carries an Option that says how the option is typed, bounded, explained and
spelled wherever it appears, and the panel, the operator, the batch command line and the
manifest are generated from the table. BakeSettings stays a plain frozen dataclass, so type
checkers still see every field, and BakeParams and Job still inherit them.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field, fields, replace
from typing import Any, Generic, Literal, TypeVar

import numpy as np

from ..errors import S2LError
from ..models.load import DEVICE_CHOICES
from ..speech.lip_closure import DEFAULT_SENSITIVITY
from .plans import MODE_CHOICES

T = TypeVar("T", bool, int, float, str)
Kind = Literal["bool", "int", "float", "str", "enum"]
Choice = tuple[str, str, str]  # (identifier, label, description), as Blender's enum items
PATH_SUBTYPES = ("FILE_PATH", "DIR_PATH")
_SPEC = "s2l.option"  # the key of an Option in its dataclass field's metadata

@dataclass(frozen=True)
class Option(Generic[T]):
    """One bake option: its type (from the default), bounds, words, and where it appears.

    The surfaces read only these attributes, so a new option is one declaration: a field of
    BakeSettings built with `as_field()` (or an entry in BESIDE for a choice that is no
    setting of the bake itself).
    """

    default: T
    label: str
    description: str = ""  # the tooltip, also in the operator's redo panel
    _: KW_ONLY
    choices: tuple[Choice, ...] = ()  # makes it an enum
    min: float | None = None
    max: float | None = None
    soft_min: float | None = None
    soft_max: float | None = None
    subtype: str = ""  # Blender's: FILE_PATH, DIR_PATH, FACTOR
    options: frozenset[str] = frozenset()  # Blender's property options: HIDDEN, SKIP_SAVE
    # The add-on preference an unset value falls back to; the panel's enum then starts with
    # a "Default" item that leaves the choice to the preferences.
    prefs: str = ""
    panel: int = 0  # the sidebar's rows ascend by this; unset keeps the option off the panel
    beside: bool = False  # in the row of the panel option before it
    toggle: bool = False  # drawn as a button rather than a checkbox
    # Whether the panel row is editable, given the scene's settings (greyed out otherwise).
    active: Callable[[Any], bool] | None = None
    operator: bool = True  # a property of the bake operator
    # The batch spelling. A bool flag sets the opposite of its default ("--no-upper-face");
    # "--x/--no-x" is a tri-state that leaves the default when neither is given.
    flag: str = ""
    flag_help: str = ""
    cli_value: Callable[[Any], Any] | None = None  # turns the parsed flag into the value
    column: str = ""  # the manifest column that sets it per line
    name: str = ""  # filled from the field's name

    @property
    def kind(self) -> Kind:
        """Read off the default, so that a declaration cannot contradict itself."""
        if self.choices:
            return "enum"
        if isinstance(self.default, bool):
            return "bool"
        if isinstance(self.default, int):
            return "int"
        return "float" if isinstance(self.default, float) else "str"

    @property
    def ids(self) -> tuple[str, ...]:
        """The identifiers an enum accepts."""
        return tuple(c[0] for c in self.choices)

    @property
    def noun(self) -> str:
        """How a sentence about a bad value names the option: as the user spelled its column."""
        return self.column or self.label.lower()

    def as_field(self) -> T:
        """This option as a dataclass field with its default (the type checker sees a T)."""
        spec: dict[str, Any] = {_SPEC: self}
        value: T = field(default=self.default, metadata=spec)
        return value


def _blinks(settings: Any) -> bool:
    return bool(settings.upper_face)


def _no_words_given(settings: Any) -> bool:
    """Words are only recognised where neither a phones file nor a transcript gives them."""
    return not (settings.phones_file or settings.transcript.strip())


def _has_transcript(settings: Any) -> bool:
    """The language is the transcript's: greyed out without one."""
    return bool(settings.transcript.strip())


def _language_code(value: str) -> str:
    """Codes as espeak-ng lists them: lower case (ES or pt-BR work too)."""
    return value.strip().lower()


def _transcript_text(value: str) -> str:
    """A line's words are long for a shell, so `@file` reads them from a file."""
    from ..speech.align import transcript_arg  # align pulls in the audio stack: only when asked

    return transcript_arg(value)


@dataclass(frozen=True)
class BakeSettings:
    """The user's choices that do not name Blender data (object, strip, take live beside them)."""

    replace: bool = Option(
        False, "Replace", "Replace an existing take of the same name", panel=130, beside=True,
        toggle=True, flag="--replace", flag_help="replace a take of the same name",
    ).as_field()
    mode: str = Option(
        "COMPACT", "Mode", choices=MODE_CHOICES, prefs="default_mode", panel=20,
        flag="--mode", column="mode",
    ).as_field()
    device: str = Option(
        "AUTO", "Device", choices=DEVICE_CHOICES, prefs="device", panel=10,
        flag="--device", column="device",
    ).as_field()
    seed: int = Option(
        0, "Seed", "Seed of the blink and brow motion", min=0, panel=50, beside=True,
        active=_blinks, flag="--seed", column="seed",
    ).as_field()
    mouth_strength: float = Option(
        1.0, "Mouth Strength", min=0.0, max=3.0, soft_max=2.0, panel=30,
        flag="--mouth-strength", column="mouth_strength",
    ).as_field()
    upper_face: bool = Option(
        True, "Upper Face", "Add blinks and brow motion (not from audio)", panel=40,
        flag="--no-upper-face",
    ).as_field()
    # A scan or sculpt with its eyes shut has no lids to close, so by default it gets no
    # blink; a user who means it to blink anyway (lids modelled shut, to be opened by a key of
    # their own) asks for the landmark-driven blink the bake used before it read the lids.
    blink_closed_eyes: bool = Option(
        False, "Blink Closed Eyes",
        "Also blink eyes that are closed in the mesh's neutral, by the landmarks' motion "
        "(off: they stay as modelled)", panel=55, active=_blinks,
        flag="--blink-closed-eyes", column="blink_closed_eyes",
        flag_help="blink eyes that are closed in the mesh's neutral too (landmark motion)",
    ).as_field()
    smoothing: float = Option(
        0.0, "Smoothing", min=0.0, max=1.0, subtype="FACTOR", panel=60, flag="--smoothing",
        column="smoothing",
    ).as_field()
    lip_closure: float = Option(
        1.0, "Lip Closure",
        "How firmly the lips meet on p, b and m where the model hears a closure",
        min=0.0, max=1.0, subtype="FACTOR", panel=70, flag="--lip-closure", column="lip_closure",
        flag_help="0-1: how firmly the lips meet on p/b/m (default 1)",
    ).as_field()
    # The default was chosen on real development speech (lip_closure.DEFAULT_SENSITIVITY).
    closure_sensitivity: float = Option(
        DEFAULT_SENSITIVITY, "Closure Sensitivity",
        "How sure the model must be that it hears p, b or m before the lips meet. "
        "Higher closes more of them, and sometimes the lips inside a vowel",
        min=0.0, max=1.0, subtype="FACTOR", panel=80, flag="--closure-sensitivity",
        column="closure_sensitivity",
        flag_help="0-1: how sure the model must be of a p/b/m before the lips meet "
                  f"(default {DEFAULT_SENSITIVITY:g}; higher closes more, some inside vowels)",
    ).as_field()
    # Key poses come from a phone alignment of the line, else from its words aligned to the
    # audio (needs pocketsphinx), else, with neither, from the words pocketsphinx hears.
    phones_file: str = Option(
        "", "Phones",
        "Optional phone alignment of the line (.lab, TextGrid, .tsv): every p, b, m "
        "in it closes the lips exactly (key poses)",
        subtype="FILE_PATH", panel=90, flag="--phones",
        flag_help="phone alignment of the line (.lab/TextGrid/.tsv): key poses on p/b/m",
        column="phones",
    ).as_field()
    transcript: str = Option(
        "", "Transcript",
        "Optional words of the line, aligned to the sound for key poses "
        "(needs the pocketsphinx package; a Phones file takes precedence)",
        panel=100, flag="--transcript", cli_value=_transcript_text,
        flag_help="words of the line (or @file), aligned to the audio for key poses",
        column="transcript",
    ).as_field()
    # Transcripts in other languages are pronounced by espeak-ng (speech/languages.py); "en"
    # keeps pocketsphinx's own English dictionary. A string, not an enum: the list of
    # languages is whatever espeak-ng has on the machine that bakes.
    language: str = Option(
        "en", "Language",
        "Language of the Transcript, as an espeak-ng code: en (English, the default), es, "
        "de, fr, it, pt-br, ... (espeak-ng --voices lists them). Applies to the transcript "
        "only; other languages need the espeak-ng program",
        panel=105, active=_has_transcript, flag="--language", cli_value=_language_code,
        flag_help="language of the transcript: an espeak-ng code such as es, de, fr, it, "
                  "pt-br (default en; needs espeak-ng for any other)",
        column="language",
    ).as_field()
    recognise_words: bool = Option(
        True, "Recognise Words",
        "Without Phones or Transcript, recognise the line's words (pocketsphinx) and "
        "close the lips on their p, b and m. Catches far more closures on real "
        "voices; adds a few seconds a minute of speech (BENCHMARKS.md). Without "
        "pocketsphinx the bake uses the audio alone",
        panel=110, active=_no_words_given, flag="--recognise-words/--no-recognise-words",
        flag_help="lines without --phones/--transcript: key poses on the p/b/m of the "
                  "words pocketsphinx hears (many more real closures; a few seconds a "
                  "minute of speech). Default: on where pocketsphinx is installed; "
                  "--recognise-words fails without it",
    ).as_field()
    # Rig Shape Keys (issue 17): names the recogniser does not know. The panel keeps the same
    # table on the head object; a file serves batch and scripts.
    rig_map: str = Option(
        "", "Rig Map",
        "Optional JSON file giving the shape key of each rig name that Rig Shape Keys does not "
        'recognise, such as {"jawOpen": "Mouth_Open"} (added to the head\'s own table)',
        subtype="FILE_PATH", flag="--rig-map",
        flag_help='JSON {rig name: shape key name} for Rig Shape Keys, e.g. '
                  '{"jawOpen": "Mouth_Open"}',
    ).as_field()
    # The jaw bone a rig bake keys, by name: the panel keeps its pick on the head object (the
    # Rig sub-panel); this one, when given, goes before it, so batch and scripts can name it.
    jaw_bone: str = Option(
        "", "Jaw Bone",
        "Rig Shape Keys: the bone of the head's armature that opens the jaw; empty uses the one "
        "picked in the Rig sub-panel, else a bone named like a jaw",
        flag="--jaw-bone",
        flag_help="Rig Shape Keys: the armature's jaw bone (default: the one picked in the "
                  "Rig sub-panel, else a bone named like a jaw)",
        column="jaw_bone",
    ).as_field()
    weights_dir: str = Option(
        "", "Weights Folder", "Folder with the model files; empty uses the preferences' folder",
        subtype="DIR_PATH", options=frozenset({"HIDDEN", "SKIP_SAVE"}), prefs="weights_dir",
        flag="--weights", flag_help="folder with the model files",
    ).as_field()
    # Where recognised phones and speech-model tracks of lines already heard are kept
    # (core/bake/cache.py); empty uses the preferences' folder.
    cache_dir: str = Option(
        "", "Cache Folder",
        "Folder for the phones and speech-model output of lines already baked; empty uses the "
        "preferences' folder",
        subtype="DIR_PATH", options=frozenset({"HIDDEN", "SKIP_SAVE"}), prefs="cache_dir",
        flag="--cache-dir",
        flag_help="folder that keeps recognised words and speech-model output of lines "
                  "already baked, so a re-bake skips them (default: the add-on's user folder)",
    ).as_field()
    tolerance_mm: float = Option(
        0.1, "Tolerance (mm)", "Largest error a compact bake allows any vertex", min=0.0,
        operator=False,
    ).as_field()


# Choices made beside the settings: a take names Blender data (its NLA track), so BakeParams
# and Job carry it themselves, yet the panel, operator, flags and manifest offer it like the rest.
BESIDE: tuple[Option[Any], ...] = (
    Option("", "Take", "Take name; empty uses the strip's name", panel=120, flag="--take",
           column="take", name="take"),
)


def options_of(settings: type) -> tuple[Option[Any], ...]:
    """The Options declared by a settings dataclass's fields, in field order, named.

    Checks what a type checker cannot: that the default's type is the field's, so a float
    declared with an int default does not become an integer property.
    """
    found: list[Option[Any]] = []
    for f in fields(settings):
        spec = f.metadata.get(_SPEC)
        if spec is None:
            raise TypeError(f"{settings.__name__}.{f.name} is not declared with Option.as_field()")
        spec = replace(spec, name=f.name)
        _check(spec, str(f.type))
        found.append(spec)
    return tuple(found)


def _check(spec: Option[Any], annotation: str) -> None:
    expected = "str" if spec.kind == "enum" else spec.kind
    if annotation != expected:
        raise TypeError(f"Option {spec.name}: a {annotation} field with a {expected} default")
    if spec.kind == "enum" and spec.default not in spec.ids:
        raise TypeError(f"Option {spec.name}: default {spec.default!r} is not one of its choices")
    if spec.beside and not spec.panel:
        raise TypeError(f"Option {spec.name}: beside another row but not on the panel")


def table_of(settings: type = BakeSettings,
             beside: tuple[Option[Any], ...] = BESIDE) -> tuple[Option[Any], ...]:
    """Every option: the take first, where the command line has always listed it."""
    return (*beside, *options_of(settings))


OPTIONS = table_of()
OPTION: dict[str, Option[Any]] = {o.name: o for o in OPTIONS}


def choice_ids(name: str) -> tuple[str, ...]:
    """The identifiers an enum option accepts."""
    return OPTION[name].ids


MODES = choice_ids("mode")
DEVICES = choice_ids("device")


def panel_rows(table: tuple[Option[Any], ...] = OPTIONS) -> list[tuple[Option[Any], ...]]:
    """The sidebar's rows, top down; options drawn beside another share its row."""
    rows: list[tuple[Option[Any], ...]] = []
    for o in sorted((o for o in table if o.panel), key=lambda o: o.panel):
        if o.beside and rows:
            rows[-1] = (*rows[-1], o)
        else:
            rows.append((o,))
    return rows


def panel_copies(table: tuple[Option[Any], ...] = OPTIONS) -> tuple[Option[Any], ...]:
    """What the panel hands to the operator it offers: its rows that are operator properties."""
    return tuple(o for row in panel_rows(table) for o in row if o.operator)


def settings_of(obj: Any) -> dict[str, Any]:
    """The BakeSettings fields of any object that has them (a job, an operator, params)."""
    return {f.name: getattr(obj, f.name) for f in fields(BakeSettings) if hasattr(obj, f.name)}


def check_values(settings: BakeSettings) -> None:
    """Hold every number to its option's range with one sentence: the panel's sliders stop
    there, but the Python API, a manifest or a script can hand over anything. The language
    must be one espeak-ng knows (or en)."""
    from ..speech.languages import check_language

    if not isinstance(settings.language, str):
        raise S2LError("The language must be a code such as en, es or de.")
    check_language(settings.language, settings.transcript)
    for o in options_of(BakeSettings):
        if o.kind not in ("int", "float") or (o.min is None and o.max is None):
            continue
        value = getattr(settings, o.name)
        name = o.label[:1] + o.label[1:].lower()
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise S2LError(f"{name} must be a number.")
        low = -float("inf") if o.min is None else o.min
        high = float("inf") if o.max is None else o.max
        if not low <= float(value) <= high:  # NaN fails too
            if o.max is None:
                raise S2LError(f"{name} must be at least {low:g}.")
            raise S2LError(f"{name} must be between {low:g} and {high:g}.")
