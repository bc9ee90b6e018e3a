"""Asking a caller for the conference PIN: prompts, digits, three tries, time-outs. Pure.

The adapter feeds digits (from RFC 4733 events or SIP INFO) and the PIN check's result, and
carries out the effects: ``Say`` (play prompts), ``CheckPin`` (look the digits up) and
``GiveUp`` (play the goodbye and hang up). Digits typed while a prompt plays count (barge-in).

PINs of several lengths can be in use at once (each account sets its guest and host PIN
lengths; existing PINs keep theirs), so the digits are submitted:

- at ``#``, always;
- on reaching the longest length in use, at once;
- on reaching a shorter length in use, after ``pause`` seconds without another digit (a
  longer host PIN is never cut short by a caller who keeps keying);
- otherwise after ``digit_timeout`` seconds without another digit.
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
        pin_lengths: frozenset[int] = frozenset({8}),
        pause: float = 2.0,
        max_attempts: int = 3,
        digit_timeout: float = 10.0,
        max_silent_prompts: int = 3,
        dialled: str | None = None,
    ) -> None:
        """Starts by asking for the PIN; or, with ``dialled`` (a PIN in the request URI),
        by checking it, as if it had been keyed: a wrong one is then asked for again.

        ``pin_lengths``: the lengths of the PINs in use (see the module's docstring).
        """
        if not pin_lengths or min(pin_lengths) < 1:
            raise ValueError("PIN entry needs at least one PIN length, each of 1 digit or more")
        self.state = PinState.COLLECTING
        self.attempts = 0
        self._digits = ""
        self._pin_lengths = pin_lengths
        self._longest = max(pin_lengths)
        self._pause = pause
        # When the digits so far, a whole PIN of a shorter length in use, are submitted
        # unless another digit comes first.
        self._submit_at: float | None = None
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
        if self.state != PinState.COLLECTING:
            return None
        if self._submit_at is not None and self._deadline is not None:
            return min(self._submit_at, self._deadline)
        return self._deadline

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
        if len(self._digits) >= self._longest:
            self._submit()
        elif len(self._digits) in self._pin_lengths:
            self._submit_at = now + self._pause
        else:
            self._submit_at = None

    def _submit(self) -> None:
        self._submit_at = None
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
        if self.state != PinState.COLLECTING:
            return
        if self._submit_at is not None and now >= self._submit_at and self._digits:
            self._submit()  # a whole shorter PIN, and no digit since the pause began
            return
        if self._deadline is None or now < self._deadline:
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
