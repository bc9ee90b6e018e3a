"""Symmetric RTP, the decision alone (callroster.rtp.latch): who may take a leg's media
address, and when."""

from __future__ import annotations

from callroster.rtp.latch import LATCH_WINDOW, PROBATION, RELATCH_SILENCE, SourceLatch

NAT = ("127.0.0.1", 40000)
OTHER = ("127.0.0.1", 41000)


def _probation(latch: SourceLatch, source: tuple[str, int], ssrc: int, first: int) -> list[bool]:
    return [
        latch.consider(source, ssrc, (first + i) % 65536, locked_ssrc=None)
        for i in range(PROBATION)
    ]


def test_a_steady_stream_latches_after_its_probation() -> None:
    latch = SourceLatch()
    assert not latch.closed(0.0, latched=False, silent_for=0.0)
    assert _probation(latch, NAT, 77, 65535) == [False] * (PROBATION - 1) + [True]  # wraps
    assert latch.moves == 1


def test_single_packets_from_many_sources_or_ssrcs_never_latch() -> None:
    latch = SourceLatch()
    results = [
        latch.consider(("127.0.0.1", 40000 + i % 2), 5 + i % 3, i, locked_ssrc=None)
        for i in range(300)
    ]
    assert not any(results) and latch.moves == 0
    # Positive control: the same packets from one source with one SSRC do latch.
    assert _probation(latch, NAT, 5, 1000)[-1]


def test_a_sequence_gap_restarts_the_probation() -> None:
    latch = SourceLatch()
    seen = [latch.consider(NAT, 9, sequence, locked_ssrc=None) for sequence in (1, 2, 4, 5)]
    assert seen == [False] * 4
    assert latch.consider(NAT, 9, 6, locked_ssrc=None)


def test_no_first_latch_after_the_window() -> None:
    latch = SourceLatch()
    assert not latch.closed(100.0, latched=False, silent_for=0.0)  # the window opens here
    assert not latch.closed(100.0 + LATCH_WINDOW, latched=False, silent_for=0.0)
    assert latch.closed(100.0 + LATCH_WINDOW + 0.01, latched=False, silent_for=0.0)
    latch.restart()  # a re-INVITE moved the stream: a new window
    assert not latch.closed(500.0, latched=False, silent_for=0.0)


def test_a_latched_leg_moves_only_after_silence_and_only_for_its_own_ssrc() -> None:
    latch = SourceLatch()
    assert latch.closed(5.0, latched=True, silent_for=RELATCH_SILENCE)
    assert not latch.closed(5.0, latched=True, silent_for=RELATCH_SILENCE + 0.1)
    assert not latch.consider(OTHER, 1234, 1, locked_ssrc=77)
    assert latch.consider(OTHER, 77, 1, locked_ssrc=77)
