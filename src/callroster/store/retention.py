"""Retention in SQL: which rows of an account are past their time, as one condition per
class, used both to hide them from every read and to purge them.

The read paths (``CallRecordRepository.for_account``, ``ConferenceRepository.legs``,
``UserAdminRepository.conference_history``) add ``call_record_kept``/``leg_kept`` to their
queries; the purge (``store/purge.py``) deletes ``not_(kept)``. Both take the account's
``Scope``: its country's periods, its legal holds and one ``now``, so hiding and purging never
disagree about a row. The policy itself (periods, the monthly cycle, overrides) is pure and
lives in ``privacy/retention.py``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, false, not_, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute, Session

from callroster.privacy.consent import CONSENT_LIFETIME
from callroster.privacy.retention import Holds, RetentionPolicy, country_of_region
from callroster.privacy.retention_classes import RetentionClass
from callroster.store.models import Account, CallRecord, Conference, ConsentRecord, Leg, LegalHold

HOLD_KINDS = ("conference", "host", "account")


@dataclass(frozen=True)
class Scope:
    """One account's retention as of ``now``: its cutoffs and what is held."""

    account_id: str
    country: str | None
    now: dt.datetime
    holds: Holds
    call_records_cutoff: dt.datetime
    service_data_cutoff: dt.datetime
    account_data_cutoff: dt.datetime
    terminated_at: dt.datetime | None

    @property
    def account_expired(self) -> bool:
        """Whether the account's own data is past its time: terminated before the cutoff
        and nothing of it held (a hold on any of its conferences or hosts keeps the whole
        account, so that what the hold covers stays readable). Then every row of it is."""
        if self.terminated_at is None or self.holds.any:
            return False
        return self.terminated_at <= self.account_data_cutoff


def holds_of(session: Session, account_id: str) -> Holds:
    """The legal holds on this account, its hosts and its conferences."""
    rows = session.execute(
        select(LegalHold.kind, LegalHold.target_id).where(LegalHold.account_id == account_id)
    ).all()
    return Holds(
        account=any(kind == "account" for kind, _ in rows),
        hosts=frozenset(target for kind, target in rows if kind == "host"),
        conferences=frozenset(target for kind, target in rows if kind == "conference"),
    )


class RetentionRules:
    """The policy the store applies (``Settings.retention_policy``; the defaults until
    ``open_store`` sets it)."""

    def __init__(self, policy: RetentionPolicy | None = None) -> None:
        self.policy = policy or RetentionPolicy()

    def scope(self, session: Session, account_id: str, now: dt.datetime) -> Scope:
        row = session.execute(
            select(Account.home_region, Account.terminated_at).where(Account.id == account_id)
        ).first()
        region, terminated_at = (row[0], row[1]) if row else (None, None)
        if terminated_at is not None and terminated_at.tzinfo is None:
            terminated_at = terminated_at.replace(tzinfo=dt.UTC)  # SQLite, through a tuple
        country = country_of_region(region) if region else None
        cutoff = self.policy.cutoff
        return Scope(
            account_id=account_id,
            country=country,
            now=now,
            holds=holds_of(session, account_id),
            call_records_cutoff=cutoff(RetentionClass.CALL_RECORDS, now, country),
            service_data_cutoff=cutoff(RetentionClass.SERVICE_DATA, now, country),
            account_data_cutoff=cutoff(RetentionClass.ACCOUNT_DATA, now, country),
            terminated_at=terminated_at,
        )


def _held_conference(
    scope: Scope, conference_id: InstrumentedAttribute[str] | InstrumentedAttribute[str | None]
) -> ColumnElement[bool]:
    """Whether a row's conference is held, by itself or by its host's hold (never NULL)."""
    held: ColumnElement[bool] = false()
    if scope.holds.conferences:
        held = or_(held, conference_id.in_(sorted(scope.holds.conferences)))
    if scope.holds.hosts:
        hosted = select(Conference.id).where(Conference.host_id.in_(sorted(scope.holds.hosts)))
        held = or_(held, conference_id.in_(hosted))
    return and_(conference_id.is_not(None), held)


def call_record_expired(scope: Scope) -> ColumnElement[bool]:
    """A call record past its time and not held: ended before the cycle's cutoff (one that
    never ended counts from its start). Every record of an expired account. Records of a
    host's click-to-call (no conference) are held by the host's hold. Never NULL, so its
    negation is exactly what is kept."""
    if scope.holds.account:
        return false()
    if scope.account_expired:
        return true()
    cutoff = scope.call_records_cutoff
    past = or_(
        and_(CallRecord.ended_at.is_not(None), CallRecord.ended_at <= cutoff),
        and_(CallRecord.ended_at.is_(None), CallRecord.started_at <= cutoff),
    )
    held = _held_conference(scope, CallRecord.conference_id)
    if scope.holds.hosts:
        held = or_(held, CallRecord.requested_by.in_(sorted(scope.holds.hosts)))
    return and_(past, not_(held))


def call_record_kept(scope: Scope) -> ColumnElement[bool]:
    """A call record still in its time, or held: what the read paths show."""
    return not_(call_record_expired(scope))


def leg_expired(scope: Scope) -> ColumnElement[bool]:
    """A leg past its time (12 months from the call it was on) and not held; every leg of
    an expired account. Never NULL."""
    if scope.holds.account:
        return false()
    if scope.account_expired:
        return true()
    return and_(
        Leg.joined_at <= scope.service_data_cutoff,
        not_(_held_conference(scope, Leg.conference_id)),
    )


def leg_kept(scope: Scope) -> ColumnElement[bool]:
    """A leg still in its time, or held: what the read paths show."""
    return not_(leg_expired(scope))


def consent_record_expired(now: dt.datetime, proof_days: int) -> ColumnElement[bool]:
    """A consent record past its time (class ``consent``): ``proof_days`` after its consent
    ended, by being replaced (``ended_at``) or by its compliance cookie's month running out
    (``CONSENT_LIFETIME`` after it was given), whichever came first
    (``privacy.consent_record.kept_until`` says the same in Python). Platform data: no
    account, no legal hold. Never NULL."""
    proof = dt.timedelta(days=proof_days)
    return or_(
        and_(ConsentRecord.ended_at.is_not(None), ConsentRecord.ended_at <= now - proof),
        ConsentRecord.given_at <= now - proof - CONSENT_LIFETIME,
    )
