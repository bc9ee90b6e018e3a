"""Join and leave tones and the music on hold: distinct, click-free, deterministic, looping."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from numpy.typing import NDArray

from callroster.media import tones
from callroster.media.talk import level_dbfs
from callroster.rtp import g711

RATE = tones.SAMPLE_RATE


def pitch_hz(samples: NDArray[np.integer]) -> float:
    """The strongest frequency, to within 2 Hz (zero-padded FFT)."""
    padded = np.zeros(4096)
    padded[: len(samples)] = samples * np.hanning(len(samples))
    mags = np.abs(np.fft.rfft(padded))
    return float(np.fft.rfftfreq(len(padded), 1 / RATE)[np.argmax(mags)])


def note_spans(pcm: NDArray[np.int16]) -> list[tuple[int, int]]:
    """Start and end of each stretch of sound between silences."""
    # A sample is inside a note when there is sound both within the next and within the last
    # 2.5 ms, which bridges the zero crossings but not the gaps.
    padded = np.pad(np.abs(pcm.astype(np.int32)) > 100, 19)
    windows = np.asarray(np.lib.stride_tricks.sliding_window_view(padded, 20).any(axis=1))
    loud = windows[19:] & windows[:-19]
    bounds = [0, *(np.flatnonzero(np.diff(loud.astype(np.int8))) + 1).tolist(), len(pcm)]
    return [(a, b) for a, b in itertools.pairwise(bounds) if loud[a]]


def notes_of(frames: list[NDArray[np.int16]]) -> list[float]:
    """The pitch of each note."""
    pcm = np.concatenate(frames)
    return [pitch_hz(pcm[a:b]) for a, b in note_spans(pcm)]


@pytest.mark.parametrize("make", [tones.join_tone, tones.leave_tone, tones.hold_music_loop])
def test_frames_are_160_int16_samples_at_a_comfortable_level(make: object) -> None:
    frames = make()  # type: ignore[operator]
    assert frames and all(f.dtype == np.int16 and f.shape == (160,) for f in frames)
    pcm = np.concatenate(frames)
    assert 3000 < np.max(np.abs(pcm)) < 8000  # audible, far from clipping when mixed
    assert -35 < level_dbfs(pcm) < -15


def test_join_rises_and_leave_falls() -> None:
    join, leave = notes_of(tones.join_tone()), notes_of(tones.leave_tone())
    assert join == [pytest.approx(523.25, abs=2), pytest.approx(783.99, abs=2)]
    assert leave == [pytest.approx(783.99, abs=2), pytest.approx(523.25, abs=2)]
    for frames in (tones.join_tone(), tones.leave_tone()):
        assert len(frames) * 20 <= 400  # short: a cue, not an interruption


def test_tones_start_and_end_softly_so_they_do_not_click() -> None:
    # A sine switched on at full level clicks; a ramp keeps each note's first and last
    # millisecond well below its peak.
    for frames in (tones.join_tone(), tones.leave_tone()):
        pcm = np.concatenate(frames)
        peak = np.max(np.abs(pcm.astype(np.int32)))
        spans = note_spans(pcm)
        assert len(spans) == 2
        for a, b in spans:
            note = np.abs(pcm[a:b].astype(np.int32))
            assert note[:8].max() < 0.3 * peak and note[-8:].max() < 0.3 * peak
            assert note[len(note) // 2 - 20 : len(note) // 2 + 20].max() > 0.95 * peak


def test_hold_music_is_a_seamless_4_second_loop() -> None:
    loop = tones.hold_music_loop()
    assert len(loop) == 200
    stream = list(itertools.islice(tones.hold_music(), 450))
    for i, frame in enumerate(stream):
        assert np.array_equal(frame, loop[i % 200])
    # Across the seam the waveform moves no more than it does anywhere inside the loop.
    pcm = np.concatenate(loop).astype(np.int32)
    steps = np.abs(np.diff(pcm))
    assert abs(pcm[0] - pcm[-1]) <= steps.max()


def test_hold_music_plays_a_i_vi_iv_v_arpeggio() -> None:
    c3, f3, g3, a3, b3 = 130.81, 174.61, 196.0, 220.0, 246.94
    c4, d4, e4, f4, g4, a4, c5 = 261.63, 293.66, 329.63, 349.23, 392.0, 440.0, 523.25
    melody = [c4, e4, g4, c5, a3, c4, e4, a4, f3, a3, c4, f4, g3, b3, d4, g4]
    pcm = np.concatenate(tones.hold_music_loop()).astype(np.int32)
    step = RATE // 4
    # Differentiating favours the higher notes over the bass and the earlier notes, which
    # have decayed, so the strongest pitch just after each step is the note just struck.
    struck = [pitch_hz(np.diff(pcm[i * step + 100 : i * step + 900])) for i in range(16)]
    assert struck == [pytest.approx(f, abs=3) for f in melody]
    assert c3 < pitch_hz(pcm[: RATE // 4] - np.diff(pcm[: RATE // 4 + 1])) < 2 * c4


def test_everything_is_deterministic_and_read_only() -> None:
    assert all(
        np.array_equal(a, b) for a, b in zip(tones.join_tone(), tones.join_tone(), strict=True)
    )
    for frame in (tones.join_tone()[0], tones.leave_tone()[0], next(tones.hold_music())):
        with pytest.raises(ValueError, match="read-only"):
            frame[0] = 0


def test_the_music_survives_g711() -> None:
    pcm = np.concatenate(tones.hold_music_loop())
    for codec in g711.CODECS:
        back = g711.decode(codec, g711.encode(codec, pcm)).astype(np.float64)
        error = back - pcm
        snr = 10 * np.log10(np.sum(pcm.astype(np.float64) ** 2) / np.sum(error**2))
        assert snr > 30
