"""The number plan: the access numbers people dial, kept by the operator.

A number is stored in E.164 (``+442079460000``), the form a SIP trunk puts in the request
URI's user part (``sip:+442079460000@bridge``), so the bridge finds it by an exact match.
It has a country (checked against the number), a kind (toll or toll-free), the region that
serves it and a label. An account may be limited to some numbers (``AccountDialIn``); an
account with no limit uses every number. A conference shows the numbers of its account.

Numbers are the platform's, not personal data; every change is audit-logged all the same,
and only the operator may make one.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import phonenumbers
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from callroster.accounts.actor import Actor, Role
from callroster.errors import InUseError, NotFoundError
from callroster.store.audit import AuditLog
from callroster.store.errors import AccessDeniedError, DuplicateError
from callroster.store.models import Account, AccountDialIn, ConferenceDialIn, DialInNumber
from callroster.store.repository import affected

KINDS = ("toll", "toll_free")
KIND_NAMES = {"toll": "toll", "toll_free": "toll-free", "sip": "SIP only"}
# Set in ``Account.settings`` while the account is limited to its ``AccountDialIn`` numbers
# (so a limit whose last number was removed stays a limit, to no number, not every number).
LIMITED = "dial_in_limited"
E164_FORM = "an E.164 number: + then the country code and number, e.g. +442079460000"


@dataclass(frozen=True)
class NumberView:
    id: str
    number: str  # E.164, or a SIP-only extension (the demo's "2000")
    country: str
    kind: str
    region: str | None
    label: str | None

    @property
    def kind_name(self) -> str:
        return KIND_NAMES.get(self.kind, self.kind)


@dataclass(frozen=True)
class NumberUse:
    """Who a number is given to: accounts limited to it (by id)."""

    number: str
    account_ids: tuple[str, ...]


def plan_number(raw: str) -> tuple[str, str, bool]:
    """(E.164, its country, whether it is toll-free) of a number given in E.164.

    Raises:
        ValueError: not a valid number in E.164 (one line, saying the form).
    """
    text = raw.strip().replace(" ", "").replace("-", "")
    if not text.startswith("+") or not text[1:].isdigit() or not 8 <= len(text) <= 16:
        raise ValueError(f"{raw.strip()[:40]!r} is not {E164_FORM}")
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        raise ValueError(f"{text!r} is not {E164_FORM}") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(f"{text} is not a number in use in any country's plan")
    country = phonenumbers.region_code_for_number(parsed) or ""
    toll_free = phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.TOLL_FREE
    return text, country, toll_free


def _view(row: DialInNumber) -> NumberView:
    return NumberView(row.id, row.number, row.country, row.kind, row.region, row.label)


def _order(views: Sequence[NumberView]) -> list[NumberView]:
    return sorted(views, key=lambda v: (v.country, v.kind != "toll", v.number))


def numbers_for_account_in(session: Session, account_id: str) -> list[NumberView]:
    """The numbers an account's conferences show: its limit, else every number; by country."""
    account = session.get(Account, account_id)
    limited = bool(account and (account.settings or {}).get(LIMITED))
    query = select(DialInNumber)
    if limited:
        query = query.join(AccountDialIn).where(AccountDialIn.account_id == account_id)
    return _order([_view(row) for row in session.scalars(query)])


def _authorise(actor: Actor) -> None:
    if actor.role is not Role.OPERATOR:
        raise AccessDeniedError(f"{actor.label} may not change the number plan")


class NumberPlanRepository:
    def __init__(
        self, sessions: sessionmaker[Session], audit: AuditLog, clock: Callable[[], dt.datetime]
    ) -> None:
        self._sessions = sessions
        self._audit = audit
        self._clock = clock

    def add(
        self,
        actor: Actor,
        number: str,
        *,
        country: str | None = None,
        kind: str | None = None,
        region: str | None = None,
        label: str | None = None,
    ) -> NumberView:
        """Add an access number.

        Args:
            number: in E.164 (spaces and dashes are dropped).
            country: ISO 3166 code; checked against the number's (taken from it if None).
            kind: ``toll`` or ``toll_free``; taken from the number's type if None.
            region: the region (node) that serves it; label: how pages name it.

        Raises:
            ValueError: a malformed number, a country or kind that does not fit it, a label
                or region too long.
            DuplicateError: the number is in the plan already.
        """
        _authorise(actor)
        e164, its_country, toll_free = plan_number(number)
        if country is not None and country.strip().upper() != its_country:
            raise ValueError(f"{e164} is a number of {its_country}, not {country.strip()[:8]}")
        if kind is None:
            kind = "toll_free" if toll_free else "toll"
        if kind not in KINDS:
            raise ValueError("the kind of a number is toll or toll_free")
        region = (region or "").strip() or None
        label = (label or "").strip() or None
        if region is not None and len(region) > 32:
            raise ValueError("a region is at most 32 characters")
        if label is not None and len(label) > 64:
            raise ValueError("a label is at most 64 characters")
        with self._sessions.begin() as session:
            if session.scalar(select(DialInNumber.id).where(DialInNumber.number == e164)):
                raise DuplicateError(f"{e164} is in the number plan already")
            row = DialInNumber(
                id=str(uuid.uuid4()),
                number=e164,
                country=its_country,
                kind=kind,
                region=region,
                label=label,
                created_at=self._clock(),
            )
            session.add(row)
            self._audit.record(session, actor, "number.add", f"number:{row.id}", None)
            return _view(row)

    def list_numbers(self, actor: Actor) -> list[NumberView]:
        """Every number, by country (toll before toll-free), then number."""
        _authorise(actor)
        with self._sessions.begin() as session:
            self._audit.record(session, actor, "number.list", "numbers", None)
            return _order([_view(row) for row in session.scalars(select(DialInNumber))])

    def uses(self, actor: Actor) -> dict[str, tuple[str, ...]]:
        """For each number (by id), the accounts limited to it."""
        _authorise(actor)
        with self._sessions() as session:
            found: dict[str, list[str]] = {}
            for number_id, account_id in session.execute(
                select(AccountDialIn.dial_in_number_id, AccountDialIn.account_id)
            ):
                found.setdefault(number_id, []).append(account_id)
        return {k: tuple(v) for k, v in found.items()}

    def remove(self, actor: Actor, number: str, *, force: bool = False) -> NumberUse:
        """Remove a number from the plan.

        Raises:
            NotFoundError: no such number.
            InUseError: accounts are limited to it and ``force`` is not set; nothing changes.
        """
        _authorise(actor)
        with self._sessions.begin() as session:
            row = self._find(session, number)
            account_ids = tuple(
                session.scalars(
                    select(AccountDialIn.account_id).where(
                        AccountDialIn.dial_in_number_id == row.id
                    )
                )
            )
            if account_ids and not force:
                n = len(account_ids)
                raise InUseError(
                    f"{row.number} is given to {n} account{'s' if n > 1 else ''}; "
                    "take it from their numbers first, or remove it with force"
                )
            affected(
                session, delete(AccountDialIn).where(AccountDialIn.dial_in_number_id == row.id)
            )
            affected(
                session,
                delete(ConferenceDialIn).where(ConferenceDialIn.dial_in_number_id == row.id),
            )
            session.delete(row)
            self._audit.record(session, actor, "number.remove", f"number:{row.id}", None)
            return NumberUse(row.number, account_ids)

    def _find(self, session: Session, number: str) -> DialInNumber:
        text = number.strip().replace(" ", "").replace("-", "")
        row = session.scalar(select(DialInNumber).where(DialInNumber.number == text))
        if row is None:
            raise NotFoundError(f"no number {text[:40]} in the number plan")
        return row

    def limit_account(self, actor: Actor, account_id: str, numbers: Sequence[str]) -> list[str]:
        """Limit an account to these numbers (none: every number); returns them in E.164.

        Raises:
            NotFoundError: no such account, or a number not in the plan (nothing changes).
        """
        _authorise(actor)
        with self._sessions.begin() as session:
            account = session.get(Account, account_id)
            if account is None:
                raise NotFoundError(f"no account {account_id[:36]}")
            rows = [self._find(session, n) for n in dict.fromkeys(numbers)]
            affected(session, delete(AccountDialIn).where(AccountDialIn.account_id == account_id))
            for row in rows:
                session.add(AccountDialIn(account_id=account_id, dial_in_number_id=row.id))
            account.settings = {**(account.settings or {}), LIMITED: bool(rows)}
            self._audit.record(
                session, actor, "account.numbers", f"account:{account_id}", account_id
            )
            return [row.number for row in rows]

    def answers_on(self, account_id: str, number: str) -> bool:
        """Whether the account's conferences take calls through this access number: any
        number of the plan, or, for an account limited to some, one of those."""
        with self._sessions() as session:
            account = session.get(Account, account_id)
            if not (account and (account.settings or {}).get(LIMITED)):
                return True
            found = session.scalar(
                select(AccountDialIn.account_id)
                .join(DialInNumber, DialInNumber.id == AccountDialIn.dial_in_number_id)
                .where(AccountDialIn.account_id == account_id, DialInNumber.number == number)
            )
            return found is not None

    def requires_srtp_on(self, number: str) -> bool:
        """Whether every account that answers on this access number (those limited to it,
        and those with no limit) requires SRTP, and there is at least one: then a clear-text
        call to it can be refused before it keys a PIN (bridge/srtp_policy.py). A scan of
        the accounts' settings, run only for clear-text calls to an access number."""
        from callroster.store.accounts import srtp_policy_of  # (accounts imports much)

        with self._sessions() as session:
            limited_here = set(
                session.scalars(
                    select(AccountDialIn.account_id)
                    .join(DialInNumber, DialInNumber.id == AccountDialIn.dial_in_number_id)
                    .where(DialInNumber.number == number)
                )
            )
            answering = [
                account
                for account in session.scalars(select(Account).where(Account.status == "active"))
                if account.id in limited_here or not (account.settings or {}).get(LIMITED)
            ]
            return bool(answering) and all(srtp_policy_of(a) == "required" for a in answering)

    def numbers_for_account(self, account_id: str) -> list[NumberView]:
        with self._sessions() as session:
            return numbers_for_account_in(session, account_id)
