"""The receive and send fast paths give exactly what the reference code gives: the inlined
jitter-buffer push, the per-frame energy from the payload, and the header built directly."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from callroster.rtp import g711
from callroster.rtp.jitter import JitterBuffer, _unwrap
from callroster.rtp.packet import (
    SEQUENCE_MODULO,
    TIMESTAMP_MODULO,
    RtpPacket,
    RtpSender,
    serialise_rtp,
)


def _reference_push(buffer: JitterBuffer, packet: RtpPacket, arrival: float) -> None:
    """JitterBuffer.push written plainly, with the helpers push_fields inlines (for whole
    20 ms packets, as this test sends; off the grid they go sample by sample)."""
    b = buffer
    b._received += 1
    if b._starts_new_stream(packet):
        if b._ssrc is not None:
            b._resets += 1
        b._begin(packet.ssrc, packet.sequence, packet.timestamp, arrival)
    ext_ts = _unwrap(packet.timestamp, b._high_ts, TIMESTAMP_MODULO)
    ext_seq = _unwrap(packet.sequence, b._high_seq, SEQUENCE_MODULO)
    if ext_seq in b._seen:
        b._duplicates += 1
        return
    b._remember(ext_seq)
    b._high_ts = max(b._high_ts, ext_ts)
    b._measure(ext_ts, arrival)
    offset = ext_ts - b._origin
    if offset % b.frame_samples:  # off the grid: sample by sample
        if not b._place_samples(offset, packet.payload):
            b._count_late()
            return
        b._late_run = 0
        _drop_beyond_max(b)
        return
    slot = offset // b.frame_samples
    if b._cursor is not None and slot < b._cursor:
        b._late += 1
        b._late_run += 1
        b._late_transit = b._transit if b._late_run == 1 else min(b._late_transit, b._transit)
        return
    b._late_run = 0
    held = b._frames.get(slot)
    if isinstance(held, bytes):
        b._duplicates += 1
        return
    if held is not None:
        del b._filled[slot]
    b._frames[slot] = packet.payload
    _drop_beyond_max(b)


def _drop_beyond_max(b: JitterBuffer) -> None:
    while len(b._frames) > b.max_frames:
        oldest = min(b._frames)
        del b._frames[oldest]
        b._filled.pop(oldest, None)
        b._dropped += 1


_events = st.lists(
    st.tuples(
        st.integers(-3, 40),  # sequence step (negative: reordered or duplicate)
        st.sampled_from([0, 160, 160, 160, 320, -160, 9000, 40000]),  # timestamp step
        st.sampled_from([7, 7, 7, 7, 8]),  # SSRC
        st.floats(0.0, 0.12),  # arrival step in seconds
        st.integers(0, 3),  # pops (ticks) after this packet
    ),
    max_size=150,
)


@settings(max_examples=300, deadline=None)
@given(_events, st.integers(0, SEQUENCE_MODULO - 1), st.integers(0, TIMESTAMP_MODULO - 1))
def test_push_fields_matches_the_reference_push(
    events: list[tuple[int, int, int, float, int]], seq: int, ts: int
) -> None:
    fast, slow = JitterBuffer(max_frames=8), JitterBuffer(max_frames=8)
    now = 0.0
    for i, (seq_step, ts_step, ssrc, dt, pops) in enumerate(events):
        seq, ts, now = (
            (seq + seq_step) % SEQUENCE_MODULO,
            (ts + ts_step) % TIMESTAMP_MODULO,
            now + dt,
        )
        packet = RtpPacket(0, seq, ts, ssrc, bytes([i % 256]) * 160)  # whole frames
        fast.push(packet, now)
        _reference_push(slow, packet, now)
        for k in range(pops):
            assert fast.pop(now + 0.02 * k) == slow.pop(now + 0.02 * k)
        assert fast.stats() == slow.stats()
        assert fast._frames == slow._frames


def test_sums_of_squares_are_those_of_the_decoded_frames() -> None:
    rng = np.random.default_rng(5)
    payloads = rng.integers(0, 256, size=(7, 160), dtype=np.uint8)
    for codec in g711.CODECS:
        sums = g711.sums_of_squares(codec, payloads.tobytes())
        expected = [
            int((g711.decode(codec, p.tobytes()).astype(np.int64) ** 2).sum()) for p in payloads
        ]
        assert sums == expected


@given(st.booleans(), st.integers(0, 127), st.binary(max_size=200))
def test_next_packet_is_the_serialised_packet(marker: bool, pt: int, payload: bytes) -> None:
    sender = RtpSender(ssrc=0xFFFFFFFF, initial_sequence=65535, initial_timestamp=2**32 - 100)
    for _ in range(2):
        expected = serialise_rtp(
            RtpPacket(pt, sender.sequence, sender.timestamp, 0xFFFFFFFF, payload, marker)
        )
        assert sender.next_packet(payload, 160, marker, pt) == expected
