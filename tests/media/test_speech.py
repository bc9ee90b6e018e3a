from __future__ import annotations

import shutil

import numpy as np
import pytest

from callroster.media.speech import speak


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="make test installs espeak-ng")
def test_a_sentence_is_spoken_as_audible_20_ms_frames() -> None:
    frames = speak("Hannah Host invites you to join a conference call.")
    assert frames is not None and 80 < len(frames) < 300  # about 1.6 to 6 seconds
    assert all(f.shape == (160,) and f.dtype == np.int16 for f in frames)
    pcm = np.concatenate(frames).astype(np.float64) / 32768
    assert 20 * np.log10(np.sqrt(np.mean(pcm**2))) > -35  # speech, not silence


def test_nothing_to_say_gives_nothing() -> None:
    assert speak("   ") is None
