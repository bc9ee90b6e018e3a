"""RFC 4733 DTMF (callroster.rtp.telephone_event): one digit per key press, whatever repeats."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callroster.rtp.packet import RtpError, RtpPacket, RtpSender, parse_rtp
from callroster.rtp.telephone_event import (
    DIGITS,
    DtmfReceiver,
    TelephoneEvent,
    digit_for_event,
    encode_events,
    parse_telephone_event,
    serialise_telephone_event,
)

FUZZ = settings(max_examples=100, deadline=None, database=None)
PT = 101
SSRC = 0x5EED


def event_packet(
    payload: bytes, timestamp: int, sequence: int = 0, ssrc: int = SSRC, pt: int = PT
) -> RtpPacket:
    return RtpPacket(pt, sequence % 0x10000, timestamp % (1 << 32), ssrc, payload)


def press(digit: str, timestamp: int, **options: int) -> list[RtpPacket]:
    """The packets a phone sends for one key press: start updates, then the end three times."""
    return [event_packet(p, timestamp, i) for i, p in enumerate(encode_events(digit, **options))]


def feed(receiver: DtmfReceiver, packets: list[RtpPacket]) -> str:
    return "".join(d for d in map(receiver.receive, packets) if d is not None)


def test_parses_an_end_packet() -> None:
    # Digit 5, end bit, volume 10, 800 units (100 ms): as Asterisk sends it.
    assert parse_telephone_event(b"\x05\x8a\x03\x20") == TelephoneEvent(5, True, 10, 800)


def test_reserved_bit_is_ignored() -> None:
    assert parse_telephone_event(b"\x0b\x4a\x00\xa0") == TelephoneEvent(11, False, 10, 160)


def test_short_payload_is_rejected() -> None:
    with pytest.raises(RtpError):
        parse_telephone_event(b"\x05\x8a\x03")


@FUZZ
@given(st.integers(0, 255), st.booleans(), st.integers(0, 63), st.integers(0, 0xFFFF))
def test_events_round_trip(event: int, end: bool, volume: int, duration: int) -> None:
    value = TelephoneEvent(event, end, volume, duration)
    assert parse_telephone_event(serialise_telephone_event(value)) == value


def test_digits_map_to_rfc_4733_event_codes() -> None:
    assert [digit_for_event(code) for code in range(17)] == [*DIGITS, None]
    assert (digit_for_event(10), digit_for_event(11), digit_for_event(15)) == ("*", "#", "D")


def test_encoding_one_press() -> None:
    events = [parse_telephone_event(p) for p in encode_events("#", duration=800)]
    assert [e.event for e in events] == [11] * 7
    assert [e.duration for e in events] == [160, 320, 480, 640, 800, 800, 800]
    assert [e.end for e in events] == [False] * 4 + [True] * 3


@pytest.mark.parametrize("digit", ["", "E", "12", "x", "#5"])
def test_encoding_refuses_what_is_not_a_digit(digit: str) -> None:
    with pytest.raises(ValueError):
        encode_events(digit)


def test_encoding_refuses_a_duration_that_does_not_fit() -> None:
    with pytest.raises(ValueError):
        encode_events("1", duration=0x10000)


def test_one_press_gives_the_digit_once() -> None:
    assert feed(DtmfReceiver(), press("5", 8000)) == "5"


def test_digit_is_reported_on_the_first_packet() -> None:
    # Reporting at once, not on the end packet, keeps PIN entry snappy.
    receiver = DtmfReceiver()
    packets = press("7", 8000)
    assert receiver.receive(packets[0]) == "7"
    assert feed(receiver, packets[1:]) == ""


def test_pressing_the_same_key_twice_gives_it_twice() -> None:
    receiver = DtmfReceiver()
    assert feed(receiver, press("5", 8000) + press("5", 10400)) == "55"


def test_a_pin_comes_through_in_order() -> None:
    receiver = DtmfReceiver()
    packets = [p for i, d in enumerate("34589169#") for p in press(d, 16000 + 2400 * i)]
    assert feed(receiver, packets) == "34589169#"


def test_press_whose_start_packets_were_lost_is_still_heard() -> None:
    ends_only = press("9", 4000)[-3:]
    assert feed(DtmfReceiver(), ends_only) == "9"


def test_press_whose_end_packets_were_lost_does_not_swallow_the_next() -> None:
    first = press("2", 4000, duration=960)[:-3]
    assert feed(DtmfReceiver(), first + press("2", 6400)) == "22"


def test_late_end_packet_of_the_previous_press_is_not_a_new_digit() -> None:
    one, two = press("1", 4000), press("2", 6400)
    reordered = one[:-1] + two[:2] + one[-1:] + two[2:]
    assert feed(DtmfReceiver(), reordered) == "12"


def test_press_held_past_the_duration_field_is_one_digit() -> None:
    # RFC 4733 2.5.1.3: a press longer than 0xFFFF units goes on as a second segment whose
    # timestamp is the first one's plus its duration.
    first = [event_packet(serialise_telephone_event(TelephoneEvent(0, False, 10, 0xFFFF)), 1000)]
    second = press("0", 1000 + 0xFFFF, duration=1600)
    assert feed(DtmfReceiver(), first + second) == "0"


def test_same_digit_sent_back_to_back_by_a_machine_is_two_digits() -> None:
    # An autodialler may start the next press exactly where the ended one stopped.
    receiver = DtmfReceiver()
    assert feed(receiver, press("1", 8000, duration=800) + press("1", 8800)) == "11"


def test_presses_across_timestamp_wrap_around() -> None:
    receiver = DtmfReceiver()
    assert feed(receiver, press("4", (1 << 32) - 400) + press("4", 2000)) == "44"


def test_new_stream_starts_fresh() -> None:
    # After a re-INVITE the phone may pick a new SSRC and reuse a timestamp.
    receiver = DtmfReceiver()
    again = [RtpPacket(PT, p.sequence, p.timestamp, SSRC + 1, p.payload) for p in press("6", 8000)]
    assert feed(receiver, press("6", 8000) + again) == "66"


def test_non_digit_events_and_garbage_are_ignored() -> None:
    receiver = DtmfReceiver()
    flash = event_packet(serialise_telephone_event(TelephoneEvent(16, False, 10, 160)), 100)
    short = event_packet(b"\x05", 200)
    assert receiver.receive(flash) is None
    assert receiver.receive(short) is None
    assert feed(receiver, press("8", 300)) == "8"


def test_other_payload_types_are_ignored_when_filtering() -> None:
    receiver = DtmfReceiver(payload_type=PT)
    audio = event_packet(b"\x05\x8a\x03\x20", 100, pt=0)  # PCMU that looks like an event
    assert receiver.receive(audio) is None
    assert feed(receiver, press("3", 900)) == "3"


def test_digits_sent_with_rtp_sender_are_received() -> None:
    sender = RtpSender(ssrc=42, initial_sequence=65000, initial_timestamp=123456, payload_type=0)
    receiver = DtmfReceiver(payload_type=PT)
    heard = ""
    for digit in "1A*":
        sender.next_packet(b"\xff" * 160, 160)  # audio before the press
        payloads = encode_events(digit)
        for i, payload in enumerate(payloads):
            last = i == len(payloads) - 1
            data = sender.next_packet(payload, 800 if last else 0, i == 0, payload_type=PT)
            heard += receiver.receive(parse_rtp(data)) or ""
    assert heard == "1A*"


@FUZZ
@given(
    st.lists(st.tuples(st.sampled_from(DIGITS), st.integers(1, 8)), min_size=1, max_size=8),
    st.randoms(use_true_random=False),
)
def test_each_press_gives_its_digit_once_despite_duplicates_and_stragglers(
    presses: list[tuple[str, int]], rng: random.Random
) -> None:
    packets: list[RtpPacket] = []
    timestamp = rng.randrange(1 << 32)
    straggler: RtpPacket | None = None
    for digit, frames in presses:
        one = press(digit, timestamp, duration=160 * frames)
        sent = one + [p for p in one if rng.random() < 0.3]  # duplicated by the network
        if straggler is not None and rng.random() < 0.5:
            sent.insert(1, straggler)  # the previous press's end, overtaken by this start
        packets.extend(sent)
        straggler = one[-1]
        timestamp += 160 * frames + 800
    assert feed(DtmfReceiver(), packets) == "".join(digit for digit, _ in presses)
