"""The suppression list: the addresses nothing unasked-for is ever sent to again.

One list serves the marketing opt-out (a data-subject request, ``store/privacy_requests``)
and Tell a Friend's unsubscribe (``store/friend_invitations``): a row is only the keyed hash
of the normalised address (the platform's blind index, kind ``MARKETING``), never the
address. ``is_suppressed`` is the one check that marketing email and Tell a Friend both
make before they send; nothing else reads the table.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from callroster.privacy.keys import BlindIndex
from callroster.store.models import MarketingSuppression

MARKETING = "marketing"  # the blind index kind: part of the stored format


def suppression_index(index: BlindIndex, normalised: str) -> bytes:
    """The keyed hash an address (an email as ``normalise.email`` gives it, a number in
    E.164) is kept as in the suppression list."""
    return index.of(MARKETING, normalised)


def is_suppressed(session: Session, digest: bytes) -> bool:
    """Whether the address whose ``suppression_index`` is ``digest`` asked for nothing more."""
    return session.get(MarketingSuppression, digest) is not None


def suppress(session: Session, digest: bytes, now: dt.datetime) -> None:
    """Add an address (by its ``suppression_index``) to the list; already there: nothing."""
    if not is_suppressed(session, digest):
        session.add(MarketingSuppression(address_index=digest, created_at=now))
