"""A conference: its legs, its lock, and every command that changes them.

Commands come from the SIP side (a caller joins, holds, presses ``*6``), from the host's API
and from the mixer (talk detection). Each command checks the state-transition table, changes
state through one setter, and appends events (for the roster and the store) and effects (for
the adapters: prompts, tones, hang-ups). Nothing here does I/O or reads a clock.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from callroster.conference.events import (
    ConferenceLocked,
    ConferenceUnlocked,
    Effect,
    Event,
    HangUp,
    LegDetails,
    LegHeld,
    LegInvited,
    LegJoined,
    LegLeft,
    LegMuted,
    LegProfileHidden,
    LegProfileShown,
    LegRenamed,
    LegResumed,
    LegUnmuted,
    MediaProblem,
    PlayPrompt,
    PlayTone,
    TalkingStarted,
    TalkingStopped,
)
from callroster.conference.leg import Leg, LegRole, LegStatus
from callroster.conference.prompts import count_prompts

log = logging.getLogger(__name__)

TRANSITIONS: dict[LegStatus, frozenset[LegStatus]] = {
    LegStatus.JOINING: frozenset({LegStatus.CONNECTED, LegStatus.LEFT}),
    LegStatus.CONNECTED: frozenset({LegStatus.ON_HOLD, LegStatus.LEFT}),
    LegStatus.ON_HOLD: frozenset({LegStatus.CONNECTED, LegStatus.LEFT}),
    LegStatus.LEFT: frozenset(),
}
STAR_TIMEOUT = 3.0


class ConferenceError(Exception):
    """A command that does not apply (unknown leg, illegal transition)."""


class Conference:
    def __init__(self, conference_id: str, *, locked: bool = False) -> None:
        self.id = conference_id
        self.locked = locked
        self._legs: dict[str, Leg] = {}
        self._events: list[Event] = []
        self._effects: list[Effect] = []
        self._star_pressed_at: dict[str, float] = {}

    # -- reading ------------------------------------------------------------------------
    @property
    def legs(self) -> list[Leg]:
        return list(self._legs.values())

    def leg(self, leg_id: str) -> Leg:
        try:
            return self._legs[leg_id]
        except KeyError:
            raise ConferenceError(f"no leg {leg_id} in conference {self.id}") from None

    def present(self) -> list[Leg]:
        return [leg for leg in self._legs.values() if leg.status != LegStatus.LEFT]

    def events(self) -> list[Event]:
        drained, self._events = self._events, []
        return drained

    def effects(self) -> list[Effect]:
        drained, self._effects = self._effects, []
        return drained

    def _set_status(self, leg: Leg, status: LegStatus) -> None:
        if status not in TRANSITIONS[leg.status]:
            raise ConferenceError(f"leg {leg.id}: {leg.status} -> {status} is not allowed")
        log.debug("conference %s leg %s: %s -> %s", self.id, leg.id, leg.status, status)
        leg.status = status

    # -- joining and leaving ------------------------------------------------------------
    def admit(self, leg: Leg, now: float) -> bool:
        """Join a leg that entered the right PIN. A locked conference admits only hosts."""
        if self.locked and leg.role != LegRole.HOST:
            self._effects.append(PlayPrompt(leg.id, ("conference_locked", "goodbye")))
            self._effects.append(HangUp(leg.id, "locked"))
            return False
        if leg.id in self._legs:
            raise ConferenceError(f"leg {leg.id} is already in conference {self.id}")
        leg.joined_at = now
        self._legs[leg.id] = leg
        self._set_status(leg, LegStatus.CONNECTED)
        self._events.append(LegJoined(self.id, leg.id, _details(leg)))
        self._effects.append(PlayTone("join", except_leg=leg.id))
        return True

    def invite(self, leg: Leg, now: float) -> None:
        """The host dials someone in: the leg rings (``joining``) and is in no one's mix
        until :meth:`accept`. The host's own action, so a lock does not stop it."""
        if leg.id in self._legs:
            raise ConferenceError(f"leg {leg.id} is already in conference {self.id}")
        leg.status = LegStatus.JOINING
        leg.joined_at = now
        self._legs[leg.id] = leg
        self._events.append(LegInvited(self.id, leg.id, _details(leg)))

    def accept(self, leg_id: str, now: float, *, encrypted: bool = False) -> None:
        """The invited person answered and accepted (pressed 1): they are on the call.
        ``encrypted``: what the answer settled (conference/leg.py)."""
        leg = self.leg(leg_id)
        self._set_status(leg, LegStatus.CONNECTED)
        leg.joined_at = now
        leg.encrypted = encrypted
        self._events.append(LegJoined(self.id, leg.id, _details(leg)))
        self._effects.append(PlayTone("join", except_leg=leg.id))

    def connected(self) -> list[Leg]:
        """The legs on the call now (present and not still ringing)."""
        return [
            leg
            for leg in self._legs.values()
            if leg.status not in (LegStatus.LEFT, LegStatus.JOINING)
        ]

    def leave(self, leg_id: str, reason: str = "hangup") -> None:
        leg = self.leg(leg_id)
        if leg.status == LegStatus.LEFT:
            return
        if leg.status == LegStatus.JOINING:  # never on the call: no leave tone
            self._set_status(leg, LegStatus.LEFT)
            leg.profile_url = None
            self._events.append(LegLeft(self.id, leg_id, reason))
            return
        if leg.talking:
            leg.talking = False
            self._events.append(TalkingStopped(self.id, leg_id))
        self._set_status(leg, LegStatus.LEFT)
        leg.profile_url = None  # a leg that has left shows nobody its profile any more
        self._star_pressed_at.pop(leg_id, None)
        self._events.append(LegLeft(self.id, leg_id, reason))
        self._effects.append(PlayTone("leave", except_leg=leg_id))

    def drop(self, leg_id: str) -> None:
        """Host control: end a leg's call."""
        leg = self.leg(leg_id)
        if leg.status == LegStatus.LEFT:
            return
        self._effects.append(HangUp(leg_id, "dropped"))
        # A leg still ringing is not dropped from the call but its invitation is cancelled.
        self.leave(leg_id, "cancelled" if leg.status == LegStatus.JOINING else "dropped")

    # -- names ----------------------------------------------------------------------------
    def rename(self, leg_id: str, name: str | None, source: str | None) -> None:
        """Give a leg a name (from name resolution, or the host renaming or publishing)."""
        leg = self.leg(leg_id)
        if (leg.name, leg.name_source) == (name, source):
            return
        leg.name, leg.name_source = name, source
        self._events.append(LegRenamed(self.id, leg_id, name, source))

    # -- a public profile, shown only with its person's consent --------------------------
    def show_profile(self, leg_id: str, url: str) -> None:
        """The participant consents to show a link to their public profile (``url``, already
        checked) to everyone on the call.

        Raises:
            ConferenceError: no such leg, or it has left.
        """
        leg = self.leg(leg_id)
        if leg.status == LegStatus.LEFT:
            raise ConferenceError(f"leg {leg_id} has left conference {self.id}")
        if leg.profile_url == url:
            return
        leg.profile_url = url
        self._events.append(LegProfileShown(self.id, leg_id, url))

    def hide_profile(self, leg_id: str) -> None:
        """The participant withdraws their consent: the link goes from every roster.
        Nothing happens for a leg that shows none (or an unknown one: withdrawing consent
        never fails)."""
        leg = self._legs.get(leg_id)
        if leg is None or leg.profile_url is None:
            return
        leg.profile_url = None
        self._events.append(LegProfileHidden(self.id, leg_id))

    # -- mute, hold, lock ---------------------------------------------------------------
    def mute(self, leg_id: str, by: str) -> None:
        leg = self.leg(leg_id)
        if by == "host":
            leg.muted_by_host = True
        if leg.muted:
            return
        leg.muted = True
        self._stop_talking(leg)
        self._events.append(LegMuted(self.id, leg_id, by))

    def unmute(self, leg_id: str, by: str) -> bool:
        """Unmute. A guest cannot unmute themselves after the host muted them."""
        leg = self.leg(leg_id)
        if by == "self" and leg.muted_by_host and leg.role != LegRole.HOST:
            self._effects.append(PlayPrompt(leg_id, ("host_muted_you",)))
            return False
        leg.muted_by_host = False
        if not leg.muted:
            return True
        leg.muted = False
        self._events.append(LegUnmuted(self.id, leg_id, by))
        return True

    def mute_all(self, by: str = "host") -> None:
        """Mute every leg but the hosts'."""
        for leg in self.present():
            if leg.role != LegRole.HOST:
                self.mute(leg.id, by)

    def hold(self, leg_id: str, by: str) -> None:
        leg = self.leg(leg_id)
        if leg.status == LegStatus.ON_HOLD:
            leg.held_by = "host" if "host" in (by, leg.held_by) else by
            return
        self._set_status(leg, LegStatus.ON_HOLD)
        leg.held_by = by
        self._stop_talking(leg)
        self._events.append(LegHeld(self.id, leg_id, by))

    def unhold(self, leg_id: str, by: str) -> None:
        leg = self.leg(leg_id)
        if leg.status != LegStatus.ON_HOLD:
            return
        self._set_status(leg, LegStatus.CONNECTED)
        leg.held_by = None
        self._events.append(LegResumed(self.id, leg_id, by))

    def lock(self, by: str) -> None:
        if not self.locked:
            self.locked = True
            self._events.append(ConferenceLocked(self.id, by))

    def unlock(self, by: str) -> None:
        if self.locked:
            self.locked = False
            self._events.append(ConferenceUnlocked(self.id, by))

    # -- talk detection -----------------------------------------------------------------
    def set_talking(self, leg_id: str, talking: bool) -> None:
        leg = self._legs.get(leg_id)
        if leg is None or leg.talking == talking:
            return
        if talking and not leg.heard:
            return
        leg.talking = talking
        event = TalkingStarted if talking else TalkingStopped
        self._events.append(event(self.id, leg_id))

    def set_media_problem(self, leg_id: str, problem: str | None) -> None:
        """The bridge found a lasting problem with the leg's media, or that it has gone."""
        leg = self._legs.get(leg_id)
        if leg is None or leg.media_problem == problem:
            return
        leg.media_problem = problem
        self._events.append(MediaProblem(self.id, leg_id, problem))

    def _stop_talking(self, leg: Leg) -> None:
        if leg.talking:
            leg.talking = False
            self._events.append(TalkingStopped(self.id, leg.id))

    # -- keypad controls ----------------------------------------------------------------
    def keypad(self, leg_id: str, digit: str, now: float) -> None:
        """``*`` then a key within 3 s: *6 mute/unmute self; hosts also *5 lock/unlock,
        *7 mute all, *# hear how many are on the call."""
        leg = self._legs.get(leg_id)
        if leg is None or leg.status == LegStatus.LEFT:
            return
        if digit == "*":
            self._star_pressed_at[leg_id] = now
            return
        pressed = self._star_pressed_at.pop(leg_id, None)
        if pressed is None or now - pressed > STAR_TIMEOUT:
            return
        is_host = leg.role == LegRole.HOST
        if digit == "6":
            if leg.muted:
                if self.unmute(leg_id, "self"):
                    self._effects.append(PlayPrompt(leg_id, ("you_are_unmuted",)))
            else:
                self.mute(leg_id, "self")
                self._effects.append(PlayPrompt(leg_id, ("you_are_muted",)))
        elif digit == "5" and is_host:
            if self.locked:
                self.unlock("host")
                self._effects.append(PlayPrompt(leg_id, ("conference_unlocked",)))
            else:
                self.lock("host")
                self._effects.append(PlayPrompt(leg_id, ("conference_now_locked",)))
        elif digit == "7" and is_host:
            self.mute_all("host")
            self._effects.append(PlayPrompt(leg_id, ("all_muted",)))
        elif digit == "#":
            self._effects.append(PlayPrompt(leg_id, count_prompts(len(self.connected()))))


def _details(leg: Leg) -> LegDetails:
    return LegDetails(
        role=leg.role.value,
        joined_via=leg.joined_via,
        number=leg.number,
        withheld=leg.withheld,
        name=leg.name,
        name_source=leg.name_source,
        number_verified=leg.number_verified,
        encrypted=leg.encrypted,
    )


def snapshot(legs: Iterable[Leg]) -> list[dict[str, object]]:
    """Plain values for the roster; never the leg objects themselves."""
    return [
        {
            "id": leg.id,
            "role": leg.role.value,
            "status": leg.status.value,
            "muted": leg.muted,
            "held": leg.held,
            "talking": leg.talking,
            "media_problem": leg.media_problem,
            "name": leg.name,
            "number": "withheld" if leg.withheld else leg.number,
            "number_verified": leg.number_verified,
            "encrypted": leg.encrypted,
            "joined_via": leg.joined_via,
            "profile_url": leg.profile_url,
        }
        for leg in legs
    ]
