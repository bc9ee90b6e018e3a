"""The jitter buffer works in samples: packets of 10, 30, 40 and 60 ms (and a sender that
changes size mid-call) come out as the same 20 ms frames, sample for sample, with no gap."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callroster.rtp.jitter import MAX_CONCEALED, JitterBuffer
from callroster.rtp.packet import RtpPacket

TICK = 0.02
NETWORK = 0.03
RATE = 8000


def _ramp(start: int, count: int) -> bytes:
    """Samples ``start`` to ``start + count``, each one's payload octet its index mod 251, so
    that a sample out of place or missing shows."""
    return bytes((start + i) % 251 for i in range(count))


def _play(
    sizes: list[int], *, drop: frozenset[int] = frozenset(), jb: JitterBuffer | None = None
) -> tuple[bytes, JitterBuffer]:
    """Sends packets of ``sizes`` samples back to back (each leaves when its last sample has
    been spoken, as a phone sends), ticks every 20 ms, and returns what played as audio.

    By default the play-out delay is fixed at 100 ms, so that every sample must play and the
    test sees placement alone; the buffer's own delay steering skips a frame now and then.
    """
    if jb is None:
        jb = JitterBuffer(min_delay=0.1, max_delay=0.1, initial_delay=0.1, silence=0xFF)
    arrivals: list[tuple[float, RtpPacket]] = []
    sample = 0
    for index, size in enumerate(sizes):
        if index not in drop:
            packet = RtpPacket(0, index, 9000 + sample, 42, _ramp(sample, size))
            arrivals.append(((sample + size) / RATE + NETWORK, packet))
        sample += size
    played = bytearray()
    tick = 0
    while tick * TICK < sample / RATE + 0.5:
        now = tick * TICK
        while arrivals and arrivals[0][0] <= now:
            at, packet = arrivals.pop(0)
            jb.push(packet, at)
        frame = jb.pop(now)
        if frame.payload is not None:
            played += frame.payload
        tick += 1
    return bytes(played), jb


@pytest.mark.parametrize("ms", [10, 20, 30, 40, 60])
def test_every_packet_size_plays_every_sample_in_order(ms: int) -> None:
    size = ms * RATE // 1000
    sizes = [size] * (3000 // ms)  # 3 s
    played, jb = _play(sizes)
    assert played == _ramp(0, sum(sizes))
    stats = jb.stats()
    # (the three concealed ticks are after the stream's end, before silence)
    assert (stats.late, stats.lost, stats.concealed, stats.dropped) == (0, 0, MAX_CONCEALED, 0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([80, 160, 240, 320, 480]), min_size=20, max_size=120))
def test_a_sender_changing_packet_size_mid_call_plays_without_a_gap(sizes: list[int]) -> None:
    played, jb = _play(sizes)
    # Everything whole; a stream that ends mid-frame plays its last samples then silence.
    total = sum(sizes)
    whole = total - total % 160
    assert played[:whole] == _ramp(0, whole)
    assert jb.stats().late == 0


@pytest.mark.parametrize("ms", [10, 30, 40, 60])
def test_with_its_own_delay_steering_the_buffer_plays_whole_frames_in_order(ms: int) -> None:
    size = ms * RATE // 1000
    played, jb = _play([size] * (6000 // ms), jb=JitterBuffer(silence=0xFF))
    frames = [played[i : i + 160] for i in range(0, len(played), 160)]
    starts = [frame[0] for frame in frames]
    # Each frame is 160 consecutive samples of the ramp (none torn, none silent) ...
    assert all(frame == _ramp(frame[0], 160) for frame in frames)
    # ... and frames follow each other, a whole frame skipped now and then to shrink delay.
    steps = {(b - a) % 251 for a, b in zip(starts, starts[1:], strict=False)}
    assert steps <= {160 % 251, 320 % 251}
    stats = jb.stats()
    assert (stats.late, stats.concealed) == (0, MAX_CONCEALED) and len(frames) >= 280


def test_a_lost_30ms_packet_is_concealed_where_it_was_whole_and_silent_where_it_was_half() -> None:
    played, jb = _play([240] * 50, drop=frozenset({10}))
    # Packet 10 held samples 2,400 to 2,640: all of frame 15 (concealed by the caller, not
    # played as audio) and the first half of frame 16 (silence, then packet 11's samples).
    expected = _ramp(0, 2400) + b"\xff" * 80 + _ramp(2640, 240 * 50 - 2640)
    assert played == expected
    assert jb.stats().concealed == 1 + MAX_CONCEALED
