"""Consent records in the store (issue 16): the server's proof of each consent a browser gave
to the cookie policy, by its random id (the one in the compliance cookie).

**Personal data.** The truncated network address and the user agent are encrypted under the
platform's ``consent_records`` key (``KeyStore.platform_cipher``); what was consented to, to
which version of which text, how and when, is in clear. A keyed hash of the truncated
address (blind index kind ``consent_source``) is what the rate limit counts by.

**Bounded.** ``add`` refuses (``ConsentRateLimitedError``) once one source (an IPv4 /24, an
IPv6 /48) has made ``per_source_hour`` records in the past hour: nobody fills the database
by clearing cookies in a loop.

**Replaced, not rewritten.** A later consent of the same browser names the record it had
(``replaces``); that record gets ``ended_at``, and is otherwise kept as it was: an old
record survives a new policy version.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Select, func, not_, select
from sqlalchemy.orm import Session, sessionmaker

from callroster.accounts.actor import Actor, Role
from callroster.errors import AccessDeniedError
from callroster.privacy import consent_export
from callroster.privacy.consent_record import DEFAULT_PROOF_DAYS, ConsentGiven, ConsentMethod
from callroster.privacy.keys import FieldCipher
from callroster.store.audit import AuditLog
from callroster.store.consent_signing import ConsentSigningKeys
from callroster.store.keys import KeyStore
from callroster.store.models import ConsentRecord
from callroster.store.repository import Repository
from callroster.store.retention import consent_record_expired

PURPOSE = "consent_records"  # the platform key the address and user agent are encrypted under
IP_CONTEXT = "consent_records.ip"
USER_AGENT_CONTEXT = "consent_records.user_agent"
SOURCE_KIND = "consent_source"
SIGNING_PURPOSE = "consent_signing"  # the platform key whose bytes seed the Ed25519 key
# (kept and rotated by ``store.consent_signing``)
RATE_WINDOW = dt.timedelta(hours=1)
DEFAULT_PER_SOURCE_HOUR = 60
EXPORT_ROW_LIMIT = 100_000
EXPORT_BATCH_ROWS = 1_000  # rows the signed export reads at a time


class ConsentRateLimitedError(Exception):
    """Too many consent records from one network in the past hour: not recorded (the web
    layer answers 429 with ``retry_after_s``)."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__("too many consent records from this network; try again later")
        self.retry_after_s = retry_after_s


ConsentRateLimited = ConsentRateLimitedError  # the name the web layer's brief used


@dataclass(frozen=True)
class ConsentRecordView:
    """A consent record without its personal data (what the browser's own cookie may look
    up: what it consented to, to which text, and whether it still holds)."""

    id: str
    optional: frozenset[str]
    policy_version: str
    text_sha256: str
    method: ConsentMethod
    given_at: dt.datetime
    ended_at: dt.datetime | None
    replaces: str | None


@dataclass(frozen=True)
class ExportedConsent:
    """A consent record as an operator's export holds it: with the truncated address and
    the user agent, decrypted."""

    view: ConsentRecordView
    ip_truncated: str
    user_agent: str


@dataclass(frozen=True)
class ConsentPage:
    """One export's rows; ``next_since``: where the next page starts (None: this was all)."""

    records: list[ExportedConsent]
    next_since: dt.datetime | None


@dataclass(frozen=True)
class SignedExport:
    """A signed export file, how many records it holds, and where the next one starts."""

    data: bytearray  # the file (the buffer it was built in: never copied)
    records: int
    next_since: dt.datetime | None


_TABLE = ConsentRecord.__table__


def _plain(result: Any) -> list[_Row]:
    """The rows of a core query over the table, typed as records."""
    return cast("list[_Row]", list(result))


def _exported(row: _Row, cipher: FieldCipher) -> consent_export.ExportedRecord:
    """A row as the signed export holds it, decrypted."""
    return consent_export.ExportedRecord(
        id=row.id,
        given_at=row.given_at,
        ended_at=row.ended_at,
        method=ConsentMethod(row.method).value,
        categories=tuple(sorted({c for c in row.categories.split(",") if c})),
        policy_version=row.policy_version,
        text_sha256=row.text_sha256,
        replaces=row.replaces,
        ip_truncated=cipher.decrypt(IP_CONTEXT, row.ip_enc),
        user_agent=cipher.decrypt(USER_AGENT_CONTEXT, row.user_agent_enc),
    )


def _categories(optional: frozenset[str]) -> str:
    return ",".join(sorted(optional))


class _Row(Protocol):
    """A consent record's columns: an ORM object, or a plain row (the export reads plain
    rows: a third of the time of 100,000 ORM objects)."""

    id: str
    categories: str
    policy_version: str
    text_sha256: str
    method: str
    given_at: dt.datetime
    ended_at: dt.datetime | None
    replaces: str | None
    ip_enc: bytes
    user_agent_enc: bytes


def _view(row: _Row) -> ConsentRecordView:
    return ConsentRecordView(
        id=row.id,
        optional=frozenset(c for c in row.categories.split(",") if c),
        policy_version=row.policy_version,
        text_sha256=row.text_sha256,
        method=ConsentMethod(row.method),
        given_at=row.given_at,
        ended_at=row.ended_at,
        replaces=row.replaces,
    )


class ConsentRecords(Repository):
    """Adds and reads consent records; exports them for operators. ``per_source_hour``:
    ``Settings.consent_records_per_source_hour``; ``proof_days``:
    ``Settings.consent_proof_days`` (a record past it is hidden at once, purged later)."""

    per_source_hour: int = DEFAULT_PER_SOURCE_HOUR
    proof_days: int = DEFAULT_PROOF_DAYS

    def __init__(
        self,
        sessions: sessionmaker[Session],
        keys: KeyStore,
        audit: AuditLog,
        clock: Callable[[], dt.datetime],
    ) -> None:
        super().__init__(sessions, keys, audit, clock)
        # The export's signing key, its earlier public keys, and its rotation.
        self.signing_keys = ConsentSigningKeys(sessions, keys, audit, clock)

    def _cipher(self) -> FieldCipher:
        return self._keys.platform_cipher(PURPOSE)

    def _source_index(self, ip_truncated: str) -> bytes:
        return self._keys.blind_index().of(SOURCE_KIND, ip_truncated)

    def add(self, given: ConsentGiven) -> str:
        """Record a consent; returns its new random id (for the compliance cookie). The
        record it replaces, if this browser had one, ends when this one was given.

        Raises:
            ConsentRateLimitedError: the source made ``per_source_hour`` records in the past
                hour (counted up to the store's clock); nothing is written.
        """
        now = self._clock()
        cipher = self._cipher()  # made before the transaction: SQLite has one writer
        source = self._source_index(given.ip_truncated)
        record_id = str(uuid.uuid4())
        with self._sessions.begin() as session:
            window = now - RATE_WINDOW
            made = session.scalar(
                select(func.count())
                .select_from(ConsentRecord)
                .where(ConsentRecord.source_index == source, ConsentRecord.given_at > window)
            )
            if int(made or 0) >= self.per_source_hour:
                oldest = session.scalar(
                    select(func.min(ConsentRecord.given_at)).where(
                        ConsentRecord.source_index == source, ConsentRecord.given_at > window
                    )
                )
                wait = (oldest + RATE_WINDOW - now) if oldest is not None else RATE_WINDOW
                raise ConsentRateLimitedError(max(1, int(wait.total_seconds()) + 1))
            replaces = self._end(session, given) if given.replaces else None
            session.add(
                ConsentRecord(
                    id=record_id,
                    categories=_categories(given.optional),
                    policy_version=given.policy_version,
                    text_sha256=given.text_sha256,
                    method=given.method.value,
                    given_at=given.given_at,
                    ended_at=None,
                    replaces=replaces,
                    ip_enc=cipher.encrypt(IP_CONTEXT, given.ip_truncated),
                    user_agent_enc=cipher.encrypt(USER_AGENT_CONTEXT, given.user_agent),
                    source_index=source,
                )
            )
        return record_id

    def _end(self, session: Session, given: ConsentGiven) -> str | None:
        """Ends the record ``given`` replaces; returns its id, or None when there is no such
        record (a stale or forged cookie: nothing to end, nothing to point at)."""
        previous = session.get(ConsentRecord, given.replaces, with_for_update=True)
        if previous is None:
            return None
        if previous.ended_at is None:
            previous.ended_at = max(given.given_at, previous.given_at)
        return previous.id

    def get(self, record_id: str) -> ConsentRecordView | None:
        """A record by its id (from the compliance cookie), without its personal data;
        None when there is none (never was, or purged)."""
        if not record_id or len(record_id) > 64:
            return None
        expired = consent_record_expired(self._clock(), self.proof_days)
        with self._sessions() as session:
            row = session.scalar(
                select(ConsentRecord).where(ConsentRecord.id == record_id, not_(expired))
            )
            return _view(row) if row is not None else None

    def shown_to_its_browser(self, actor: Actor, record_id: str) -> ExportedConsent | None:
        """A record with the personal data it keeps (the truncated address, the user agent),
        decrypted for the browser whose compliance cookie names it: the record's random id
        is the authority, as the cookie is the browser's own. Audit-logged (the record's id,
        never what it holds); None when there is none (never was, or purged)."""
        if not record_id or len(record_id) > 64:
            return None
        expired = consent_record_expired(self._clock(), self.proof_days)
        cipher = self._cipher()  # made before the transaction: SQLite has one writer
        with self._sessions.begin() as session:
            row = session.scalar(
                select(ConsentRecord).where(ConsentRecord.id == record_id, not_(expired))
            )
            if row is None:
                return None
            shown = ExportedConsent(
                _view(row),
                cipher.decrypt(IP_CONTEXT, row.ip_enc),
                cipher.decrypt(USER_AGENT_CONTEXT, row.user_agent_enc),
            )
            self._audit.record(
                session, actor, "consent_record.read", f"consent_record:{record_id}", None
            )
            return shown

    def export(
        self,
        actor: Actor,
        *,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int = EXPORT_ROW_LIMIT,
    ) -> ConsentPage:
        """The records given in ``[since, until)`` (oldest first), decrypted, for an operator;
        audit-logged (how many, never what). At most ``limit`` rows; when more remain the
        page says from when to continue (``next_since``: pass it as ``since``).

        Raises:
            AccessDeniedError: the actor is not an operator.
        """
        if actor.role is not Role.OPERATOR:
            raise AccessDeniedError("only the operator exports consent records")
        cipher = self._cipher()
        with self._sessions.begin() as session:
            page = self._page(session, cipher, since, until, limit)
            self._audited(session, actor, len(page.records), page.next_since)
        return page

    def _page(
        self,
        session: Session,
        cipher: FieldCipher,
        since: dt.datetime | None,
        until: dt.datetime | None,
        limit: int,
    ) -> ConsentPage:
        rows = self._rows(session, since, until, limit)
        next_since: dt.datetime | None = None
        if len(rows) > limit:
            rows, next_since = self._whole_instants(session, rows, limit, until)
        exported = [
            ExportedConsent(
                view=_view(row),
                ip_truncated=cipher.decrypt(IP_CONTEXT, row.ip_enc),
                user_agent=cipher.decrypt(USER_AGENT_CONTEXT, row.user_agent_enc),
            )
            for row in rows
        ]
        return ConsentPage(exported, next_since)

    def _audited(
        self, session: Session, actor: Actor, rows: int, next_since: dt.datetime | None
    ) -> None:
        more = ", more to come" if next_since is not None else ""
        self._audit.record(
            session, actor, "consent_records.export", f"consent_records:{rows} rows{more}", None
        )

    def _whole_instants(
        self, session: Session, rows: list[_Row], limit: int, until: dt.datetime | None
    ) -> tuple[list[_Row], dt.datetime | None]:
        """A page of ``limit + 1`` rows cut so that no instant is split across two pages:
        the rows at the instant the next page starts at go to that page (``since`` = that
        instant), so each row is in exactly one page. When every row of the page shares one
        instant (more than ``limit`` consents in one microsecond, which the rate limit all
        but rules out), the page is that whole instant instead, over the limit."""
        next_at = rows[limit].given_at
        kept = [row for row in rows[:limit] if row.given_at < next_at]
        if kept:
            return kept, next_at
        return self._instant(session, rows[0].given_at, until)

    def _instant(
        self, session: Session, instant: dt.datetime, until: dt.datetime | None
    ) -> tuple[list[_Row], dt.datetime | None]:
        """Every record given at ``instant`` (by id), and when the next one after it was
        given (None: none before ``until``)."""
        kept_now = not_(consent_record_expired(self._clock(), self.proof_days))
        whole = _plain(
            session.execute(
                select(_TABLE)
                .where(ConsentRecord.given_at == instant, kept_now)
                .order_by(ConsentRecord.id)
            )
        )
        later = select(func.min(ConsentRecord.given_at)).where(
            ConsentRecord.given_at > instant, kept_now
        )
        if until is not None:
            later = later.where(ConsentRecord.given_at < until)
        return whole, session.scalar(later)

    # -- the signed export ---------------------------------------------------------------
    def public_key(self) -> Ed25519PublicKey:
        """The key anyone checks a new export with (public): the current signing key, seeded
        by a platform key wrapped by the master key in the database, so every node sharing
        the database signs with the same one (``store.consent_signing``: its rotation)."""
        return self.signing_keys.current().public_key

    def signed_export(
        self,
        actor: Actor,
        fmt: consent_export.Format,
        *,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int = EXPORT_ROW_LIMIT,
    ) -> SignedExport:
        """``export``, signed, as a JSON or CSV file (see ``privacy/consent_export.py``);
        audit-logged as ``export``. Signed inside the transaction that read the rows,
        holding the signing key's row: a rotation waits for it, so a retired key never signs
        (``store.consent_signing``)."""
        if actor.role is not Role.OPERATOR:
            raise AccessDeniedError("only the operator exports consent records")
        cipher = self._cipher()
        self.signing_keys.ensure()
        with self._sessions.begin() as session:
            signer = self.signing_keys.signer(session)
            built, next_since = self._built(session, cipher, fmt, since, until, limit)
            window = consent_export.ExportWindow(
                exported_at=self._clock(), since=since, until=until, next_since=next_since
            )
            data = built.finish(window, signer)
            self._audited(session, actor, built.count, next_since)
        return SignedExport(data, built.count, next_since)

    def _built(
        self,
        session: Session,
        cipher: FieldCipher,
        fmt: consent_export.Format,
        since: dt.datetime | None,
        until: dt.datetime | None,
        limit: int,
    ) -> tuple[consent_export.ExportBuilder, dt.datetime | None]:
        """The export's records, as ``_page`` pages them, read in batches and each turned
        into its bytes at once (``ExportBuilder``): what is held is the file, not all the
        rows, their records, a payload and the file too (at 100,000 rows: 44 MB above the
        process for JSON, 30 MB for CSV, against 281 and 256 MB so)."""
        built = consent_export.ExportBuilder(fmt)
        query = self._query(since, until).limit(limit + 1)
        result = session.execute(query.execution_options(yield_per=EXPORT_BATCH_ROWS))
        cut: dt.datetime | None = None  # when the row past the limit was given
        try:
            for read, row in enumerate(cast("Iterator[_Row]", result)):
                if read == limit:
                    cut = row.given_at
                    break
                built.add(_exported(row, cipher))
        finally:
            result.close()
        if cut is None:
            return built, None
        built.drop_instant(cut)  # no instant split across two pages
        if built.count:
            return built, cut
        return self._whole_instant(session, cipher, fmt, cut, until)

    def _whole_instant(
        self,
        session: Session,
        cipher: FieldCipher,
        fmt: consent_export.Format,
        instant: dt.datetime,
        until: dt.datetime | None,
    ) -> tuple[consent_export.ExportBuilder, dt.datetime | None]:
        """A page whose every row was given at one instant: that whole instant, over the
        limit (``_whole_instants``)."""
        rows, next_since = self._instant(session, instant, until)
        built = consent_export.ExportBuilder(fmt)
        for row in rows:
            built.add(_exported(row, cipher))
        return built, next_since

    def _query(self, since: dt.datetime | None, until: dt.datetime | None) -> Select[Any]:
        query = (
            select(_TABLE)
            .where(not_(consent_record_expired(self._clock(), self.proof_days)))
            .order_by(ConsentRecord.given_at, ConsentRecord.id)
        )
        if since is not None:
            query = query.where(ConsentRecord.given_at >= since)
        if until is not None:
            query = query.where(ConsentRecord.given_at < until)
        return query

    def _rows(
        self,
        session: Session,
        since: dt.datetime | None,
        until: dt.datetime | None,
        limit: int,
    ) -> list[_Row]:
        return _plain(session.execute(self._query(since, until).limit(limit + 1)))
