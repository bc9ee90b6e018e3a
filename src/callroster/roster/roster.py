"""The roster of a conference in progress, built only from conference events (it never
reaches into the bridge), with a sequence number per change so a client that reconnects can
resume from where it was instead of reloading everything.

Messages are plain dicts, ready for JSON: ``snapshot`` on connect, then one message per
change, each carrying the whole updated leg (or the conference flags).
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from callroster.conference.events import (
    ConferenceLocked,
    ConferenceUnlocked,
    Event,
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
    TalkingStarted,
    TalkingStopped,
)

Message = dict[str, Any]


@dataclass
class RosterLeg:
    id: str
    name: str | None
    name_source: str | None
    number: str | None  # E.164 as signalled, "withheld", or None when unknown
    joined_via: str
    role: str
    status: str  # joining | connected | on_hold | left
    muted: bool
    talking: bool
    joined_at: str
    left_at: str | None = None
    # Why it left: hangup | dropped | failed | locked, and for an invited leg that never
    # joined: busy | no_answer | declined | failed | cancelled.
    left_reason: str | None = None
    # A lasting problem with its audio: cannot_send | media_from_elsewhere |
    # nothing_received (bridge/media_health.py); None when there is none.
    media_problem: str | None = None
    # The number was asserted by a trusted peer or dialled by us; False: it is only what the
    # caller claimed (bridge/caller_id.py), and the roster marks it "unverified".
    number_verified: bool = False
    # Signalling and media both encrypted (conference/leg.py): the padlock.
    encrypted: bool = False
    # A link to the participant's public profile while they consent to show it; None
    # otherwise, and once they have left (privacy/profile_url.py).
    profile_url: str | None = None


def all_encrypted(legs: Iterable[RosterLeg]) -> bool:
    """Whether everyone on the call now (not left, not still ringing) is encrypted; False
    for an empty call, so that a padlock is never shown for nobody."""
    present = [leg for leg in legs if leg.status not in ("left", "joining")]
    return bool(present) and all(leg.encrypted for leg in present)


def without_numbers(message: Message) -> Message:
    """The message as a guest sees it when the account hides numbers from guests."""
    hidden = dict(message)
    if "leg" in hidden:
        hidden["leg"] = {**hidden["leg"], "number": None}
    if "legs" in hidden:
        hidden["legs"] = [{**leg, "number": None} for leg in hidden["legs"]]
    return hidden


class ConferenceRoster:
    def __init__(self, conference_id: str, *, history: int = 2000) -> None:
        self.conference_id = conference_id
        self.seq = 0
        self.locked = False
        self.recording = False
        self.legs: dict[str, RosterLeg] = {}
        self._log: deque[Message] = deque(maxlen=history)

    def apply(self, event: Event, at: dt.datetime) -> Message | None:
        """Fold one event in; returns the message to send to watchers, or None."""
        when = at.isoformat(timespec="milliseconds")
        message: Message
        if isinstance(event, LegJoined | LegInvited):
            details = event.details
            invited = isinstance(event, LegInvited)
            before = self.legs.get(event.leg_id)
            leg = RosterLeg(
                id=event.leg_id,
                name=details.name if details else None,
                name_source=details.name_source if details else None,
                number="withheld"
                if details and details.withheld
                else (details.number if details else None),
                number_verified=bool(details and details.number_verified),
                encrypted=bool(details and details.encrypted),
                joined_via=details.joined_via if details else "dial_in",
                role=details.role if details else "guest",
                status="joining" if invited else "connected",
                muted=before.muted if before else False,
                talking=False,
                joined_at=when,
            )
            self.legs[leg.id] = leg
            message = {"event": "joining" if invited else "joined", "leg": asdict(leg)}
        elif isinstance(event, ConferenceLocked | ConferenceUnlocked):
            self.locked = isinstance(event, ConferenceLocked)
            message = {"event": "locked", "locked": self.locked}
        else:
            leg_or_none = self.legs.get(getattr(event, "leg_id", ""))
            if leg_or_none is None:
                return None
            leg = leg_or_none
            if isinstance(event, LegLeft):
                leg.status, leg.left_at, leg.talking = "left", when, False
                leg.left_reason = event.reason
                self._forget_profile(leg)
                name = "left"
            elif isinstance(event, LegMuted | LegUnmuted):
                leg.muted = isinstance(event, LegMuted)
                name = "muted"
            elif isinstance(event, LegHeld | LegResumed):
                leg.status = "on_hold" if isinstance(event, LegHeld) else "connected"
                name = "held"
            elif isinstance(event, LegRenamed):
                leg.name, leg.name_source = event.name, event.name_source
                name = "renamed"
            elif isinstance(event, TalkingStarted | TalkingStopped):
                leg.talking = isinstance(event, TalkingStarted)
                name = "talking"
            elif isinstance(event, MediaProblem):
                leg.media_problem = event.problem
                name = "media"
            elif isinstance(event, LegProfileShown):
                if leg.status == "left":
                    return None
                leg.profile_url = event.url
                name = "profile"
            elif isinstance(event, LegProfileHidden):
                self._forget_profile(leg)
                name = "profile"
            else:
                return None
            message = {"event": name, "leg": asdict(leg)}
        self.seq += 1
        message = {"type": "event", "seq": self.seq, **message}
        self._log.append(message)
        return message

    def _forget_profile(self, leg: RosterLeg) -> None:
        """Consent withdrawn (or the leg left): the link is gone from the leg and from every
        message kept for watchers that resume (``since``), so none is sent it again."""
        if leg.profile_url is None:
            return
        leg.profile_url = None
        kept = list(self._log)
        for i, message in enumerate(kept):
            shown = message.get("leg")
            if shown is not None and shown["id"] == leg.id and shown["profile_url"]:
                kept[i] = {**message, "leg": {**shown, "profile_url": None}}
        self._log.clear()
        self._log.extend(kept)

    def snapshot(self) -> Message:
        return {
            "type": "snapshot",
            "seq": self.seq,
            "conference_id": self.conference_id,
            "locked": self.locked,
            "recording": self.recording,
            "all_encrypted": all_encrypted(self.legs.values()),
            "legs": [asdict(leg) for leg in self.legs.values()],
        }

    def since(self, seq: int) -> list[Message] | None:
        """The messages after ``seq``, or None when they are no longer kept (take a
        snapshot instead)."""
        if seq > self.seq:
            return None
        missed = [m for m in self._log if m["seq"] > seq]
        if len(missed) != self.seq - seq:
            return None
        return missed


class Roster:
    """Every conference in progress on this node."""

    def __init__(self) -> None:
        self._conferences: dict[str, ConferenceRoster] = {}

    def apply(self, event: Event, at: dt.datetime) -> tuple[str, Message] | None:
        conference = self._conferences.get(event.conference_id)
        if conference is None:
            conference = self._conferences[event.conference_id] = ConferenceRoster(
                event.conference_id
            )
        message = conference.apply(event, at)
        return None if message is None else (event.conference_id, message)

    def get(self, conference_id: str) -> ConferenceRoster | None:
        return self._conferences.get(conference_id)
