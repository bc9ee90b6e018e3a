"""The call log (callroster/call_log.py): one line when a leg starts and one when it ends,
with the conference's and the leg's ids, how it came, its duration and its outcome, and
never the number or the name the events carry; dial-out outcomes counted."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from tests.support.clock import FakeClock

from callroster.call_log import CallLog
from callroster.conference.events import LegDetails, LegInvited, LegJoined, LegLeft

NUMBER = "+447700900123"
NAME = "Harriet Host"


class Lines(logging.Handler):
    """The call log's records, kept here (not through the root logger)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def lines() -> Iterator[Lines]:
    logger = logging.getLogger("callroster.calls")
    handler = Lines()
    logger.addHandler(handler)
    before = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before)


def details(via: str) -> LegDetails:
    return LegDetails(role="guest", joined_via=via, number=None, withheld=True)


def test_a_call_is_logged_when_it_starts_and_when_it_ends_with_duration_and_outcome(
    lines: Lines,
) -> None:
    clock = FakeClock()
    log = CallLog(clock.time)
    log(LegJoined("conf-1", "leg-1", details("dial_in")))
    clock.advance(83.25)
    log(LegLeft("conf-1", "leg-1", "hangup"))

    started, ended = lines.records
    assert started.getMessage() == "call started: conference conf-1 leg leg-1 via dial_in as guest"
    assert ended.getMessage() == (
        "call ended: conference conf-1 leg leg-1 via dial_in after 83.250 s: hangup"
    )
    fields = {k: getattr(ended, k) for k in ("call", "conference_id", "leg_id", "via")}
    assert fields == {
        "call": "ended",
        "conference_id": "conf-1",
        "leg_id": "leg-1",
        "via": "dial_in",
    }
    assert (ended.duration_s, ended.outcome, ended.levelno) == (83.25, "hangup", logging.INFO)


def test_the_number_and_the_name_the_events_carry_are_never_logged(lines: Lines) -> None:
    clock = FakeClock()
    log = CallLog(clock.time)
    known = LegDetails(role="host", joined_via="dial_in", number=NUMBER, withheld=False, name=NAME)
    log(LegJoined("conf-1", "leg-1", known))
    log(LegLeft("conf-1", "leg-1", "dropped"))
    text = " ".join(
        record.getMessage() + " " + " ".join(str(v) for v in vars(record).values())
        for record in lines.records
    )
    assert len(lines.records) == 2
    assert [s for s in (NUMBER, NAME) if s in text] == []
    # The scan's positive control: the same values planted in the text are found.
    assert [s for s in (NUMBER, NAME) if s in text + NUMBER + NAME] == [NUMBER, NAME]


def test_dial_out_outcomes_are_counted_and_the_call_is_logged_from_its_dialling(
    lines: Lines,
) -> None:
    clock = FakeClock()
    log = CallLog(clock.time)
    log(LegInvited("conf-1", "rang-out", details("dial_out")))
    log(LegLeft("conf-1", "rang-out", "busy"))
    log(LegInvited("conf-1", "answered", details("dial_out")))
    clock.advance(5)
    log(LegJoined("conf-1", "answered", details("dial_out")))  # pressed 1: already logged
    clock.advance(60)
    log(LegLeft("conf-1", "answered", "hangup"))

    assert log.dial_outs == {"busy": 1, "answered": 1}
    messages = [record.getMessage() for record in lines.records]
    assert messages == [
        "call started: conference conf-1 leg rang-out via dial_out as guest",
        "call ended: conference conf-1 leg rang-out via dial_out after 0.000 s: busy",
        "call started: conference conf-1 leg answered via dial_out as guest",
        "call ended: conference conf-1 leg answered via dial_out after 65.000 s: hangup",
    ]


def test_a_leg_that_started_before_this_process_leaves_no_end_line(lines: Lines) -> None:
    log = CallLog(FakeClock().time)
    log(LegLeft("conf-1", "older", "hangup"))
    assert lines.records == []
