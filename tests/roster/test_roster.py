from __future__ import annotations

import datetime as dt

from callroster.conference.events import (
    ConferenceLocked,
    LegDetails,
    LegHeld,
    LegInvited,
    LegJoined,
    LegLeft,
    LegMuted,
    MediaProblem,
    TalkingStarted,
)
from callroster.roster.roster import ConferenceRoster, Roster

AT = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)


def _joined(leg_id: str, number: str | None = "+447700900001", withheld: bool = False) -> LegJoined:
    return LegJoined("c1", leg_id, LegDetails("guest", "dial_in", number, withheld))


def test_snapshot_and_events_carry_the_whole_leg() -> None:
    roster = ConferenceRoster("c1")
    first = roster.apply(_joined("a"), AT)
    assert first is not None and first["seq"] == 1 and first["event"] == "joined"
    assert first["leg"]["number"] == "+447700900001" and first["leg"]["status"] == "connected"
    roster.apply(_joined("b", None, withheld=True), AT)
    roster.apply(LegMuted("c1", "a", "host"), AT)
    roster.apply(TalkingStarted("c1", "b"), AT)
    roster.apply(LegHeld("c1", "b", "phone"), AT)
    roster.apply(ConferenceLocked("c1", "host"), AT)
    left = roster.apply(LegLeft("c1", "a", "dropped"), AT + dt.timedelta(seconds=5))
    assert left is not None and left["leg"]["left_at"].startswith("2026-11-23T10:00:05")
    snapshot = roster.snapshot()
    assert snapshot["seq"] == 7 and snapshot["locked"] is True
    by_id = {leg["id"]: leg for leg in snapshot["legs"]}
    assert by_id["a"]["muted"] and by_id["a"]["status"] == "left"
    assert by_id["b"]["number"] == "withheld" and by_id["b"]["status"] == "on_hold"
    assert by_id["b"]["talking"] is True


def test_resume_from_a_sequence_number() -> None:
    roster = ConferenceRoster("c1", history=3)
    for i in range(5):
        roster.apply(_joined(f"l{i}"), AT)
    missed = roster.since(3)
    assert missed is not None and [m["seq"] for m in missed] == [4, 5]
    assert roster.since(5) == []
    assert roster.since(1) is None  # no longer kept: take a snapshot
    assert roster.since(9) is None  # from the future: take a snapshot


def test_events_for_unknown_legs_are_ignored_and_conferences_kept_apart() -> None:
    roster = Roster()
    assert roster.apply(LegMuted("c1", "ghost", "host"), AT) is None
    roster.apply(_joined("a"), AT)
    roster.apply(LegJoined("c2", "z", LegDetails("host", "dial_in", None, True)), AT)
    c1, c2 = roster.get("c1"), roster.get("c2")
    assert c1 is not None and c2 is not None
    assert list(c1.legs) == ["a"] and list(c2.legs) == ["z"]


def test_an_invited_leg_shows_as_joining_then_joined_or_left_with_its_reason() -> None:
    roster = ConferenceRoster("c1")
    details = LegDetails("guest", "dial_out", "+447700900002", False, "Carol Callee", "host")
    ringing = roster.apply(LegInvited("c1", "x", details), AT)
    assert ringing is not None and ringing["event"] == "joining"
    assert ringing["leg"]["status"] == "joining" and ringing["leg"]["name"] == "Carol Callee"
    roster.apply(LegMuted("c1", "x", "host"), AT)  # mute all while it rings
    joined = roster.apply(LegJoined("c1", "x", details), AT + dt.timedelta(seconds=3))
    assert joined is not None and joined["event"] == "joined"
    assert joined["leg"]["status"] == "connected" and joined["leg"]["muted"] is True
    roster.apply(LegInvited("c1", "y", details), AT)
    busy = roster.apply(LegLeft("c1", "y", "busy"), AT)
    assert busy is not None and busy["leg"]["status"] == "left"
    assert busy["leg"]["left_reason"] == "busy"


def test_a_lasting_media_problem_is_shown_on_the_leg_and_cleared() -> None:
    roster = ConferenceRoster("c1")
    roster.apply(_joined("a"), AT)
    shown = roster.apply(MediaProblem("c1", "a", "nothing_received"), AT)
    assert shown is not None and shown["event"] == "media"
    assert shown["leg"]["media_problem"] == "nothing_received"
    assert roster.snapshot()["legs"][0]["media_problem"] == "nothing_received"
    cleared = roster.apply(MediaProblem("c1", "a", None), AT)
    assert cleared is not None and cleared["leg"]["media_problem"] is None


def test_a_number_is_marked_verified_only_when_its_details_say_so() -> None:
    roster = ConferenceRoster("c1")
    claimed = roster.apply(_joined("a"), AT)
    asserted = roster.apply(
        LegJoined(
            "c1", "b", LegDetails("guest", "dial_in", "+447700900002", False, number_verified=True)
        ),
        AT,
    )
    assert claimed is not None and claimed["leg"]["number_verified"] is False
    assert asserted is not None and asserted["leg"]["number_verified"] is True
    # It stays with the leg through later changes, and in the snapshot.
    muted = roster.apply(LegMuted("c1", "b", "host"), AT)
    assert muted is not None and muted["leg"]["number_verified"] is True
    by_id = {leg["id"]: leg for leg in roster.snapshot()["legs"]}
    assert (by_id["a"]["number_verified"], by_id["b"]["number_verified"]) == (False, True)


def _secure(leg_id: str, encrypted: bool) -> LegJoined:
    return LegJoined("c1", leg_id, LegDetails("guest", "dial_in", None, True, encrypted=encrypted))


def test_the_roster_says_which_legs_are_encrypted_and_whether_all_are() -> None:
    roster = ConferenceRoster("c1")
    assert roster.snapshot()["all_encrypted"] is False  # nobody: no padlock for an empty call
    joined = roster.apply(_secure("a", True), AT)
    assert joined is not None and joined["leg"]["encrypted"] is True
    assert roster.snapshot()["all_encrypted"] is True
    roster.apply(
        LegInvited("c1", "ringing", LegDetails("guest", "dial_out", "+447700900002", False)), AT
    )
    assert roster.snapshot()["all_encrypted"] is True  # still ringing: not on the call yet
    roster.apply(_secure("b", False), AT)
    snapshot = roster.snapshot()
    assert snapshot["all_encrypted"] is False
    assert {leg["id"]: leg["encrypted"] for leg in snapshot["legs"]} == {
        "a": True,
        "ringing": False,
        "b": False,
    }
    roster.apply(LegLeft("c1", "b", "hangup"), AT)
    assert roster.snapshot()["all_encrypted"] is True
