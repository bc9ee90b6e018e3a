"""Data-subject requests (issue 15), the pure part: the kinds of request, their states, the
statutory deadline, and the one-time code's rules. The store keeps them
(``store.privacy_requests``); the pages and the API show them.

The policy's rights: "to know if we are processing any personal data about you and ... to a
copy of that personal data" (access), "to remove or correct inaccurate personal data"
(erasure, rectification) and "that we do not use your details to contact you for marketing
purposes" (marketing opt-out); "We'll ask you to prove your identity when you make such a
request": a one-time code sent to the email or number we hold, never to one the requester
adds.
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass
from enum import StrEnum


class RequestKind(StrEnum):
    ACCESS = "access"
    RECTIFICATION = "rectification"
    ERASURE = "erasure"
    MARKETING_OPT_OUT = "marketing_opt_out"


KIND_LABELS = {
    RequestKind.ACCESS: "A copy of my personal data",
    RequestKind.RECTIFICATION: "Correct my name",
    RequestKind.ERASURE: "Erase my personal data",
    RequestKind.MARKETING_OPT_OUT: "No marketing to me",
}


class Channel(StrEnum):
    EMAIL = "email"
    PHONE = "phone"


class RequestStatus(StrEnum):
    UNVERIFIED = "unverified"  # the code has not been given yet
    VERIFIED = "verified"  # identity proven; waiting for an operator's decision
    COMPLETED = "completed"  # done (access and opt-out at once; others once approved)
    REFUSED = "refused"  # an operator refused it, with a reason


# Kinds that an operator decides; the others are done as soon as the code is right.
DECIDED_BY_OPERATOR = frozenset({RequestKind.RECTIFICATION, RequestKind.ERASURE})

CODE_DIGITS = 8
CODE_LIFETIME = dt.timedelta(minutes=15)
CODE_ATTEMPTS = 5
EXPORT_LIFETIME = dt.timedelta(days=7)
# A request never verified is forgotten this long after it was made.
UNVERIFIED_KEPT = dt.timedelta(days=1)


def due_at(received_at: dt.datetime, days: int) -> dt.datetime:
    """The statutory deadline of a request received at ``received_at``."""
    return received_at + dt.timedelta(days=days)


def overdue(status: RequestStatus, due: dt.datetime, now: dt.datetime) -> bool:
    """Whether a request still open (verified, not decided) is past its deadline."""
    return status is RequestStatus.VERIFIED and now >= due


def code_matches(stored: bytes | None, offered: bytes) -> bool:
    """Whether the keyed hash of the code offered is the stored one, compared in constant
    time (``hmac.compare_digest``), so the time taken says nothing of how many bytes agree."""
    if stored is None:
        return False
    return hmac.compare_digest(stored, offered)


def well_formed_code(text: str) -> str | None:
    """The code as typed, spaces and dashes removed, if it is ``CODE_DIGITS`` digits."""
    code = text.replace(" ", "").replace("-", "")
    return code if len(code) == CODE_DIGITS and code.isascii() and code.isdigit() else None


@dataclass(frozen=True)
class Verification:
    """What giving a code did. ``outcome``: ``verified``, ``wrong`` (``tries_left`` more),
    ``exhausted`` (too many wrong codes), ``expired``, or ``done`` (already verified)."""

    outcome: str
    kind: RequestKind
    tries_left: int = 0
    export_token: str | None = None
    due_at: dt.datetime | None = None
