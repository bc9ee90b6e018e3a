from __future__ import annotations

import pytest

from callroster.conference.conference import Conference, ConferenceError
from callroster.conference.conference import snapshot as conference_snapshot
from callroster.conference.events import (
    ConferenceLocked,
    HangUp,
    LegDetails,
    LegHeld,
    LegInvited,
    LegJoined,
    LegLeft,
    LegMuted,
    LegResumed,
    LegUnmuted,
    PlayPrompt,
    PlayTone,
    TalkingStarted,
    TalkingStopped,
)
from callroster.conference.leg import Leg, LegRole, LegStatus


def _leg(leg_id: str, role: LegRole = LegRole.GUEST) -> Leg:
    return Leg(id=leg_id, role=role, joined_via="dial_in", number="+447700900001", withheld=False)


def _with_host_and_guest() -> Conference:
    conference = Conference("c1")
    conference.admit(_leg("host", LegRole.HOST), 0.0)
    conference.admit(_leg("guest"), 1.0)
    conference.events()
    conference.effects()
    return conference


def test_join_and_leave_history_and_tones() -> None:
    conference = Conference("c1")
    assert conference.admit(_leg("a"), 0.0)
    conference.leave("a")
    details = LegDetails("guest", "dial_in", "+447700900001", False)
    assert conference.events() == [LegJoined("c1", "a", details), LegLeft("c1", "a", "hangup")]
    assert conference.effects() == [PlayTone("join", "a"), PlayTone("leave", "a")]
    assert conference.leg("a").status == LegStatus.LEFT
    conference.leave("a")  # twice is harmless
    assert conference.events() == []


def test_locked_conference_refuses_guests_but_admits_hosts() -> None:
    conference = Conference("c1", locked=True)
    assert not conference.admit(_leg("g"), 0.0)
    assert conference.effects() == [
        PlayPrompt("g", ("conference_locked", "goodbye")),
        HangUp("g", "locked"),
    ]
    assert conference.admit(_leg("h", LegRole.HOST), 0.0)


def test_host_mute_cannot_be_undone_by_the_guest() -> None:
    conference = _with_host_and_guest()
    conference.mute("guest", "host")
    conference.keypad("guest", "*", 5.0)
    conference.keypad("guest", "6", 5.5)
    assert conference.leg("guest").muted
    assert conference.effects() == [PlayPrompt("guest", ("host_muted_you",))]
    conference.unmute("guest", "host")
    assert conference.events() == [
        LegMuted("c1", "guest", "host"),
        LegUnmuted("c1", "guest", "host"),
    ]


def test_guest_mutes_and_unmutes_self_with_star_six() -> None:
    conference = _with_host_and_guest()
    for key in "*6":
        conference.keypad("guest", key, 2.0)
    assert conference.leg("guest").muted and not conference.leg("guest").heard
    for key in "*6":
        conference.keypad("guest", key, 3.0)
    assert not conference.leg("guest").muted
    assert conference.effects() == [
        PlayPrompt("guest", ("you_are_muted",)),
        PlayPrompt("guest", ("you_are_unmuted",)),
    ]


def test_star_codes_time_out_and_guests_cannot_lock() -> None:
    conference = _with_host_and_guest()
    conference.keypad("guest", "*", 0.0)
    conference.keypad("guest", "6", 3.5)
    assert not conference.leg("guest").muted
    for key in "*5":
        conference.keypad("guest", key, 4.0)
    assert not conference.locked


def test_host_keypad_lock_mute_all_and_count() -> None:
    conference = _with_host_and_guest()
    for key in "*5*7*#":
        conference.keypad("host", key, 1.0)
    assert conference.locked and conference.leg("guest").muted
    assert not conference.leg("host").muted
    assert conference.effects() == [
        PlayPrompt("host", ("conference_now_locked",)),
        PlayPrompt("host", ("all_muted",)),
        PlayPrompt("host", ("there_are", "two", "people_on_the_call")),
    ]
    assert ConferenceLocked("c1", "host") in conference.events()


def test_hold_and_resume_from_phone_and_host() -> None:
    conference = _with_host_and_guest()
    conference.set_talking("guest", True)
    conference.hold("guest", "phone")
    assert conference.leg("guest").status == LegStatus.ON_HOLD
    conference.set_talking("guest", True)  # a held leg is not heard, so never "talking"
    conference.unhold("guest", "phone")
    assert conference.events() == [
        TalkingStarted("c1", "guest"),
        TalkingStopped("c1", "guest"),
        LegHeld("c1", "guest", "phone"),
        LegResumed("c1", "guest", "phone"),
    ]


def test_drop_hangs_up_and_illegal_moves_raise() -> None:
    conference = _with_host_and_guest()
    conference.drop("guest")
    assert HangUp("guest", "dropped") in conference.effects()
    with pytest.raises(ConferenceError):
        conference.hold("guest", "host")
    with pytest.raises(ConferenceError):
        conference.mute("nobody", "host")


def test_rename_emits_once() -> None:
    from callroster.conference.events import LegRenamed

    conference = _with_host_and_guest()
    conference.rename("guest", "Ada Lovelace", "contact")
    conference.rename("guest", "Ada Lovelace", "contact")
    assert conference.events() == [LegRenamed("c1", "guest", "Ada Lovelace", "contact")]
    assert conference.leg("guest").name == "Ada Lovelace"


def _invited(leg_id: str = "callee") -> Leg:
    return Leg(
        id=leg_id,
        role=LegRole.GUEST,
        joined_via="dial_out",
        number="+447700900002",
        withheld=False,
        name="Carol Callee",
        name_source="host",
    )


def test_an_invited_leg_rings_outside_the_call_until_it_accepts() -> None:
    conference = _with_host_and_guest()
    conference.lock("host")  # the host's own invitation is not stopped by the lock
    conference.events()
    conference.invite(_invited(), 5.0)
    [invited] = conference.events()
    assert isinstance(invited, LegInvited) and invited.details.name == "Carol Callee"
    assert invited.details.joined_via == "dial_out"
    assert conference.leg("callee").status == LegStatus.JOINING
    assert [leg.id for leg in conference.connected()] == ["host", "guest"]
    assert not conference.effects()  # no join tone while it only rings
    with pytest.raises(ConferenceError):
        conference.hold("callee", "host")  # nothing to hold yet
    conference.accept("callee", 9.0)
    [joined] = conference.events()
    assert isinstance(joined, LegJoined) and joined.details is not None
    assert conference.leg("callee").status == LegStatus.CONNECTED
    assert conference.leg("callee").joined_at == 9.0
    assert conference.effects() == [PlayTone("join", except_leg="callee")]


@pytest.mark.parametrize("reason", ["busy", "no_answer", "declined", "failed"])
def test_an_invitation_that_fails_leaves_with_its_reason_and_no_tone(reason: str) -> None:
    conference = _with_host_and_guest()
    conference.invite(_invited(), 5.0)
    conference.events()
    conference.leave("callee", reason)
    assert conference.events() == [LegLeft("c1", "callee", reason)]
    assert not conference.effects()
    with pytest.raises(ConferenceError):
        conference.accept("callee", 6.0)


def test_the_host_dropping_a_ringing_leg_cancels_the_invitation() -> None:
    conference = _with_host_and_guest()
    conference.invite(_invited(), 5.0)
    conference.events()
    conference.drop("callee")
    assert conference.events() == [LegLeft("c1", "callee", "cancelled")]
    assert conference.effects() == [HangUp("callee", "dropped")]


def test_whether_a_leg_is_encrypted_travels_with_its_join() -> None:
    conference = Conference("c1")
    secure = Leg(
        id="tls",
        role=LegRole.GUEST,
        joined_via="dial_in",
        number=None,
        withheld=True,
        encrypted=True,
    )
    conference.admit(secure, 1.0)
    conference.admit(_leg("clear"), 2.0)
    joined = conference.events()
    assert [
        event.details.encrypted
        for event in joined
        if isinstance(event, LegJoined) and event.details
    ] == [True, False]
    assert {row["id"]: row["encrypted"] for row in conference_snapshot(conference.legs)} == {
        "tls": True,
        "clear": False,
    }


def test_an_invited_leg_is_encrypted_only_once_its_answer_settles_it() -> None:
    conference = _with_host_and_guest()
    conference.invite(_invited(), 5.0)
    [invited] = conference.events()
    assert isinstance(invited, LegInvited) and invited.details.encrypted is False
    conference.accept("callee", 9.0, encrypted=True)
    [joined] = conference.events()
    assert isinstance(joined, LegJoined) and joined.details is not None
    assert joined.details.encrypted and conference.leg("callee").encrypted
