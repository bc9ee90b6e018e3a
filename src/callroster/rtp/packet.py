"""RTP packets (RFC 3550 section 5.1): parser, serialiser, RTCP demultiplexing and a sender.

The parser is the first thing a datagram from the network meets, so it raises only
:class:`RtpError` whatever the bytes are. Padding and header extensions are accepted and
skipped: the bridge needs neither, and phones send both.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

RTP_VERSION = 2
HEADER_SIZE = 12
SEQUENCE_MODULO = 1 << 16
TIMESTAMP_MODULO = 1 << 32
_MAX_CSRCS = 15
_HEADER = struct.Struct("!BBHII")
_PLAIN_FIRST_OCTET = RTP_VERSION << 6  # no padding, no extension, no CSRCs
# RFC 5761 section 4: with the marker bit masked, 64-95 is where RTCP packet types 192-223
# land (SR..APP are 72-76; RTPFB, PSFB and XR are 77-79), and RTP MUST NOT use those payload
# types on a multiplexed port. Taking the whole range also ignores feedback RTCP from phones.
_RTCP_TYPES = range(64, 96)


class RtpError(ValueError):
    """A datagram that is not a well-formed RTP packet; the receiver drops it."""


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One RTP packet, without padding or header extension.

    Attributes:
        payload_type: 7-bit payload type (0 PCMU, 8 PCMA, dynamic 96-127 for telephone-event).
        sequence: 16-bit sequence number.
        timestamp: 32-bit media timestamp, in the payload's clock units.
        ssrc: Synchronisation source identifier.
        payload: The media bytes.
        marker: Marker bit (start of a talkspurt, or of a telephone event).
        csrcs: Contributing sources, at most 15.
    """

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes
    marker: bool = False
    csrcs: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        # Checked here so that serialise_rtp can never emit a header that parses differently.
        if not 0 <= self.payload_type < 128:
            raise ValueError(f"payload type {self.payload_type} is not 7 bits")
        if not 0 <= self.sequence < SEQUENCE_MODULO:
            raise ValueError(f"sequence {self.sequence} is not 16 bits")
        if not 0 <= self.timestamp < TIMESTAMP_MODULO:
            raise ValueError(f"timestamp {self.timestamp} is not 32 bits")
        if not 0 <= self.ssrc < TIMESTAMP_MODULO:
            raise ValueError(f"ssrc {self.ssrc} is not 32 bits")
        if len(self.csrcs) > _MAX_CSRCS:
            raise ValueError(f"{len(self.csrcs)} CSRCs, at most {_MAX_CSRCS} fit")
        if any(not 0 <= csrc < TIMESTAMP_MODULO for csrc in self.csrcs):
            raise ValueError("CSRC is not 32 bits")


def is_rtcp(data: bytes) -> bool:
    """Tells RTCP from RTP on a port carrying both (RFC 5761 section 4).

    Args:
        data: A received datagram.

    Returns:
        True if the datagram is RTCP (version 2, second octet in 192-223), which the media
        path ignores; False for RTP and for anything too short to tell.
    """
    return len(data) >= 2 and data[0] >> 6 == RTP_VERSION and data[1] & 0x7F in _RTCP_TYPES


def parse_rtp(data: bytes) -> RtpPacket:
    """Parses one RTP packet, skipping its padding and header extension.

    Args:
        data: A received datagram.

    Returns:
        The packet.

    Raises:
        RtpError: The version is not 2, or the header, CSRC list, extension or padding does not
            fit in ``data``.
    """
    if len(data) < HEADER_SIZE:
        raise RtpError(f"{len(data)} bytes is shorter than the {HEADER_SIZE}-byte RTP header")
    first, second, sequence, timestamp, ssrc = _HEADER.unpack_from(data)
    if first >> 6 != RTP_VERSION:
        raise RtpError(f"RTP version {first >> 6}, expected {RTP_VERSION}")
    csrc_count = first & 0x0F
    offset = HEADER_SIZE + 4 * csrc_count
    if offset > len(data):
        raise RtpError(f"{csrc_count} CSRCs do not fit in {len(data)} bytes")
    csrcs = struct.unpack_from(f"!{csrc_count}I", data, HEADER_SIZE)
    if first & 0x10:
        if offset + 4 > len(data):
            raise RtpError("header extension does not fit")
        (words,) = struct.unpack_from("!H", data, offset + 2)
        offset += 4 + 4 * words
        if offset > len(data):
            raise RtpError(f"header extension of {words} words does not fit")
    end = len(data)
    if first & 0x20:
        # The last octet counts the padding including itself, so zero is as wrong as too many.
        padding = data[-1]
        if padding == 0 or padding > end - offset:
            raise RtpError(f"padding length {padding} is invalid")
        end -= padding
    return RtpPacket(
        payload_type=second & 0x7F,
        sequence=sequence,
        timestamp=timestamp,
        ssrc=ssrc,
        payload=bytes(data[offset:end]),
        marker=bool(second & 0x80),
        csrcs=csrcs,
    )


def serialise_rtp(packet: RtpPacket) -> bytes:
    """Serialises a packet (no padding, no extension).

    Args:
        packet: The packet to send.

    Returns:
        The datagram; :func:`parse_rtp` of it equals ``packet``.
    """
    first = RTP_VERSION << 6 | len(packet.csrcs)
    second = (0x80 if packet.marker else 0) | packet.payload_type
    header = _HEADER.pack(first, second, packet.sequence, packet.timestamp, packet.ssrc)
    csrcs = struct.pack(f"!{len(packet.csrcs)}I", *packet.csrcs)
    return header + csrcs + packet.payload


class RtpSender:
    """Numbers the packets of one outgoing stream.

    The caller supplies the random initial values (RFC 3550 section 5.1 wants them
    unpredictable) so that this class stays deterministic and testable.
    """

    def __init__(
        self, *, ssrc: int, initial_sequence: int, initial_timestamp: int, payload_type: int = 0
    ) -> None:
        """Starts a stream.

        Args:
            ssrc: The stream's random SSRC.
            initial_sequence: Random 16-bit sequence number of the first packet.
            initial_timestamp: Random 32-bit timestamp of the first packet.
            payload_type: Payload type used when :meth:`next_packet` is not given one.

        Raises:
            ValueError: A value does not fit its header field.
        """
        # Building a packet validates every field once, up front, with the same messages.
        RtpPacket(payload_type, initial_sequence, initial_timestamp, ssrc, b"")
        self.ssrc = ssrc
        self.payload_type = payload_type
        self._sequence = initial_sequence
        self._timestamp = initial_timestamp

    @property
    def sequence(self) -> int:
        """Sequence number the next packet will carry."""
        return self._sequence

    @property
    def timestamp(self) -> int:
        """Timestamp the next packet will carry."""
        return self._timestamp

    def next_packet(
        self,
        payload: bytes,
        samples: int,
        marker: bool = False,
        payload_type: int | None = None,
    ) -> bytes:
        """Serialises the next packet of the stream and advances the numbering.

        Args:
            payload: Media bytes.
            samples: How far the media clock advances after this packet (160 for 20 ms of
                G.711). Pass 0 for all but the last packet of an RFC 4733 event, whose
                packets share the event's start timestamp, and the event's duration on the
                last one.
            marker: Marker bit: first packet of a talkspurt or of a telephone event.
            payload_type: Overrides the stream's payload type (e.g. telephone-event).

        Returns:
            The datagram to send.

        Raises:
            ValueError: ``samples`` is negative or ``payload_type`` is not 7 bits.
        """
        if samples < 0:
            raise ValueError(f"samples {samples} is negative")
        if payload_type is None:
            payload_type = self.payload_type
        if not 0 <= payload_type < 128:
            raise ValueError(f"payload type {payload_type} is not 7 bits")
        # What serialise_rtp(RtpPacket(...)) gives, without building and validating a packet
        # per frame: sequence and timestamp stay in range by construction, the SSRC was
        # checked in __init__.
        header = _HEADER.pack(
            _PLAIN_FIRST_OCTET,
            (0x80 if marker else 0) | payload_type,
            self._sequence,
            self._timestamp,
            self.ssrc,
        )
        self._sequence = (self._sequence + 1) % SEQUENCE_MODULO
        self._timestamp = (self._timestamp + samples) % TIMESTAMP_MODULO
        return header + payload
