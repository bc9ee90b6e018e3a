"""Spoken prompts: the committed 8 kHz WAVs (rendered by scripts/make-prompts), loaded once,
cut into 20 ms frames, and a per-leg player that queues them."""

from __future__ import annotations

import wave
from collections import deque
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from callroster.rtp import g711

PROMPTS = Path(__file__).with_name("prompts")
FRAME = g711.FRAME_SAMPLES
GAP_FRAMES = 4  # 80 ms between consecutive prompts, as a person would pause


class UnknownPromptError(KeyError):
    pass


@cache
def prompt_frames(name: str) -> tuple[NDArray[np.int16], ...]:
    """A prompt as 20 ms frames of 8 kHz int16 samples."""
    path = PROMPTS / f"{name}.wav"
    if not path.exists():
        raise UnknownPromptError(name)
    with wave.open(str(path), "rb") as wav:
        if (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) != (8000, 1, 2):
            raise ValueError(f"prompt {name} is not 8 kHz mono 16-bit")
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.int16)
    padded = np.zeros(-(-len(samples) // FRAME) * FRAME, dtype=np.int16)
    padded[: len(samples)] = samples
    return tuple(padded.reshape(-1, FRAME))


_SILENCE = np.zeros(FRAME, dtype=np.int16)


class PromptPlayer:
    """What one leg is being told. ``next_frame`` gives one frame per tick while playing."""

    def __init__(self) -> None:
        self._frames: deque[NDArray[np.int16]] = deque()

    @property
    def playing(self) -> bool:
        return bool(self._frames)

    def say(self, names: Iterable[str]) -> None:
        for name in names:
            if self._frames:
                self._frames.extend([_SILENCE] * GAP_FRAMES)
            self._frames.extend(prompt_frames(name))

    def play(self, frames: Iterable[NDArray[np.int16]]) -> None:
        """Frames made for this leg alone (a sentence spoken for it, see ``media.speech``)."""
        if self._frames:
            self._frames.extend([_SILENCE] * GAP_FRAMES)
        self._frames.extend(frames)

    def interrupt(self) -> None:
        self._frames.clear()

    def next_frame(self) -> NDArray[np.int16] | None:
        return self._frames.popleft() if self._frames else None
