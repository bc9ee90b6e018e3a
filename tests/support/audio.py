"""Measuring what a caller heard: levels, the dominant frequency, likeness to a reference."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

RATE = 8000


def read_wav(path: Path) -> NDArray[np.float64]:
    """Mono samples scaled to -1..1 (the first channel of a stereo file)."""
    with wave.open(str(path), "rb") as wav:
        channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
        raw = wav.readframes(wav.getnframes())
    assert width == 2, f"{path} is not 16-bit"
    samples = np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0
    samples = samples[::channels]
    if rate != RATE:  # decimate simply; enough for a peak frequency and a level
        samples = samples[:: max(1, rate // RATE)]
    return samples


def write_wav(path: Path, samples: NDArray[np.float64], rate: int = RATE) -> None:
    data = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(data)


def rms_dbfs(samples: NDArray[np.float64]) -> float:
    rms = float(np.sqrt(np.mean(np.square(samples)))) if len(samples) else 0.0
    return 20 * np.log10(rms) if rms > 0 else -120.0


def peak_frequency(samples: NDArray[np.float64], rate: int = RATE) -> float:
    window = samples * np.hanning(len(samples))
    spectrum = np.abs(np.fft.rfft(window))
    spectrum[:5] = 0  # ignore DC
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


def band_energy_ratio(
    samples: NDArray[np.float64], low: float, high: float, rate: int = RATE
) -> float:
    """Share of the signal's energy between ``low`` and ``high`` Hz."""
    spectrum = np.abs(np.fft.rfft(samples)) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    total = float(spectrum.sum()) or 1.0
    return float(spectrum[(freqs >= low) & (freqs <= high)].sum()) / total


def windows(samples: NDArray[np.float64], seconds: float = 0.5) -> list[NDArray[np.float64]]:
    size = int(seconds * RATE)
    return [samples[i : i + size] for i in range(0, len(samples) - size + 1, size)]


def speech_like_tone(
    path: Path, frequency: float, seconds: float, level: float = 0.35, pad_seconds: float = 0.0
) -> None:
    """A tone in syllable-sized bursts (300 ms on, 100 ms off), as talk detection expects
    of a voice; a steady tone would (rightly) be taken for line noise."""
    t = np.arange(int(seconds * RATE)) / RATE
    gate = ((t % 0.4) < 0.3).astype(np.float64)
    tone = level * np.sin(2 * np.pi * frequency * t) * gate
    write_wav(path, np.concatenate([tone, np.zeros(int(pad_seconds * RATE))]))


def best_match(heard: NDArray[np.float64], reference: NDArray[np.float64]) -> float:
    """How well ``reference`` appears anywhere in ``heard``: the peak of the normalised
    cross-correlation, 1.0 for an exact (scaled) copy, near 0 for unrelated sound."""
    n = len(heard) + len(reference)
    size = 1 << (n - 1).bit_length()
    correlation = np.fft.irfft(
        np.fft.rfft(heard, size) * np.conj(np.fft.rfft(reference, size)), size
    )[: len(heard) - len(reference) + 1]
    # Energy of each window of ``heard`` the length of the reference.
    squares = np.concatenate([[0.0], np.cumsum(heard**2)])
    window_energy = squares[len(reference) :] - squares[: -len(reference)]
    norm = np.sqrt(np.maximum(window_energy, 1e-12) * float(np.sum(reference**2)))
    return float(np.max(np.abs(correlation) / norm))


def silence_file(workdir: Path, seconds: float = 40.0) -> Path:
    """A silent WAV for a peer that should only listen (baresip hangs up when its file ends,
    so make it longer than the call)."""
    path = workdir / "silence.wav"
    write_wav(path, np.zeros(int(seconds * RATE)))
    return path


def is_tone(window: NDArray[np.float64], frequency: float) -> bool:
    """Is this window mostly the given tone, and loud enough to be heard?"""
    return bool(
        rms_dbfs(window) > -40 and band_energy_ratio(window, frequency - 30, frequency + 30) > 0.8
    )


def tone_windows(heard: NDArray[np.float64], frequency: float) -> list[NDArray[np.float64]]:
    """The half-second windows that are mostly the given tone."""
    return [w for w in windows(heard) if is_tone(w, frequency)]


def tone_flags(heard: NDArray[np.float64], frequency: float) -> list[bool]:
    """For each half second: was it mostly the given tone?"""
    return [is_tone(w, frequency) for w in windows(heard)]


def describe(heard: NDArray[np.float64]) -> list[tuple[int, int]]:
    """Each half second as (level in dBFS, peak frequency): what a failed assertion shows."""
    return [(round(rms_dbfs(w)), round(peak_frequency(w))) for w in windows(heard)]
