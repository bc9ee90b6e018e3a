"""What happened in a conference (events, past tense) and what the adapters must do about it
(effects). Both are frozen values; the conference only appends them, adapters drain them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LegDetails:
    """Who joined, as the roster shows them: what was known at the moment of joining."""

    role: str  # host | guest
    joined_via: str  # dial_in | dial_out | web
    number: str | None  # None when withheld
    withheld: bool
    name: str | None = None
    name_source: str | None = None
    number_verified: bool = False  # dialled by us, or asserted by a trusted peer
    encrypted: bool = False  # signalling and media both encrypted (conference/leg.py)


@dataclass(frozen=True)
class LegJoined:
    conference_id: str
    leg_id: str
    details: LegDetails | None = None


@dataclass(frozen=True)
class LegInvited:
    """The host dialled someone: the leg rings (status ``joining``) until they accept."""

    conference_id: str
    leg_id: str
    details: LegDetails


@dataclass(frozen=True)
class LegRenamed:
    conference_id: str
    leg_id: str
    name: str | None
    name_source: str | None  # entered | host | user | contact | directory | published


@dataclass(frozen=True)
class LegLeft:
    conference_id: str
    leg_id: str
    # hangup | dropped | failed | locked; for a leg never connected (dial-out): busy |
    # no_answer | declined | failed | cancelled | certificate_refused (a TLS trunk's)
    reason: str


@dataclass(frozen=True)
class LegMuted:
    conference_id: str
    leg_id: str
    by: str  # self | host


@dataclass(frozen=True)
class LegUnmuted:
    conference_id: str
    leg_id: str
    by: str


@dataclass(frozen=True)
class LegHeld:
    conference_id: str
    leg_id: str
    by: str  # host | phone


@dataclass(frozen=True)
class LegResumed:
    conference_id: str
    leg_id: str
    by: str


@dataclass(frozen=True)
class TalkingStarted:
    conference_id: str
    leg_id: str


@dataclass(frozen=True)
class TalkingStopped:
    conference_id: str
    leg_id: str


@dataclass(frozen=True)
class MediaProblem:
    """A leg's media has had a lasting problem (``problem``), or no longer has (None); see
    bridge/media_health.py for what each means."""

    conference_id: str
    leg_id: str
    problem: str | None


@dataclass(frozen=True)
class LegProfileShown:
    """The participant consented to show a link to their public profile beside their name
    (``url``: checked by privacy/profile_url.py). Never stored: the roster shows it, and
    forgets it on :class:`LegProfileHidden` or when the leg leaves."""

    conference_id: str
    leg_id: str
    url: str


@dataclass(frozen=True)
class LegProfileHidden:
    """The participant withdrew their consent: no roster shows the link any longer."""

    conference_id: str
    leg_id: str


@dataclass(frozen=True)
class ConferenceLocked:
    conference_id: str
    by: str


@dataclass(frozen=True)
class ConferenceUnlocked:
    conference_id: str
    by: str


Event = (
    LegInvited
    | LegJoined
    | LegRenamed
    | LegLeft
    | LegMuted
    | LegUnmuted
    | LegHeld
    | LegResumed
    | TalkingStarted
    | TalkingStopped
    | MediaProblem
    | LegProfileShown
    | LegProfileHidden
    | ConferenceLocked
    | ConferenceUnlocked
)


# -- effects: instructions to the adapters ------------------------------------------------
@dataclass(frozen=True)
class PlayPrompt:
    """Play prompts (by name, in order) to one leg only."""

    leg_id: str
    prompts: tuple[str, ...]


@dataclass(frozen=True)
class PlayTone:
    """Play a tone (``join`` or ``leave``) to every leg but ``except_leg``."""

    tone: str
    except_leg: str | None


@dataclass(frozen=True)
class HangUp:
    """End a leg's call, after its pending prompts have played."""

    leg_id: str
    reason: str


Effect = PlayPrompt | PlayTone | HangUp
