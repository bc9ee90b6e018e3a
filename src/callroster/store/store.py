"""The store, assembled: engine, key store, audit log and repositories."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from callroster.clock import utc_now
from callroster.config import Settings
from callroster.errors import MasterKeyError, StoreUnavailableError
from callroster.store import migrate
from callroster.store.accounts import AccountRepository
from callroster.store.audit import AuditLog
from callroster.store.call_records import CallRecordRepository
from callroster.store.conferences import ConferenceRepository
from callroster.store.consent_records import ConsentRecords
from callroster.store.contacts import ContactRepository
from callroster.store.database import open_engine, session_factory
from callroster.store.friend_invitations import FriendInvitationRepository
from callroster.store.invitations import InvitationRepository
from callroster.store.keys import KeyRingSource, KeyStore, ensure_key_ring_matches
from callroster.store.legal_holds import LegalHoldRepository
from callroster.store.numbers import NumberPlanRepository
from callroster.store.onboarding import OnboardingRepository
from callroster.store.operator_sessions import OperatorSessionRepository
from callroster.store.operator_tokens import OperatorTokenRepository
from callroster.store.privacy_requests import PrivacyRequestRepository
from callroster.store.public_profiles import PublicProfileRepository
from callroster.store.purge import Purge
from callroster.store.restart import RestartRepository
from callroster.store.retention import RetentionRules
from callroster.store.sessions import (
    SecondFactorRepository,
    SessionRepository,
    SignInFailureRepository,
)
from callroster.store.tokens import TokenRepository
from callroster.store.trunks import TrunkRepository
from callroster.store.user_admin import UserAdminRepository


@dataclass
class Store:
    engine: Engine
    read_engine: Engine
    sessions: sessionmaker[Session]
    ring_source: KeyRingSource
    keys: KeyStore
    audit: AuditLog
    accounts: AccountRepository
    users: UserAdminRepository
    conferences: ConferenceRepository
    contacts: ContactRepository
    tokens: TokenRepository
    operator_tokens: OperatorTokenRepository
    trunks: TrunkRepository
    call_records: CallRecordRepository
    invitations: InvitationRepository  # the invitations' outbox
    numbers: NumberPlanRepository
    restart: RestartRepository  # the heartbeat, and what a crash left open
    # Retention (issue 15): the policy the read paths hide by, and the operator's holds.
    retention: RetentionRules
    legal_holds: LegalHoldRepository
    # Sign-in: browser sessions (``sessions`` above is the SQLAlchemy session factory).
    web_sessions: SessionRepository
    sign_in_failures: SignInFailureRepository
    second_factor: SecondFactorRepository
    # Customer accounts as the operator runs them, and the operator's browser sessions.
    onboarding: OnboardingRepository
    operator_sessions: OperatorSessionRepository
    privacy_requests: PrivacyRequestRepository  # data-subject requests (issue 15)
    friend_invitations: FriendInvitationRepository  # Tell a Friend (issue 16)
    consent_records: ConsentRecords  # proof of cookie consents (issue 16)
    public_profiles: PublicProfileRepository  # users' profile links on calls (issue 16)
    clock: Callable[[], dt.datetime] = field(default=utc_now)
    # Where erasures are journalled besides the database (issue 15): a restored database
    # does not roll it back (store/erasure.py). None: the database's table only.
    erasure_journal_file: Path | None = None

    def ping(self) -> bool:
        """Whether the database answers a trivial query (the readiness check)."""
        try:
            with self.read_engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    def schema_columns(self) -> list[tuple[str, str]]:
        """Every (table, column) of the database as it is, for the inventory's check
        (``callroster privacy inventory --check``)."""
        inspector = inspect(self.engine)
        return [
            (table, column["name"])
            for table in inspector.get_table_names()
            for column in inspector.get_columns(table)
        ]

    def purge(self, batch_rows: int = 500, pause_s: float = 0.0) -> Purge:
        """A retention purge over this store, by the same rules the read paths hide by."""
        return Purge(
            self.sessions,
            self.keys,
            self.audit,
            self.clock,
            self.retention,
            batch_rows=batch_rows,
            pause_s=pause_s,
            consent_proof_days=self.consent_records.proof_days,
        )

    def close(self) -> None:
        self.engine.dispose()
        self.read_engine.dispose()


def open_ring_source(settings: Settings, *, create: bool) -> KeyRingSource:
    if settings.master_key is not None:
        return KeyRingSource(text=settings.master_key.get_secret_value())
    return KeyRingSource.open(settings.resolved_master_key_file, create=create)


def open_store(
    settings: Settings,
    *,
    migrate_to_head: bool = True,
    clock: Callable[[], dt.datetime] = utc_now,
) -> Store:
    """Open the database, bring its schema up to date, and load the keys.

    A missing master key file is created only for an empty store: if the store already
    holds wrapped keys, a missing or different key is an error, never silently replaced.
    """
    engine = open_engine(settings.resolved_database_url)
    read_engine = engine
    try:
        # The key ring first: a migration that encrypts existing data needs it.
        fresh = not _has_wrapped_keys(engine)
        ring_source = open_ring_source(settings, create=fresh)
        if migrate_to_head:
            migrate.upgrade(engine, key_ring=ring_source.ring())
        elif migrate.current_revision(engine) != migrate.head_revision():
            raise StoreUnavailableError(
                "the database schema is not up to date; run `callroster migrate`"
            )
        sessions = session_factory(engine)
        read_engine = (
            open_engine(settings.resolved_database_url, write_lock_at_begin=False)
            if engine.dialect.name == "sqlite"
            else engine
        )
        keys = KeyStore(sessions, ring_source, clock, session_factory(read_engine))
        ensure_key_ring_matches(keys, ring_source)
    except (MasterKeyError, StoreUnavailableError):
        engine.dispose()
        read_engine.dispose()
        raise
    audit = AuditLog(sessions, clock)
    accounts = AccountRepository(sessions, keys, audit, clock)
    conferences = ConferenceRepository(sessions, keys, audit, clock)
    conferences.cooling_off = dt.timedelta(days=settings.pin_cooling_off_days)
    retention = RetentionRules(settings.retention_policy)
    conferences.retention = retention
    contacts = ContactRepository(sessions, keys, audit, clock)
    tokens = TokenRepository(sessions, audit, clock)
    web_sessions = SessionRepository(sessions, audit, clock)
    users = UserAdminRepository(
        sessions,
        keys,
        audit,
        clock,
        accounts=accounts,
        conferences=conferences,
        contacts=contacts,
        tokens=tokens,
        web_sessions=web_sessions,
    )
    privacy_requests = PrivacyRequestRepository(sessions, keys, audit, clock)
    privacy_requests.retention = retention  # an export hides what the other reads hide
    privacy_requests.days = settings.privacy_request_days
    consent_records = ConsentRecords(sessions, keys, audit, clock)
    consent_records.per_source_hour = settings.consent_records_per_source_hour
    consent_records.proof_days = settings.consent_proof_days
    return Store(
        engine=engine,
        read_engine=read_engine,
        sessions=sessions,
        ring_source=ring_source,
        keys=keys,
        audit=audit,
        accounts=accounts,
        users=users,
        conferences=conferences,
        contacts=contacts,
        tokens=tokens,
        operator_tokens=OperatorTokenRepository(sessions, audit, clock),
        trunks=TrunkRepository(sessions, keys, audit, clock),
        call_records=_with_retention(CallRecordRepository(sessions, keys, audit, clock), retention),
        invitations=InvitationRepository(sessions, keys, audit, clock),
        numbers=NumberPlanRepository(sessions, audit, clock),
        restart=RestartRepository(sessions, keys, audit, clock),
        retention=retention,
        legal_holds=LegalHoldRepository(sessions, audit, clock),
        web_sessions=web_sessions,
        sign_in_failures=SignInFailureRepository(sessions, clock),
        second_factor=SecondFactorRepository(sessions, keys, audit, clock),
        onboarding=OnboardingRepository(sessions, keys, audit, clock),
        operator_sessions=OperatorSessionRepository(sessions, audit, clock),
        privacy_requests=privacy_requests,
        friend_invitations=FriendInvitationRepository(sessions, keys, audit, clock),
        consent_records=consent_records,
        public_profiles=PublicProfileRepository(sessions, keys, audit, clock),
        clock=clock,
        erasure_journal_file=settings.data / "erasures.journal",
    )


def _with_retention(
    repository: CallRecordRepository, rules: RetentionRules
) -> CallRecordRepository:
    repository.retention = rules
    return repository


def _has_wrapped_keys(engine: Engine) -> bool:
    if not inspect(engine).has_table("account_keys"):
        return False
    with engine.connect() as connection:
        from sqlalchemy import text

        count = connection.execute(
            text(
                "SELECT (SELECT COUNT(*) FROM account_keys WHERE wrapped_key IS NOT NULL)"
                " + (SELECT COUNT(*) FROM platform_keys)"
            )
        ).scalar_one()
    return bool(count)
