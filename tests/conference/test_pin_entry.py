from __future__ import annotations

import pytest

from callroster.conference.pin_entry import CheckPin, GiveUp, PinEntry, PinState, Say


def _type(entry: PinEntry, keys: str, now: float = 1.0) -> None:
    for key in keys:
        entry.digit(key, now)


def test_prompt_digits_hash_then_accepted() -> None:
    entry = PinEntry(0.0)
    assert entry.effects() == [Say(("welcome", "enter_pin"))]
    _type(entry, "1234#")
    assert entry.effects() == [CheckPin("1234")]
    entry.result(True, 2.0)
    assert entry.state == PinState.ACCEPTED and entry.next_timer() is None


def test_full_length_pin_submits_without_hash() -> None:
    entry = PinEntry(0.0, pin_lengths=frozenset({8}))
    entry.effects()
    _type(entry, "12345678")
    assert entry.effects() == [CheckPin("12345678")]
    entry.digit("9", 1.5)  # ignored while checking
    assert entry.effects() == []


def test_three_wrong_pins_end_politely() -> None:
    entry = PinEntry(0.0)
    entry.effects()
    for attempt in range(3):
        _type(entry, "999#", now=attempt)
        assert entry.effects() == [CheckPin("999")]
        entry.result(False, attempt + 0.5)
        effects = entry.effects()
        if attempt < 2:
            assert effects == [Say(("pin_wrong", "enter_pin"))]
    assert effects == [Say(("pin_failed", "goodbye")), GiveUp("wrong PIN")]
    assert entry.state == PinState.FAILED
    _type(entry, "1234#")
    assert entry.effects() == []


def test_silence_reprompts_then_gives_up() -> None:
    entry = PinEntry(0.0, digit_timeout=10)
    entry.effects()
    entry.handle_timer(5.0)
    assert entry.effects() == []
    entry.handle_timer(10.0)
    assert entry.effects() == [Say(("enter_pin",))]
    entry.handle_timer(20.0)
    assert entry.effects() == [Say(("enter_pin",))]
    entry.handle_timer(30.0)
    assert entry.effects() == [Say(("goodbye",)), GiveUp("no PIN entered")]


def test_typed_digits_without_hash_are_tried_after_the_timeout() -> None:
    entry = PinEntry(0.0, digit_timeout=10)
    entry.effects()
    _type(entry, "4321", now=3.0)
    entry.handle_timer(13.0)
    assert entry.effects() == [CheckPin("4321")]


def test_hash_alone_and_letters_are_ignored() -> None:
    entry = PinEntry(0.0)
    entry.effects()
    _type(entry, "#A*")
    assert entry.effects() == [] and entry.state == PinState.COLLECTING


# -- several PIN lengths in use (guest 8, host 10; issue 12) ---------------------------------
GUEST_AND_HOST = frozenset({8, 10})


def test_a_shorter_pin_in_use_is_submitted_after_the_pause() -> None:
    entry = PinEntry(0.0, pin_lengths=GUEST_AND_HOST, pause=2.0)
    entry.effects()
    _type(entry, "12345678", now=1.0)
    assert entry.effects() == []  # it may be the start of a host PIN
    assert entry.next_timer() == 3.0
    entry.handle_timer(2.9)
    assert entry.effects() == []
    entry.handle_timer(3.0)
    assert entry.effects() == [CheckPin("12345678")]
    assert entry.state == PinState.CHECKING and entry.next_timer() is None


def test_a_longer_host_pin_keyed_on_is_not_cut_short() -> None:
    entry = PinEntry(0.0, pin_lengths=GUEST_AND_HOST, pause=2.0)
    entry.effects()
    _type(entry, "12345678", now=1.0)
    entry.digit("9", 2.5)  # within the pause: the pause is off
    entry.handle_timer(3.0)
    entry.handle_timer(4.4)
    assert entry.effects() == []
    entry.digit("0", 4.5)  # the longest length in use: at once
    assert entry.effects() == [CheckPin("1234567890")]


def test_hash_submits_at_any_length_and_a_length_not_in_use_waits_for_the_timeout() -> None:
    entry = PinEntry(0.0, pin_lengths=GUEST_AND_HOST, pause=2.0, digit_timeout=10.0)
    entry.effects()
    _type(entry, "123456789", now=1.0)  # 9 digits: no PIN in use is 9 long
    assert entry.next_timer() == 11.0
    entry.handle_timer(5.0)
    assert entry.effects() == []
    entry.handle_timer(11.0)
    assert entry.effects() == [CheckPin("123456789")]
    entry.result(False, 12.0)
    entry.effects()
    _type(entry, "12345678#", now=13.0)  # '#' does not wait for the pause
    assert entry.effects() == [CheckPin("12345678")]


def test_after_a_wrong_pin_the_pause_starts_afresh() -> None:
    entry = PinEntry(0.0, pin_lengths=GUEST_AND_HOST, pause=2.0)
    entry.effects()
    _type(entry, "12345678", now=1.0)
    entry.handle_timer(3.0)
    assert entry.effects() == [CheckPin("12345678")]
    entry.result(False, 3.5)
    assert entry.effects() == [Say(("pin_wrong", "enter_pin"))]
    assert entry.next_timer() == 13.5  # the digit timeout only, no pause left over
    _type(entry, "1234567", now=4.0)
    entry.handle_timer(6.5)
    assert entry.effects() == []


def test_no_pin_length_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one PIN length"):
        PinEntry(0.0, pin_lengths=frozenset())
