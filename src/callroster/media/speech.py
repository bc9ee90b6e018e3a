"""Sentences spoken for one call (who is inviting a callee), rendered when needed by the
espeak-ng speech synthesiser into 20 ms frames at 8 kHz.

The text goes to espeak-ng on its standard input, never on its command line, where other
users of the machine could read it (it holds a person's name). Nothing is kept: the frames
live as long as the call's prompt.
"""

from __future__ import annotations

import io
import logging
import shutil
import subprocess
import wave

import numpy as np
from av import AudioFrame
from av.audio.resampler import AudioResampler
from numpy.typing import NDArray

from callroster.rtp import g711

log = logging.getLogger(__name__)
FRAME = g711.FRAME_SAMPLES
RATE = 8000
TIMEOUT_S = 5.0


def speak(text: str) -> tuple[NDArray[np.int16], ...] | None:
    """``text`` spoken as 8 kHz frames, or None when it cannot be (no espeak-ng, or it failed;
    the caller falls back to a recorded prompt)."""
    program = shutil.which("espeak-ng")
    if program is None or not text.strip():
        return None
    try:
        result = subprocess.run(
            [program, "--stdin", "-v", "en-gb", "-s", "150", "--stdout"],
            input=text.encode(),
            capture_output=True,
            timeout=TIMEOUT_S,
            check=True,
        )
        with wave.open(io.BytesIO(result.stdout)) as wav:
            rate = wav.getframerate()
            raw = wav.readframes(wav.getnframes())
    except (OSError, subprocess.SubprocessError, wave.Error, EOFError) as exc:
        log.warning("could not speak a sentence: %s", type(exc).__name__)
        return None
    samples = np.frombuffer(raw, dtype="<i2")
    frame = AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = rate
    resampler = AudioResampler(format="s16", layout="mono", rate=RATE)
    chunks = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    pcm = np.concatenate(chunks).astype(np.int16) if chunks else np.zeros(0, np.int16)
    pcm = np.concatenate((pcm, np.zeros(-len(pcm) % FRAME, np.int16)))
    return tuple(pcm[i : i + FRAME].copy() for i in range(0, len(pcm), FRAME))
