"""The operator API for customer accounts, against the real app in-process on both stores:
create (the set-up link once), list (no personal data), suspend, resume, terminate, and what
each does to the account's own credentials; bad input gets one clear message and creates
nothing."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from tests.conftest import FakeClock

from callroster.accounts.actor import Actor, Role, operator_cli
from callroster.api.auth import guest_for_link
from callroster.app import create_app
from callroster.config import Settings
from callroster.store.models import Account, AuditEntry, User
from callroster.store.onboarding import SetupLinkError
from callroster.store.store import Store

OPERATOR = operator_cli("test")
ACCOUNTS = "/api/v1/operator/accounts"
EMAIL = "ada.admin@meitner.example"
NEW = {"name": "Meitner & Hahn", "region": "london", "admin_email": EMAIL}


@pytest.fixture
def client(store: Store, settings: Settings) -> TestClient:
    return TestClient(create_app(store, settings))


@pytest.fixture
def bearer(store: Store) -> dict[str, str]:
    return {"Authorization": f"Bearer {store.operator_tokens.issue(OPERATOR, 'api')[1]}"}


def _rows(store: Store) -> tuple[int, int]:
    with store.sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(Account)) or 0,
            session.scalar(select(func.count()).select_from(User)) or 0,
        )


def test_create_answers_the_setup_link_once_and_lists_no_personal_data(
    client: TestClient, store: Store, settings: Settings, bearer: dict[str, str]
) -> None:
    created = client.post(ACCOUNTS, json=NEW, headers=bearer)
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == {"id", "setup_link", "setup_link_expires_at"}
    prefix = f"{settings.web_base_url}/setup/crsetup_"
    assert body["setup_link"].startswith(prefix)
    token = body["setup_link"].rsplit("/", 1)[1]
    assert store.onboarding.setup_target(token).account_id == body["id"]

    listed = client.get(ACCOUNTS, headers=bearer)
    assert listed.status_code == 200
    assert listed.json() == [
        {
            "id": body["id"],
            "name": "Meitner & Hahn",
            "region": "london",
            "status": "active",
            "hosts": 0,
            "conferences_this_month": 0,
            "created_at": listed.json()[0]["created_at"],
            "terminated_at": None,
        }
    ]
    assert EMAIL not in listed.text and "setup" not in listed.text  # shown once only
    with store.sessions() as session:
        actions = list(session.scalars(select(AuditEntry.action)))
    assert {"account.create", "setup_link.issue", "account.list"} <= set(actions)


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({**NEW, "name": "MEITNER  & hahn", "admin_email": "b@x.example"}, 409, "name already"),
        ({**NEW, "name": "Other", "admin_email": EMAIL.upper()}, 409, "email already"),
        ({**NEW, "name": "Other", "region": "mars"}, 422, "unknown region 'mars'"),
        ({**NEW, "name": "Other", "admin_email": "nobody"}, 422, "not an email address"),
    ],
)
def test_bad_input_is_one_clear_message_and_creates_nothing(
    client: TestClient,
    store: Store,
    bearer: dict[str, str],
    body: dict[str, str],
    status: int,
    detail: str,
) -> None:
    assert client.post(ACCOUNTS, json=NEW, headers=bearer).status_code == 201
    before = _rows(store)
    refused = client.post(ACCOUNTS, json=body, headers=bearer)
    assert refused.status_code == status, refused.text
    assert detail in refused.json()["detail"]
    assert _rows(store) == before


def test_suspend_resume_terminate_and_what_they_close(
    client: TestClient, store: Store, bearer: dict[str, str], clock: FakeClock
) -> None:
    account = client.post(ACCOUNTS, json=NEW, headers=bearer).json()["id"]
    host = store.accounts.create_user(OPERATOR, account, Role.HOST, "Lise Meitner")
    token = store.tokens.issue(OPERATOR, account, host, {"roster:read"}, "k")
    key = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/me", headers=key).status_code == 200  # positive control

    suspended = client.post(f"{ACCOUNTS}/{account}/suspend", headers=bearer)
    assert suspended.status_code == 200 and suspended.json()["status"] == "suspended"
    assert suspended.json()["hosts"] == 1
    assert client.get("/api/v1/me", headers=key).status_code == 401
    again = client.post(f"{ACCOUNTS}/{account}/suspend", headers=bearer)
    assert again.status_code == 422
    assert again.json()["detail"] == f"account {account} is suspended, so it cannot be suspended"

    assert client.post(f"{ACCOUNTS}/{account}/resume", headers=bearer).json()["status"] == "active"
    assert client.get("/api/v1/me", headers=key).status_code == 200

    clock.advance(days=2)
    ended = client.post(f"{ACCOUNTS}/{account}/terminate", headers=bearer).json()
    assert ended["status"] == "terminated"
    assert ended["terminated_at"].startswith(clock.now.strftime("%Y-%m-%dT%H:%M"))
    assert client.get("/api/v1/me", headers=key).status_code == 401
    assert client.post(f"{ACCOUNTS}/{account}/resume", headers=bearer).status_code == 422
    missing = client.post(f"{ACCOUNTS}/no-such-account/suspend", headers=bearer)
    assert missing.status_code == 404
    assert missing.json()["detail"] == "no account 'no-such-account'"


def test_a_suspended_accounts_room_link_opens_nothing(
    client: TestClient, store: Store, bearer: dict[str, str]
) -> None:
    account = client.post(ACCOUNTS, json=NEW, headers=bearer).json()["id"]
    host = store.accounts.create_user(OPERATOR, account, Role.HOST, "Lise Meitner")
    conference = store.conferences.create_conference(OPERATOR, host, "Fission")
    link = store.conferences.get_conference(OPERATOR, conference).web_link
    assert guest_for_link(store, link, "t", "t") is not None  # positive control
    client.post(f"{ACCOUNTS}/{account}/suspend", headers=bearer)
    assert guest_for_link(store, link, "t", "t") is None


def test_users_and_their_keys_cannot_use_it(
    client: TestClient, store: Store, bearer: dict[str, str]
) -> None:
    account = client.post(ACCOUNTS, json=NEW, headers=bearer).json()["id"]
    admin = store.accounts.users_of(account, Role.ADMINISTRATOR)[0]
    key = store.tokens.issue(OPERATOR, account, admin, {"admin"}, "admin key")
    for headers, status in (({}, 401), ({"Authorization": f"Bearer {key}"}, 403)):
        assert client.get(ACCOUNTS, headers=headers).status_code == status
        assert client.post(ACCOUNTS, json=NEW, headers=headers).status_code == status
        assert client.post(f"{ACCOUNTS}/{account}/terminate", headers=headers).status_code == status
    assert store.onboarding.status(account) == "active"


def test_a_new_setup_link_replaces_the_old_until_the_administrator_has_set_up(
    client: TestClient, store: Store, bearer: dict[str, str]
) -> None:
    first = client.post(ACCOUNTS, json=NEW, headers=bearer).json()
    account = first["id"]
    again = client.post(f"{ACCOUNTS}/{account}/setup-link", headers=bearer)
    assert again.status_code == 201, again.text
    old, new = (link["setup_link"].rsplit("/", 1)[1] for link in (first, again.json()))
    assert old != new
    target = store.onboarding.setup_target(new)
    with pytest.raises(SetupLinkError):
        store.onboarding.setup_target(old)
    actor = Actor(target.user_id, Role.ADMINISTRATOR, account, "t", "t")
    store.onboarding.complete_setup(actor, new, "Plover-Quartz-Ribbon-71")
    done = client.post(f"{ACCOUNTS}/{account}/setup-link", headers=bearer)
    assert done.status_code == 422
    assert done.json()["detail"] == "the account's administrator has already set up"
