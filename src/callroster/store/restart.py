"""What a crash leaves open, and how the next start closes it.

Each node (a ``callroster serve`` process, named by the ``node_name`` setting) writes a
heartbeat (:meth:`RestartRepository.beat`) every few seconds, and an ``open_legs`` row for
every leg or dialled call in progress on it (:meth:`~RestartRepository.leg_opened`), with a
phone's dialog encrypted beside it once it is on the conference
(:meth:`~RestartRepository.dialog_opened`); the row goes once the call has ended and its
records are closed (:meth:`~RestartRepository.leg_closed`).

A node killed with calls up (``kill -9``, a crash, the power) leaves its legs ``connected``
with no end, its call detail records with no outcome, and its rows. On its next start,
before taking calls, :meth:`~RestartRepository.recover` closes them: every leg and record
of the node's rows still open ends at the node's last heartbeat (never before it began),
with reason ``service_restart``, and the dialogs are handed back, decrypted, for the bridge
to send each a BYE (sip/snapshot.py). Each step is audit-logged against its account. Other
nodes sharing the database are left alone: their legs are theirs to close.

Limit: a leg whose row was not yet written when the process died (its write queued behind
the leg's own, milliseconds) is not closed.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from sqlalchemy import delete, select

from callroster.accounts.actor import Actor, system
from callroster.errors import DataKeyDestroyedError
from callroster.store.call_records import duration_seconds
from callroster.store.models import CallRecord, Leg, OpenLeg, ServiceHeartbeat
from callroster.store.repository import Repository

log = logging.getLogger(__name__)

RESTART_REASON = "service_restart"  # legs.end_reason and call_records.outcome
DIALOG_FIELD = "open_legs.dialog"  # bound into the ciphertext with the account id


@dataclass(frozen=True)
class OrphanDialog:
    """A dialog a dead process left open, decrypted: its snapshot as JSON
    (:class:`~callroster.sip.snapshot.DialogSnapshot`)."""

    leg_id: str
    account_id: str
    snapshot: str


@dataclass(frozen=True)
class Recovery:
    """What a start closed: when the node's process before it was last known alive (None:
    never a heartbeat), how many legs and records it ended, and the dialogs to send BYE."""

    last_alive: dt.datetime | None
    legs_closed: int = 0
    records_closed: int = 0
    dialogs: tuple[OrphanDialog, ...] = field(default=())


class RestartRepository(Repository):
    def beat(self, node: str) -> dt.datetime:
        """``node`` is alive now: one row, rewritten. Returns the time written."""
        now = self._clock()
        with self._sessions.begin() as session:
            row = session.get(ServiceHeartbeat, node)
            if row is None:
                session.add(ServiceHeartbeat(node=node, beat_at=now, started_at=now))
            else:
                row.beat_at = now
        return now

    def last_alive(self, node: str) -> dt.datetime | None:
        with self._sessions.begin() as session:
            row = session.get(ServiceHeartbeat, node)
            return row.beat_at if row is not None else None

    def leg_opened(self, leg_id: str, node: str, account_id: str | None = None) -> None:
        """A leg, or a call the bridge dials, is in progress on ``node``. ``account_id``
        None: the leg's row is written, and says it (a leg with no row is not recorded)."""
        with self._sessions.begin() as session:
            if session.get(OpenLeg, leg_id) is not None:
                return
            if account_id is None:
                leg = session.get(Leg, leg_id)
                if leg is None:
                    return
                account_id = leg.account_id
            session.add(
                OpenLeg(leg_id=leg_id, node=node, account_id=account_id, opened_at=self._clock())
            )

    def dialog_opened(
        self,
        leg_id: str,
        node: str,
        account_id: str,
        snapshot: str,
        *,
        actor: Actor | None = None,
    ) -> None:
        """Keep a phone's dialog (encrypted under the account's data key) until it ends.

        Raises:
            DataKeyDestroyedError: the account was shredded.
        """
        actor = actor or system("conference bridge")
        dialog_enc = self._keys.cipher(account_id).encrypt(DIALOG_FIELD, snapshot)
        with self._sessions.begin() as session:
            row = session.get(OpenLeg, leg_id)
            if row is None:
                row = OpenLeg(leg_id=leg_id, node=node, account_id=account_id)
                row.opened_at = self._clock()
                session.add(row)
            row.dialog_enc = dialog_enc
            self._audit.record(session, actor, "dialog.open", f"leg:{leg_id}", account_id)

    def leg_closed(self, leg_id: str) -> None:
        """The call has ended and its records are closed: its row goes (and with it the
        dialog; nothing is read, nothing logged)."""
        with self._sessions.begin() as session:
            session.execute(delete(OpenLeg).where(OpenLeg.leg_id == leg_id))

    def recover(self, node: str, *, actor: Actor | None = None) -> Recovery:
        """Close what ``node``'s process that died left open (see the module's docstring);
        one transaction. Call before the node takes calls: its own new legs would be closed
        too."""
        actor = actor or system("restart recovery")
        with self._sessions.begin() as session:
            beat = session.get(ServiceHeartbeat, node)
            last_alive = beat.beat_at if beat is not None else None
            rows = list(
                session.scalars(
                    select(OpenLeg).where(OpenLeg.node == node).order_by(OpenLeg.opened_at)
                )
            )
            leg_ids = [row.leg_id for row in rows]
            legs = list(
                session.scalars(select(Leg).where(Leg.id.in_(leg_ids), Leg.left_at.is_(None)))
            )
            for leg in legs:
                leg.left_at = _ended(last_alive, leg.joined_at)
                leg.status = "left"
                leg.end_reason = RESTART_REASON
                self._audit.record(
                    session, actor, f"leg.{RESTART_REASON}", f"leg:{leg.id}", leg.account_id
                )
            records = list(
                session.scalars(
                    select(CallRecord).where(
                        CallRecord.leg_id.in_(leg_ids), CallRecord.outcome.is_(None)
                    )
                )
            )
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
            for row in rows:
                if row.dialog_enc is None:
                    continue
                try:
                    text = self._keys.cipher(row.account_id).decrypt(DIALOG_FIELD, row.dialog_enc)
                except DataKeyDestroyedError:
                    continue  # shredded meanwhile: nothing to read, nobody to call
                dialogs.append(OrphanDialog(row.leg_id, row.account_id, text))
                self._audit.record(
                    session, actor, "dialog.recover", f"leg:{row.leg_id}", row.account_id
                )
            session.execute(delete(OpenLeg).where(OpenLeg.node == node))
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
