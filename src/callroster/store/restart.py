"""What a crash leaves open, and how the next start closes it.

The service writes a heartbeat (:meth:`RestartRepository.beat`) every few seconds, and each
call on a conference as an encrypted dialog (:meth:`~RestartRepository.open_dialog`, removed
when the call ends). A process killed with calls up (``kill -9``, a crash, the power) leaves
legs ``connected`` with no end, call detail records with no outcome, and dialog rows. On its
next start, before taking calls, the service calls :meth:`~RestartRepository.recover`: every
leg and record still open ends at the last heartbeat (never before it began), with reason
``service_restart``, and the dialogs are handed back, decrypted, for the bridge to send each a
BYE (sip/snapshot.py). Each step is audit-logged against its account.

Limit: one bridge per store. Everything open in the store is taken as this node's.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from sqlalchemy import delete, select

from callroster.accounts.actor import Actor, system
from callroster.errors import DataKeyDestroyedError
from callroster.store.call_records import duration_seconds
from callroster.store.models import CallRecord, Leg, OpenDialog, ServiceHeartbeat
from callroster.store.repository import Repository

log = logging.getLogger(__name__)

RESTART_REASON = "service_restart"  # legs.end_reason and call_records.outcome
DIALOG_FIELD = "open_dialogs.dialog"  # bound into the ciphertext with the account id
NODE = "bridge"  # the one bridge of this store (see the limit above)


@dataclass(frozen=True)
class OrphanDialog:
    """A dialog a dead process left open, decrypted: its snapshot as JSON
    (:class:`~callroster.sip.snapshot.DialogSnapshot`)."""

    leg_id: str
    account_id: str
    snapshot: str


@dataclass(frozen=True)
class Recovery:
    """What a start closed: when the process before it was last known alive (None: never a
    heartbeat), how many legs and records it ended, and the dialogs to send BYE."""

    last_alive: dt.datetime | None
    legs_closed: int = 0
    records_closed: int = 0
    dialogs: tuple[OrphanDialog, ...] = field(default=())


class RestartRepository(Repository):
    def beat(self) -> dt.datetime:
        """The service is alive now: one row, rewritten. Returns the time written."""
        now = self._clock()
        with self._sessions.begin() as session:
            row = session.get(ServiceHeartbeat, NODE)
            if row is None:
                session.add(ServiceHeartbeat(node=NODE, beat_at=now, started_at=now))
            else:
                row.beat_at = now
        return now

    def last_alive(self) -> dt.datetime | None:
        with self._sessions.begin() as session:
            row = session.get(ServiceHeartbeat, NODE)
            return row.beat_at if row is not None else None

    def open_dialog(
        self, leg_id: str, account_id: str, snapshot: str, *, actor: Actor | None = None
    ) -> None:
        """Keep a call's dialog (encrypted under the account's data key) until it ends.

        Raises:
            DataKeyDestroyedError: the account was shredded.
        """
        actor = actor or system("conference bridge")
        cipher = self._keys.cipher(account_id)
        with self._sessions.begin() as session:
            session.merge(
                OpenDialog(
                    leg_id=leg_id,
                    account_id=account_id,
                    dialog_enc=cipher.encrypt(DIALOG_FIELD, snapshot),
                    opened_at=self._clock(),
                )
            )
            self._audit.record(session, actor, "dialog.open", f"leg:{leg_id}", account_id)

    def close_dialog(self, leg_id: str) -> None:
        """The call ended: its dialog is forgotten (nothing is read, nothing logged)."""
        with self._sessions.begin() as session:
            session.execute(delete(OpenDialog).where(OpenDialog.leg_id == leg_id))

    def recover(self, *, actor: Actor | None = None) -> Recovery:
        """Close what a process that died left open (see the module's docstring); one
        transaction. Call before the bridge takes calls: a leg of this process would be
        closed too."""
        actor = actor or system("restart recovery")
        with self._sessions.begin() as session:
            beat = session.get(ServiceHeartbeat, NODE)
            last_alive = beat.beat_at if beat is not None else None
            legs = list(session.scalars(select(Leg).where(Leg.left_at.is_(None))))
            for leg in legs:
                leg.left_at = _ended(last_alive, leg.joined_at)
                leg.status = "left"
                leg.end_reason = RESTART_REASON
                self._audit.record(
                    session, actor, f"leg.{RESTART_REASON}", f"leg:{leg.id}", leg.account_id
                )
            records = list(session.scalars(select(CallRecord).where(CallRecord.outcome.is_(None))))
            for record in records:
                ended = _ended(last_alive, record.answered_at or record.started_at)
                record.ended_at = ended
                record.outcome = RESTART_REASON
                record.duration_s = (
                    duration_seconds(record.answered_at, ended) if record.answered_at else 0
                )
                self._audit.record(
                    session,
                    actor,
                    f"call_record.{RESTART_REASON}",
                    f"call_record:{record.id}",
                    record.account_id,
                )
            dialogs: list[OrphanDialog] = []
            for row in session.scalars(select(OpenDialog).order_by(OpenDialog.opened_at)):
                try:
                    text = self._keys.cipher(row.account_id).decrypt(DIALOG_FIELD, row.dialog_enc)
                except DataKeyDestroyedError:
                    continue  # shredded meanwhile: nothing to read, nobody to call
                dialogs.append(OrphanDialog(row.leg_id, row.account_id, text))
                self._audit.record(
                    session, actor, "dialog.recover", f"leg:{row.leg_id}", row.account_id
                )
            session.execute(delete(OpenDialog))
        if legs or records or dialogs:
            log.warning(
                "restart: closed %d legs and %d call records left open at %s; %d calls to end",
                len(legs),
                len(records),
                last_alive.isoformat() if last_alive else "an unknown time",
                len(dialogs),
            )
        return Recovery(last_alive, len(legs), len(records), tuple(dialogs))


def _ended(last_alive: dt.datetime | None, began: dt.datetime) -> dt.datetime:
    """The last moment known alive, but never before the thing began (a leg that joined
    after the last heartbeat ends when it began; with no heartbeat at all, likewise)."""
    if last_alive is None:
        return began
    return max(last_alive, began)
