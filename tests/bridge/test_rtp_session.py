"""A call's media state: strangers, RTCP, garbage and foreign SSRCs are dropped and counted;
digits come out once; a lost frame is concealed, quieter, then silence."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from callroster.bridge.rtp_session import RtpSession
from callroster.rtp import g711
from callroster.rtp.packet import RtpPacket, RtpSender, serialise_rtp
from callroster.rtp.telephone_event import encode_events

PHONE = ("127.0.0.1", 40000)


def _session() -> RtpSession:
    return RtpSession(
        codec="PCMU",
        payload_type=0,
        telephone_event_pt=101,
        remote=PHONE,
        sender=RtpSender(ssrc=7, initial_sequence=1, initial_timestamp=1),
    )


def _tone(seq: int) -> bytes:
    t = (np.arange(160) + seq * 160) / 8000
    pcm = (8000 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
    return serialise_rtp(RtpPacket(0, seq, seq * 160, 1234, g711.encode("PCMU", pcm)))


def test_audio_from_the_phone_plays_out() -> None:
    session = _session()
    for seq in range(10):
        session.receive(_tone(seq), PHONE, seq * 0.02)
    heard = [session.next_pcm(0.1 + i * 0.02) for i in range(8)]
    assert sum(frame is not None and int(np.abs(frame).max()) > 4000 for frame in heard) >= 4


def test_strangers_rtcp_garbage_and_foreign_ssrc_are_dropped() -> None:
    session = _session()
    session.receive(_tone(0), ("127.0.0.1", 40001), 0.0)  # right host, wrong port
    session.receive(_tone(0), ("10.9.9.9", 40000), 0.0)
    session.receive(b"\x80\xc8" + b"\x00" * 26, PHONE, 0.0)  # RTCP sender report
    session.receive(b"\x00garbage", PHONE, 0.0)
    session.receive(_tone(1), PHONE, 0.0)  # locks on SSRC 1234
    foreign = serialise_rtp(RtpPacket(0, 2, 320, 999, b"\xff" * 160))
    session.receive(foreign, PHONE, 0.5)
    counters = session.counters
    assert (
        counters.from_strangers,
        counters.rtcp,
        counters.malformed,
        counters.wrong_ssrc,
        counters.received,
    ) == (2, 1, 1, 1, 1)


def test_a_new_ssrc_is_taken_after_the_old_one_falls_silent() -> None:
    session = _session()
    session.receive(_tone(1), PHONE, 0.0)
    late = serialise_rtp(RtpPacket(0, 9, 9 * 160, 555, b"\xff" * 160))
    session.receive(late, PHONE, 2.5)
    assert session.counters.wrong_ssrc == 0 and session.counters.received == 2


def test_each_key_press_is_one_digit_even_with_its_own_ssrc() -> None:
    session = _session()
    digits = []
    for i, payload in enumerate(encode_events("5")):
        packet = RtpPacket(101, 100 + i, 8000, 4242, payload, marker=i == 0)
        digits.append(session.receive(serialise_rtp(packet), PHONE, i * 0.02))
    assert [d for d in digits if d] == ["5"] and session.counters.digits == 1


def test_loss_is_concealed_then_silent() -> None:
    session = _session()
    for seq in range(6):
        session.receive(_tone(seq), PHONE, seq * 0.02)
    frames = [session.next_pcm(0.08 + i * 0.02) for i in range(14)]
    levels = [0 if f is None else int(np.abs(f).max()) for f in frames]
    assert levels[-1] == 0  # silence after the concealment ran out
    concealed = [lv for lv in levels if 0 < lv < 7000]
    assert concealed == sorted(concealed, reverse=True) and concealed  # fading repeats


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=300), st.booleans()), max_size=50))
def test_any_datagrams_never_raise(datagrams: list[tuple[bytes, bool]]) -> None:
    session = _session()
    for i, (data, from_phone) in enumerate(datagrams):
        session.receive(data, PHONE if from_phone else ("127.0.0.2", 1), i * 0.02)
        session.next_pcm(i * 0.02)


def test_a_reinvite_from_the_same_address_keeps_the_latch_and_a_new_address_moves_it() -> None:
    session = _session()
    nat = ("127.0.0.9", 41000)
    for seq in range(5):
        session.receive(_tone(seq), nat, seq * 0.02)
    assert session.remote == nat and session.counters.latched == 1
    # Hold and resume from a phone behind NAT: its SDP names its private address again.
    session.update_remote(PHONE, "PCMU", 0, 101)
    assert session.remote == nat
    moved = ("127.0.0.1", 42000)
    session.update_remote(moved, "PCMU", 0, 101)  # a real move: send there, latch afresh
    assert session.remote == moved and session.advertised == moved
