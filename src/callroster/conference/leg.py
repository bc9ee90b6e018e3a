"""A leg: one participant's connection to a conference, as the conference sees it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class LegStatus(StrEnum):
    JOINING = "joining"
    CONNECTED = "connected"
    ON_HOLD = "on_hold"
    LEFT = "left"


class LegRole(StrEnum):
    HOST = "host"
    GUEST = "guest"


@dataclass
class Leg:
    """Mutable, owned by exactly one ``Conference``, changed only by its commands. Everyone
    else reads snapshots (``conference.snapshot``, the events), except the bridge's media
    tick, which reads the present legs' flags (heard, talking, muted, held) in place every
    20 ms: a copy per leg per tick would cost more than the mix itself. It never writes."""

    id: str
    role: LegRole
    joined_via: str  # dial_in | dial_out | web
    number: str | None  # E.164 or SIP user as signalled; None when withheld
    withheld: bool
    name: str | None = None
    # The number is the one we dialled, or one a trusted peer asserted (bridge/caller_id.py);
    # False: anyone could have written it.
    number_verified: bool = False
    name_source: str | None = None
    status: LegStatus = LegStatus.JOINING
    muted: bool = False
    muted_by_host: bool = False
    held_by: str | None = None  # host | phone
    talking: bool = False
    joined_at: float = 0.0
    media_problem: str | None = None  # see bridge/media_health.py
    # Signalling and media both encrypted (SIP over TLS with SRTP; a browser's DTLS-SRTP with
    # its offer sent over HTTPS): the roster's padlock. Settled when the leg is on the call.
    encrypted: bool = False
    # A link to the participant's public profile, shown beside their name only while they
    # consent (privacy/profile_url.py checked it); None otherwise, and once they have left.
    profile_url: str | None = None

    @property
    def held(self) -> bool:
        return self.held_by is not None

    @property
    def heard(self) -> bool:
        """Whether the others hear this leg."""
        return self.status == LegStatus.CONNECTED and not self.muted and not self.held
