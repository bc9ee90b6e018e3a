"""Talk detection on synthetic speech, noise and silence, 20 ms at a time."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from callroster.media.talk import SILENT_DBFS, TalkDetector, TalkEvent, TalkUpdate, level_dbfs

RATE = 8000
FRAME = 160


def noise(seconds: float, dbfs: float, seed: int = 0) -> NDArray[np.float64]:
    """White noise whose RMS is ``dbfs`` (in the module's convention, 0 dBFS = RMS 32768)."""
    samples = np.random.default_rng(seed).normal(0.0, 1.0, round(seconds * RATE))
    scaled: NDArray[np.float64] = samples * (
        32768 * 10 ** (dbfs / 20) / np.sqrt(np.mean(samples**2))
    )
    return scaled


def silence(seconds: float) -> NDArray[np.float64]:
    return np.zeros(round(seconds * RATE))


def words(count: int, dbfs: float, word_s: float = 0.3, gap_s: float = 0.15) -> NDArray[np.float64]:
    """Speech-like bursts: tones of changing pitch, each shaped like a syllable, with gaps."""
    parts = []
    for i in range(count):
        t = np.arange(round(word_s * RATE)) / RATE
        envelope = np.sin(np.pi * t / word_s) ** 0.5  # rises and falls like a syllable
        burst = np.sin(2 * np.pi * (180 + 70 * (i % 4)) * t) * envelope
        parts += [burst, np.zeros(round(gap_s * RATE))]
    signal = np.concatenate(parts[:-1])
    voiced = signal[np.abs(signal) > 0]
    scaled: NDArray[np.float64] = signal * (32768 * 10 ** (dbfs / 20) / np.sqrt(np.mean(voiced**2)))
    return scaled


def mix_in(background: NDArray[np.float64], voice: NDArray[np.float64], at_s: float) -> None:
    start = round(at_s * RATE)
    background[start : start + len(voice)] += voice


def frames(signal: NDArray[np.float64]) -> list[NDArray[np.int16]]:
    whole = len(signal) // FRAME * FRAME
    pcm = np.clip(np.round(signal[:whole]), -32768, 32767).astype(np.int16)
    return list(pcm.reshape(-1, FRAME))


def run(detector: TalkDetector, signal: NDArray[np.float64]) -> list[TalkUpdate]:
    return [detector.update(frame) for frame in frames(signal)]


def events(updates: list[TalkUpdate]) -> list[tuple[int, TalkEvent]]:
    return [(i, u.event) for i, u in enumerate(updates) if u.event is not None]


def test_level_is_rms_in_dbfs() -> None:
    assert level_dbfs(np.zeros(FRAME, np.int16)) == SILENT_DBFS
    assert level_dbfs(np.full(FRAME, 32767, np.int16)) == pytest.approx(0.0, abs=1e-3)
    t = np.arange(FRAME) / RATE
    sine = np.round(32767 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
    assert level_dbfs(sine) == pytest.approx(-3.01, abs=0.01)
    assert level_dbfs(frames(noise(0.02, -40.0))[0]) == pytest.approx(-40.0, abs=0.01)


def test_speech_with_pauses_between_words_is_one_talking_period() -> None:
    detector = TalkDetector()
    speech = words(8, -20.0)  # 8 words, 150 ms apart: 3.45 s
    signal = noise(6.0, -60.0)
    mix_in(signal, speech, 1.0)
    updates = run(detector, signal)
    start_frame, end_of_speech = 50, 50 + len(speech) // FRAME
    (started, first), (stopped, second) = events(updates)  # exactly two events
    assert (first, second) == (TalkEvent.STARTED, TalkEvent.STOPPED)
    assert abs(started - start_frame) <= 3
    assert abs(stopped - (end_of_speech + 20)) <= 3  # the 400 ms hangover after the last word
    assert all(u.talking for u in updates[start_frame + 3 : end_of_speech])


def test_a_pause_longer_than_the_hangover_ends_the_talking_period() -> None:
    detector = TalkDetector()
    gap = noise(0.6, -60.0, 2)
    updates = run(
        detector, np.concatenate([noise(0.5, -60.0), words(2, -20.0), gap, words(2, -20)])
    )
    assert [event for _, event in events(updates)] == [
        TalkEvent.STARTED,
        TalkEvent.STOPPED,
        TalkEvent.STARTED,
    ]


def test_steady_noise_is_not_talk_but_a_voice_15_db_above_it_is() -> None:
    detector = TalkDetector()
    mixed = noise(6.0, -40.0)
    mix_in(mixed, words(6, -25.0), 3.0)
    updates = run(detector, mixed)
    assert not any(u.talking for u in updates[:150])  # three seconds of noise alone
    assert detector.floor_dbfs is not None
    assert updates[149].floor_dbfs == pytest.approx(-41.0, abs=1.5)  # the quietest frames
    started = [i for i, event in events(updates) if event is TalkEvent.STARTED]
    assert started == [pytest.approx(150, abs=3)]
    assert updates[200].talking


def test_noise_switched_on_after_silence_stops_counting_as_talk() -> None:
    # A fan comes on after digital silence: briefly "talk", then the steady level becomes the
    # floor within about two seconds instead of the two minutes a 0.5 dB/s rise would take.
    detector = TalkDetector()
    updates = run(detector, np.concatenate([silence(1.0), noise(6.0, -40.0)]))
    stopped = [i for i, event in events(updates) if event is TalkEvent.STOPPED]
    assert len(stopped) == 1 and stopped[0] <= 50 + 100 + 20 + 5
    assert not any(u.talking for u in updates[stopped[0] :])
    # Without the steady-noise rule the floor only creeps up by 0.5 dB/s.
    slow = TalkDetector(steady_noise_s=None)
    assert all(u.talking for u in run(slow, np.concatenate([silence(1.0), noise(6.0, -40.0)]))[52:])


def test_silence_and_very_quiet_sound_never_talk() -> None:
    detector = TalkDetector(sensitivity=1.0)
    quiet_voice = words(4, -58.0)  # far above the floor of digital silence, but below -55 dBFS
    updates = run(detector, np.concatenate([silence(5.0), quiet_voice, silence(1.0)]))
    updates += [detector.update(None) for _ in range(50)]
    assert not any(u.talking or u.event for u in updates)
    assert updates[0].level_dbfs == SILENT_DBFS and updates[-1].level_dbfs is None


@pytest.mark.parametrize("offset_samples", [0, 37, 80, 159])
def test_a_start_is_detected_within_100_ms(offset_samples: int) -> None:
    detector = TalkDetector()
    start = RATE + offset_samples  # the voice starts part-way through a frame
    signal = noise(3.0, -50.0)
    mix_in(signal, words(3, -25.0), start / RATE)
    updates = run(detector, signal)
    first = next(i for i, u in enumerate(updates) if u.event is TalkEvent.STARTED)
    assert (first + 1) * FRAME - start <= 0.1 * RATE  # by the end of that frame


def test_a_click_is_not_talk() -> None:
    detector = TalkDetector()
    click = noise(0.02, -10.0)  # one loud frame: shorter than the 40 ms attack
    updates = run(detector, np.concatenate([noise(1.0, -50.0), click, noise(1.0, -50.0, 1)]))
    assert not any(u.talking for u in updates)


def test_sensitivity_sets_how_far_above_the_noise_a_voice_must_be() -> None:
    def talks(sensitivity: float, above_db: float) -> bool:
        detector = TalkDetector(sensitivity=sensitivity)
        signal = noise(3.0, -45.0)
        mix_in(signal, words(3, -45.0 + above_db), 1.0)
        return any(u.talking for u in run(detector, signal))

    assert talks(1.0, 8.0) and not talks(0.0, 8.0)
    assert talks(0.0, 20.0)
    assert TalkDetector(sensitivity=0.0).start_margin_db == 16.0
    assert TalkDetector(sensitivity=1.0).start_margin_db == 4.0
    explicit = TalkDetector(start_margin_db=12.0, stop_margin_db=3.0)
    assert (explicit.start_margin_db, explicit.stop_margin_db) == (12.0, 3.0)


def test_hysteresis_keeps_talking_between_the_stop_and_start_thresholds() -> None:
    def detector() -> TalkDetector:
        # The absolute minimum is lowered so that the margins, not it, decide here.
        return TalkDetector(
            start_margin_db=10.0, stop_margin_db=4.0, steady_noise_s=None, min_level_dbfs=-90.0
        )

    between = noise(2.0, -53.0, 3)  # 7 dB above a -60 dBFS floor: under start, over stop
    after_words = run(detector(), np.concatenate([noise(1.0, -60.0), words(2, -40.0), between]))
    assert after_words[-1].talking
    assert not any(u.talking for u in run(detector(), np.concatenate([noise(1.0, -60.0), between])))


def test_missing_frames_count_as_quiet_and_reset_forgets_everything() -> None:
    detector = TalkDetector()
    run(detector, np.concatenate([noise(0.5, -60.0), words(1, -20.0)]))
    assert detector.talking
    floor = detector.floor_dbfs
    updates = [detector.update(None) for _ in range(25)]
    assert [u.event for u in updates].count(TalkEvent.STOPPED) == 1
    assert detector.floor_dbfs == floor  # nothing arrived, so nothing learnt about the room
    detector.reset()
    assert detector.floor_dbfs is None and not detector.talking


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sensitivity": 1.5},
        {"sensitivity": -0.1},
        {"start_margin_db": 6.0, "stop_margin_db": 6.0},
        {"stop_margin_db": 12.0},
        {"frame_ms": 0.0},
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        TalkDetector(**kwargs)
