"""Jitter buffer (callroster.rtp.jitter) driven by a fake clock: one frame every 20 ms tick."""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callroster.rtp.jitter import MAX_CONCEALED, Frame, JitterBuffer
from callroster.rtp.packet import RtpPacket

TICK = 0.02
SSRC = 0x1234
NETWORK = 0.03  # one-way delay of the fake network
SEND_PHASE = 0.005  # sends fall between ticks, as they do for a real phone

Arrival = tuple[float, RtpPacket]


def packet(i: int, *, seq0: int = 1000, ts0: int = 50_000, ssrc: int = SSRC) -> RtpPacket:
    """The i-th 20 ms packet of a stream; its payload says which one it is."""
    return RtpPacket(0, (seq0 + i) % (1 << 16), (ts0 + 160 * i) % (1 << 32), ssrc, index_bytes(i))


def index_bytes(i: int) -> bytes:
    """A whole 20 ms payload (160 octets) whose first four say which packet it is."""
    return i.to_bytes(4, "big", signed=True) + bytes(156)


def sent_at(i: int) -> float:
    return SEND_PHASE + i * TICK


def stream(indices: Iterable[int], **fields: int) -> list[Arrival]:
    return [(sent_at(i) + NETWORK, packet(i, **fields)) for i in indices]


class Mixer:
    """The fake mixer: delivers each packet at its arrival time and pops once per 20 ms tick."""

    def __init__(self, jb: JitterBuffer, arrivals: Iterable[Arrival]) -> None:
        self.jb = jb
        self.pending = deque(sorted(arrivals, key=lambda arrival: arrival[0]))
        self.tick = 0

    def add(self, arrivals: Iterable[Arrival]) -> None:
        self.pending = deque(sorted([*self.pending, *arrivals], key=lambda arrival: arrival[0]))

    def step(self) -> Frame:
        now = self.tick * TICK
        while self.pending and self.pending[0][0] <= now:
            self.jb.push(self.pending[0][1], self.pending.popleft()[0])
        self.tick += 1
        return self.jb.pop(now)

    def run(self, ticks: int) -> list[Frame]:
        return [self.step() for _ in range(ticks)]


def run(jb: JitterBuffer, arrivals: Iterable[Arrival], ticks: int) -> list[Frame]:
    return Mixer(jb, arrivals).run(ticks)


def played(frames: Iterable[Frame]) -> list[int]:
    return [
        int.from_bytes(f.payload[:4], "big", signed=True) for f in frames if f.payload is not None
    ]


def kinds(frames: Iterable[Frame]) -> str:
    return "".join({"audio": "A", "concealed": "C", "silence": "S"}[f.kind] for f in frames)


def assert_never_fast(frames: list[Frame]) -> None:
    """In order, nothing twice, and never more than one skipped frame per ten ticks."""
    audio = [(t, played([f])[0]) for t, f in enumerate(frames) if f.payload is not None]
    assert all(b[1] > a[1] for a, b in zip(audio, audio[1:], strict=False))
    for (t1, i1), (t2, i2) in zip(audio, audio[10:], strict=False):
        assert i2 - i1 <= (t2 - t1) + (t2 - t1) // 10 + 1


def test_steady_stream_plays_in_order_without_gaps() -> None:
    jb = JitterBuffer()
    frames = run(jb, stream(range(500)), 510)
    audio = played(frames)
    first, last = kinds(frames).index("A"), kinds(frames).rindex("A")
    assert kinds(frames)[:first] == "S" * first  # buffering before the first frame
    assert set(kinds(frames)[first : last + 1]) == {"A"}
    assert audio == sorted(audio) and audio[0] == 0 and audio[-1] == 499
    # Starting at 60 ms and settling at the 20 ms floor skips no more than a couple of frames.
    assert len(audio) >= 497
    stats = jb.stats()
    assert (stats.received, stats.lost, stats.late, stats.duplicates) == (500, 0, 0, 0)
    assert stats.target_delay == pytest.approx(0.02)
    assert stats.current_delay <= 0.04


def test_buffer_starts_playing_after_the_initial_delay() -> None:
    jb = JitterBuffer(initial_delay=0.06)
    frames = run(jb, stream(range(20)), 20)
    # First packet arrives at 35 ms; it plays on the first tick at least 60 ms later.
    assert kinds(frames).index("A") == 5
    assert played(frames)[0] == 0


def test_reordered_packets_play_in_order() -> None:
    arrivals = stream(range(300))
    for i in range(0, 300, 2):  # every pair swapped, the first of each 5 ms behind
        arrivals[i] = (arrivals[i + 1][0] + 0.005, arrivals[i][1])
    jb = JitterBuffer()
    frames = run(jb, arrivals, 310)
    audio = played(frames)
    assert audio == sorted(audio) and len(audio) >= 297
    # Reordering is jitter: the buffer may hold a frame or two to grow, but never goes silent.
    first, last = kinds(frames).index("A"), kinds(frames).rindex("A")
    assert "S" not in kinds(frames)[first:last]
    assert (jb.stats().late, jb.stats().lost) == (0, 0)


def test_duplicates_are_played_once() -> None:
    arrivals = stream(range(200))
    copies = [(t + 0.001 * k, p) for t, p in arrivals for k in range(1 + p.sequence % 3)]
    jb = JitterBuffer()
    audio = played(run(jb, copies, 210))
    assert len(audio) == len(set(audio)) >= 197
    assert jb.stats().duplicates == len(copies) - 200
    assert jb.stats().received == len(copies)


def test_duplicate_of_an_already_played_packet_is_a_duplicate_not_late() -> None:
    jb = JitterBuffer()
    run(jb, stream(range(50)), 50)
    jb.push(packet(10), 1.0)
    stats = jb.stats()
    assert (stats.duplicates, stats.late) == (1, 0)


def test_packet_arriving_after_its_tick_is_dropped_and_counted() -> None:
    arrivals = stream(range(400))
    arrivals[300] = (arrivals[300][0] + 0.3, arrivals[300][1])
    jb = JitterBuffer()
    frames = run(jb, arrivals, 410)
    audio = played(frames)
    assert 300 not in audio and {299, 301} <= set(audio)
    at = [i for i, f in enumerate(frames) if f.payload == index_bytes(299)][0]
    assert frames[at + 1].kind == "concealed"
    assert jb.stats().late == 1


def test_lost_packets_are_concealed_three_times_then_silent() -> None:
    jb = JitterBuffer()
    mixer = Mixer(jb, stream(i for i in range(500) if not 300 <= i < 306))
    while played([mixer.step()]) != [299]:
        pass
    # The caller conceals from last_payload for three ticks, then plays silence.
    gap: list[tuple[str, bytes | None]] = []
    while not gap or gap[-1][0] != "audio":
        frame = mixer.step()
        gap.append((frame.kind, frame.payload or jb.last_payload))
    assert gap == [("concealed", index_bytes(299))] * 3 + [("silence", index_bytes(299))] * 3 + [
        ("audio", index_bytes(306))
    ]
    stats = jb.stats()
    assert (stats.lost, stats.concealed, stats.late) == (6, 3, 0)


def test_burst_after_a_network_stall_still_plays_one_frame_per_tick() -> None:
    arrivals = stream(range(400))
    stall_end = arrivals[220][0]
    arrivals[200:220] = [(stall_end, p) for _, p in arrivals[200:220]]
    jb = JitterBuffer()
    frames = run(jb, arrivals, 420)
    assert_never_fast(frames)
    audio = played(frames)
    # What missed its tick is gone; what arrived in time plays, in order, at the normal pace.
    assert jb.stats().late + len(audio) + jb.stats().dropped == 400
    assert 399 in audio and jb.stats().late >= 10


def test_early_burst_is_not_played_fast() -> None:
    # A sender that dumps a second of audio at once, then carries on in real time.
    early = [(0.001, packet(i)) for i in range(50)]
    later = [(0.001 + (i - 50) * TICK, packet(i)) for i in range(50, 300)]
    jb = JitterBuffer()
    frames = run(jb, early + later, 320)
    assert_never_fast(frames)
    audio = played(frames)
    assert audio[:5] == [0, 1, 2, 3, 4]
    assert len([i for i in audio if i < 50]) >= 45  # the burst is played, not skipped
    assert jb.stats().late == 0


def test_sequence_and_timestamp_wrap_around() -> None:
    fields = {"seq0": 0xFFFF - 100, "ts0": (1 << 32) - 160 * 150}
    jb = JitterBuffer()
    frames = run(jb, stream(range(300), **fields), 310)
    audio = played(frames)
    assert audio == sorted(audio) and len(audio) >= 297
    assert {99, 100, 101, 149, 150, 151} <= set(audio)  # sequence wraps at 100, timestamp at 150
    stats = jb.stats()
    assert (stats.lost, stats.late, stats.resets) == (0, 0, 0)


def test_new_ssrc_restarts_the_stream() -> None:
    # A B2BUA switching source: new SSRC and sequence, timestamps half a second apart.
    first = stream(range(100))
    second = [
        (t, RtpPacket(0, p.sequence, p.timestamp, p.ssrc, b"B" + p.payload[1:]))
        for t, p in stream(range(100, 300), seq0=7, ts0=50_000 + 4000, ssrc=SSRC + 1)
    ]
    jb = JitterBuffer()
    frames = run(jb, first + second, 310)
    sources = "".join("-" if f.payload is None else "AB"[f.payload[:1] == b"B"] for f in frames)
    switch = sources.index("B")
    assert "A" not in sources[switch:]  # nothing of the old stream once the new one plays
    assert switch - sources.rindex("A") <= 5  # a short gap to rebuffer, not half a second
    assert "-" not in sources[switch:].rstrip("-")
    assert (jb.stats().resets, jb.stats().lost) == (1, 0)


def test_timestamp_jump_of_more_than_a_second_restarts_the_stream() -> None:
    arrivals = stream(range(100)) + stream(range(100, 300), seq0=1000, ts0=50_000 + 8000 * 3)
    jb = JitterBuffer()
    audio = played(run(jb, arrivals, 310))
    assert jb.stats().resets == 1
    assert audio == sorted(audio) and {100, 299} <= set(audio)
    assert jb.stats().late == 0


def test_silence_the_sender_did_not_send_is_not_a_restart() -> None:
    # Voice activity detection: 1.5 s without packets, timestamps keep pace, sequence does not.
    talk = stream(range(100))
    resumed = [
        (sent_at(i) + NETWORK, RtpPacket(0, 1000 + i - 75, 50_000 + 160 * i, SSRC, index_bytes(i)))
        for i in range(175, 300)
    ]
    jb = JitterBuffer()
    frames = run(jb, talk + resumed, 310)
    last_word = frames.index(Frame(index_bytes(99), "audio"))
    pause = kinds(frames[last_word + 1 :])[:75]
    assert pause == "C" * MAX_CONCEALED + "S" * 72
    assert 175 in played(frames) and 299 in played(frames)
    stats = jb.stats()
    assert (stats.resets, stats.lost, stats.late) == (0, 0, 0)


def test_sender_that_stalls_its_clock_is_resynchronised() -> None:
    # A phone that stops sending on hold and resumes where its timestamps left off.
    before = stream(range(100))
    after = [(sent_at(i + 30) + NETWORK, packet(i)) for i in range(100, 400)]
    jb = JitterBuffer()
    frames = run(jb, before + after, 440)
    assert jb.stats().resets == 1
    assert kinds(frames)[-110:-10] == "A" * 100
    assert 399 in played(frames)


def test_delay_grows_with_jitter_and_falls_when_it_stops() -> None:
    rng = random.Random(7)
    jb = JitterBuffer()
    mixer = Mixer(jb, [(t + rng.uniform(0, 0.06), p) for t, p in stream(range(500))])
    mixer.run(500)
    rough = jb.stats()
    assert rough.target_delay > 0.05 and rough.jitter > 0.01
    assert rough.late <= 5  # under 1% of packets miss their tick
    mixer.add(stream(range(500, 1500)))
    mixer.run(1000)
    assert jb.stats().current_delay <= 0.045
    assert jb.stats().late == rough.late


def test_delay_is_capped_when_jitter_exceeds_the_maximum() -> None:
    # 300 ms of jitter against a 100 ms cap: late packets are dropped rather than the
    # conversation delayed further.
    rng = random.Random(3)
    jb = JitterBuffer(max_delay=0.1)
    mixer = Mixer(jb, [(t + rng.uniform(0, 0.3), p) for t, p in stream(range(1000))])
    targets, delays = [], []
    for _ in range(1000):
        mixer.step()
        targets.append(jb.stats().target_delay)
        delays.append(jb.stats().current_delay)
    assert max(targets) == pytest.approx(0.1)
    # Shrinking is gradual, so the delay overshoots the cap now and then, but not on average.
    assert sum(delays) / len(delays) <= 0.1 + TICK
    assert jb.stats().late > 50


def test_step_in_network_delay_costs_a_few_frames_not_a_second() -> None:
    # A route change: from packet 300 on, everything takes 100 ms longer.
    arrivals = stream(range(300)) + [(t + 0.1, p) for t, p in stream(range(300, 600))]
    jb = JitterBuffer()
    audio = played(run(jb, arrivals, 620))
    assert jb.stats().late <= 6
    assert audio == sorted(audio) and set(range(310, 600)) <= set(audio)


def test_jitter_estimate_follows_rfc_3550() -> None:
    # Transit alternating by 10 ms: every |D| is 10 ms, so J converges to 10 ms.
    arrivals = [(t + 0.01 * (i % 2), p) for i, (t, p) in enumerate(stream(range(300)))]
    jb = JitterBuffer()
    run(jb, arrivals, 300)
    assert jb.stats().jitter == pytest.approx(0.01, rel=1e-3)


def test_memory_is_bounded_by_dropping_the_oldest() -> None:
    jb = JitterBuffer(max_frames=64)
    for i in range(70):
        jb.push(packet(i), 0.0)
    assert jb.buffered == 64
    assert jb.stats().dropped == 6
    frames = [jb.pop(tick * TICK) for tick in range(10)]
    assert played(frames)[0] == 6


@pytest.mark.parametrize(
    "arguments",
    [
        {"frame_samples": 0},
        {"clock_rate": -8000},
        {"max_frames": 0},
        {"min_delay": 0.3, "max_delay": 0.2},
        {"min_delay": -0.01},
    ],
)
def test_nonsense_configuration_is_refused(arguments: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        JitterBuffer(**arguments)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Push:
    sequence_step: int
    timestamp_step: int  # in frames
    ssrc: int
    network_delay: float  # negative: stamped before the last tick, as a slow socket read is


@dataclass(frozen=True)
class Pop:
    lateness: float  # how far past its nominal time the tick runs


# Mostly an orderly stream, so that play-out is reached, with every kind of disorder mixed in.
STEP = st.one_of(st.just(1), st.just(1), st.integers(-3, 3), st.integers(-200, 200))
OPERATIONS = st.lists(
    st.one_of(
        st.builds(
            Push,
            st.one_of(STEP, st.integers(0, 0xFFFF)),
            STEP,
            st.sampled_from([1, 1, 1, 1, 2]),
            st.one_of(st.floats(0, 0.04), st.floats(-0.1, 0.5)),
        ),
        st.builds(Pop, st.floats(0, 0.05)),
    ),
    min_size=20,
    max_size=200,
)


@settings(max_examples=150, deadline=None, database=None)
@given(OPERATIONS, st.integers(0, 0xFFFF), st.integers(0, (1 << 32) - 1), st.integers(1, 80))
def test_any_pushes_and_pops_are_safe_and_play_each_packet_at_most_once(
    operations: list[Push | Pop], seq0: int, ts0: int, max_frames: int
) -> None:
    jb = JitterBuffer(max_frames=max_frames)
    tick, sequence, timestamp = 0, seq0, ts0
    pushed: list[bytes] = []
    audio: list[bytes] = []
    for operation in operations:
        if isinstance(operation, Push):
            sequence = (sequence + operation.sequence_step) % (1 << 16)
            timestamp = (timestamp + 160 * operation.timestamp_step) % (1 << 32)
            payload = index_bytes(len(pushed))
            packet = RtpPacket(0, sequence, timestamp, operation.ssrc, payload)
            jb.push(packet, tick * TICK + operation.network_delay)
            pushed.append(payload)
        else:
            tick += 1
            frame = jb.pop(tick * TICK + operation.lateness)
            assert isinstance(frame, Frame)
            assert (frame.payload is not None) == (frame.kind == "audio")
            if frame.payload is not None:
                audio.append(frame.payload)
        assert jb.buffered <= max_frames
    assert set(audio) <= set(pushed)
    assert len(audio) == len(set(audio))  # no packet plays twice
    stats = jb.stats()
    assert stats.received == len(pushed)
    # Every packet is played, still held, or counted as the reason it was not played.
    assert stats.duplicates + stats.late + stats.dropped + len(audio) + jb.buffered == len(pushed)


FATE = st.sampled_from(["ok", "ok", "ok", "ok", "lost", "twice"])


@settings(max_examples=100, deadline=None, database=None)
@given(
    st.lists(st.tuples(st.floats(0, 0.1), FATE), min_size=20, max_size=300),
    st.integers(0, 0xFFFF),
    st.integers(0, (1 << 32) - 1),
)
def test_any_jittery_lossy_stream_plays_in_order_at_real_time_pace(
    network: list[tuple[float, str]], seq0: int, ts0: int
) -> None:
    arrivals: list[Arrival] = []
    for i, (delay, fate) in enumerate(network):
        sent = (sent_at(i) + NETWORK + delay, packet(i, seq0=seq0, ts0=ts0))
        arrivals += {"ok": [sent], "lost": [], "twice": [sent, (sent[0] + 0.01, sent[1])]}[fate]
    jb = JitterBuffer()
    frames = run(jb, arrivals, len(network) + 20)
    assert_never_fast(frames)  # in order, nothing twice, whatever the wrap-around
    received = [i for i, (_, fate) in enumerate(network) if fate != "lost"]
    if received:
        stats = jb.stats()
        inner_losses = received[-1] - received[0] + 1 - len(received)
        assert (stats.lost, stats.resets) == (inner_losses, 0)
        assert stats.duplicates == sum(fate == "twice" for _, fate in network)
