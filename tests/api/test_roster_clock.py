"""The roster stamps each change with the clock it is given (the service gives the store's),
so a fake clock governs it as it governs the store's records."""

from __future__ import annotations

import datetime as dt

from callroster.bus import EventBus
from callroster.conference.events import LegDetails, LegJoined
from callroster.services import wire_roster

FAKE_NOW = dt.datetime(2031, 2, 3, 4, 5, 6, 789000, tzinfo=dt.UTC)


def test_roster_changes_are_stamped_by_the_clock_given() -> None:
    bus = EventBus()
    roster, _ = wire_roster(bus, lambda: FAKE_NOW)
    bus.publish(LegJoined("conf-1", "leg-1", LegDetails("guest", "dial_in", None, True)))
    conference = roster.get("conf-1")
    assert conference is not None
    assert conference.legs["leg-1"].joined_at == "2031-02-03T04:05:06.789+00:00"
