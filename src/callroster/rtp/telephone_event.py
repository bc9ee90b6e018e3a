"""RFC 4733 telephone events: DTMF digits carried in RTP rather than as audio.

A sender repeats an event's packets while the key is held (all with the event's start
timestamp and a growing duration) and sends the final "end" packet three times, so a receiver
must turn that stream back into one digit per key press. A key press is identified by its RTP
timestamp: the same digit pressed again starts a new event with a new timestamp.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass

from callroster.rtp.packet import TIMESTAMP_MODULO, RtpError, RtpPacket

#: The 16 DTMF events (RFC 4733 section 3.2), in event-code order 0-15.
DIGITS = "0123456789*#ABCD"
#: Largest duration field; longer presses are split into segments (RFC 4733 2.5.1.3).
MAX_DURATION = 0xFFFF
_EVENT = struct.Struct("!BBH")
# Event timestamps remembered per stream: enough that the repeated end packets of a digit,
# arriving after several later presses have started, are still recognised.
_HISTORY = 32


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """One telephone-event payload block (RFC 4733 section 2.3).

    Attributes:
        event: Event code; 0-15 are the DTMF digits in :data:`DIGITS`.
        end: Whether this packet reports the end of the event.
        volume: Power level as -dBm0, 0-63.
        duration: Duration so far, in RTP timestamp units, 0-65535.
    """

    event: int
    end: bool
    volume: int
    duration: int

    def __post_init__(self) -> None:
        if not 0 <= self.event <= 0xFF:
            raise ValueError(f"event {self.event} is not 8 bits")
        if not 0 <= self.volume <= 0x3F:
            raise ValueError(f"volume {self.volume} is not 6 bits")
        if not 0 <= self.duration <= MAX_DURATION:
            raise ValueError(f"duration {self.duration} is not 16 bits")


def parse_telephone_event(payload: bytes) -> TelephoneEvent:
    """Parses the first event block of a telephone-event payload.

    Args:
        payload: RTP payload of a telephone-event packet.

    Returns:
        The event. The reserved bit is ignored, as RFC 4733 asks of receivers.

    Raises:
        RtpError: The payload is shorter than the 4-byte block.
    """
    if len(payload) < _EVENT.size:
        raise RtpError(f"telephone-event payload of {len(payload)} bytes, need {_EVENT.size}")
    event, flags, duration = _EVENT.unpack_from(payload)
    return TelephoneEvent(
        event=event, end=bool(flags & 0x80), volume=flags & 0x3F, duration=duration
    )


def serialise_telephone_event(event: TelephoneEvent) -> bytes:
    """Serialises one event block.

    Args:
        event: The event.

    Returns:
        The 4-byte payload.
    """
    return _EVENT.pack(event.event, (0x80 if event.end else 0) | event.volume, event.duration)


def digit_for_event(event: int) -> str | None:
    """Maps an event code to its DTMF digit.

    Args:
        event: Event code.

    Returns:
        ``'0'``-``'9'``, ``'*'``, ``'#'`` or ``'A'``-``'D'``; None for other events (flash...).
    """
    return DIGITS[event] if 0 <= event < len(DIGITS) else None


def encode_events(
    digit: str,
    *,
    duration: int = 800,
    packet_samples: int = 160,
    volume: int = 10,
    end_repeats: int = 3,
) -> list[bytes]:
    """Builds the payloads that send one key press.

    Send them with one RTP timestamp (the press's start): the marker bit on the first, and
    with :class:`~callroster.rtp.packet.RtpSender`, ``samples=0`` on all but the last.

    Args:
        digit: One of :data:`DIGITS`.
        duration: Length of the press in timestamp units (800 is 100 ms at 8 kHz).
        packet_samples: Timestamp units between packets while the key is held.
        volume: Power level as -dBm0.
        end_repeats: Copies of the end packet; RFC 4733 2.5.1.4 asks for three, so that
            losing one does not lose the end.

    Returns:
        One payload per packet: the durations grow by ``packet_samples`` up to ``duration``,
        then the end packet is repeated.

    Raises:
        ValueError: Unknown digit, or a duration, interval or repeat count out of range.
    """
    if len(digit) != 1 or digit not in DIGITS:
        raise ValueError(f"{digit!r} is not a DTMF digit")
    if not 0 < duration <= MAX_DURATION:
        raise ValueError(f"duration {duration} is not in 1-{MAX_DURATION}")
    if packet_samples <= 0 or end_repeats <= 0:
        raise ValueError("packet_samples and end_repeats must be positive")
    event = DIGITS.index(digit)
    running = [
        TelephoneEvent(event, False, volume, elapsed)
        for elapsed in range(packet_samples, duration, packet_samples)
    ]
    end = [TelephoneEvent(event, True, volume, duration)] * end_repeats
    return [serialise_telephone_event(e) for e in running + end]


@dataclass(frozen=True, slots=True)
class _Segment:
    event: int
    timestamp: int
    duration: int
    ended: bool


class DtmfReceiver:
    """Turns one stream's telephone-event packets into digits, once per key press."""

    def __init__(self, payload_type: int | None = None) -> None:
        """Creates a receiver.

        Args:
            payload_type: The telephone-event payload type negotiated in SDP; packets with
                another type are ignored. None if the caller already filters them.
        """
        self.payload_type = payload_type
        self._ssrc: int | None = None
        self._seen: deque[int] = deque(maxlen=_HISTORY)
        self._last: _Segment | None = None

    def receive(self, packet: RtpPacket) -> str | None:
        """Feeds one received packet.

        Args:
            packet: An RTP packet of the stream.

        Returns:
            The digit if this packet is the first one seen of a new key press; None for
            repeats, end packets of a press already reported, non-DTMF events, other payload
            types and malformed payloads.
        """
        if self.payload_type is not None and packet.payload_type != self.payload_type:
            return None
        try:
            event = parse_telephone_event(packet.payload)
        except RtpError:
            return None  # Network garbage: dropping it must not disturb the next press.
        if packet.ssrc != self._ssrc:
            self._ssrc = packet.ssrc
            self._seen.clear()
            self._last = None
        timestamp = packet.timestamp
        last = self._last
        if timestamp in self._seen:
            if last is not None and last.timestamp == timestamp:
                self._last = _Segment(
                    last.event,
                    timestamp,
                    max(last.duration, event.duration),
                    last.ended or event.end,
                )
            return None
        self._seen.append(timestamp)
        self._last = _Segment(event.event, timestamp, event.duration, event.end)
        if last is not None and self._continues(last, event.event, timestamp):
            return None
        return digit_for_event(event.event)

    @staticmethod
    def _continues(last: _Segment, event: int, timestamp: int) -> bool:
        # A press held past the 16-bit duration goes on as a new segment whose timestamp is
        # the old one plus its duration, without an end in between (RFC 4733 2.5.1.3). A
        # genuine new press of the same key starts strictly later than that, even when all
        # three end packets of the previous one were lost, because keys are released between.
        elapsed = (timestamp - last.timestamp) % TIMESTAMP_MODULO
        return last.event == event and not last.ended and 0 < elapsed <= last.duration
