"""The real-speech protocol end to end on a clip written by the test (random weights)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from animator_helpers import with_closure_bias

from blender_s2l.core.animate import Animator
from blender_s2l.core.speech.phones import Phone


def test_rows_for_every_method_and_recognised_words_key_poses(
    random_weights_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import blender_s2l.training.evaluate as evaluate

    rng = np.random.default_rng(1)
    wav = (0.1 * rng.standard_normal(32000)).astype(np.float32)
    path = tmp_path / "clips" / "line.wav"
    path.parent.mkdir()
    sf.write(path, wav, 16000)
    path.with_suffix(".lab").write_text(
        "0 3000000 sil\n3000000 5000000 aa\n5000000 6000000 m\n6000000 9000000 aa\n"
        "9000000 11000000 t\n11000000 14000000 iy\n14000000 20000000 sil\n"
    )
    heard: list[Phone] = [Phone(0.49, 0.61, "M")]
    monkeypatch.setattr(evaluate, "recognise_phones", lambda w: heard)
    # A random closure head is about half sure everywhere, which the default sensitivity
    # takes for a closure: silenced, so the recognised M's key pose is what shuts the lips.
    anim = with_closure_bias(Animator.load(device="cpu", weights_dir=random_weights_dir), -20.0)
    rows = evaluate.evaluate_real(anim, [path], tmp_path / "plots", recognise=True)
    by_method = {r.method: r.metrics for r in rows}
    assert list(by_method) == ["model (S2L)", "model + recognised words", "still face",
                               "loudness jaw", "teacher (true phones)"]
    assert by_method["model + recognised words"]["bilabial_closure"] == 1.0
    assert by_method["teacher (true phones)"]["spurious_closures"] == 0.0
    assert by_method["still face"]["bilabial_closure"] == 0.0
    assert (tmp_path / "plots" / "clips_line_timeline.png").stat().st_size > 0
    without = evaluate.evaluate_real(anim, [path], None)
    assert "model + recognised words" not in {r.method for r in without}
