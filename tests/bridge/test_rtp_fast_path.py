"""RtpSession's fast path for plain packets counts and buffers exactly as the general path."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from callroster.bridge.rtp_session import RtpSession
from callroster.rtp.packet import RtpPacket, RtpSender, serialise_rtp

PHONE = ("127.0.0.1", 40000)


def _session(fast: bool) -> RtpSession:
    session = RtpSession(
        codec="PCMU",
        payload_type=0,
        telephone_event_pt=101,
        remote=PHONE,
        sender=RtpSender(ssrc=7, initial_sequence=1, initial_timestamp=1),
    )
    if not fast:
        session._fast_pt = -1  # every packet through parse_rtp
    return session


_packets = st.lists(
    st.tuples(
        st.sampled_from([0, 0, 0, 8, 101, 72]),
        st.integers(0, 20),
        st.sampled_from([1, 1, 1, 2]),
        st.sampled_from([160, 160, 159, 0]),
        st.booleans(),  # marker
        st.booleans(),  # from the phone
        st.sampled_from([0.0, 0.02, 0.02, 3.0]),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(_packets)
def test_fast_and_general_paths_agree(
    packets: list[tuple[int, int, int, int, bool, bool, float]],
) -> None:
    fast, slow = _session(True), _session(False)
    now = 0.0
    for i, (pt, seq, ssrc, size, marker, from_phone, dt) in enumerate(packets):
        now += dt
        data = serialise_rtp(RtpPacket(pt, seq + i, (seq + i) * 160, ssrc, b"\x55" * size, marker))
        source = PHONE if from_phone else ("127.0.0.1", 1)
        assert fast.receive(data, source, now) == slow.receive(data, source, now)
        assert fast.counters == slow.counters
        assert fast.jitter.stats() == slow.jitter.stats()
        a, b = fast.next_pcm(now), slow.next_pcm(now)
        assert (a is None and b is None) or (a is not None and b is not None and (a == b).all())
