"""The invitations' outbox: one row per address an invitation is emailed to.

Queued whole or not at all (the daily cap is checked in the same transaction), taken by
the sender task when due, then marked sent, retrying (with the next attempt's time) or
failed (with the reason). The addresses are encrypted under the account's data key: each
read of them (the host's status list, the sender taking a row) is audit-logged by ids and
counts, never an address.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, func, select

from callroster.accounts.actor import Actor
from callroster.errors import DataKeyDestroyedError, NotFoundError
from callroster.store.accounts import authorise
from callroster.store.models import Conference, InvitationEmail, User
from callroster.store.repository import Repository, affected

RECIPIENT = "invitation_emails.recipient"  # bound into the ciphertext
KEPT_FOR = dt.timedelta(days=30)
DAY = dt.timedelta(hours=24)


class InvitationCapError(ValueError):
    """The host's invitations in the last 24 hours would pass the daily cap."""


@dataclass(frozen=True)
class OutboxEntry:
    """One address's invitation, as its sender sees it."""

    id: str
    address: str
    status: str  # queued | retrying | sent | failed
    attempts: int
    last_error: str | None
    next_attempt_at: dt.datetime | None
    created_at: dt.datetime
    sent_at: dt.datetime | None


@dataclass(frozen=True)
class DueEmail:
    """An invitation the sender is to send now."""

    id: str
    account_id: str
    conference_id: str
    address: str
    attempts: int
    event_start: dt.datetime
    event_minutes: int


class InvitationRepository(Repository):
    def queue(
        self,
        actor: Actor,
        conference_id: str,
        addresses: list[str],
        *,
        event_start: dt.datetime,
        event_minutes: int,
        per_host_per_day: int,
    ) -> str:
        """Queue one email per address; returns the sending's id (its batch).

        Raises:
            InvitationCapError: the conference's host would pass ``per_host_per_day`` in
                the last 24 hours (nothing is queued).
        """
        now = self._clock()
        with self._sessions.begin() as session:
            conference = session.get(Conference, conference_id)
            if conference is None:
                raise NotFoundError(f"no conference {conference_id}")
            authorise(actor, conference.account_id)
            # One list of a host's at a time (PostgreSQL: the host's row locked until commit;
            # SQLite's writers take turns anyway), so two lists sent at once cannot both fit
            # under the cap that only one of them fits under.
            session.get(User, conference.host_id, with_for_update=True)
            sent_today = session.scalar(
                select(func.count(InvitationEmail.id)).where(
                    InvitationEmail.host_id == conference.host_id,
                    InvitationEmail.created_at > now - DAY,
                )
            )
            left = max(per_host_per_day - int(sent_today or 0), 0)
            if len(addresses) > left:
                raise InvitationCapError(
                    f"A host's conferences may send {per_host_per_day} invitations a day; "
                    f"{left} are left for the next 24 hours and this list has "
                    f"{len(addresses)}. Nothing was sent."
                )
            cipher = self._keys.cipher(conference.account_id)
            batch_id = str(uuid.uuid4())
            for address in addresses:
                session.add(
                    InvitationEmail(
                        id=str(uuid.uuid4()),
                        account_id=conference.account_id,
                        conference_id=conference_id,
                        host_id=conference.host_id,
                        requested_by=actor.label[:80],
                        batch_id=batch_id,
                        recipient_enc=cipher.encrypt(RECIPIENT, address),
                        event_start=event_start,
                        event_minutes=event_minutes,
                        status="queued",
                        attempts=0,
                        next_attempt_at=now,
                        created_at=now,
                    )
                )
            self._audit.record(
                session,
                actor,
                "invitation.queue",
                f"conference:{conference_id} batch:{batch_id[:8]} to:{len(addresses)}",
                conference.account_id,
            )
            return batch_id

    def outbox(self, actor: Actor, conference_id: str, *, limit: int = 100) -> list[OutboxEntry]:
        """The conference's invitations of the last 30 days, newest first."""
        with self._sessions.begin() as session:
            conference = session.get(Conference, conference_id)
            if conference is None:
                raise NotFoundError(f"no conference {conference_id}")
            authorise(actor, conference.account_id)
            rows = list(
                session.scalars(
                    select(InvitationEmail)
                    .where(InvitationEmail.conference_id == conference_id)
                    .order_by(InvitationEmail.created_at.desc(), InvitationEmail.id)
                    .limit(limit)
                )
            )
            self._audit.record(
                session,
                actor,
                "invitation.outbox.read",
                f"conference:{conference_id} rows:{len(rows)}",
                conference.account_id,
            )
            cipher = self._keys.cipher(conference.account_id)
            return [
                OutboxEntry(
                    id=r.id,
                    address=cipher.decrypt(RECIPIENT, r.recipient_enc),
                    status=r.status,
                    attempts=r.attempts,
                    last_error=r.last_error,
                    next_attempt_at=r.next_attempt_at,
                    created_at=r.created_at,
                    sent_at=r.sent_at,
                )
                for r in rows
            ]

    def take_due(self, actor: Actor, *, lease: dt.timedelta, most: int = 50) -> list[DueEmail]:
        """The invitations due now (oldest first), each put off by ``lease`` so that a
        sender that dies while sending retries them then. A row whose account's key was
        destroyed (shredded) is given up on."""
        now = self._clock()
        due: list[DueEmail] = []
        with self._sessions.begin() as session:
            rows = list(
                session.scalars(
                    select(InvitationEmail)
                    .where(InvitationEmail.next_attempt_at <= now)
                    .order_by(InvitationEmail.next_attempt_at, InvitationEmail.id)
                    .limit(most)
                    # Several nodes on one PostgreSQL: each takes rows no other is taking.
                    .with_for_update(skip_locked=True)
                )
            )
            for row in rows:
                authorise(actor, row.account_id)
                try:
                    address = self._keys.cipher(row.account_id).decrypt(
                        RECIPIENT, row.recipient_enc
                    )
                except DataKeyDestroyedError:
                    row.status, row.next_attempt_at = "failed", None
                    row.last_error = "the account was closed"
                    continue
                row.next_attempt_at = now + lease
                self._audit.record(
                    session, actor, "invitation.send", f"invitation:{row.id}", row.account_id
                )
                due.append(
                    DueEmail(
                        id=row.id,
                        account_id=row.account_id,
                        conference_id=row.conference_id,
                        address=address,
                        attempts=row.attempts,
                        event_start=row.event_start,
                        event_minutes=row.event_minutes,
                    )
                )
        return due

    def mark_sent(self, actor: Actor, invitation_id: str) -> None:
        with self._sessions.begin() as session:
            row = session.get(InvitationEmail, invitation_id)
            if row is None:  # its conference was deleted meanwhile
                return
            authorise(actor, row.account_id)
            row.status, row.attempts = "sent", row.attempts + 1
            row.sent_at, row.next_attempt_at, row.last_error = self._clock(), None, None

    def mark_failed(
        self, actor: Actor, invitation_id: str, reason: str, retry_at: dt.datetime | None
    ) -> None:
        """An attempt failed: retried at ``retry_at``, or given up on (None)."""
        with self._sessions.begin() as session:
            row = session.get(InvitationEmail, invitation_id)
            if row is None:  # its conference was deleted meanwhile
                return
            authorise(actor, row.account_id)
            row.attempts += 1
            row.status = "retrying" if retry_at is not None else "failed"
            row.next_attempt_at, row.last_error = retry_at, reason[:200]

    def purge(self) -> int:
        """Delete invitations queued more than 30 days ago; returns how many."""
        with self._sessions.begin() as session:
            return affected(
                session,
                delete(InvitationEmail).where(
                    InvitationEmail.created_at < self._clock() - KEPT_FOR
                ),
            )
