"""The retention purge: deletes what ``store/retention.py`` already hides, in small batches.

How it stays safe:

- **Bounded batches, short transactions.** Each batch selects at most ``batch_rows`` ids past
  their time and deletes them in a transaction of its own, with its audit entry; no lock is
  held between batches (SQLite's write lock, PostgreSQL's row locks), so the bridge's store
  writer and the web are never kept waiting longer than one batch. It runs in a thread
  (``serve`` starts it on ``retention_interval_seconds``; ``callroster retention run``).
- **Idempotent and resumable without a checkpoint.** A batch is chosen by the same condition
  the read paths hide by, recomputed with the run's ``now`` and the account's current legal
  holds for every batch; a batch that dies before its commit is rolled back whole, and the
  next run simply finds what is still past its time. Running twice deletes nothing more.
- **Polite.** After each batch it sleeps ``pause_s`` (``retention_batch_pause_ms``) so that
  the event loop sharing its process gets the GIL back promptly.
- **Report without personal data.** Counts per class and table, batches, accounts, seconds:
  logged as one JSON line (``retention.purge``) and printed by the CLI.

Consent records (class ``consent``, issue 16) belong to no account: after the accounts, the
records ``consent_proof_days`` past the end of their consent go, in the same batches.

Account data (12 months after termination): the account's legs and call records go with
the classes above (an expired account keeps none); then its contacts, invitation emails, CRM
webhook, sessions, tokens, set-up links, delegations and recovery codes, the users' blind
indexes and password hashes; last its data key is destroyed, so every ciphertext left (the
users' and conferences' rows that other rows and the audit log point at) is unreadable. Audit
entries stay: they hold ids and actions (and the request's source address; see
docs/architecture.md).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

from callroster.accounts.actor import system
from callroster.privacy.retention_classes import RetentionClass
from callroster.store.audit import AuditLog
from callroster.store.keys import KeyStore
from callroster.store.models import (
    Account,
    AccountKey,
    ApiToken,
    CallRecord,
    ConsentRecord,
    Contact,
    CrmWebhook,
    Delegation,
    InvitationEmail,
    Leg,
    RecoveryCode,
    SetupLink,
    SignInSession,
    User,
)
from callroster.store.retention import (
    RetentionRules,
    Scope,
    call_record_expired,
    consent_record_expired,
    leg_expired,
)

log = logging.getLogger("callroster.retention")

# Called inside each batch's transaction after its delete, with the run's batch number: a
# test raises here to kill the purge mid-batch.
FaultHook = Callable[[int], None]


@dataclass
class PurgeReport:
    """What one run removed (or, in a dry run, would remove): counts only."""

    dry_run: bool
    now: dt.datetime
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    batches: int = 0
    accounts: int = 0
    accounts_held: int = 0
    keys_destroyed: int = 0
    duration_s: float = 0.0
    stopped: bool = False  # ended early (shutdown); the next run finishes it

    def add(self, cls: RetentionClass, table: str, rows: int) -> None:
        per_class = self.counts.setdefault(cls.value, {})
        per_class[table] = per_class.get(table, 0) + rows

    def total(self, cls: RetentionClass) -> int:
        return sum(self.counts.get(cls.value, {}).values())

    @property
    def total_rows(self) -> int:
        return sum(sum(tables.values()) for tables in self.counts.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "event": "retention.purge",
            "dry_run": self.dry_run,
            "now": self.now.isoformat(),
            "counts": {
                cls.value: dict(sorted(self.counts.get(cls.value, {}).items()))
                for cls in (
                    RetentionClass.CALL_RECORDS,
                    RetentionClass.SERVICE_DATA,
                    RetentionClass.ACCOUNT_DATA,
                    RetentionClass.CONSENT,
                )
            },
            "keys_destroyed": self.keys_destroyed,
            "batches": self.batches,
            "accounts": self.accounts,
            "accounts_held": self.accounts_held,
            "seconds": {k: round(v, 3) for k, v in sorted(self.seconds.items())},
            "duration_s": round(self.duration_s, 3),
            "stopped": self.stopped,
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), separators=(",", ":"))


class Purge:
    """One retention run over every account, as of ``now`` (the store's clock by default)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        keys: KeyStore,
        audit: AuditLog,
        clock: Callable[[], dt.datetime],
        rules: RetentionRules,
        *,
        batch_rows: int = 500,
        pause_s: float = 0.0,
        consent_proof_days: int | None = None,
    ) -> None:
        if batch_rows < 1:
            raise ValueError("a purge batch is at least one row")
        self.consent_proof_days = consent_proof_days  # None: consent records are not purged
        self.pause_s = pause_s
        self._sessions = sessions
        self._keys = keys
        self._audit = audit
        self._clock = clock
        self._rules = rules
        self.batch_rows = batch_rows
        self._should_stop: Callable[[], bool] = lambda: False

    def run(
        self,
        *,
        dry_run: bool = False,
        fault: FaultHook | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> PurgeReport:
        """Purge (or, dry, count) every account's rows past their time; returns the report,
        also logged. ``should_stop`` is asked between batches (a service shutting down: the
        run ends early, ``stopped`` in its report, and the next one resumes); ``fault`` is
        for tests (see ``FaultHook``)."""
        now = self._clock()
        report = PurgeReport(dry_run=dry_run, now=now)
        self._should_stop = should_stop or (lambda: False)
        started = time.monotonic()
        with self._sessions() as session:
            account_ids = list(session.scalars(select(Account.id).order_by(Account.id)))
        for account_id in account_ids:
            if self._should_stop():
                report.stopped = True
                break
            report.accounts += 1
            with self._sessions() as session:
                scope = self._rules.scope(session, account_id, now)
            report.accounts_held += int(scope.holds.any)
            began = time.monotonic()
            self._batches(
                report,
                RetentionClass.CALL_RECORDS,
                "call_records",
                CallRecord.id,
                account_id,
                lambda sc: (CallRecord.account_id == sc.account_id, call_record_expired(sc)),
                fault,
            )
            self._lap(report, RetentionClass.CALL_RECORDS, began)
            began = time.monotonic()
            self._batches(
                report,
                RetentionClass.SERVICE_DATA,
                "legs",
                Leg.id,
                account_id,
                lambda sc: (Leg.account_id == sc.account_id, leg_expired(sc)),
                fault,
            )
            self._lap(report, RetentionClass.SERVICE_DATA, began)
            if scope.account_expired:
                began = time.monotonic()
                self._account(report, account_id, fault)
                self._lap(report, RetentionClass.ACCOUNT_DATA, began)
        if self.consent_proof_days is not None and not report.stopped:
            began = time.monotonic()
            self._consent(report, self.consent_proof_days, fault)
            self._lap(report, RetentionClass.CONSENT, began)
        report.duration_s = time.monotonic() - started
        log.info("%s", report.to_json())
        return report

    @staticmethod
    def _lap(report: PurgeReport, cls: RetentionClass, began: float) -> None:
        report.seconds[cls.value] = report.seconds.get(cls.value, 0.0) + time.monotonic() - began

    def _batches(
        self,
        report: PurgeReport,
        cls: RetentionClass,
        table: str,
        key: InstrumentedAttribute[Any],
        account_id: str,
        expired: Callable[[Scope], tuple[ColumnElement[bool], ...] | None],
        fault: FaultHook | None,
    ) -> None:
        """Delete, batch by batch, the rows of one table that ``expired`` picks for this
        account's scope (None: none). The scope is recomputed for every batch, so a legal
        hold placed during a run stops the next batch."""
        model = key.class_
        while True:
            with self._sessions.begin() as session:
                where = expired(self._rules.scope(session, account_id, report.now))
                if where is None:
                    return
                if report.dry_run:
                    count = session.scalar(select(func.count()).select_from(model).where(*where))
                    if count:
                        report.add(cls, table, int(count))
                    return
                ids = list(session.scalars(select(key).where(*where).limit(self.batch_rows)))
                if not ids:
                    return
                session.execute(delete(model).where(key.in_(ids)))
                self._record(session, cls, table, len(ids), account_id)
                if fault is not None:
                    fault(report.batches + 1)
            report.batches += 1
            report.add(cls, table, len(ids))
            if len(ids) < self.batch_rows or self._should_stop():
                return
            if self.pause_s:
                # Let the process's other threads (the bridge's event loop) have the GIL and
                # the database for a while: a purge running flat out in a thread made the
                # mixing tick late (bench/results/retention_purge.md).
                time.sleep(self.pause_s)

    def _consent(self, report: PurgeReport, proof_days: int, fault: FaultHook | None) -> None:
        """Consent records past their proof period, batch by batch (no account, no hold)."""
        cls = RetentionClass.CONSENT
        while True:
            with self._sessions.begin() as session:
                where = consent_record_expired(report.now, proof_days)
                if report.dry_run:
                    count = session.scalar(
                        select(func.count()).select_from(ConsentRecord).where(where)
                    )
                    if count:
                        report.add(cls, "consent_records", int(count))
                    return
                ids = list(
                    session.scalars(select(ConsentRecord.id).where(where).limit(self.batch_rows))
                )
                if not ids:
                    return
                session.execute(delete(ConsentRecord).where(ConsentRecord.id.in_(ids)))
                actor = system(f"retention: {len(ids)} consent_records rows past {cls.value}")
                self._audit.record(session, actor, "retention.purge", "consent_records", None)
                if fault is not None:
                    fault(report.batches + 1)
            report.batches += 1
            report.add(cls, "consent_records", len(ids))
            if len(ids) < self.batch_rows or self._should_stop():
                return
            if self.pause_s:
                time.sleep(self.pause_s)

    def _record(
        self, session: Session, cls: RetentionClass, table: str, rows: int, account_id: str
    ) -> None:
        actor = system(f"retention: {rows} {table} rows past {cls.value}")
        self._audit.record(session, actor, "retention.purge", f"account:{account_id}", account_id)

    def _account(self, report: PurgeReport, account_id: str, fault: FaultHook | None) -> None:
        """An account 12 months after its termination: what is left of it, then its key."""
        cls = RetentionClass.ACCOUNT_DATA
        users = select(User.id).where(User.account_id == account_id).scalar_subquery()
        tables: list[tuple[str, InstrumentedAttribute[Any], ColumnElement[bool]]] = [
            ("contacts", Contact.id, Contact.account_id == account_id),
            ("invitation_emails", InvitationEmail.id, InvitationEmail.account_id == account_id),
            ("sessions", SignInSession.id, SignInSession.account_id == account_id),
            ("api_tokens", ApiToken.id, ApiToken.account_id == account_id),
            ("setup_links", SetupLink.id, SetupLink.account_id == account_id),
            ("recovery_codes", RecoveryCode.id, RecoveryCode.user_id.in_(users)),
            ("delegations", Delegation.id, Delegation.host_id.in_(users)),
            ("crm_webhooks", CrmWebhook.account_id, CrmWebhook.account_id == account_id),
        ]
        for table, key, where in tables:
            self._batches(report, cls, table, key, account_id, _while_expired(where), fault)
        with self._sessions.begin() as session:
            scope = self._rules.scope(session, account_id, report.now)
            if not scope.account_expired:  # a hold placed meanwhile
                return
            key_row = session.get(AccountKey, account_id)
            alive = key_row is not None and key_row.wrapped_key is not None
            indexed = session.scalar(
                select(func.count())
                .select_from(User)
                .where(
                    User.account_id == account_id,
                    (User.email_index.is_not(None))
                    | (User.phone_index.is_not(None))
                    | (User.password_hash.is_not(None)),
                )
            )
            if report.dry_run:
                if indexed:
                    report.add(cls, "users", int(indexed))
                report.keys_destroyed += int(alive)
                return
            if indexed:
                session.execute(
                    update(User)
                    .where(User.account_id == account_id)
                    .values(
                        email_index=None, phone_index=None, password_hash=None, totp_secret_enc=None
                    )
                )
                report.add(cls, "users", int(indexed))
            if alive:
                self._keys.destroy_account_key(session, account_id)
                account = session.get(Account, account_id)
                if account is not None:
                    account.name_index = None
                report.keys_destroyed += 1
            if indexed or alive:
                self._record(session, cls, "account key", int(alive), account_id)


def _while_expired(
    where: ColumnElement[bool],
) -> Callable[[Scope], tuple[ColumnElement[bool], ...] | None]:
    """An account table's rows, only while the account is still expired (not held since)."""

    def pick(scope: Scope) -> tuple[ColumnElement[bool], ...] | None:
        return (where,) if scope.account_expired else None

    return pick
