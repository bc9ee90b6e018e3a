"""Who is talking: a per-leg energy detector against an adaptive noise floor.

Each 20 ms frame's RMS level (dBFS) is compared with the leg's noise floor. The floor follows
the quietest recent level: it falls at once to any lower level and rises slowly (0.5 dB/s), so
the pauses between words keep it at the room's noise while a talker's voice barely lifts it.
A leg starts talking after its level has been ``start_margin_db`` above the floor for ``attack``
(40 ms: two frames, so a click does not count) and stops once it has been below the lower
``stop_margin_db`` for ``hangover`` (400 ms), so the indicator does not flicker between words.
Nothing below ``min_level_dbfs`` (-55 dBFS) is ever talk, however quiet the floor.

A slow rise alone would take two minutes to accept a fan switched on at -40 dBFS after digital
silence. Speech always swings by well over ``steady_range_db`` within a couple of seconds, so a
level that has stayed within that range for ``steady_noise_s`` is taken as the new floor.

The level is ``20 * log10(rms / 32768)``: a full-scale sine is -3 dBFS, digital silence is
clamped to -100 dBFS.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

#: What digital silence (and anything quieter) measures, instead of minus infinity.
SILENT_DBFS: Final = -100.0

_FULL_SCALE_POWER: Final = 32768.0**2


def level_dbfs(frame: NDArray[np.int16]) -> float:
    """The RMS level of a frame in dBFS (a full-scale sine is -3 dBFS).

    Returns:
        The level, never below :data:`SILENT_DBFS` (an empty or all-zero frame gives that).
    """
    samples = np.asarray(frame, dtype=np.float64).reshape(-1)
    if samples.size == 0:
        return SILENT_DBFS
    return level_from_power(float(np.dot(samples, samples)) / samples.size)


def level_from_power(power: float) -> float:
    """The level in dBFS of a frame whose mean square sample value is ``power``.

    :func:`level_dbfs` is this of ``sum(samples**2) / len(samples)``; the bridge computes the
    sums for a whole room at once and calls this per leg. The sums of squares of int16
    samples are integers well below 2**53, so any summation order gives the same float.
    """
    if power <= 0.0:
        return SILENT_DBFS
    return max(SILENT_DBFS, 10.0 * math.log10(power / _FULL_SCALE_POWER))


class TalkEvent(enum.Enum):
    """A change in whether a leg is talking."""

    STARTED = "started"
    STOPPED = "stopped"


@dataclass(frozen=True)
class TalkUpdate:
    """The detector's answer for one frame.

    Attributes:
        talking: whether the leg is talking as of this frame.
        event: STARTED or STOPPED on the frame where ``talking`` changed, else None.
        level_dbfs: this frame's level, or None when no frame arrived.
        floor_dbfs: the noise floor after this frame, or None before the first frame.
    """

    talking: bool
    event: TalkEvent | None
    level_dbfs: float | None
    floor_dbfs: float | None


class TalkDetector:
    """Decides, frame by frame, whether one leg is talking.

    Args:
        sensitivity: 0 (needs a voice 16 dB above the noise) to 1 (4 dB above); 0.5 is 10 dB.
            Ignored for a margin given explicitly.
        start_margin_db: how far above the floor a frame must be to count towards starting.
        stop_margin_db: how far above the floor a frame must stay to keep talking; must be
            below the start margin (the hysteresis). Defaults to half the start margin.
        min_level_dbfs: frames quieter than this are never talk.
        attack_ms: how long the level must stay above the start threshold.
        hangover_ms: how long the level must stay below the stop threshold to stop.
        floor_rise_db_per_s: how fast the floor climbs towards louder levels.
        steady_noise_s: how long a level must stay steady to become the floor at once; None
            turns this off.
        steady_range_db: the spread (max - min) that still counts as steady.
        frame_ms: the duration of one frame.

    Raises:
        ValueError: for a sensitivity outside 0..1, a stop margin not below the start margin,
            or a non-positive duration.
    """

    def __init__(
        self,
        *,
        sensitivity: float = 0.5,
        start_margin_db: float | None = None,
        stop_margin_db: float | None = None,
        min_level_dbfs: float = -55.0,
        attack_ms: float = 40.0,
        hangover_ms: float = 400.0,
        floor_rise_db_per_s: float = 0.5,
        steady_noise_s: float | None = 2.0,
        steady_range_db: float = 6.0,
        frame_ms: float = 20.0,
    ) -> None:
        if not 0.0 <= sensitivity <= 1.0:
            raise ValueError(f"sensitivity must be between 0 and 1, not {sensitivity}")
        start = 16.0 - 12.0 * sensitivity if start_margin_db is None else start_margin_db
        stop = start / 2.0 if stop_margin_db is None else stop_margin_db
        if not stop < start:
            raise ValueError(f"stop margin ({stop} dB) must be below start margin ({start} dB)")
        if frame_ms <= 0 or attack_ms < 0 or hangover_ms < 0 or floor_rise_db_per_s < 0:
            raise ValueError("durations and rates must not be negative (frame_ms positive)")
        self.start_margin_db: Final = start
        self.stop_margin_db: Final = stop
        self.min_level_dbfs: Final = min_level_dbfs
        self._attack_frames = max(1, math.ceil(attack_ms / frame_ms))
        self._hangover_frames = max(1, math.ceil(hangover_ms / frame_ms))
        self._rise_per_frame = floor_rise_db_per_s * frame_ms / 1000.0
        window = 0 if steady_noise_s is None else math.ceil(steady_noise_s * 1000.0 / frame_ms)
        self._steady_window = window
        self._steady_range_db = steady_range_db
        # Sliding minimum and maximum of the last ``window`` levels (monotonic queues of
        # (frame number, level)): O(1) per frame where min()/max() over the window cost two
        # numpy reductions on every frame of every leg.
        self._steady_lows: deque[tuple[int, float]] = deque()
        self._steady_highs: deque[tuple[int, float]] = deque()
        self.reset()

    def reset(self) -> None:
        """Forget the floor and the state, as for a new leg."""
        self._floor: float | None = None
        self._talking = False
        self._loud_run = 0  # consecutive frames above the start threshold
        self._quiet_run = 0  # consecutive frames below the stop threshold
        self._steady_lows.clear()
        self._steady_highs.clear()
        self._steady_next = 0  # levels seen since the reset

    @property
    def talking(self) -> bool:
        """Whether the leg is talking as of the last frame."""
        return self._talking

    @property
    def floor_dbfs(self) -> float | None:
        """The current noise floor, or None before the first frame."""
        return self._floor

    def update(self, frame: NDArray[np.int16] | None) -> TalkUpdate:
        """Take the next frame and say whether the leg is talking.

        Args:
            frame: the leg's decoded 20 ms frame, or None when nothing arrived (packet loss,
                discontinuous transmission). A missing frame counts as quiet and leaves the
                floor alone, since it says nothing about the room's noise.
        """
        return self.update_level(None if frame is None else level_dbfs(frame))

    def update_level(self, level: float | None) -> TalkUpdate:
        """:meth:`update` for a frame whose level (:func:`level_dbfs`) is already known.

        Args:
            level: the frame's level in dBFS, or None when no frame arrived.
        """
        event = self._step(level)
        return TalkUpdate(self._talking, event, level, self._floor)

    def update_talking(self, level: float | None) -> bool:
        """:meth:`update_level` without building a :class:`TalkUpdate`: whether the leg is
        talking as of this frame (the bridge's per-leg, per-tick call)."""
        self._step(level)
        return self._talking

    def _step(self, level: float | None) -> TalkEvent | None:
        loud = False
        quiet = True
        if level is not None:
            # Judge against the floor as it was before this frame, then let it follow.
            floor = self._floor
            if floor is None:
                floor = level
            min_level = self.min_level_dbfs
            loud = level > max(floor + self.start_margin_db, min_level)
            quiet = level < max(floor + self.stop_margin_db, min_level)
            self._track_floor(floor, level)

        if not self._talking:
            self._loud_run = self._loud_run + 1 if loud else 0
            if self._loud_run >= self._attack_frames:
                self._talking, self._quiet_run = True, 0
                return TalkEvent.STARTED
        else:
            self._quiet_run = self._quiet_run + 1 if quiet else 0
            if self._quiet_run >= self._hangover_frames:
                self._talking, self._loud_run = False, 0
                return TalkEvent.STOPPED
        return None

    def _track_floor(self, floor: float, level: float) -> None:
        if level < floor:
            floor = level
        else:
            risen = floor + self._rise_per_frame
            floor = level if level < risen else risen  # min(level, risen)
        size = self._steady_window
        if size:
            index = self._steady_next
            self._steady_next = index + 1
            lows, highs = self._steady_lows, self._steady_highs
            while lows and lows[-1][1] >= level:
                lows.pop()
            while highs and highs[-1][1] <= level:
                highs.pop()
            entry = (index, level)
            lows.append(entry)
            highs.append(entry)
            # One level enters per frame, so at most the front one has left the window.
            gone = index - size
            if lows[0][0] <= gone:
                lows.popleft()
            if highs[0][0] <= gone:
                highs.popleft()
            # Only once the window has filled, as a window padded with NaN would behave.
            if gone >= -1:
                lowest = lows[0][1]
                if highs[0][1] - lowest <= self._steady_range_db and lowest > floor:
                    floor = lowest
        self._floor = floor
