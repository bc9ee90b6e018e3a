"""Adaptive jitter buffer: turns RTP packets arriving at uneven times into one frame per tick.

The mixer calls :meth:`JitterBuffer.pop` once every 20 ms and always gets exactly one frame.
Frames are placed by RTP timestamp, not by arrival or sequence number, so reordering and the
gaps a sender leaves in silence (same sequence run, timestamp jump) both come out right.

It works in samples, not packets: a packet of one frame (20 ms, the common case and the fast
path) on the stream's 20 ms grid takes its frame slot whole; a packet of any other size (10,
30, 40, 60 ms, a sender that changes size mid-call, or one whose timestamps leave the grid) has
its samples laid into the slots they cover, each slot filled by as many packets as it takes.
A slot that plays before it is full plays the samples that came, and silence for the rest.

How long a frame waits is the play-out delay: the time from a packet's arrival to the tick
that plays it. Packets arriving later than that are lost to the listener, so the delay follows
the RFC 3550 A.8 interarrival-jitter estimate J: the target is three J plus half a frame,
clamped to ``[min_delay, max_delay]``. It rises at once when jitter rises (late packets are
audible) and falls slowly (10 ms per second) so that periodic spikes, common on Wi-Fi, do not
make it hunt. The buffer reaches the target one frame at a time: it holds a frame back for a
tick to grow, and skips one to shrink, at most once every ten ticks so that a burst of early
packets never makes speech play noticeably fast.

Delay is measured against the mean transit time (arrival minus media time), so the sender's
clock drifting against ours is absorbed by the same occasional hold or skip. Because skips are
rationed, the delay can overshoot ``max_delay`` for a while under extreme jitter; the target
never does. A step in network delay (three late packets in a row) moves the mean at once
instead of letting it creep up while every packet misses its tick.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

from callroster.rtp.packet import SEQUENCE_MODULO, TIMESTAMP_MODULO, RtpPacket

FrameKind = Literal["audio", "concealed", "silence"]

#: Consecutive frames the caller is asked to conceal before the buffer reports silence.
MAX_CONCEALED = 3
_JITTER_GAIN = 1 / 16  # RFC 3550 A.8
_MEAN_GAIN = 1 / 16
_JITTER_MARGIN = 3.0  # J is about 1.1 standard deviations; three J leaves few packets late
_DECAY_PER_SECOND = 0.01
_SHRINK_AFTER = 10  # ticks the delay must stay too high before one frame is skipped
_REANCHOR_AFTER = 3  # consecutive late packets: the network path got slower, not jittery
_LATE_RESYNC = 25  # consecutive late packets (half a second): the sender's clock jumped back
_RESET_JUMP = 1.0  # seconds of timestamp discontinuity that starts the stream afresh
_SEQUENCE_HISTORY = 512  # sequence numbers remembered to recognise duplicates
_HALF_TIMESTAMP = TIMESTAMP_MODULO // 2
_HALF_SEQUENCE = SEQUENCE_MODULO // 2


@dataclass(frozen=True, slots=True)
class Frame:
    """What to play for one tick.

    Attributes:
        payload: The frame's payload bytes for "audio"; None otherwise.
        kind: "audio" for a received frame; "concealed" when a frame is missing and the caller
            should conceal it (e.g. from :attr:`JitterBuffer.last_payload`); "silence" before
            the stream starts or after :data:`MAX_CONCEALED` missing frames in a row.
    """

    payload: bytes | None
    kind: FrameKind


SILENCE = Frame(None, "silence")
CONCEALED = Frame(None, "concealed")


@dataclass(frozen=True, slots=True)
class JitterStats:
    """Counters since the buffer was created (they survive stream resets).

    Attributes:
        received: Packets pushed, including duplicates and late ones.
        duplicates: Packets dropped because their sequence number or slot was already held.
        late: Packets dropped because their play-out tick had passed.
        lost: Sequence numbers never received (RFC 3550 cumulative loss, floored at 0).
        concealed: Ticks that returned "concealed".
        dropped: Frames discarded unplayed: to bound memory, to shrink the delay, or left
            over when the stream restarted.
        resets: Times a new SSRC, a timestamp jump or a run of late packets restarted the
            stream.
        current_delay: Seconds a packet of average transit currently waits before it plays
            (the target delay until play-out starts).
        target_delay: Seconds the buffer is steering towards.
        jitter: RFC 3550 interarrival jitter estimate, in seconds.
    """

    received: int
    duplicates: int
    late: int
    lost: int
    concealed: int
    dropped: int
    resets: int
    current_delay: float
    target_delay: float
    jitter: float


def _unwrap(value: int, reference: int, modulo: int) -> int:
    """Extends a wrapping counter to the value nearest ``reference``."""
    delta = (value - reference) % modulo
    if delta >= modulo // 2:
        delta -= modulo
    return reference + delta


class JitterBuffer:
    """Play-out buffer for one incoming RTP stream of fixed-size frames."""

    def __init__(
        self,
        frame_samples: int = 160,
        clock_rate: int = 8000,
        min_delay: float = 0.02,
        max_delay: float = 0.2,
        *,
        initial_delay: float = 0.06,
        max_frames: int = 64,
        silence: int = 0xFF,
    ) -> None:
        """Creates an empty buffer.

        Args:
            frame_samples: Timestamp units per packet and per tick (160 is 20 ms of G.711).
            clock_rate: RTP clock rate in Hz.
            min_delay: Lowest play-out delay in seconds.
            max_delay: Highest play-out delay in seconds.
            initial_delay: Delay a new stream starts with, before any jitter is measured;
                clamped to ``[min_delay, max_delay]``.
            max_frames: Most frames held; the oldest are dropped beyond it.
            silence: The payload octet for a sample no packet brought (G.711 zero: 0xFF in
                µ-law, 0xD5 in A-law), for a slot only partly filled when it plays.

        Raises:
            ValueError: A size or rate is not positive, or the delays are out of order.
        """
        if frame_samples <= 0 or clock_rate <= 0 or max_frames <= 0:
            raise ValueError("frame_samples, clock_rate and max_frames must be positive")
        if not 0 <= min_delay <= max_delay:
            raise ValueError(f"need 0 <= min_delay <= max_delay, got {min_delay}, {max_delay}")
        self.frame_samples = frame_samples
        self.clock_rate = clock_rate
        self.min_delay = min_delay
        self.max_delay = max_delay
        self.initial_delay = self._clamp(initial_delay)
        self.max_frames = max_frames
        self._silent_frame = bytes([silence]) * frame_samples
        self._frame_seconds = frame_samples / clock_rate
        # Derived once for push_fields; each is the same float the expressions give.
        self._half_frame = self._frame_seconds / 2
        self._decay_step = _DECAY_PER_SECOND * self._frame_seconds
        self._reset_jump = _RESET_JUMP * clock_rate
        self._received = self._duplicates = self._late = self._concealed = 0
        self._dropped = self._resets = self._lost_before = 0
        self._missing_run = 0
        self._last_payload: bytes | None = None
        self._ssrc: int | None = None
        # Per-stream state; _begin sets every field for real before any is read.
        self._origin = self._high_ts = self._high_seq = self._low_seq = self._unique = 0
        self._seen: set[int] = set()
        self._seen_order: deque[int] = deque()
        self._frames: dict[int, bytes | bytearray] = {}  # bytearray: a slot partly filled
        self._filled: dict[int, int] = {}  # samples so far in each partly filled slot
        self._cursor: int | None = None
        self._transit = self._mean_transit = self._late_transit = self._jitter = 0.0
        self._target = self._delay = self.initial_delay
        self._late_run = self._high_run = 0

    @property
    def last_payload(self) -> bytes | None:
        """Payload of the last "audio" frame popped, for the caller's concealment."""
        return self._last_payload

    @property
    def drops(self) -> tuple[int, int]:
        """Packets dropped as late and as duplicates so far: :meth:`stats`' two figures,
        without building the rest (the metrics read them for every call at each scrape)."""
        return self._late, self._duplicates

    @property
    def buffered(self) -> int:
        """Frames currently held."""
        return len(self._frames)

    def stats(self) -> JitterStats:
        """Returns the counters and the current delay.

        Returns:
            A snapshot; see :class:`JitterStats`.
        """
        lost = max(0, self._high_seq - self._low_seq + 1 - self._unique) if self._unique else 0
        return JitterStats(
            received=self._received,
            duplicates=self._duplicates,
            late=self._late,
            lost=self._lost_before + lost,
            concealed=self._concealed,
            dropped=self._dropped,
            resets=self._resets,
            current_delay=self._delay if self._cursor is not None else self._target,
            target_delay=self._target,
            jitter=self._jitter,
        )

    def push(self, packet: RtpPacket, arrival: float) -> None:
        """Accepts one received packet of the stream.

        Args:
            packet: The packet; its payload is stored as is.
            arrival: When it arrived, in seconds on the same clock as :meth:`pop`'s ``now``.
        """
        self.push_fields(packet.sequence, packet.timestamp, packet.ssrc, packet.payload, arrival)

    def push_fields(
        self, sequence: int, timestamp: int, ssrc: int, payload: bytes, arrival: float
    ) -> None:
        """:meth:`push` for a packet already taken apart (the receiver's fast path).

        The steps of :meth:`_starts_new_stream`, ``_unwrap``, :meth:`_remember` and
        :meth:`_measure` are inlined here: this runs for every packet of every leg, and the
        calls cost more than the arithmetic. The results are the same to the last bit.
        """
        self._received += 1
        if len(payload) != self.frame_samples:
            # A packet leaves its sender when its last sample has been spoken: time it as a
            # one-frame packet ending with the same sample would arrive, so that packet size
            # (or a change of it) does not look like network delay or jitter.
            arrival -= (len(payload) - self.frame_samples) / self.clock_rate
        high_ts = self._high_ts
        delta = (timestamp - high_ts) % TIMESTAMP_MODULO
        ext_ts = high_ts + (delta - TIMESTAMP_MODULO if delta >= _HALF_TIMESTAMP else delta)
        if ssrc != self._ssrc or self._late_run >= _LATE_RESYNC:
            new_stream = True
        else:
            cursor = self._cursor
            reference = high_ts if cursor is None else self._origin + cursor * self.frame_samples
            new_stream = abs(ext_ts - reference) > self._reset_jump
        if new_stream:
            if self._ssrc is not None:
                self._resets += 1
            self._begin(ssrc, sequence, timestamp, arrival)
            ext_ts = timestamp
        high_seq = self._high_seq
        delta = (sequence - high_seq) % SEQUENCE_MODULO
        ext_seq = high_seq + (delta - SEQUENCE_MODULO if delta >= _HALF_SEQUENCE else delta)
        seen = self._seen
        if ext_seq in seen:
            self._duplicates += 1
            return
        # _remember
        seen.add(ext_seq)
        order = self._seen_order
        order.append(ext_seq)
        if len(order) > _SEQUENCE_HISTORY:
            seen.discard(order.popleft())
        self._unique += 1
        if ext_seq > high_seq:
            self._high_seq = ext_seq
        elif ext_seq < self._low_seq:
            self._low_seq = ext_seq
        if ext_ts > self._high_ts:
            self._high_ts = ext_ts
        # _measure
        transit = arrival - (ext_ts - self._origin) / self.clock_rate
        jitter = self._jitter + (abs(transit - self._transit) - self._jitter) * _JITTER_GAIN
        self._jitter = jitter
        self._transit = transit
        self._mean_transit += (transit - self._mean_transit) * _MEAN_GAIN
        wanted = self._half_frame + _JITTER_MARGIN * jitter
        if wanted < self.min_delay:
            wanted = self.min_delay
        if wanted > self.max_delay:
            wanted = self.max_delay
        target = self._target
        if wanted < target:
            decayed = target - self._decay_step
            self._target = wanted if wanted >= decayed else decayed
        else:
            self._target = wanted
        frames = self._frames
        offset = ext_ts - self._origin
        if len(payload) != self.frame_samples or offset % self.frame_samples:
            # Any other size, or a whole frame off the grid (after a change of size, or a
            # sender that restarted at an odd timestamp): sample by sample.
            if not self._place_samples(offset, payload):
                self._count_late()
                return
            self._late_run = 0
            if len(frames) > self.max_frames:
                self._drop_oldest()
            return
        slot = offset // self.frame_samples
        if self._cursor is not None and slot < self._cursor:
            self._count_late()
            return
        self._late_run = 0
        existing = frames.get(slot)
        if existing is not None:
            if type(existing) is bytes:
                self._duplicates += 1
                return
            del self._filled[slot]  # a whole frame replaces what smaller packets brought
        frames[slot] = payload
        if len(frames) > self.max_frames:
            self._drop_oldest()

    def _count_late(self) -> None:
        self._late += 1
        self._late_run += 1
        first_late = self._late_run == 1
        self._late_transit = self._transit if first_late else min(self._late_transit, self._transit)

    def _place_samples(self, offset: int, payload: bytes) -> bool:
        """Lays a packet of any size into the slots its samples cover (``offset``: its first
        sample, from the stream's origin). False when every slot it covers has played."""
        size = self.frame_samples
        frames, filled, cursor = self._frames, self._filled, self._cursor
        end = offset + len(payload)
        placed = False
        for slot in range(offset // size, (end - 1) // size + 1):
            if cursor is not None and slot < cursor:
                continue  # this part came too late; the rest may not have
            placed = True
            start, stop = max(offset, slot * size), min(end, (slot + 1) * size)
            held = frames.get(slot)
            if isinstance(held, bytearray):
                frame = held
            elif held is None:
                frame = frames[slot] = bytearray(self._silent_frame)
                filled[slot] = 0
            else:
                continue  # already whole (a duplicate, or a 20 ms packet of the same time)
            base = slot * size
            frame[start - base : stop - base] = payload[start - offset : stop - offset]
            filled[slot] += stop - start
            if filled[slot] >= size:
                frames[slot] = bytes(frame)
                del filled[slot]
        return placed

    def _drop_oldest(self) -> None:
        frames = self._frames
        cursor = self._cursor
        while len(frames) > self.max_frames:
            if cursor is None:
                oldest = min(frames)
            else:
                # Nothing below the cursor is ever stored, so the oldest frame is found by
                # walking up from it (usually one step) instead of min() over 64 keys: an
                # overloaded bridge gets here on every packet.
                oldest = cursor
                while oldest not in frames:
                    oldest += 1
            del frames[oldest]
            self._filled.pop(oldest, None)
            self._dropped += 1

    def pop(self, now: float) -> Frame:
        """Returns the frame for this tick; call exactly once per tick.

        Args:
            now: The tick's time in seconds, on the same clock as the arrivals.

        Returns:
            Exactly one frame: audio, or a request to conceal, or silence.
        """
        if self._cursor is None:
            if not self._frames:
                return self._fill()
            first = min(self._frames)
            if now < first * self._frame_seconds + self._mean_transit + self._target:
                return self._fill()  # still filling up to the target delay
            # Start at the oldest frame even if the tick is late: skipping ahead here would
            # throw away a burst the sender sent early, which gradual shrinking plays out.
            self._cursor = first
        if self._late_run >= _REANCHOR_AFTER:
            # A step in network delay (route change) makes every packet late, and the mean
            # would take a second to follow: take the run's quickest transit as the new mean
            # at once, so the holds below restore the margin within a few ticks. A burst after
            # a stall does not get here: its on-time tail ends the run before the tick.
            self._mean_transit = max(self._mean_transit, self._late_transit)
        self._delay = now - self._cursor * self._frame_seconds - self._mean_transit
        if self._delay < self._target - self._frame_seconds / 2:
            # Holding the cursor makes every later frame wait one tick longer.
            self._high_run = 0
            return self._fill()
        self._high_run = (
            self._high_run + 1 if self._delay > self._target + self._frame_seconds else 0
        )
        if self._high_run >= _SHRINK_AFTER:
            self._high_run = 0
            if self._frames.pop(self._cursor, None) is not None:
                self._filled.pop(self._cursor, None)
                self._dropped += 1
            self._cursor += 1
        held = self._frames.pop(self._cursor, None)
        if isinstance(held, bytearray):  # partly filled: what came, silence for the rest
            del self._filled[self._cursor]
            held = bytes(held)
        payload = held
        self._cursor += 1
        if payload is None:
            return self._fill()
        self._missing_run = 0
        self._last_payload = payload
        return Frame(payload, "audio")

    def _fill(self) -> Frame:
        # Repeating the last frame helps for a packet or two; beyond that it sounds like a
        # stuck record, so the caller is told to play silence instead.
        self._missing_run += 1
        if self._last_payload is not None and self._missing_run <= MAX_CONCEALED:
            self._concealed += 1
            return CONCEALED
        return SILENCE

    def _starts_new_stream(self, packet: RtpPacket) -> bool:
        """The reference form of the new-stream test that :meth:`push_fields` inlines."""
        if self._ssrc is None or packet.ssrc != self._ssrc or self._late_run >= _LATE_RESYNC:
            return True
        ext_ts = _unwrap(packet.timestamp, self._high_ts, TIMESTAMP_MODULO)
        # Compared with what is playing now, so that a sender resuming after a silence it
        # did not send (timestamp advanced in step with real time) is not a discontinuity.
        if self._cursor is None:
            reference = self._high_ts
        else:
            reference = self._origin + self._cursor * self.frame_samples
        return abs(ext_ts - reference) > _RESET_JUMP * self.clock_rate

    def _begin(self, ssrc: int, sequence: int, timestamp: int, arrival: float) -> None:
        # last_payload and the concealment run carry over: to the listener it is one leg,
        # and a restart mid-word should fade out like a loss rather than cut off.
        if self._unique:
            self._lost_before += max(0, self._high_seq - self._low_seq + 1 - self._unique)
        self._dropped += len(self._frames)  # the old stream's unplayed frames
        self._ssrc = ssrc
        self._origin = self._high_ts = timestamp
        self._high_seq = self._low_seq = sequence
        self._unique = 0
        self._seen.clear()
        self._seen_order.clear()
        self._frames.clear()
        self._filled.clear()
        self._cursor = None
        self._transit = self._mean_transit = arrival
        self._jitter = 0.0
        self._target = self._delay = self.initial_delay
        self._late_run = self._high_run = 0

    def _remember(self, ext_seq: int) -> None:
        self._seen.add(ext_seq)
        self._seen_order.append(ext_seq)
        if len(self._seen_order) > _SEQUENCE_HISTORY:
            self._seen.discard(self._seen_order.popleft())
        self._unique += 1
        self._high_seq = max(self._high_seq, ext_seq)
        self._low_seq = min(self._low_seq, ext_seq)

    def _measure(self, ext_ts: int, arrival: float) -> None:
        transit = arrival - (ext_ts - self._origin) / self.clock_rate
        self._jitter += (abs(transit - self._transit) - self._jitter) * _JITTER_GAIN
        self._transit = transit
        self._mean_transit += (transit - self._mean_transit) * _MEAN_GAIN
        wanted = self._clamp(self._frame_seconds / 2 + _JITTER_MARGIN * self._jitter)
        decayed = self._target - _DECAY_PER_SECOND * self._frame_seconds
        self._target = wanted if wanted >= self._target else max(wanted, decayed)

    def _clamp(self, delay: float) -> float:
        return min(self.max_delay, max(self.min_delay, delay))
