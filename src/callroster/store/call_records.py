"""Call detail records (CDRs): one per outbound call attempt, answered or not.

The number called is personal data: it is stored encrypted under the account's data key with
its blind index beside it, exactly as a leg's number, and decrypted only for an actor allowed
to read the account's call history, with an audit entry. A record is kept six months from the
end of the call, purged on a monthly cycle (``privacy/retention.py``); a record past its time
is hidden from ``for_account`` at once, before the purge (``store/purge.py``) removes it.

A record's life: ``start`` (outcome None), then perhaps ``answered``, then ``finish`` with an
outcome. ``finish`` works out the billable duration from the answer time.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from callroster.accounts.actor import Actor, Role, system
from callroster.errors import NotFoundError
from callroster.privacy import normalise
from callroster.store.accounts import authorise
from callroster.store.errors import AccessDeniedError
from callroster.store.models import CallRecord
from callroster.store.repository import CALL_NUMBER, Repository
from callroster.store.retention import RetentionRules, call_record_kept

OUTBOUND = "outbound"
OUTCOMES = ("answered", "busy", "no_answer", "declined", "failed", "cancelled")
GUEST_REQUESTER = "guest"
# Who may read an account's whole call history: its administrators, and platform staff.
HISTORY_ROLES = (Role.OPERATOR, Role.SYSTEM, Role.ADMINISTRATOR)


@dataclass(frozen=True)
class CallRecordView:
    """A call detail record with its number decrypted (E.164)."""

    id: str
    account_id: str
    conference_id: str | None
    leg_id: str
    direction: str
    number: str
    trunk_id: str | None
    requested_by: str
    started_at: dt.datetime
    answered_at: dt.datetime | None
    ended_at: dt.datetime | None
    outcome: str | None
    sip_status: int | None
    duration_s: int | None


def duration_seconds(answered_at: dt.datetime, ended_at: dt.datetime) -> int:
    """Whole seconds from answer to end, rounded up as carriers bill (0.2 s is 1 s)."""
    return math.ceil((ended_at - answered_at).total_seconds())


class CallRecordRepository(Repository):
    retention = RetentionRules()  # open_store sets the configured policy

    def start(
        self,
        account_id: str,
        conference_id: str | None,
        leg_id: str,
        number: str,
        trunk_id: str | None,
        requested_by: str,
        started_at: dt.datetime,
        *,
        number_region: str = "GB",
        actor: Actor | None = None,
    ) -> str:
        """Record an outbound attempt as it starts; returns the record's id.

        Args:
            account_id: the account the call is made for (its key encrypts the number).
            conference_id: the conference the callee joins; None for click-to-call.
            leg_id: the bridge's id of the leg being placed.
            number: the number called, E.164 or national in ``number_region``.
            trunk_id: the trunk the call leaves through, if one was chosen.
            requested_by: the user id that asked for the call, or ``"guest"``.
            started_at: when the attempt began (timezone-aware).
            actor: who writes the record; the bridge (system) by default.

        Raises:
            ValueError: the number is not a phone number, or ``requested_by`` is empty.
            AccessDeniedError: ``actor`` may not write this account's data.
            DataKeyDestroyedError: the account's data was shredded.
        """
        actor = actor or system("call detail record")
        authorise(actor, account_id)
        if not requested_by or len(requested_by) > 36:
            raise ValueError("requested_by is a user id or 'guest'")
        e164 = normalise.phone_e164(number, number_region)
        index = self._keys.blind_index()
        cipher = self._keys.cipher(account_id)
        number_enc, number_index = CALL_NUMBER.seal(cipher, index, e164)
        record_id = str(uuid.uuid4())
        with self._sessions.begin() as session:
            session.add(
                CallRecord(
                    id=record_id,
                    account_id=account_id,
                    conference_id=conference_id,
                    leg_id=leg_id,
                    direction=OUTBOUND,
                    number_enc=number_enc,
                    number_index=number_index,
                    trunk_id=trunk_id,
                    requested_by=requested_by,
                    started_at=started_at,
                )
            )
            session.flush()
            self._audit.record(
                session, actor, "call_record.start", f"call_record:{record_id}", account_id
            )
        return record_id

    def answered(self, record_id: str, at: dt.datetime, *, actor: Actor | None = None) -> None:
        """Note that the callee answered.

        Raises:
            NotFoundError: no such record.
            ValueError: the record was already answered or finished, or ``at`` is before
                its start.
        """
        actor = actor or system("call detail record")
        with self._sessions.begin() as session:
            row = self._row(session, actor, record_id)
            if row.outcome is not None:
                raise ValueError(f"call record {record_id} is already finished")
            if row.answered_at is not None:
                raise ValueError(f"call record {record_id} was already answered")
            if at < row.started_at:
                raise ValueError("a call cannot be answered before it started")
            row.answered_at = at
            self._audit.record(
                session, actor, "call_record.answered", f"call_record:{record_id}", row.account_id
            )

    def finish(
        self,
        record_id: str,
        outcome: str,
        sip_status: int | None,
        ended_at: dt.datetime,
        *,
        actor: Actor | None = None,
    ) -> None:
        """Close a record with its outcome; an answered call gets its duration.

        Args:
            record_id: the record ``start`` returned.
            outcome: one of ``OUTCOMES``. ``answered`` needs an earlier ``answered``.
            sip_status: the final SIP status (200, 486, 603...), None if none came.
            ended_at: when the call ended or the attempt was given up.
            actor: who writes; the bridge (system) by default.

        Raises:
            NotFoundError: no such record.
            ValueError: an unknown outcome or status, a record already finished, an end
                before the start or the answer, or ``answered`` for an unanswered call.
        """
        actor = actor or system("call detail record")
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome {outcome!r} is not one of {', '.join(OUTCOMES)}")
        if sip_status is not None and not 100 <= sip_status <= 699:
            raise ValueError(f"SIP status {sip_status} is not between 100 and 699")
        with self._sessions.begin() as session:
            row = self._row(session, actor, record_id)
            if row.outcome is not None:
                raise ValueError(f"call record {record_id} is already finished")
            if outcome == "answered" and row.answered_at is None:
                raise ValueError("a call that was never answered cannot finish as answered")
            if ended_at < (row.answered_at or row.started_at):
                raise ValueError("a call cannot end before it started or was answered")
            row.outcome = outcome
            row.sip_status = sip_status
            row.ended_at = ended_at
            row.duration_s = (
                duration_seconds(row.answered_at, ended_at) if row.answered_at is not None else 0
            )
            self._audit.record(
                session, actor, "call_record.finish", f"call_record:{record_id}", row.account_id
            )

    def for_account(self, actor: Actor, account_id: str) -> list[CallRecordView]:
        """The account's call records still in their time (or held), oldest first, with
        numbers decrypted.

        Only the account's administrators, operators and the system may read the whole
        history; the read is audit-logged against the account.

        Raises:
            AccessDeniedError: any other actor.
            DataKeyDestroyedError: the account's data was shredded.
        """
        if actor.role not in HISTORY_ROLES:
            raise AccessDeniedError(
                f"{actor.label} may not read account {account_id}'s call history"
            )
        authorise(actor, account_id)
        with self._sessions.begin() as session:
            scope = self.retention.scope(session, account_id, self._clock())
            rows = list(
                session.scalars(
                    select(CallRecord)
                    .where(CallRecord.account_id == account_id, call_record_kept(scope))
                    .order_by(CallRecord.started_at, CallRecord.id)
                )
            )
            self._audit.record(
                session, actor, "call_records.read", f"account:{account_id}", account_id
            )
            if not rows:
                return []
            cipher = self._keys.cipher(account_id)
            return [
                CallRecordView(
                    id=r.id,
                    account_id=r.account_id,
                    conference_id=r.conference_id,
                    leg_id=r.leg_id,
                    direction=r.direction,
                    number=CALL_NUMBER.open(cipher, r.number_enc),
                    trunk_id=r.trunk_id,
                    requested_by=r.requested_by,
                    started_at=r.started_at,
                    answered_at=r.answered_at,
                    ended_at=r.ended_at,
                    outcome=r.outcome,
                    sip_status=r.sip_status,
                    duration_s=r.duration_s,
                )
                for r in rows
            ]

    @staticmethod
    def _row(session: Session, actor: Actor, record_id: str) -> CallRecord:
        row = session.get(CallRecord, record_id)
        if row is None:
            raise NotFoundError(f"no call record {record_id}")
        authorise(actor, row.account_id)
        return row
