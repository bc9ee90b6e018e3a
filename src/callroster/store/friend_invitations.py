"""Tell a Friend in the store (issue 16): invitations queued by a host, taken by the sender
task, and the friend's one-click unsubscribe.

**One invitation per address, ever.** ``address_index`` is the suppression list's keyed hash
of the normalised address (``store/suppressions.py``, blind index kind ``marketing``) and is
unique. An address already invited, or on the suppression list (unsubscribed from Tell a
Friend, or opted out of marketing), is refused with one and the same ``FriendRefusedError``:
the sender cannot tell which.

**Limits.** Invitations per sender and per account in the last 24 hours, counted in the
same transaction that queues (the account's row locked on PostgreSQL, so two at once cannot
both pass a limit only one fits under).

**Personal data.** The address and the message are encrypted under the account's data key
and cleared once the email is sent or given up on. The unsubscribe link's token is kept as
SHA-256 only. Unsubscribing adds ``address_index`` to the suppression list as it is and
deletes the row: the sender, the message and the times go with it. ``sender_id`` is cleared
from rows older than ``SENDER_KEPT``. Audit entries name ``friend_invitation:<id>``, never
the address.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from callroster.accounts.actor import Actor, Role
from callroster.errors import DataKeyDestroyedError
from callroster.store import suppressions
from callroster.store.accounts import authorise
from callroster.store.models import Account, FriendInvitation, User
from callroster.store.repository import Repository, affected

ADDRESS = "friend_invitations.address"  # bound into the ciphertext
MESSAGE = "friend_invitations.message"
TOKEN = "friend_invitations.token"
TOKEN_PREFIX = "crun_"
DAY = dt.timedelta(hours=24)
SENDER_KEPT = dt.timedelta(days=30)
REFUSED = "We can't send an invitation to this address."


class FriendRefusedError(ValueError):
    """The address was invited before or is on the suppression list (which one is never
    said)."""

    def __init__(self) -> None:
        super().__init__(REFUSED)


class FriendLimitError(ValueError):
    """The sender or their account has sent as many invitations as a day allows."""


@dataclass(frozen=True)
class Queued:
    id: str
    token: str  # the unsubscribe link's; goes into the email, never stored


@dataclass(frozen=True)
class DueFriendEmail:
    """A Tell a Friend email the sender is to send now. Never logged."""

    id: str
    account_id: str
    address: str
    message: str
    sender_name: str
    token: str
    attempts: int

    def __repr__(self) -> str:
        return f"DueFriendEmail(id={self.id!r}, attempts={self.attempts})"


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class FriendInvitationRepository(Repository):
    def queue(
        self,
        actor: Actor,
        address: str,
        normalised: str,
        message: str,
        *,
        standard_wording: bool,
        per_sender_per_day: int,
        per_account_per_day: int,
    ) -> Queued:
        """Queue one invitation from ``actor`` (a signed-in person) to ``address``
        (``normalised``: its look-up form).

        Raises:
            FriendLimitError: a daily limit is reached (nothing queued).
            FriendRefusedError: the address was invited before or is suppressed.
        """
        if actor.role not in (Role.HOST, Role.DELEGATE, Role.ADMINISTRATOR):
            raise PermissionError("only an account's people invite friends")
        assert actor.account_id is not None
        account_id, sender_id = actor.account_id, actor.actor_id
        now = self._clock()
        digest = suppressions.suppression_index(self._keys.blind_index(), normalised)
        invitation_id = str(uuid.uuid4())
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        try:
            with self._sessions.begin() as session:
                authorise(actor, account_id)
                session.get(Account, account_id, with_for_update=True)
                since = FriendInvitation.created_at > now - DAY
                by_sender = session.scalar(
                    select(func.count(FriendInvitation.id)).where(
                        FriendInvitation.sender_id == sender_id, since
                    )
                )
                by_account = session.scalar(
                    select(func.count(FriendInvitation.id)).where(
                        FriendInvitation.account_id == account_id, since
                    )
                )
                if int(by_sender or 0) >= per_sender_per_day:
                    raise FriendLimitError(
                        f"You may invite {per_sender_per_day} friends a day; try again tomorrow."
                    )
                if int(by_account or 0) >= per_account_per_day:
                    raise FriendLimitError(
                        f"Your account may invite {per_account_per_day} friends a day; try "
                        "again tomorrow."
                    )
                taken = session.scalar(
                    select(FriendInvitation.id).where(FriendInvitation.address_index == digest)
                )
                if taken is not None or suppressions.is_suppressed(session, digest):
                    self._audit.record(session, actor, "friend_invitation.refused", "-", account_id)
                    refused = True
                else:
                    refused = False
                    cipher = self._keys.cipher(account_id)
                    session.add(
                        FriendInvitation(
                            id=invitation_id,
                            account_id=account_id,
                            sender_id=sender_id,
                            address_index=digest,
                            address_enc=cipher.encrypt(ADDRESS, address),
                            message_enc=cipher.encrypt(MESSAGE, message),
                            token_enc=cipher.encrypt(TOKEN, token),
                            standard_wording=standard_wording,
                            unsubscribe_token_hash=token_hash(token),
                            status="queued",
                            attempts=0,
                            next_attempt_at=now,
                            created_at=now,
                        )
                    )
                    self._audit.record(
                        session,
                        actor,
                        "friend_invitation.queue",
                        f"friend_invitation:{invitation_id}",
                        account_id,
                    )
        except IntegrityError:  # the same address queued by someone else at the same moment
            raise FriendRefusedError() from None
        if refused:
            raise FriendRefusedError()
        return Queued(invitation_id, token)

    # -- the sender task -------------------------------------------------------------------
    def take_due(
        self, actor: Actor, *, lease: dt.timedelta, most: int = 50
    ) -> list[DueFriendEmail]:
        """The invitations due now, each put off by ``lease`` (a sender that dies meanwhile
        leaves them to be taken again). One whose account's key is gone is given up on."""
        now = self._clock()
        due: list[DueFriendEmail] = []
        with self._sessions.begin() as session:
            rows = list(
                session.scalars(
                    select(FriendInvitation)
                    .where(FriendInvitation.next_attempt_at <= now)
                    .order_by(FriendInvitation.next_attempt_at, FriendInvitation.id)
                    .limit(most)
                    .with_for_update(skip_locked=True)
                )
            )
            for row in rows:
                authorise(actor, row.account_id)
                try:
                    cipher = self._keys.cipher(row.account_id)
                    assert row.address_enc is not None and row.message_enc is not None
                    address = cipher.decrypt(ADDRESS, row.address_enc)
                    message = cipher.decrypt(MESSAGE, row.message_enc)
                    sender = session.get(User, row.sender_id) if row.sender_id else None
                    name = cipher.decrypt("users.name", sender.name_enc) if sender else ""
                    assert row.token_enc is not None
                    token = cipher.decrypt(TOKEN, row.token_enc)
                except DataKeyDestroyedError:
                    self._give_up(row, "the account was closed")
                    continue
                row.next_attempt_at = now + lease
                self._audit.record(
                    session,
                    actor,
                    "friend_invitation.send",
                    f"friend_invitation:{row.id}",
                    row.account_id,
                )
                due.append(
                    DueFriendEmail(
                        row.id, row.account_id, address, message, name, token, row.attempts
                    )
                )
        return due

    def mark_sent(self, actor: Actor, invitation_id: str) -> None:
        """Sent: the address and message are no longer needed, and are cleared."""
        with self._sessions.begin() as session:
            row = session.get(FriendInvitation, invitation_id)
            if row is None:
                return
            authorise(actor, row.account_id)
            row.status, row.attempts = "sent", row.attempts + 1
            row.sent_at, row.next_attempt_at, row.last_error = self._clock(), None, None
            row.address_enc = row.message_enc = row.token_enc = None
            self._audit.record(
                session,
                actor,
                "friend_invitation.sent",
                f"friend_invitation:{row.id}",
                row.account_id,
            )

    def mark_failed(
        self, actor: Actor, invitation_id: str, reason: str, retry_at: dt.datetime | None
    ) -> None:
        """An attempt failed: retried at ``retry_at``, or given up on (None; the address
        and message are cleared then)."""
        with self._sessions.begin() as session:
            row = session.get(FriendInvitation, invitation_id)
            if row is None:
                return
            authorise(actor, row.account_id)
            row.attempts += 1
            if retry_at is None:
                self._give_up(row, reason)
            else:
                row.status, row.next_attempt_at, row.last_error = "retrying", retry_at, reason[:200]

    @staticmethod
    def _give_up(row: FriendInvitation, reason: str) -> None:
        row.status, row.next_attempt_at, row.last_error = "failed", None, reason[:200]
        row.address_enc = row.message_enc = row.token_enc = None

    def forget_senders(self) -> int:
        """Clear who sent invitations older than ``SENDER_KEPT``; returns how many."""
        with self._sessions.begin() as session:
            return affected(
                session,
                update(FriendInvitation)
                .where(
                    FriendInvitation.sender_id.is_not(None),
                    FriendInvitation.created_at < self._clock() - SENDER_KEPT,
                )
                .values(sender_id=None),
            )

    # -- the friend ------------------------------------------------------------------------
    def unsubscribe(self, token: str, *, source: str, reason: str) -> None:
        """The friend's one-click unsubscribe: the address's keyed hash goes onto the
        suppression list and the invitation is deleted. An unknown or used token does
        nothing, and says nothing either."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 80:
            return
        with self._sessions.begin() as session:
            row = session.scalar(
                select(FriendInvitation)
                .where(FriendInvitation.unsubscribe_token_hash == token_hash(token))
                .with_for_update()
            )
            if row is None:
                return
            suppressions.suppress(session, row.address_index, self._clock())
            actor = Actor(f"friend_invitation:{row.id}", Role.GUEST, None, source, reason)
            self._audit.record(
                session,
                actor,
                "friend_invitation.unsubscribe",
                f"friend_invitation:{row.id}",
                row.account_id,
            )
            session.delete(row)
