"""The 20 ms media clock: every tick, each leg's frame in, each room mixed, each leg's frame
out, prompts to whoever is hearing one.

Its interface is narrow on purpose, so that a compiled media core could take its place:
:meth:`MediaTick.tick` reads the calls and rooms, sends each leg its frame (one packet, or as
many as the leg's packet time makes) and tells the conference who is talking; then it calls
``after_tick(now)`` for the timers of the calls (PIN time-outs, ring time), which are the
bridge's, not the media's, and ``flush()`` to send what they made the SIP side say.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from callroster.bridge.calls import Call, CallState, CallTable
from callroster.bridge.media_health import CHECK_EVERY, MediaHealth
from callroster.bridge.rooms import Room, Rooms
from callroster.clock import Clock, Timer
from callroster.conference.leg import Leg
from callroster.media.talk import level_from_power
from callroster.rtp import g711
from callroster.rtp.g711 import FRAME_SAMPLES

log = logging.getLogger(__name__)

TICK = 0.020
SILENT_PCM = np.zeros(FRAME_SAMPLES, dtype=np.int16)
# A leg's frame this tick, from RtpSession.next_audio: a payload, a concealment, or nothing.
Audio = bytes | NDArray[np.int16] | None
_PROMPT_CACHE_FRAMES = 20_000  # about 6 minutes of prompts per codec; cleared when full


class TickStats:
    """How late each media tick ran (seconds), for the benchmark and the health endpoint.

    The loop's clock (libuv's under uvloop) counts whole milliseconds, too coarse for a
    lateness that should stay well under one. :meth:`precise` maps ``time.perf_counter()``
    onto the loop's clock instead: the loop's reading is never ahead of the true time, so the
    smallest ``perf_counter() - loop.time()`` seen so far is the offset between the two,
    accurate to microseconds after a few ticks. (A measurement of this process, not a rule
    on time, so it reads the counter itself.)
    """

    def __init__(self, keep: int = 30_000) -> None:
        self.lateness: deque[float] = deque(maxlen=keep)
        self.ticks = 0
        self.skipped = 0  # ticks never run because the clock jumped (catch-up after a stall)
        self._offset = math.inf

    def precise(self, loop_now: float) -> float:
        """The current time on the loop's clock, to the precision of ``perf_counter``."""
        counter = time.perf_counter()
        self._offset = min(self._offset, counter - loop_now)
        return counter - self._offset

    def record(self, lateness: float) -> None:
        self.ticks += 1
        self.lateness.append(lateness)


class MediaTick:
    def __init__(
        self,
        calls: CallTable,
        rooms: Rooms,
        clock: Clock,
        after_tick: Callable[[float], None],
        flush: Callable[[], None],
    ) -> None:
        self._calls = calls
        self._rooms = rooms
        self._clock = clock
        self._after_tick = after_tick
        self._flush = flush
        self.stats = TickStats()
        self._next_tick = 0.0
        self._handle: Timer | None = None
        self._prompt_payloads: dict[tuple[int, str], tuple[NDArray[np.int16], bytes]] = {}
        self._health: dict[str, MediaHealth] = {}  # by leg id, for the joined legs
        self._next_health_check = 0.0

    def start(self) -> None:
        self._next_tick = self._clock.time() + TICK
        self._handle = self._clock.call_at(self._next_tick, self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _tick(self) -> None:
        """One tick, scheduled on an absolute grid so it never drifts."""
        now = self._clock.time()
        self.stats.record(self.stats.precise(now) - self._next_tick)
        self.tick(now)
        self._next_tick += TICK
        if self._next_tick < now - 5 * TICK:  # we were stopped (debugger, suspend): catch up
            self.stats.skipped += math.ceil((now - self._next_tick) / TICK)
            self._next_tick = now + TICK
        self._handle = self._clock.call_at(self._next_tick, self._tick)

    def tick(self, now: float) -> None:
        try:
            self._mix_rooms(now)
            self._play_to_callers_outside_rooms(now)
            self._after_tick(now)
            if now >= self._next_health_check:
                self._next_health_check = now + CHECK_EVERY
                self._check_health(now)
        except Exception:  # noqa: BLE001 - one bad tick must not stop the clock
            log.exception("media tick failed")
        self._flush()

    def _mix_rooms(self, now: float) -> None:
        # Two passes: first every leg's frame, then per room talk detection, mix and send.
        # Between them, the levels of all received frames of all rooms are computed in one
        # table lookup per codec (most rooms are small; per-room numpy calls would dominate).
        rooms: list[tuple[Room, list[tuple[Leg, Call]], list[Audio], list[float | None]]] = []
        pending: dict[str, tuple[list[list[float | None]], list[int], list[bytes]]] = {}
        calls_by_leg = self._calls.by_leg
        for room in self._rooms:
            members: list[tuple[Leg, Call]] = []
            audio: list[Audio] = []
            levels: list[float | None] = []
            for leg in room.conference.present():
                call = calls_by_leg.get(leg.id)
                if call is None or call.state is not CallState.JOINED:
                    continue  # (an invited leg rings or is asked to press 1: not in the mix)
                frame = call.rtp.next_audio(now)
                level: float | None = None
                # Not heard, or a gap filled by concealment (a quieter repeat, not the
                # caller's level): the talk detector is told nothing arrived (see _mix_room).
                # Were concealment measured, its fading level would drag the noise floor
                # down and plain line noise would then count as talk.
                if isinstance(frame, bytes) and leg.heard:
                    batch = pending.get(call.rtp.codec)
                    if batch is None:
                        batch = pending[call.rtp.codec] = ([], [], [])
                    batch[0].append(levels)
                    batch[1].append(len(levels))
                    batch[2].append(frame)
                members.append((leg, call))
                audio.append(frame)
                levels.append(level)
            rooms.append((room, members, audio, levels))
        for codec, (owners, indexes, payloads) in pending.items():
            sums = g711.sums_of_squares(codec, b"".join(payloads))
            for owner, index, total in zip(owners, indexes, sums, strict=True):
                owner[index] = level_from_power(total / FRAME_SAMPLES)
        for room, members, audio, levels in rooms:
            self._mix_room(room, members, audio, levels)

    def _mix_room(
        self,
        room: Room,
        members: list[tuple[Leg, Call]],
        audio: list[Audio],
        levels: list[float | None],
    ) -> None:
        conference = room.conference
        mixer = room.mixer
        inputs: dict[str, NDArray[np.int16] | None] = {}
        talking: list[str] = []
        for (leg, call), frame, level in zip(members, audio, levels, strict=True):
            # level is None for a leg that is not heard (see _mix_rooms).
            now_talking = call.talk.update_talking(level) and leg.heard
            if leg.talking != now_talking:
                conference.set_talking(leg.id, now_talking)
            if leg.talking:
                talking.append(leg.id)
                # Only talkers are mixed, so only their frames are decoded.
                inputs[leg.id] = call.rtp.last_pcm() if isinstance(frame, bytes) else frame
            mixer.set_flags(leg.id, muted=leg.muted, held=leg.held)
        extra = room.tones.popleft() if room.tones else None
        music = next(room.music)
        # Only held legs hear the music: without one, copying it into the output is waste.
        output = mixer.mix(
            inputs, hold_music=music if mixer.any_held else None, extra=extra, talking=talking
        )
        for leg, call in members:
            prompt = call.prompts.next_frame()
            payload = (
                self._encode_prompt(call.rtp.codec, prompt)
                if prompt is not None
                else output.encoded(leg.id)
            )
            _send(call, payload)
        self._rooms.after_change(room)

    def _check_health(self, now: float) -> None:
        """Once a second: tell each conference which of its legs' media has a lasting
        problem, and when it has gone (bridge/media_health.py)."""
        calls_by_leg = self._calls.by_leg
        judged: set[str] = set()
        for room in self._rooms:
            changed = False
            for leg in room.conference.present():
                call = calls_by_leg.get(leg.id)
                if call is None or call.state is not CallState.JOINED:
                    continue
                judged.add(leg.id)
                health = self._health.get(leg.id)
                if health is None:
                    self._health[leg.id] = MediaHealth(now)
                    continue
                before = health.problem
                problem = health.check(call.rtp.counters, now, expecting=call.rtp.sending)
                if problem != before:
                    room.conference.set_media_problem(leg.id, problem)
                    changed = True
            if changed:
                self._rooms.after_change(room)
        for gone in self._health.keys() - judged:
            del self._health[gone]

    def _encode_prompt(self, codec: str, frame: NDArray[np.int16]) -> bytes:
        """A prompt frame in a codec, encoded once: everyone who joins hears the same frames.

        Keyed by the frame's identity (prompt frames are loaded once and kept); the frame is
        kept in the entry so that its id cannot be reused by another array.
        """
        key = (id(frame), codec)
        entry = self._prompt_payloads.get(key)
        if entry is None or entry[0] is not frame:
            if len(self._prompt_payloads) >= _PROMPT_CACHE_FRAMES:
                self._prompt_payloads.clear()
            entry = self._prompt_payloads[key] = (frame, g711.encode(codec, frame))
        return entry[1]

    def _play_to_callers_outside_rooms(self, now: float) -> None:
        for call in self._calls:
            if call.state is CallState.JOINED:
                continue
            call.rtp.next_pcm(now)  # keep the jitter buffer moving while they key in
            prompt = call.prompts.next_frame()
            _send(
                call,
                self._encode_prompt(call.rtp.codec, prompt if prompt is not None else SILENT_PCM),
            )


def _send(call: Call, payload: bytes) -> None:
    """One packet to one leg. Whatever goes wrong sending it (an address the socket cannot
    reach, a full buffer, a closed connection) stays with that leg: counted, logged once
    with the leg's id (never its address or number), and the tick goes on to the others."""
    rtp = call.rtp
    if rtp.sending:
        try:
            if rtp.ptime_samples == FRAME_SAMPLES:  # the far end wants 20 ms packets
                call.port.sendto(rtp.packet(payload), rtp.remote)
            else:
                for packet in rtp.packets(payload):
                    call.port.sendto(packet, rtp.remote)
        except Exception as exc:  # noqa: BLE001 - confined to this leg, see above
            count_send_failure(call, exc)


def count_send_failure(call: Call, exc: Exception) -> None:
    """A packet to this leg failed (raised by the send, or reported by its socket later):
    counted on the leg, logged the first time with the leg's id, never its address."""
    counters = call.rtp.counters
    counters.send_failures += 1
    if counters.send_failures == 1:
        log.warning("leg %s: sending media failed (%s)", call.leg_id, type(exc).__name__)
