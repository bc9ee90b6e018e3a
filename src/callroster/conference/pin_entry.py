"""Asking a caller for the conference PIN: prompts, digits, three tries, time-outs. Pure.

The adapter feeds digits (from RFC 4733 events or SIP INFO) and the PIN check's result, and
carries out the effects: ``Say`` (play prompts), ``CheckPin`` (look the digits up) and
``GiveUp`` (play the goodbye and hang up). Digits typed while a prompt plays count (barge-in).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class PinState(StrEnum):
    COLLECTING = "collecting"
    CHECKING = "checking"
    ACCEPTED = "accepted"
    FAILED = "failed"


@dataclass(frozen=True)
class Say:
    prompts: tuple[str, ...]


@dataclass(frozen=True)
class CheckPin:
    digits: str


@dataclass(frozen=True)
class GiveUp:
    reason: str


PinEffect = Say | CheckPin | GiveUp

TRANSITIONS: dict[PinState, frozenset[PinState]] = {
    PinState.COLLECTING: frozenset({PinState.CHECKING, PinState.FAILED}),
    PinState.CHECKING: frozenset({PinState.COLLECTING, PinState.ACCEPTED, PinState.FAILED}),
    PinState.ACCEPTED: frozenset(),
    PinState.FAILED: frozenset(),
}


class PinEntry:
    def __init__(
        self,
        now: float,
        *,
        pin_length: int = 8,
        max_attempts: int = 3,
        digit_timeout: float = 10.0,
        max_silent_prompts: int = 3,
        dialled: str | None = None,
    ) -> None:
        """Starts by asking for the PIN; or, with ``dialled`` (a PIN in the request URI),
        by checking it, as if it had been keyed: a wrong one is then asked for again."""
        self.state = PinState.COLLECTING
        self.attempts = 0
        self._digits = ""
        self._pin_length = pin_length
        self._max_attempts = max_attempts
        self._digit_timeout = digit_timeout
        self._max_silent_prompts = max_silent_prompts
        self._silent_prompts = 1
        self._deadline: float | None = now + digit_timeout
        self._effects: list[PinEffect] = [Say(("welcome", "enter_pin"))]
        if dialled is not None:
            self._effects = []
            self._digits = dialled
            self._submit()

    def effects(self) -> list[PinEffect]:
        drained, self._effects = self._effects, []
        return drained

    def next_timer(self) -> float | None:
        return self._deadline if self.state == PinState.COLLECTING else None

    def _set_state(self, state: PinState) -> None:
        if state not in TRANSITIONS[self.state]:
            raise ValueError(f"PIN entry: {self.state} -> {state} is not allowed")
        self.state = state

    def digit(self, digit: str, now: float) -> None:
        if self.state != PinState.COLLECTING:
            return
        self._deadline = now + self._digit_timeout
        if digit == "#":
            if self._digits:
                self._submit()
            return
        if not digit.isdigit():
            return
        self._digits += digit
        if len(self._digits) >= self._pin_length:
            self._submit()

    def _submit(self) -> None:
        self._set_state(PinState.CHECKING)
        self._effects.append(CheckPin(self._digits))
        self._digits = ""

    def result(self, accepted: bool, now: float) -> None:
        """The answer to ``CheckPin``."""
        if self.state != PinState.CHECKING:
            return
        if accepted:
            self._set_state(PinState.ACCEPTED)
            return
        self.attempts += 1
        if self.attempts >= self._max_attempts:
            self._set_state(PinState.FAILED)
            self._effects.append(Say(("pin_failed", "goodbye")))
            self._effects.append(GiveUp("wrong PIN"))
            return
        self._set_state(PinState.COLLECTING)
        self._deadline = now + self._digit_timeout
        self._effects.append(Say(("pin_wrong", "enter_pin")))

    def handle_timer(self, now: float) -> None:
        if self.state != PinState.COLLECTING or self._deadline is None or now < self._deadline:
            return
        if self._digits:  # stopped typing without '#': try what is there
            self._submit()
            return
        if self._silent_prompts >= self._max_silent_prompts:
            self._set_state(PinState.FAILED)
            self._effects.append(Say(("goodbye",)))
            self._effects.append(GiveUp("no PIN entered"))
            return
        self._silent_prompts += 1
        self._deadline = now + self._digit_timeout
        self._effects.append(Say(("enter_pin",)))
