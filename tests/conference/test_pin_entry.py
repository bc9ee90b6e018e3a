from __future__ import annotations

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
    entry = PinEntry(0.0, pin_length=8)
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
