"""SRTP for one leg (callroster.rtp.srtp): both suites round trip through libsrtp; a
tampered packet, a packet under the wrong key and a replay are dropped and counted, never
raised; re-keying moves each direction to its new key."""

from __future__ import annotations

import pytest

from callroster.rtp.packet import RtpSender, parse_rtp
from callroster.rtp.srtp import SrtpContext
from callroster.sdp.crypto import AEAD_AES_128_GCM, AES_CM_128_HMAC_SHA1_80, KEY_SALT_LENGTHS
from callroster.sdp.offer_answer import SrtpKeys

SUITES = [AES_CM_128_HMAC_SHA1_80, AEAD_AES_128_GCM]
TONE = bytes((i * 37) & 0xFF for i in range(160))


def pair(suite: str, a: int = 1, b: int = 2) -> tuple[SrtpContext, SrtpContext]:
    n = KEY_SALT_LENGTHS[suite]
    ka, kb = bytes([a]) * n, bytes([b]) * n
    return SrtpContext(SrtpKeys(suite, ka, kb, 1)), SrtpContext(SrtpKeys(suite, kb, ka, 1))


def sender() -> RtpSender:
    return RtpSender(ssrc=0x1234, initial_sequence=65530, initial_timestamp=0, payload_type=0)


@pytest.mark.parametrize("suite", SUITES)
def test_round_trip_both_ways_across_a_sequence_wrap(suite: str) -> None:
    ours, theirs = pair(suite)
    out, back = sender(), RtpSender(ssrc=9, initial_sequence=1, initial_timestamp=0)
    for _ in range(20):  # 65530 .. 65535, 0 .. : the rollover counter moves
        plain = out.next_packet(TONE, 160)
        wire = ours.protect(plain)
        assert wire != plain and TONE not in wire
        assert theirs.unprotect(wire) == plain
        reply = back.next_packet(TONE, 160)
        assert ours.unprotect(theirs.protect(reply)) == reply
    assert ours.counters.auth_failures == theirs.counters.auth_failures == 0


@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize("offset", [0, 1, 12, 100, -1])
def test_a_tampered_packet_is_dropped_and_counted(suite: str, offset: int) -> None:
    ours, theirs = pair(suite)
    wire = bytearray(ours.protect(sender().next_packet(TONE, 160)))
    wire[offset] ^= 0x40 if offset == 0 else 0x01  # (the version bits are checked apart)
    assert theirs.unprotect(bytes(wire)) is None
    dropped = theirs.counters
    assert dropped.auth_failures + dropped.other_failures + dropped.rtcp == 1


@pytest.mark.parametrize("suite", SUITES)
def test_the_wrong_key_is_an_authentication_failure(suite: str) -> None:
    ours, _ = pair(suite)
    _, stranger = pair(suite, 7, 8)
    assert stranger.unprotect(ours.protect(sender().next_packet(TONE, 160))) is None
    assert stranger.counters.auth_failures == 1


@pytest.mark.parametrize("suite", SUITES)
def test_a_replay_is_dropped_and_counted(suite: str) -> None:
    ours, theirs = pair(suite)
    out = sender()
    first = ours.protect(out.next_packet(TONE, 160))
    second = ours.protect(out.next_packet(TONE, 160))
    assert theirs.unprotect(first) is not None
    assert theirs.unprotect(second) is not None
    assert theirs.unprotect(first) is None
    assert theirs.unprotect(second) is None
    assert theirs.counters.replays == 2


def test_short_and_oversized_datagrams_and_srtcp_are_dropped_never_raised() -> None:
    ours, theirs = pair(AES_CM_128_HMAC_SHA1_80)
    assert theirs.unprotect(b"\x80") is None
    assert theirs.unprotect(b"\x80\x00" + bytes(3000)) is None
    assert theirs.unprotect(b"\x81\xc8" + bytes(40)) is None  # an SRTCP sender report
    assert theirs.counters.other_failures == 2 and theirs.counters.rtcp == 1


@pytest.mark.parametrize("suite", SUITES)
def test_rekey_moves_both_directions_and_the_old_key_stops_working(suite: str) -> None:
    ours, theirs = pair(suite)
    out, back = sender(), RtpSender(ssrc=9, initial_sequence=1, initial_timestamp=0)
    assert theirs.unprotect(ours.protect(out.next_packet(TONE, 160))) is not None
    old_ours = ours.protect(out.next_packet(TONE, 160))  # protected before the re-key
    n = KEY_SALT_LENGTHS[suite]
    new_a, new_b = b"\x05" * n, b"\x06" * n
    ours.rekey(SrtpKeys(suite, new_a, new_b, 1))
    theirs.rekey(SrtpKeys(suite, new_b, new_a, 1))
    plain = out.next_packet(TONE, 160)
    assert parse_rtp(theirs.unprotect(ours.protect(plain)) or b"").payload == TONE
    reply = back.next_packet(TONE, 160)
    assert ours.unprotect(theirs.protect(reply)) == reply
    assert theirs.unprotect(old_ours) is None
    assert theirs.counters.auth_failures == 1 and ours.counters.rekeys == 1


def test_rekey_with_the_same_keys_changes_nothing() -> None:
    ours, theirs = pair(AES_CM_128_HMAC_SHA1_80)
    out = sender()
    first = ours.protect(out.next_packet(TONE, 160))
    assert theirs.unprotect(first) is not None
    theirs.rekey(theirs.keys)
    assert theirs.unprotect(first) is None  # the replay window was kept
    assert theirs.counters.rekeys == 0
