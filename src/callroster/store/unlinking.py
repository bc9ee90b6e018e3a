"""What a crypto-shred or an erasure does besides destroying ciphertext: it ends the
credentials that would still open the account, and it removes the blind indexes that would
still link rows to a person.

A blind index is an HMAC under the *platform* key, which a shred does not destroy: after
``destroy_account_key`` a number's index would still say "this number called this account".
So a shred nulls (or, where the column may not be empty, overwrites with a value no HMAC
gives) every index of the account's rows, and an erasure does the same for the person's rows.

All functions work inside the caller's transaction and return how many rows they changed.
"""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from callroster.store.models import (
    ApiToken,
    CallRecord,
    Conference,
    Contact,
    Leg,
    PinPrefix,
    SetupLink,
    SignInSession,
    User,
)
from callroster.store.repository import affected

# Stands in a NOT NULL blind-index column whose value must never match again: an HMAC-SHA256
# is all but never 32 zero bytes, and every look-up computes an HMAC.
NO_INDEX = bytes(32)


def end_credentials_in(session: Session, account_id: str, at: dt.datetime) -> dict[str, int]:
    """Every credential of the account stops working, whatever its status says later: API
    tokens revoked, browser sessions ended, set-up links spent, and the conferences' PINs and
    web links no longer found (their indexes replaced by random values, their PIN prefixes
    deleted)."""
    counts = {
        "api_tokens": affected(
            session,
            update(ApiToken)
            .where(ApiToken.account_id == account_id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=at),
        ),
        "sessions": affected(
            session, delete(SignInSession).where(SignInSession.account_id == account_id)
        ),
        "setup_links": affected(
            session,
            update(SetupLink)
            .where(SetupLink.account_id == account_id, SetupLink.used_at.is_(None))
            .values(used_at=at),
        ),
    }
    conference_ids = list(
        session.scalars(select(Conference.id).where(Conference.account_id == account_id))
    )
    for conference_id in conference_ids:
        # Random, not fixed: the columns are unique. A PIN is never found by a random index.
        session.execute(
            update(Conference)
            .where(Conference.id == conference_id)
            .values(
                pin_index=secrets.token_bytes(32),
                host_pin_index=None,
                web_link_index=secrets.token_bytes(32),
            )
        )
    counts["conferences"] = len(conference_ids)
    if conference_ids:
        counts["pin_prefixes"] = affected(
            session, delete(PinPrefix).where(PinPrefix.conference_id.in_(conference_ids))
        )
    return counts


def drop_indexes_of_account_in(session: Session, account_id: str) -> dict[str, int]:
    """Remove every blind index of a shredded account's personal data (emails, numbers)."""
    return {
        "users": affected(
            session,
            update(User)
            .where(User.account_id == account_id)
            .values(email_index=None, phone_index=None),
        ),
        "contacts": affected(
            session,
            update(Contact)
            .where(Contact.account_id == account_id)
            .values(email_index=None, phone_index=None),
        ),
        "legs": affected(
            session,
            update(Leg).where(Leg.account_id == account_id).values(number_index=None),
        ),
        "call_records": affected(
            session,
            update(CallRecord)
            .where(CallRecord.account_id == account_id)
            .values(number_index=NO_INDEX),
        ),
    }


def conferences_of_accounts(
    sessions: sessionmaker[Session], conference_ids: list[str], account_ids: tuple[str, ...]
) -> set[str]:
    """Which of ``conference_ids`` belong to one of ``account_ids`` (a bridge dropping the
    calls of shredded accounts asks)."""
    if not conference_ids or not account_ids:
        return set()
    with sessions() as session:
        return set(
            session.scalars(
                select(Conference.id).where(
                    Conference.id.in_(conference_ids), Conference.account_id.in_(account_ids)
                )
            )
        )
