"""Public API (DESIGN §3): audio + neutral mesh -> per-frame motion.

    anim = Animator.load(device="auto")
    lm = anim.landmarks("speech.wav", fps=30.0)
    mo = anim.animate("speech.wav", vertices, faces, landmarks68=None, fps=30.0, seed=0)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import audio as audio_io
from .errors import Cancelled, S2LError
from .find_landmarks import resolve_landmarks
from .hold_still import check_hold, motion_weights
from .inference import (
    FEATURE_RATE,
    check_timing,
    default_frame_times,
    rest_response,
    run_s2l,
    sample_at_times,
    smooth_track,
)
from .inner_parts import InnerParts, JawModel
from .key_poses import check_phones, closure_from_phones, open_from_phones
from .landmarks import canonical_neutral, to_canonical
from .lip_closure import (
    CLOSURE_HIGH,
    CLOSURE_LOW,
    DEFAULT_SENSITIVITY,
    close_lips,
    closure_at_times,
    closure_weight,
    press_factor,
    sensitivity_range,
    without_pauses,
)
from .lip_contact import LipContact, contact_weight
from .mesh import FacesLike, validate_mesh
from .mesh_features import mesh_features, on_face_mask
from .models.load import load_models
from .models.runners import s2d_runner, s2l_runner
from .models.upper_face import UpperFaceModel
from .motion import Motion
from .phones import Phone

AudioInput = str | Path | NDArray[np.floating[Any]]
ProgressFn = Callable[[float], None]
CancelFn = Callable[[], bool]
SMOOTHING_MAX_SIGMA_S = 0.04  # smoothing=1.0 -> Gaussian sigma of 40 ms

__all__ = ["Animator", "Motion"]


class Animator:
    """Holds the three models; thread-safe for sequential use by one worker.

    s2l and s2d are numpy networks (the CPU runtime, no torch needed) or torch modules, which
    are moved to `device` (CUDA, or weights that have no numpy export).
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
        self._rest = rest_response(self.s2l, audio_io.silence_features())
        # Closure-head probability range mapped onto 0..1 closing (see lip_closure.py).
        self.closure_range = (CLOSURE_LOW, CLOSURE_HIGH)

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
        self,
        audio: AudioInput,
        sample_rate: int | None,
        fps: float,
        frame_times: NDArray[np.floating[Any]] | None,
        smoothing: float,
        lip_closure: float,
        phones: list[Phone],
        progress: ProgressFn | None,
        cancel: CancelFn | None,
        closure_sensitivity: float = DEFAULT_SENSITIVITY,
    ) -> tuple[NDArray[np.float64], NDArray[np.float32], NDArray[np.float32]]:
        """(frame times, canonical landmark displacement, contact weight): the weight (T,) in
        [0, 1] says how far each frame's lips must close on the mesh itself (lip_contact.py):
        labelled /p b m/, and the closure head's short closed runs (not pauses, where the lips
        rest at the mesh's own neutral)."""
        wav = audio_io.load_audio(audio, sample_rate)
        wav = audio_io.normalise_loudness(wav)
        duration = len(wav) / audio_io.SAMPLE_RATE
        times = (
            default_frame_times(duration, fps)
            if frame_times is None
            else np.asarray(frame_times, dtype=np.float64)
        )
        if times.ndim != 1 or times.size == 0 or not np.all(np.isfinite(times)):
            raise S2LError("Frame times must be a non-empty 1-D array of finite seconds.")
        if _cancelled(cancel):
            raise Cancelled("The bake was cancelled; nothing was changed.")
        mel = audio_io.log_mel(wav)
        if not 0.0 <= lip_closure <= 1.0:
            raise S2LError("Lip closure must be between 0 and 1.")
        if not 0.0 <= closure_sensitivity <= 1.0:
            raise S2LError("Closure sensitivity must be between 0 and 1.")
        out = run_s2l(self.s2l, mel, progress=progress, cancel=cancel)
        track = out.disp - self._rest
        if smoothing > 0:
            track = smooth_track(track, smoothing * SMOOTHING_MAX_SIGMA_S * FEATURE_RATE)
        disp = sample_at_times(track, times)
        contact = np.zeros(len(times), np.float32)
        if lip_closure > 0:
            weight = np.zeros(len(times), np.float32)
            if out.closure is not None:
                prob = closure_at_times(out.closure, times, FEATURE_RATE)
                low, high = sensitivity_range(closure_sensitivity, self.closure_range)
                weight = closure_weight(prob, low, high)
            anchored = np.zeros(len(times), np.float32)
            if phones:
                # No guessed closure inside a known other sound (an /n/ the head took for /m/)...
                free = ~open_from_phones(phones, FEATURE_RATE, len(track))
                weight = weight * closure_at_times(free.astype(np.float32), times, FEATURE_RATE)
                # ... and key poses: every labelled /p b m/ shuts the lips.
                anchored = closure_at_times(
                    closure_from_phones(phones, FEATURE_RATE, len(track)), times, FEATURE_RATE)
            contact = np.maximum(contact_weight(without_pauses(weight, times)), anchored)
            contact = (contact * lip_closure).astype(np.float32)
            weight = np.maximum(weight, anchored)
            disp = close_lips(disp, weight, lip_closure, press_factor(weight, times))
        # Outside the sound the face is at rest, never holding the last mouth shape.
        outside = (times < 0) | (times > duration)
        disp[outside] = 0.0
        contact[outside] = 0.0
        return times, disp, contact.astype(np.float32)

    def landmarks(
        self,
        audio: AudioInput,
        fps: float = 30.0,
        *,
        sample_rate: int | None = None,
        frame_times: NDArray[np.floating[Any]] | None = None,
        smoothing: float = 0.0,
        lip_closure: float = 1.0,
        phones: Sequence[tuple[float, float, str]] | None = None,
        closure_sensitivity: float = DEFAULT_SENSITIVITY,
    ) -> NDArray[np.float32]:
        """(T, 68, 3) canonical-mm landmarks: canonical neutral + speech-driven displacement.

        lip_closure (0-1) scales how far the lips are pulled together on /p b m/, where the
        closure head hears one or where `phones` ((start, end, ARPAbet) seconds) label one;
        closure_sensitivity (0-1, default 0.5) how sure the head must be (higher: more closures,
        some inside vowels)."""
        check_timing(fps, frame_times, smoothing)
        _, disp, _ = self._speech_displacement(
            audio, sample_rate, fps, frame_times, smoothing, lip_closure,
            check_phones(phones or []), None, None, closure_sensitivity,
        )
        return (canonical_neutral()[None] + disp).astype(np.float32)

    # -- landmarks -> dense --------------------------------------------------------------------
    def animate(
        self,
        audio: AudioInput,
        vertices: NDArray[np.floating[Any]],
        faces: FacesLike,
        landmarks68: NDArray[Any] | None = None,
        fps: float = 30.0,
        seed: int = 0,
        *,
        sample_rate: int | None = None,
        frame_times: NDArray[np.floating[Any]] | None = None,
        upper_face: bool = True,
        mouth_strength: float = 1.0,
        smoothing: float = 0.0,
        lip_closure: float = 1.0,
        phones: Sequence[tuple[float, float, str]] | None = None,
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
        closure_sensitivity: float = DEFAULT_SENSITIVITY,
        rigid_parts: bool = True,
        lip_contact: bool = True,
        hold: NDArray[np.floating[Any]] | None = None,
    ) -> Motion:
        """Motion of the given neutral mesh driven by the audio, in the mesh's own space.

        rigid_parts: separate parts deep inside the head (eyeballs, teeth) stay with the skull
        or ride the jaw rigidly instead of bending with the network (see inner_parts.py).
        lip_contact: closures make this mesh's inner lips touch whatever their rest gap, and
        the lips never cross (see lip_contact.py); False leaves the network's motion as is.
        hold: (V,) weights in [0, 1], 1 where the mesh must not move (painted by the user); the
        neck and below never move (see hold_still.py).
        """
        check_timing(fps, frame_times, smoothing)
        verts = np.asarray(vertices, dtype=np.float64)
        validate_mesh(verts, faces)
        if hold is not None:
            check_hold(hold, len(verts))
        if not 0.0 <= mouth_strength <= 3.0:
            raise S2LError("Mouth strength must be between 0 and 3.")
        lm_pos, lm_idx, source = resolve_landmarks(verts, faces, landmarks68)
        sim = to_canonical(lm_pos)
        _report(progress, 0.0)
        times, disp, contact = self._speech_displacement(
            audio, sample_rate, fps, frame_times, smoothing, lip_closure,
            check_phones(phones or []), lambda f: _report(progress, 0.05 + 0.55 * f), cancel,
            closure_sensitivity,
        )
        disp *= np.float32(mouth_strength)
        if upper_face:
            disp += self.upper.landmark_motion(times, seed).astype(np.float32)
        if _cancelled(cancel):
            raise Cancelled("The bake was cancelled; nothing was changed.")
        verts_c, lm_c = sim.apply(verts), sim.apply(lm_pos)
        feats = mesh_features(verts_c, faces, lm_c, lm_idx)
        _report(progress, 0.8)
        if _cancelled(cancel):
            raise Cancelled("The bake was cancelled; nothing was changed.")
        basis_c = self.s2d.mesh_basis(feats)
        codes = self.s2d.codes(disp)
        if rigid_parts and self.jaw is not None:
            parts = InnerParts.of_mesh(verts_c, faces, lm_c, on_face_mask(feats),
                                       self.jaw)
            basis_c, codes = parts.extend(basis_c, codes, disp)
        notes: tuple[str, ...] = ()
        if lip_contact:
            found = LipContact.of_mesh(verts_c, faces, lm_c, lm_idx, on_face_mask(feats))
            if isinstance(found, str):
                notes = (f"Lips are not closed on this mesh: {found}; check the inner-lip "
                         "landmarks (62 and 66).",)
            else:
                weight = contact * (mouth_strength > 0)
                basis_c, codes, amounts = found.extend(basis_c, codes, weight)
                disp = disp + np.einsum("tj,jlc->tlc", amounts,
                                        found.landmark_fields).astype(np.float32)
        basis_c = basis_c * motion_weights(verts_c, lm_c, hold)[None, :, None]
        inv = sim.inverse()
        j, v, _ = basis_c.shape
        basis = inv.apply_vectors(basis_c.reshape(-1, 3)).reshape(j, v, 3)
        lm_track = lm_pos[None].astype(np.float32) + inv.apply_vectors(
            disp.reshape(-1, 3)
        ).reshape(disp.shape)
        _report(progress, 1.0)
        return Motion(
            frame_times=times,
            landmarks=lm_track.astype(np.float32),
            codes=codes.astype(np.float32),
            basis=basis.astype(np.float32),
            mm_per_unit=float(sim.scale),
            landmark_source=source,
            notes=notes,
        )


def _cancelled(cancel: CancelFn | None) -> bool:
    return bool(cancel is not None and cancel())


def _report(progress: ProgressFn | None, value: float) -> None:
    if progress is not None:
        progress(float(min(max(value, 0.0), 1.0)))
