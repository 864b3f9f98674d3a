"""The public API: audio + neutral mesh -> per-frame motion (ARCHITECTURE.md has the flow).

    anim = Animator.load(device="auto")
    lm = anim.landmarks("speech.wav", fps=30.0)
    mo = anim.animate("speech.wav", vertices, faces, landmarks68=None, fps=30.0, seed=0)
    mo = anim.animate("speech.wav", vertices, faces, settings=BakeSettings(mouth_strength=0.8))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .bake.cache import BakeCache, model_identity
from .bake.settings import BakeSettings, check_values
from .errors import S2LError
from .head.head_mesh import head_mesh
from .head.hold_still import check_hold, motion_weights
from .head.inner_parts import JawModel, jaw_motion
from .head.landmarks import canonical_neutral
from .head.lip_contact import contact_weight, regression_contact
from .head.mesh import FacesLike, validate_mesh
from .models.inference import (
    FEATURE_RATE,
    S2LTrack,
    rest_response,
    run_s2l,
    sample_at_times,
    smooth_track,
)
from .models.load import load_models
from .models.runners import s2d_runner, s2l_runner
from .models.upper_face import BLINK_COLUMNS, UpperFaceModel, sample_upper_face_weights
from .motion import Motion
from .progress import CancelFn, ProgressFn, Task, as_task, on_another_thread
from .speech import audio as audio_io
from .speech.audio import MAX_SECONDS
from .speech.features import N_MELS, s2l_input, silence_input
from .speech.key_poses import check_phones, closure_from_phones, open_from_phones
from .speech.lip_closure import (
    ACOUSTIC_GATE_ID,
    CLOSURE_HIGH,
    CLOSURE_LOW,
    acoustic_gate,
    close_lips,
    closure_at_frames,
    closure_at_times,
    gated_weight,
    press_factor,
    sensitivity_range,
    without_pauses,
)
from .speech.phones import Phone

AudioInput = str | Path | NDArray[np.floating[Any]]
SMOOTHING_MAX_SIGMA_S = 0.04  # smoothing=1.0 -> Gaussian sigma of 40 ms
MAX_FPS = 240.0  # the highest common scene rate; it only sizes MAX_FRAMES
# The most frames one call computes: the longest sound (audio.MAX_SECONDS, 30 min) at MAX_FPS,
# from frame 0 to the one at its end.
MAX_FRAMES = int(MAX_SECONDS * MAX_FPS) + 1
# Frame times may reach this far before the sound's start or past the longest sound's end (the
# face is at rest there): room for any scene around a strip, a bound on the blink timeline.
MAX_OUTSIDE_S = MAX_SECONDS

__all__ = ["Animator", "BakeSettings", "Motion"]


class Animator:
    """Holds the three models; thread-safe for sequential use by one worker.

    s2l and s2d are numpy networks (the CPU runtime, no torch needed) or, on CUDA, torch modules
    built from the same .npz arrays and moved to `device`.
    """

    def __init__(
        self,
        s2l: Any,
        s2d: Any,
        upper: UpperFaceModel,
        device: Any = "cpu",
        jaw: JawModel | None = None,
    ) -> None:
        torch_device = None if isinstance(device, str) else device
        self.s2l = s2l_runner(s2l, torch_device)
        self.s2d = s2d_runner(s2d, torch_device)
        self.upper = upper
        self.jaw = jaw  # None: separate inner parts keep the network's motion
        self.device = str(device)
        self._rest = rest_response(self.s2l, silence_input(self.s2l.config.n_acoustic))
        # Closure-head probability range mapped onto 0..1 closing (see lip_closure.py).
        self.closure_range = (CLOSURE_LOW, CLOSURE_HIGH)
        self._s2l_identity: str | None = None

    @property
    def s2l_identity(self) -> str:
        """The S2L weights and engine and the acoustic gate, as a cache key (computed once)."""
        if self._s2l_identity is None:
            self._s2l_identity = f"{model_identity(self.s2l)}|{ACOUSTIC_GATE_ID}"
        return self._s2l_identity

    @classmethod
    def load(cls, device: str = "auto", weights_dir: str | Path | None = None) -> Animator:
        """Bundled weights unless weights_dir or $BLENDER_S2L_WEIGHTS points elsewhere.

        "auto" and "cpu" run the numpy networks (no torch import); "cuda" runs torch modules
        built from the same .npz files (models/load.py).
        """
        m = load_models(device, weights_dir)
        return cls(m.s2l, m.s2d, m.upper, m.device, m.jaw)

    # -- speech -> landmarks ------------------------------------------------------------------
    def _speech_displacement(
        self, wav: NDArray[np.float32], times: NDArray[np.float64], settings: BakeSettings,
        phones: list[Phone], task: Task, cache: BakeCache | None = None,
    ) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
        """(canonical landmark displacement, contact weight, contact per column) at the frame
        times: the weight (T,) in [0, 1] says how far each frame's lips must close on the mesh
        itself (lip_contact.py): labelled /p b m/, and the closure head's short closed runs (not
        pauses, where the lips rest at the mesh's own neutral). Per column (T, 3) it is the
        larger of that and the share by which the landmark track itself closed the lips."""
        s = settings
        duration = len(wav) / audio_io.SAMPLE_RATE
        task.check()

        out = self._s2l_output(wav, task, cache)
        track = out.disp - self._rest
        if s.smoothing > 0:
            track = smooth_track(track, s.smoothing * SMOOTHING_MAX_SIGMA_S * FEATURE_RATE)
        disp = sample_at_times(track, times)
        contact = np.zeros(len(times), np.float32)
        columns = np.zeros((len(times), 3), np.float32)
        if s.lip_closure > 0:
            weight = np.zeros(len(times), np.float32)
            if out.closure is not None:
                low, high = sensitivity_range(s.closure_sensitivity, self.closure_range)
                weight = gated_weight(out.closure, out.gate, times, FEATURE_RATE, low, high)
            anchored = np.zeros(len(times), np.float32)
            if phones:
                # No guessed closure inside a known other sound (an /n/ the head took for /m/)...
                free = ~open_from_phones(phones, FEATURE_RATE, len(track))
                weight = weight * closure_at_times(free.astype(np.float32), times, FEATURE_RATE)
                # ... and key poses: every labelled /p b m/ shuts the lips.
                anchored = closure_at_frames(
                    closure_from_phones(phones, FEATURE_RATE, len(track)), times, FEATURE_RATE,
                    fill_dips=False)
            contact = np.maximum(contact_weight(without_pauses(weight, times)), anchored)
            contact = (contact * s.lip_closure).astype(np.float32)
            weight = np.maximum(weight, anchored)
            disp = close_lips(disp, weight, s.lip_closure, press_factor(weight, times))
            columns = np.maximum(contact[:, None],
                                 regression_contact(disp, times) * s.lip_closure)
        # Outside the sound the face is at rest, never holding the last mouth shape.
        outside = (times < 0) | (times > duration)
        disp[outside] = 0.0
        contact[outside] = 0.0
        columns[outside] = 0.0
        return disp, contact.astype(np.float32), columns.astype(np.float32)

    def _s2l_output(self, wav: NDArray[np.float32], task: Task,
                    cache: BakeCache | None) -> S2LTrack:
        """S2L's output for loudness-normalised samples with the acoustic gate read from the
        same input, from the cache when it holds them."""
        def compute() -> S2LTrack:
            feats = s2l_input(wav, self.s2l.config.n_acoustic)
            out = run_s2l(self.s2l, feats, progress=task, cancel=task.cancel)
            if out.closure is None:
                return out
            return S2LTrack(out.disp, out.closure, acoustic_gate(feats, N_MELS, FEATURE_RATE))

        if cache is None:
            return compute()
        return cache.s2l_track(wav, self.s2l_identity, self.s2l.config.n_landmarks, compute)

    def hear_speech(self, audio: AudioInput, cache: BakeCache) -> None:
        """Put the sound's S2L output in the cache ahead of the bake that will use it (a bake
        runs this while the recogniser's helpers decode the words)."""
        wav = audio_io.normalise_loudness(audio_io.load_audio(audio))
        self._s2l_output(wav, Task(), cache)

    def landmarks(
        self,
        audio: AudioInput,
        fps: float = 30.0,
        *,
        settings: BakeSettings | None = None,
        sample_rate: int | None = None,
        frame_times: NDArray[np.floating[Any]] | None = None,
        phones: Sequence[tuple[float, float, str]] | None = None,
        **choices: Any,
    ) -> NDArray[np.float32]:
        """(T, 68, 3) canonical-mm landmarks: canonical neutral + speech-driven displacement.

        The settings (or their fields as keywords: smoothing, lip_closure, closure_sensitivity)
        shape the mouth as in a bake; `phones` ((start, end, ARPAbet) seconds) are key poses."""
        s = bake_choices(settings, choices)
        check_timing(fps, frame_times)
        wav, times = _sound_and_times(audio, sample_rate, fps, frame_times, s)
        disp, _, _ = self._speech_displacement(wav, times, s, check_phones(phones or []),
                                               Task())
        return (canonical_neutral()[None] + disp).astype(np.float32)

    # -- landmarks -> dense --------------------------------------------------------------------
    def animate(
        self,
        audio: AudioInput,
        vertices: NDArray[np.floating[Any]],
        faces: FacesLike,
        landmarks68: NDArray[Any] | None = None,
        fps: float = 30.0,
        *,
        settings: BakeSettings | None = None,
        sample_rate: int | None = None,
        frame_times: NDArray[np.floating[Any]] | None = None,
        phones: Sequence[tuple[float, float, str]] | None = None,
        hold: NDArray[np.floating[Any]] | None = None,
        progress: ProgressFn | Task | None = None,
        cancel: CancelFn | None = None,
        rigid_parts: bool = True,
        lip_contact: bool = True,
        eyelids: bool = True,
        cache: BakeCache | None = None,
        **choices: Any,
    ) -> Motion:
        """Motion of the given neutral mesh driven by the audio, in the mesh's own space.

        settings: the bake's choices (BakeSettings); any of its fields may also be given as a
        keyword (seed=, mouth_strength=, upper_face=, smoothing=, lip_closure=,
        closure_sensitivity=) and wins over `settings`.
        hold: (V,) weights in [0, 1], 1 where the mesh must not move (painted by the user); the
        neck and below never move (see hold_still.py).
        rigid_parts: separate parts deep inside the head (eyeballs, teeth) stay with the skull
        or ride the jaw rigidly instead of bending with the network (see inner_parts.py).
        lip_contact: closures make this mesh's inner lips touch whatever their rest gap, and
        the lips never cross (see lip_contact.py); False leaves the network's motion as is.
        eyelids: blinks carry this mesh's upper lids onto its lower lids, over the eye, and
        eyes closed in the neutral do not blink (see eyelids.py); False: the network's blink.
        cache: a BakeCache (bake/cache.py) that keeps the S2L output of a sound already heard,
        and what was found on this mesh (head_mesh.py).
        """
        s = bake_choices(settings, choices)
        check_timing(fps, frame_times)
        task = as_task(progress, cancel)
        verts = np.asarray(vertices, dtype=np.float64)
        validate_mesh(verts, faces)
        if hold is not None:
            check_hold(hold, len(verts))
        head = head_mesh(verts, faces, landmarks68, cache)  # found once a mesh (head_mesh.py)
        lm_pos, sim = head.landmarks, head.sim
        task(0.0)
        wav, times = _sound_and_times(audio, sample_rate, fps, frame_times, s)
        known = check_phones(phones or [])
        # S2L hears the line on another thread while this one finds what the bake needs of the
        # mesh (numpy lets go of the GIL in both): a first bake waits for the longer of the
        # two, not their sum. That thread reports no progress (the bar may belong to Blender,
        # which only its own thread may touch); it stops when the bake is cancelled.
        speech = on_another_thread(lambda: self._speech_displacement(
            wav, times, s, known, Task(cancel=task.cancel), cache), "s2l-speech")
        try:
            found_lids = head.eyelids() if s.upper_face and eyelids else None
            basis_c = head.s2d_basis(self.s2d)
            parts = head.inner_parts(self.jaw) if rigid_parts and self.jaw is not None else None
            found = head.lip_contact() if lip_contact else None
        except BaseException:
            speech(quiet=True)  # no bake's thread outlives the bake; this error is the one
            raise
        disp, contact, columns = speech()
        task(0.6)
        disp *= np.float32(s.mouth_strength)
        task.check()
        verts_c, lm_c = head.vertices_c, head.landmarks_c
        lids = None
        blink = np.zeros((len(times), 2), np.float32)
        if s.upper_face:
            upper_w = sample_upper_face_weights(times, s.seed)
            if found_lids is not None:
                # The net moves the brows (and the blink of an eye whose opening was not
                # found); the mesh's own lids make the rest of the blink.
                lids = found_lids
                if s.blink_closed_eyes:
                    lids = lids.closed_eyes_follow_landmarks()
                blink = upper_w[:, list(BLINK_COLUMNS)].copy()
                for k, column in enumerate(BLINK_COLUMNS):
                    if k not in lids.net_blinks:
                        upper_w[:, column] = 0.0
            disp += self.upper.motion_of(upper_w)
        task(0.8)
        task.check()
        codes = self.s2d.codes(disp)
        if parts is not None:
            basis_c, codes = parts.extend(basis_c, codes, disp)
        notes: tuple[str, ...] = ()
        if found is not None:
            if isinstance(found, str):
                notes = (f"Lips are not closed on this mesh: {found}; check the inner-lip "
                         "landmarks (62 and 66).",)
            else:
                weight = columns * (s.mouth_strength > 0)
                basis_c, codes, amounts = found.extend(basis_c, codes, weight)
                disp = disp + _at_landmarks(amounts, found.landmark_fields)
        if lids is not None:
            notes += lids.notes()
            basis_c, codes, amounts, lm_fields = lids.extend(basis_c, codes, blink)
            disp = disp + _at_landmarks(amounts, lm_fields)
        basis_c = basis_c * motion_weights(verts_c, lm_c, hold)[None, :, None]
        inv = sim.inverse()
        j, v, _ = basis_c.shape
        basis = inv.apply_vectors(basis_c.reshape(-1, 3)).reshape(j, v, 3)
        lm_track = lm_pos[None].astype(np.float32) + inv.apply_vectors(
            disp.reshape(-1, 3)
        ).reshape(disp.shape)
        task(1.0)
        return Motion(
            frame_times=times,
            landmarks=lm_track.astype(np.float32),
            codes=codes.astype(np.float32),
            basis=basis.astype(np.float32),
            mm_per_unit=float(sim.scale),
            landmark_source=head.source,
            notes=notes,
            closure=(contact * (s.mouth_strength > 0)).astype(np.float32),
            jaw=None if self.jaw is None else jaw_motion(self.jaw, disp, sim),
        )


def _at_landmarks(amounts: NDArray[np.float64], fields: NDArray[np.floating[Any]]
                  ) -> NDArray[np.float32]:
    """(T, 68, 3) landmark motion of appended fields (J, 68, 3) at amounts (T, J), summed in
    float64 as einsum sums them. The fields are made float64 and contiguous first: einsum
    over a strided float32 operand against a float64 one casts in small buffers, many times
    slower for the same sums."""
    out: NDArray[np.float32] = np.einsum(
        "tj,jlc->tlc", amounts, np.ascontiguousarray(fields, dtype=np.float64)
    ).astype(np.float32)
    return out


def bake_choices(settings: BakeSettings | None, choices: dict[str, Any]) -> BakeSettings:
    """The settings with any fields given as keywords, checked where a number has a range."""
    base = settings if settings is not None else BakeSettings()
    known = {f.name for f in fields(BakeSettings)}
    unknown = sorted(set(choices) - known)
    if unknown:
        raise TypeError(f"animate() got unexpected keyword arguments: {', '.join(unknown)}")
    s = replace(base, **choices) if choices else base
    check_values(s)
    return s


# -- the frame times a call asks for --------------------------------------------------------
# The public methods' timing arguments are checked before any audio is read: each one sizes
# work (frames to compute, a smoothing kernel, a blink timeline), so an absurd value is a hang
# or a huge allocation, not merely a wrong answer: fps 1e6 asked for millions of frames, frame
# times spanning 1e7 s kept the blink generator busy long after any bake would have ended, and
# smoothing 1e9 asked for more memory than any machine has (check_values holds the settings).
def check_timing(fps: Any, frame_times: Any) -> None:
    """The public methods' timing arguments (fps counts only without frame_times)."""
    if frame_times is None:
        check_fps(fps)
    else:
        check_frame_times(frame_times)


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool | str | bytes):
        raise S2LError(f"{what} must be a number; got {value!r:.40}.")
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        raise S2LError(f"{what} must be a number; got {value!r:.40}.") from None


def check_fps(fps: Any) -> float:
    """fps as a float if it is a frame rate (finite, above 0); how many frames it makes of a
    sound is bounded where the sound's length is known (default_frame_times)."""
    rate = _number(fps, "The frame rate (fps)")
    if not (np.isfinite(rate) and rate > 0.0):
        raise S2LError(f"The frame rate must be a positive number of frames per second; "
                       f"got {rate:g}.")
    return rate


def check_frame_times(frame_times: Any) -> NDArray[np.float64]:
    """Caller-given frame times (seconds into the sound), if they are a bounded amount of work:
    at most MAX_FRAMES, finite, and within MAX_OUTSIDE_S of where a sound can be; and in order,
    since the closing weight, the presses and the pauses are read from neighbouring frames."""
    try:
        times = np.asarray(frame_times, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise S2LError("Frame times must be an array of seconds.") from None
    if times.ndim != 1 or times.size == 0 or not np.all(np.isfinite(times)):
        raise S2LError("Frame times must be a non-empty 1-D array of finite seconds.")
    if np.any(np.diff(times) < 0):
        raise S2LError("Frame times must be in order, each no earlier than the one before.")
    if times.size > MAX_FRAMES:
        raise S2LError(f"{times.size} frame times are more than {MAX_FRAMES}, the limit per "
                       f"bake ({MAX_SECONDS / 60:.0f} min at {MAX_FPS:g} fps).")
    lo, hi = -MAX_OUTSIDE_S, MAX_SECONDS + MAX_OUTSIDE_S
    if times.min() < lo or times.max() > hi:
        raise S2LError(f"Frame times must lie between {lo / 60:.0f} and {hi / 60:.0f} min of "
                       f"the sound's start; got {times.min():.4g} to {times.max():.4g} s.")
    return times


def default_frame_times(duration_s: float, fps: float) -> NDArray[np.float64]:
    """Times of frames 0, 1, ... that fall inside the sound, computed as f / fps (no drift)."""
    rate = check_fps(fps)
    frames = duration_s * rate + 1e-9
    if not frames < MAX_FRAMES:  # NaN and inf fail too
        raise S2LError(
            f"{duration_s:.1f} s at {rate:g} fps is over {MAX_FRAMES} frames, the limit per "
            f"bake ({MAX_SECONDS / 60:.0f} min at {MAX_FPS:g} fps); use a lower frame rate or "
            "a shorter sound.")
    n = int(np.floor(frames)) + 1
    return np.arange(n, dtype=np.float64) / rate


def _sound_and_times(
    audio: AudioInput, sample_rate: int | None, fps: float,
    frame_times: NDArray[np.floating[Any]] | None, s: BakeSettings,
) -> tuple[NDArray[np.float32], NDArray[np.float64]]:
    """The loudness-normalised sound and the time of every frame (at fps, or as given)."""
    wav = audio_io.normalise_loudness(audio_io.load_audio(audio, sample_rate))
    duration = len(wav) / audio_io.SAMPLE_RATE
    times = (default_frame_times(duration, fps) if frame_times is None
             else np.asarray(frame_times, dtype=np.float64))
    if times.ndim != 1 or times.size == 0 or not np.all(np.isfinite(times)):
        raise S2LError("Frame times must be a non-empty 1-D array of finite seconds.")
    return wav, times
