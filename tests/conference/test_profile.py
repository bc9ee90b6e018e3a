"""A participant's public profile: shown only when they say so, gone when they withdraw or
leave, and always as events, never as something the roster reads from the leg."""

from __future__ import annotations

import pytest

from callroster.conference.conference import Conference, ConferenceError
from callroster.conference.conference import snapshot as conference_snapshot
from callroster.conference.events import LegLeft, LegProfileHidden, LegProfileShown
from callroster.conference.leg import Leg, LegRole

URL = "https://example.org/ada"


def _conference() -> Conference:
    conference = Conference("c1")
    for leg_id in ("a", "b"):
        conference.admit(Leg(leg_id, LegRole.GUEST, "web", None, False, name=leg_id), 0.0)
    conference.events()
    conference.effects()
    return conference


def test_show_hide_and_leave_history() -> None:
    conference = _conference()
    assert conference.leg("a").profile_url is None  # nothing shown without consent
    conference.show_profile("a", URL)
    conference.show_profile("a", URL)  # the same again changes nothing
    conference.hide_profile("a")
    conference.hide_profile("a")  # withdrawing twice is harmless
    conference.hide_profile("ghost")  # and never fails
    conference.show_profile("a", URL)
    conference.leave("a")
    assert conference.events() == [
        LegProfileShown("c1", "a", URL),
        LegProfileHidden("c1", "a"),
        LegProfileShown("c1", "a", URL),
        LegLeft("c1", "a", "hangup"),
    ]
    assert conference.leg("a").profile_url is None  # a left leg's profile is dropped
    assert conference.effects()[-1].__class__.__name__ == "PlayTone"  # no other effect


def test_a_leg_that_left_or_never_was_shows_nothing() -> None:
    conference = _conference()
    conference.leave("b")
    conference.events()
    with pytest.raises(ConferenceError):
        conference.show_profile("b", URL)
    with pytest.raises(ConferenceError):
        conference.show_profile("ghost", URL)
    assert conference.events() == []


def test_the_snapshot_carries_only_a_shown_profile() -> None:
    conference = _conference()
    conference.show_profile("b", URL)
    rows = {row["id"]: row["profile_url"] for row in conference_snapshot(conference.legs)}
    assert rows == {"a": None, "b": URL}
