"""Profiles on the roster: a consented link is part of the leg in the same message flow as
every other change; withdrawn or left, it is gone from the leg, from new watchers' snapshots
and from the messages kept for watchers that resume."""

from __future__ import annotations

import datetime as dt
import json

from callroster.conference.events import (
    LegDetails,
    LegJoined,
    LegLeft,
    LegMuted,
    LegProfileHidden,
    LegProfileShown,
)
from callroster.roster.roster import ConferenceRoster, without_numbers

AT = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)
URL = "https://example.org/ada-profile"


def _roster() -> ConferenceRoster:
    roster = ConferenceRoster("c1")
    for leg_id in ("a", "b"):
        roster.apply(
            LegJoined("c1", leg_id, LegDetails("guest", "web", "+447700900001", False)), AT
        )
    return roster


def test_shown_then_hidden_in_the_same_flow_as_other_changes() -> None:
    roster = _roster()
    assert all(leg["profile_url"] is None for leg in roster.snapshot()["legs"])
    shown = roster.apply(LegProfileShown("c1", "a", URL), AT)
    assert shown is not None and shown["event"] == "profile" and shown["seq"] == 3
    assert shown["leg"]["id"] == "a" and shown["leg"]["profile_url"] == URL
    muted = roster.apply(LegMuted("c1", "a", "self"), AT)
    assert muted is not None and muted["leg"]["profile_url"] == URL  # the whole leg
    snapshot = roster.snapshot()
    assert {leg["id"]: leg["profile_url"] for leg in snapshot["legs"]} == {"a": URL, "b": None}
    assert URL in json.dumps(roster.since(0))  # positive control for the scans below

    hidden = roster.apply(LegProfileHidden("c1", "a"), AT)
    assert hidden is not None and hidden["event"] == "profile"
    assert hidden["leg"]["profile_url"] is None
    assert URL not in json.dumps(roster.snapshot())  # a new watcher never sees it
    assert URL not in json.dumps(roster.since(0))  # nor one that resumes from before
    assert [m["seq"] for m in roster.since(0) or []] == [1, 2, 3, 4, 5]


def test_a_left_leg_s_profile_is_dropped() -> None:
    roster = _roster()
    roster.apply(LegProfileShown("c1", "b", URL), AT)
    left = roster.apply(LegLeft("c1", "b", "hangup"), AT)
    assert left is not None and left["leg"]["profile_url"] is None
    assert URL not in json.dumps([roster.snapshot(), roster.since(0)])
    # A late event for the leg that left shows nothing.
    assert roster.apply(LegProfileShown("c1", "b", URL), AT) is None
    assert URL not in json.dumps(roster.snapshot())


def test_hiding_numbers_from_guests_keeps_the_profile() -> None:
    roster = _roster()
    shown = roster.apply(LegProfileShown("c1", "a", URL), AT)
    assert shown is not None
    guest_view = without_numbers(shown)
    assert guest_view["leg"]["number"] is None and guest_view["leg"]["profile_url"] == URL
    snapshot = without_numbers(roster.snapshot())
    assert [leg["profile_url"] for leg in snapshot["legs"]] == [URL, None]
