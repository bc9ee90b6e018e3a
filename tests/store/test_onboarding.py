"""Customer accounts as the operator runs them, on SQLite and PostgreSQL: one transaction per
account (a taken name or email leaves nothing behind), the set-up link (random, stored as a
hash, single use, 72 hours), the list (hosts, conferences this month, no personal data), and
the life cycle (suspend, resume, terminate) with what each closes."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from sqlalchemy import func, select
from tests.conftest import FakeClock
from tests.store.legs import add_leg
from tests.store.raw_bytes import assert_found_when_planted, found, named_views

from callroster.accounts.actor import Actor, Role, operator_cli
from callroster.config import Settings
from callroster.errors import AccessDeniedError, DuplicateError, NotFoundError
from callroster.store import migrate
from callroster.store.database import open_engine
from callroster.store.models import Account, AccountKey, AuditEntry, SetupLink, User
from callroster.store.onboarding import (
    AccountAction,
    AccountStateError,
    AccountStatus,
    SetupLinkError,
)
from callroster.store.store import Store, open_store

OPERATOR = operator_cli("test")
EMAIL = "ada.admin@meitner.example"
PASSWORD = "Plover-Quartz-Ribbon-71"


def _counts(store: Store) -> tuple[int, ...]:
    with store.sessions() as session:
        return tuple(
            session.scalar(select(func.count()).select_from(table)) or 0
            for table in (Account, AccountKey, User, SetupLink, AuditEntry)
        )


def test_create_makes_the_account_its_administrator_and_a_one_time_link(
    store: Store, clock: FakeClock
) -> None:
    created = store.onboarding.create_account(OPERATOR, "Meitner & Hahn", "london", EMAIL)
    assert created.setup_token.startswith("crsetup_") and len(created.setup_token) > 40
    assert created.setup_expires_at == clock.now + dt.timedelta(hours=72)
    assert store.accounts.get_account(OPERATOR, created.account_id).name == "Meitner & Hahn"
    admin = store.accounts.get_user(OPERATOR, created.administrator_id)
    assert (admin.role, admin.email, admin.account_id) == (
        Role.ADMINISTRATOR,
        EMAIL,
        created.account_id,
    )
    with store.sessions() as session:
        link = session.scalars(select(SetupLink)).one()
        actions = list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))
    assert link.token_hash == hashlib.sha256(created.setup_token.encode()).digest()
    assert {"account.create", "user.create", "setup_link.issue"} <= set(actions)
    # No password yet: nobody signs in until the link is used.
    assert not store.accounts.check_sign_in(EMAIL, PASSWORD).password_ok


def test_the_link_sets_a_password_once(store: Store) -> None:
    created = store.onboarding.create_account(OPERATOR, "Meitner & Hahn", "london", EMAIL)
    actor = Actor(created.administrator_id, Role.ADMINISTRATOR, created.account_id, "t", "t")
    with pytest.raises(ValueError, match="12 to 1024"):
        store.onboarding.complete_setup(actor, created.setup_token, "short")
    target = store.onboarding.complete_setup(actor, created.setup_token, PASSWORD)
    assert target.user_id == created.administrator_id
    assert store.accounts.check_sign_in(EMAIL, PASSWORD).password_ok
    with pytest.raises(SetupLinkError, match="already used"):
        store.onboarding.complete_setup(actor, created.setup_token, "Another-Password-99")
    with pytest.raises(SetupLinkError):
        store.onboarding.setup_target(created.setup_token)
    assert store.accounts.check_sign_in(EMAIL, PASSWORD).password_ok  # unchanged
    with pytest.raises(SetupLinkError, match="not valid"):
        store.onboarding.setup_target("crsetup_" + "A" * 43)  # a guess


def test_the_link_expires_after_72_hours(store: Store, clock: FakeClock) -> None:
    created = store.onboarding.create_account(OPERATOR, "Meitner & Hahn", "london", EMAIL)
    clock.advance(hours=71, minutes=59)
    store.onboarding.setup_target(created.setup_token)  # still live
    clock.advance(minutes=1)
    with pytest.raises(SetupLinkError, match="expired"):
        store.onboarding.setup_target(created.setup_token)
    # The operator makes a new one; the old stays dead.
    fresh = store.onboarding.new_setup_link(OPERATOR, "meitner & hahn")
    assert store.onboarding.setup_target(fresh.setup_token).user_id == created.administrator_id
    with pytest.raises(SetupLinkError):
        store.onboarding.setup_target(created.setup_token)


@pytest.mark.parametrize(
    ("name", "email", "error", "text"),
    [
        ("  meitner &  HAHN ", "other@meitner.example", DuplicateError, "name already exists"),
        ("Other Firm", EMAIL.upper(), DuplicateError, "email already exists"),
        ("Other Firm", "not an address", ValueError, "not an email address"),
        ("Bad\u202eName", "other@meitner.example", ValueError, r"U\+202E"),
        ("", "other@meitner.example", ValueError, "type the name"),
        ("x" * 101, "other@meitner.example", ValueError, "at most 100"),
    ],
)
def test_a_refused_account_leaves_nothing_behind(
    store: Store, name: str, email: str, error: type[Exception], text: str
) -> None:
    store.onboarding.create_account(OPERATOR, "Meitner & Hahn", "london", EMAIL)
    before = _counts(store)
    with pytest.raises(error, match=text):
        store.onboarding.create_account(OPERATOR, name, "london", email)
    assert _counts(store) == before


def test_a_bad_region_and_a_non_operator_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="unknown region 'mars'"):
        store.onboarding.create_account(OPERATOR, "Meitner & Hahn", "mars", EMAIL)
    administrator = Actor("u", Role.ADMINISTRATOR, "a", "t", "t")
    with pytest.raises(AccessDeniedError, match="may not manage"):
        store.onboarding.create_account(administrator, "Meitner & Hahn", "london", EMAIL)
    assert _counts(store)[0] == 0


def test_the_list_counts_hosts_and_this_months_conferences(store: Store, clock: FakeClock) -> None:
    created = store.onboarding.create_account(OPERATOR, "Meitner & Hahn", "london", EMAIL)
    account = created.account_id
    hosts = [
        store.accounts.create_user(OPERATOR, account, Role.HOST, name) for name in ("Lise", "Otto")
    ]
    removed = store.accounts.create_user(OPERATOR, account, Role.HOST, "Gone")
    store.users.remove_user(OPERATOR, removed)
    conferences = [
        store.conferences.create_conference(OPERATOR, hosts[0], title) for title in ("A", "B", "C")
    ]
    add_leg(store, conferences[0])  # 23 November: last month, by the time we look
    clock.advance(days=10)  # 3 December
    add_leg(store, conferences[1])
    add_leg(store, conferences[1])
    add_leg(store, conferences[2])
    other = store.onboarding.create_account(OPERATOR, "Other", "sydney", "o@other.example")
    summaries = {s.id: s for s in store.onboarding.list_accounts(OPERATOR)}
    mine = summaries[account]
    assert (mine.name, mine.region, mine.status, mine.hosts, mine.conferences_this_month) == (
        "Meitner & Hahn",
        "london",
        AccountStatus.ACTIVE,
        2,
        2,
    )
    assert (
        summaries[other.account_id].hosts,
        summaries[other.account_id].conferences_this_month,
    ) == (
        0,
        0,
    )
    with store.sessions() as session:
        last = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
    assert last is not None and last.action == "account.list"


def test_suspend_resume_terminate(store: Store, clock: FakeClock) -> None:
    created = store.onboarding.create_account(OPERATOR, "Meitner & Hahn", "london", EMAIL)
    account, admin = created.account_id, created.administrator_id
    actor = Actor(admin, Role.ADMINISTRATOR, account, "t", "t")
    store.onboarding.complete_setup(actor, created.setup_token, PASSWORD)
    token = store.tokens.issue(OPERATOR, account, admin, {"admin"}, "key")
    session = store.web_sessions.create(actor, admin, stay_signed_in=False, second_factor_done=True)
    assert store.tokens.authenticate(token) is not None

    store.onboarding.change_status(OPERATOR, account, AccountAction.SUSPEND)
    assert store.onboarding.status(account) == AccountStatus.SUSPENDED
    assert store.web_sessions.authenticate(session) is None  # ended
    assert store.tokens.authenticate(token) is None
    check = store.accounts.check_sign_in(EMAIL, PASSWORD)
    assert check.password_ok and check.suspended  # signin.py refuses it as suspended
    with pytest.raises(AccountStateError, match="is suspended, so it cannot be suspended"):
        store.onboarding.change_status(OPERATOR, account, AccountAction.SUSPEND)

    store.onboarding.change_status(OPERATOR, "MEITNER & HAHN", AccountAction.RESUME)  # by name
    assert store.tokens.authenticate(token) is not None
    assert not store.accounts.check_sign_in(EMAIL, PASSWORD).suspended

    clock.advance(days=3)
    store.onboarding.change_status(OPERATOR, account, AccountAction.TERMINATE)
    summary = store.onboarding.list_accounts(OPERATOR, only=account)[0]
    assert summary.status == AccountStatus.TERMINATED
    assert summary.terminated_at == clock.now  # the retention clock starts
    assert store.tokens.authenticate(token) is None
    assert store.accounts.check_sign_in(EMAIL, PASSWORD).suspended
    for action in AccountAction:
        with pytest.raises(AccountStateError, match="is terminated"):
            store.onboarding.change_status(OPERATOR, account, action)
    with pytest.raises(NotFoundError):
        store.onboarding.change_status(OPERATOR, "no such firm", AccountAction.SUSPEND)
    with store.sessions() as db:
        actions = set(db.scalars(select(AuditEntry.action)))
    assert {"account.suspend", "account.resume", "account.terminate"} <= actions


def test_a_suspended_accounts_link_does_not_work(store: Store) -> None:
    created = store.onboarding.create_account(OPERATOR, "Meitner & Hahn", "london", EMAIL)
    store.onboarding.change_status(OPERATOR, created.account_id, AccountAction.SUSPEND)
    with pytest.raises(SetupLinkError):
        store.onboarding.setup_target(created.setup_token)
    store.onboarding.change_status(OPERATOR, created.account_id, AccountAction.RESUME)
    with pytest.raises(SetupLinkError):  # suspending ended it for good
        store.onboarding.setup_target(created.setup_token)
    assert store.onboarding.new_setup_link(OPERATOR, created.account_id).setup_token


def test_no_token_or_email_in_clear_at_rest(
    settings: Settings, clock: FakeClock, request: pytest.FixtureRequest
) -> None:
    store = open_store(settings, clock=clock)
    created = store.onboarding.create_account(OPERATOR, "Meitner & Hahn", "london", EMAIL)
    store.close()
    views = named_views(settings, request)
    assert found(views, created.setup_token) == []
    assert found(views, EMAIL) == []
    assert found(views, "Meitner & Hahn") == []
    assert_found_when_planted(settings, request, created.setup_token, EMAIL)


def test_migration_indexes_existing_names(
    settings: Settings, clock: FakeClock, database_url: str
) -> None:
    """Accounts made before 0012: the older of two with the same name keeps it (the other
    is left unindexed), a shredded one becomes terminated, and a new account cannot take an
    indexed name. Without the master key the migration refuses rather than half-indexing."""
    store = open_store(settings, clock=clock)
    ring = store.ring_source.ring()
    first = store.accounts.create_account(OPERATOR, "Twin LLP", "london")
    clock.advance(minutes=1)
    second = store.accounts.create_account(OPERATOR, "Placeholder", "london")
    same_name = store.keys.cipher(second).encrypt("accounts.name", "twin  LLP")
    shredded = store.accounts.create_account(OPERATOR, "Gone LLP", "london")
    store.accounts.shred_account(OPERATOR, shredded)
    store.close()
    engine = open_engine(database_url)
    try:
        migrate.downgrade(engine, "0011", key_ring=ring)
        with engine.begin() as connection:  # as 0011 allowed: two accounts of one name
            connection.execute(
                Account.__table__.update()
                .where(Account.__table__.c.id == second)
                .values(name_enc=same_name)
            )
        with pytest.raises(RuntimeError, match="needs the master key"):
            migrate.upgrade(engine)
        migrate.upgrade(engine, key_ring=ring)
        with engine.connect() as connection:
            indexed = dict(
                connection.execute(select(Account.id, Account.name_index.is_not(None))).all()
            )
    finally:
        engine.dispose()
    assert indexed == {first: True, second: False, shredded: False}
    store = open_store(settings, clock=clock)
    try:
        with pytest.raises(DuplicateError):
            store.onboarding.create_account(OPERATOR, "TWIN LLP", "london", EMAIL)
        listed = {s.id: (s.name, s.status) for s in store.onboarding.list_accounts(OPERATOR)}
        assert listed[first] == ("Twin LLP", AccountStatus.ACTIVE)
        assert listed[second] == ("twin  LLP", AccountStatus.ACTIVE)
        assert listed[shredded] == (None, AccountStatus.TERMINATED)
    finally:
        store.close()


def test_a_name_the_demo_or_an_older_way_took_is_refused_to_the_operator(store: Store) -> None:
    """AccountRepository.create_account (the demo's, tests') lets a second account share a
    name, unindexed; the operator's way in refuses any name already taken."""
    first = store.accounts.create_account(OPERATOR, "Demo LLP", "london")
    second = store.accounts.create_account(OPERATOR, "Demo LLP", "london")
    assert first != second
    before = _counts(store)
    with pytest.raises(DuplicateError, match="name already exists"):
        store.onboarding.create_account(OPERATOR, "demo llp", "london", EMAIL)
    assert _counts(store) == before


def test_a_suspended_or_terminated_accounts_conferences_take_no_calls(store: Store) -> None:
    account = store.accounts.create_account(OPERATOR, "Curie Partners", "london")
    host = store.accounts.create_user(OPERATOR, account, Role.HOST, "Marie Curie")
    conference = store.conferences.create_conference(OPERATOR, host, "Weekly")
    view = store.conferences.get_conference(OPERATOR, conference)
    assert view.host_pin is not None

    def opens() -> list[bool]:
        return [
            store.conferences.open_with_pin(view.pin) is not None,
            store.conferences.open_with_pin(view.host_pin or "") is not None,
            store.conferences.open_for_web(conference, as_host=False) is not None,
        ]

    assert opens() == [True, True, True]  # the positive control
    store.onboarding.change_status(OPERATOR, account, AccountAction.SUSPEND)
    assert opens() == [False, False, False]
    store.onboarding.change_status(OPERATOR, account, AccountAction.RESUME)
    assert opens() == [True, True, True]
    store.onboarding.change_status(OPERATOR, account, AccountAction.TERMINATE)
    assert opens() == [False, False, False]
