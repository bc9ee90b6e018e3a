"""The sounds the bridge itself plays: join and leave tones and the music on hold.

All are 8 kHz int16, cut into 20 ms frames of 160 samples to pass to :meth:`Mixer.mix` as
``extra`` (tones) or ``hold_music``. They are computed once, deterministically, and the frames
are read-only because every conference shares them.

- Join: two notes rising a fifth (C5 then G5); leave: the same notes falling. Rising and
  falling is the convention people already know from other bridges.
- Hold: a slow I-vi-IV-V arpeggio in C major (C, Am, F, G; four notes each, 250 ms apart)
  with a soft second harmonic. Each note rings into the next; the tail of the last one wraps
  round into the first bar, so the 4 s loop repeats without a click.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator, Sequence
from typing import Final

import numpy as np
from numpy.typing import NDArray

from callroster.rtp import g711

SAMPLE_RATE: Final = 8000
FRAME_SAMPLES: Final = g711.FRAME_SAMPLES

_TONE_PEAK: Final = 0.2  # -14 dBFS: clearly audible over a conversation without startling
_MUSIC_PEAK: Final = 0.18  # a little quieter: people listen to it for minutes
_FULL_SCALE: Final = 32767

# Equal temperament, A4 = 440 Hz.
_C3, _F3, _G3, _A3, _B3 = 130.81, 174.61, 196.00, 220.00, 246.94
_C4, _D4, _E4, _F4, _G4, _A4 = 261.63, 293.66, 329.63, 349.23, 392.00, 440.00
_C5, _G5 = 523.25, 783.99

_TONE_NOTE_S: Final = 0.12
_TONE_GAP_S: Final = 0.04
_RAMP_S: Final = 0.005  # raised-cosine edges: a sine switched on abruptly clicks

_CHORDS: Final = (
    (_C4, _E4, _G4, 2 * _C4),  # I
    (_A3, _C4, _E4, _A4),  # vi
    (_F3, _A3, _C4, _F4),  # IV
    (_G3, _B3, _D4, _G4),  # V
)
_BASS: Final = (_C3, _A3 / 2, _F3, _G3)
_NOTE_STEP_S: Final = 0.25
_NOTE_RING_S: Final = 0.6  # each note sounds on under the next one, as on a piano
_NOTE_DECAY_S: Final = 0.18
_BASS_DECAY_S: Final = 0.6  # one low note held under each bar


def _frames(samples: NDArray[np.float64], peak: float) -> tuple[NDArray[np.int16], ...]:
    """Scale to the peak, pad with silence to whole frames and split into read-only frames."""
    scaled = samples * (peak * _FULL_SCALE / float(np.max(np.abs(samples))))
    padded = np.zeros(-(-len(scaled) // FRAME_SAMPLES) * FRAME_SAMPLES)
    padded[: len(scaled)] = scaled
    pcm = np.round(padded).astype(np.int16)
    pcm.setflags(write=False)
    return tuple(pcm.reshape(-1, FRAME_SAMPLES))


def _beeps(freqs: Sequence[float]) -> NDArray[np.float64]:
    n = round(_TONE_NOTE_S * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    ramp_n = round(_RAMP_S * SAMPLE_RATE)
    envelope = np.ones(n)
    edge = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp_n) / ramp_n)
    envelope[:ramp_n] = edge
    envelope[-ramp_n:] = edge[::-1]
    gap = np.zeros(round(_TONE_GAP_S * SAMPLE_RATE))
    parts: list[NDArray[np.float64]] = []
    for freq in freqs:
        parts += [np.sin(2 * np.pi * freq * t) * envelope, gap]
    return np.concatenate(parts[:-1])


def _note(freq: float, n: int, decay_s: float) -> NDArray[np.float64]:
    t = np.arange(n) / SAMPLE_RATE
    attack_n = round(0.01 * SAMPLE_RATE)
    envelope = np.exp(-t / decay_s)
    envelope[:attack_n] *= np.linspace(0.0, 1.0, attack_n)
    envelope[-attack_n:] *= np.linspace(1.0, 0.0, attack_n)  # ends at exactly zero
    tone = np.sin(2 * np.pi * freq * t) + 0.25 * np.sin(2 * np.pi * 2 * freq * t)
    return tone * envelope


@functools.cache
def _join() -> tuple[NDArray[np.int16], ...]:
    return _frames(_beeps([_C5, _G5]), _TONE_PEAK)


@functools.cache
def _leave() -> tuple[NDArray[np.int16], ...]:
    return _frames(_beeps([_G5, _C5]), _TONE_PEAK)


@functools.cache
def _hold_loop() -> tuple[NDArray[np.int16], ...]:
    step = round(_NOTE_STEP_S * SAMPLE_RATE)
    ring = round(_NOTE_RING_S * SAMPLE_RATE)
    bar = step * len(_CHORDS[0])
    loop = np.zeros(bar * len(_CHORDS))
    for c, (chord, bass) in enumerate(zip(_CHORDS, _BASS, strict=True)):
        # Adding at positions modulo the loop length wraps each tail round to the start.
        bass_at = (c * bar + np.arange(bar + ring)) % loop.size
        np.add.at(loop, bass_at, 0.4 * _note(bass, bar + ring, _BASS_DECAY_S))
        for i, freq in enumerate(chord):
            at = (c * bar + i * step + np.arange(ring)) % loop.size
            np.add.at(loop, at, _note(freq, ring, _NOTE_DECAY_S))
    return _frames(loop, _MUSIC_PEAK)


def join_tone() -> list[NDArray[np.int16]]:
    """The frames of the tone played when someone joins (two notes rising), about 0.3 s."""
    return list(_join())


def leave_tone() -> list[NDArray[np.int16]]:
    """The frames of the tone played when someone leaves (two notes falling), about 0.3 s."""
    return list(_leave())


def hold_music_loop() -> list[NDArray[np.int16]]:
    """One period of the music on hold: 200 frames (4 s)."""
    return list(_hold_loop())


def hold_music() -> Iterator[NDArray[np.int16]]:
    """The music on hold as an endless stream of frames, starting at the top of the loop."""
    return itertools.cycle(_hold_loop())
