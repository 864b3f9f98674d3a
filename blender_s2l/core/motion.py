"""Motion: the result of animating a mesh, kept low-rank so long clips stay small."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray


@dataclass
class JawMotion:
    """The jaw's rigid motion in the mesh's own space (the lower teeth's, read from the landmark
    motion by the fitted jaw map, `jaw.npz`): every frame turns the mesh about `pivot` by the
    rotation vector `rotation` (radians; axis times angle), then shifts it by `translation`."""

    rotation: NDArray[np.float64]  # (T, 3)
    translation: NDArray[np.float64]  # (T, 3) mesh units
    pivot: NDArray[np.float64]  # (3,) mesh units


@dataclass
class Motion:
    """dense == einsum('tj,jvc->tvc', codes, basis); all positions in the mesh's own space."""

    frame_times: NDArray[np.float64]  # (T,) seconds into the audio
    landmarks: NDArray[np.float32]  # (T, 68, 3) landmark positions
    codes: NDArray[np.float32]  # (T, J)
    basis: NDArray[np.float32]  # (J, V, 3)
    mm_per_unit: float  # canonical millimetres per mesh unit
    landmark_source: str = ""
    notes: tuple[str, ...] = ()  # sentences for the user about this mesh (shown after a bake)
    # (T,) in [0, 1]: how far each frame's lips must be shut (labelled or heard /p b m/, times
    # Lip Closure); a solve onto the character's own keys weights the lips by it.
    closure: NDArray[np.float32] | None = None
    # Share of the line's speech whose key poses come from its transcript (line_align.py);
    # None when the bake had no transcript.
    aligned: float | None = None
    # The jaw's rigid motion (None without a jaw map): a rig bake keys the jaw bone from it.
    jaw: JawMotion | None = None
    _dense: NDArray[np.float32] | None = field(default=None, repr=False)

    @property
    def n_frames(self) -> int:
        return int(self.frame_times.shape[0])

    @property
    def n_vertices(self) -> int:
        return int(self.basis.shape[1])

    @property
    def dense(self) -> NDArray[np.float32]:
        """(T, V, 3) displacements, materialised on first use (can be large for long clips)."""
        if self._dense is None:
            flat = self.codes @ self.basis.reshape(self.basis.shape[0], -1)
            self._dense = flat.reshape(self.n_frames, self.n_vertices, 3).astype(np.float32)
        dense: NDArray[np.float32] = self._dense
        return dense

    def dense_frame(self, index: int) -> NDArray[np.float32]:
        """Displacement of one frame without materialising the whole clip."""
        flat = self.codes[index] @ self.basis.reshape(self.basis.shape[0], -1)
        out: NDArray[np.float32] = flat.reshape(self.n_vertices, 3).astype(np.float32)
        return out


def append_fields(
    basis: NDArray[np.floating[Any]], codes: NDArray[np.floating[Any]],
    fields: NDArray[np.floating[Any]], amounts: NDArray[np.floating[Any]],
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """A low-rank motion (codes @ basis) with more fields (K, V, 3) and their per-frame amounts
    (T, K) added: corrections join the motion in the form every bake mode already keys."""
    return (np.concatenate([np.asarray(basis, np.float32), np.asarray(fields, np.float32)]),
            np.concatenate([np.asarray(codes, np.float32), np.asarray(amounts, np.float32)],
                           axis=1))
