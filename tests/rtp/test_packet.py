"""RTP packets on the wire (callroster.rtp.packet): parse, serialise, RTCP demux, sender."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callroster.rtp.packet import (
    RtpError,
    RtpPacket,
    RtpSender,
    is_rtcp,
    parse_rtp,
    serialise_rtp,
)

# No example database: it would write .hypothesis/ into the source tree.
FUZZ = settings(max_examples=300, deadline=None, database=None)

# 20 ms of PCMU as a Linphone-style phone sends it: V=2, no padding/extension/CSRC, PT 0.
PCMU_HEADER = bytes.fromhex("80 00 1f 40 00 00 a0 00 12 34 56 78")
PCMU = PCMU_HEADER + b"\xff" * 160


def header(first: int, second: int = 0) -> bytes:
    return struct.pack("!BBHII", first, second, 1, 2, 3)


packets = st.builds(
    RtpPacket,
    payload_type=st.integers(0, 127),
    sequence=st.integers(0, 0xFFFF),
    timestamp=st.integers(0, 0xFFFFFFFF),
    ssrc=st.integers(0, 0xFFFFFFFF),
    payload=st.binary(max_size=200),
    marker=st.booleans(),
    csrcs=st.lists(st.integers(0, 0xFFFFFFFF), max_size=15).map(tuple),
)


def test_parses_a_phones_pcmu_packet() -> None:
    packet = parse_rtp(PCMU)
    assert packet == RtpPacket(
        payload_type=0, sequence=8000, timestamp=40960, ssrc=0x12345678, payload=b"\xff" * 160
    )


def test_marker_and_csrcs_are_read() -> None:
    data = bytes([0x82, 0x80 | 8]) + PCMU_HEADER[2:] + struct.pack("!II", 7, 9) + b"abc"
    packet = parse_rtp(data)
    assert (packet.marker, packet.payload_type, packet.csrcs, packet.payload) == (
        True,
        8,
        (7, 9),
        b"abc",
    )


def test_padding_is_stripped_from_the_payload() -> None:
    data = bytes([0xA0]) + PCMU_HEADER[1:] + b"audio" + b"\x00\x00\x03"
    assert parse_rtp(data).payload == b"audio"


def test_header_extension_is_skipped() -> None:
    # One-byte-header extension (RFC 8285) of two words, as WebRTC gateways add.
    extension = b"\xbe\xde\x00\x02" + b"\x10\xff\x00\x00" + b"\x22\x01\x02\x00"
    data = bytes([0x90]) + PCMU_HEADER[1:] + extension + b"audio"
    assert parse_rtp(data).payload == b"audio"


def test_csrcs_extension_and_padding_together() -> None:
    data = (
        bytes([0xB1, 0x00])
        + PCMU_HEADER[2:]
        + struct.pack("!I", 99)
        + b"\x10\x00\x00\x01abcd"
        + b"voice"
        + b"\x00\x02"
    )
    packet = parse_rtp(data)
    assert (packet.csrcs, packet.payload) == ((99,), b"voice")


def test_empty_payload_is_allowed() -> None:
    assert parse_rtp(PCMU_HEADER).payload == b""


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "shorter"),
        (PCMU_HEADER[:11], "shorter"),
        (header(0x00) + b"x", "version 0"),
        (header(0x40) + b"x", "version 1"),
        (header(0xC0) + b"x", "version 3"),
        (header(0x81), "CSRC"),
        (header(0x8F) + b"\x00" * 56, "CSRC"),
        (header(0x90) + b"\xbe\xde", "extension"),
        (header(0x90) + b"\xbe\xde\x00\x01", "extension"),
        (header(0x90) + b"\xbe\xde\x00\x02" + b"\x00" * 7, "extension"),
        (header(0xA0) + b"audio\x00", "padding"),
        (header(0xA0) + b"audio\x07", "padding"),
        (header(0xA0), "padding"),
    ],
)
def test_malformed_packets_are_rejected(data: bytes, why: str) -> None:
    with pytest.raises(RtpError, match=why):
        parse_rtp(data)


def test_rtp_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_rtp(b"\x80")


@pytest.mark.parametrize("packet_type", [200, 201, 202, 203, 204, 205, 206, 207])
def test_rtcp_is_recognised(packet_type: int) -> None:
    # Sender report, receiver report, SDES, BYE, APP, and the feedback and XR types.
    assert is_rtcp(bytes([0x81, packet_type, 0x00, 0x07]) + b"\x00" * 28)


@pytest.mark.parametrize("second", [0, 8, 0x80, 0x88, 101, 0x80 | 101, 13, 127])
def test_rtp_is_not_mistaken_for_rtcp(second: int) -> None:
    # PCMU, PCMA, telephone-event and comfort noise, with and without the marker bit.
    assert not is_rtcp(bytes([0x80, second]) + PCMU[2:])


def test_too_short_or_wrong_version_is_not_rtcp() -> None:
    assert not is_rtcp(b"")
    assert not is_rtcp(b"\x81")
    assert not is_rtcp(bytes([0x41, 200, 0, 1]))


@FUZZ
@given(packets)
def test_serialise_then_parse_round_trips(packet: RtpPacket) -> None:
    assert parse_rtp(serialise_rtp(packet)) == packet


@pytest.mark.parametrize(
    "fields",
    [
        {"payload_type": 128},
        {"payload_type": -1},
        {"sequence": 0x10000},
        {"timestamp": 1 << 32},
        {"ssrc": -1},
        {"csrcs": tuple(range(16))},
        {"csrcs": (1 << 32,)},
    ],
)
def test_packets_that_cannot_be_serialised_are_refused(fields: dict[str, object]) -> None:
    values: dict[str, object] = {
        "payload_type": 0,
        "sequence": 0,
        "timestamp": 0,
        "ssrc": 0,
        "payload": b"",
    }
    with pytest.raises(ValueError):
        RtpPacket(**(values | fields))  # type: ignore[arg-type]


@FUZZ
@given(st.binary(max_size=300))
def test_arbitrary_bytes_parse_or_raise_rtp_error(data: bytes) -> None:
    try:
        packet = parse_rtp(data)
    except RtpError:
        return
    # Whatever parses is a packet we could send back out unchanged.
    assert parse_rtp(serialise_rtp(packet)) == packet


MUTATION = st.tuples(st.integers(0, 400), st.integers(0, 255), st.sampled_from(["set", "cut"]))


@FUZZ
@given(packets, st.lists(MUTATION, min_size=1, max_size=6))
def test_mutated_packets_parse_or_raise_rtp_error(
    packet: RtpPacket, mutations: list[tuple[int, int, str]]
) -> None:
    data = bytearray(serialise_rtp(packet))
    for position, value, how in mutations:
        if not data:
            break
        index = position % len(data)
        if how == "set":
            data[index] = value
        else:
            del data[index:]
    try:
        parse_rtp(bytes(data))
    except RtpError:
        pass


def test_sender_numbers_consecutive_packets() -> None:
    sender = RtpSender(ssrc=0xCAFE, initial_sequence=100, initial_timestamp=5000)
    first = parse_rtp(sender.next_packet(b"a" * 160, 160, marker=True))
    second = parse_rtp(sender.next_packet(b"b" * 160, 160))
    assert (first.sequence, first.timestamp, first.marker) == (100, 5000, True)
    assert (second.sequence, second.timestamp, second.marker) == (101, 5160, False)
    assert first.ssrc == second.ssrc == 0xCAFE
    assert (first.payload_type, second.payload) == (0, b"b" * 160)
    assert (sender.sequence, sender.timestamp) == (102, 5320)


def test_sender_wraps_sequence_and_timestamp() -> None:
    sender = RtpSender(ssrc=1, initial_sequence=0xFFFF, initial_timestamp=0xFFFFFFFF - 99)
    first = parse_rtp(sender.next_packet(b"x", 160))
    second = parse_rtp(sender.next_packet(b"y", 160))
    assert (first.sequence, first.timestamp) == (0xFFFF, 0xFFFFFFFF - 99)
    assert (second.sequence, second.timestamp) == (0, 60)


def test_sender_payload_type_override_and_held_timestamp() -> None:
    # A telephone event's packets share the event's timestamp; audio resumes after it.
    sender = RtpSender(ssrc=1, initial_sequence=1, initial_timestamp=800, payload_type=8)
    event = parse_rtp(sender.next_packet(b"\x05\x0a\x00\xa0", 0, marker=True, payload_type=101))
    end = parse_rtp(sender.next_packet(b"\x05\x8a\x01\x40", 320, payload_type=101))
    audio = parse_rtp(sender.next_packet(b"\xd5" * 160, 160))
    assert (event.payload_type, event.timestamp) == (101, 800)
    assert (end.payload_type, end.timestamp) == (101, 800)
    assert (audio.payload_type, audio.timestamp, audio.sequence) == (8, 1120, 3)


@pytest.mark.parametrize(
    "fields",
    [
        {"ssrc": 1 << 32},
        {"initial_sequence": 0x10000},
        {"initial_timestamp": -1},
        {"payload_type": 200},
    ],
)
def test_sender_refuses_values_that_do_not_fit(fields: dict[str, int]) -> None:
    values = {"ssrc": 1, "initial_sequence": 0, "initial_timestamp": 0} | fields
    with pytest.raises(ValueError):
        RtpSender(**values)


def test_sender_refuses_negative_samples() -> None:
    sender = RtpSender(ssrc=1, initial_sequence=0, initial_timestamp=0)
    with pytest.raises(ValueError):
        sender.next_packet(b"", -160)
    assert sender.sequence == 0  # nothing was sent, so nothing was used up
