"""An account's SRTP policy: set by its administrator over the API (audit-logged, bounded),
and what the bridge's directory reads from it: whether the account requires SRTP, and
whether every account answering on an access number does (bridge/srtp_policy.py)."""

from __future__ import annotations

import itertools

import pytest
from fastapi.testclient import TestClient

from callroster.accounts import demo
from callroster.accounts.actor import operator_cli
from callroster.app import create_app
from callroster.bridge.directory import StoreDirectory
from callroster.config import REGIONS, Settings
from callroster.store.store import Store

OPERATOR = operator_cli("test")
SRTP = "/api/v1/account/srtp"
REGION = REGIONS[0]


@pytest.fixture
def client(store: Store, settings: Settings) -> TestClient:
    return TestClient(create_app(store, settings))


@pytest.fixture
def details(store: Store, settings: Settings) -> demo.DemoDetails:
    return demo.ensure_demo(store, settings)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_an_administrator_requires_srtp_and_the_bridge_sees_it(
    client: TestClient, store: Store, details: demo.DemoDetails
) -> None:
    admin = _bearer(details.admin_token)
    directory = StoreDirectory(store)
    assert client.get(SRTP, headers=admin).json() == {"srtp": "offered"}
    assert not directory.srtp_required(details.account_id)
    for refused in ({"srtp": "always"}, {"srtp": "required", "extra": 1}, {}):
        assert client.put(SRTP, headers=admin, json=refused).status_code == 422
    answer = client.put(SRTP, headers=admin, json={"srtp": "required"})
    assert answer.status_code == 200 and answer.json() == {"srtp": "required"}
    assert client.get(SRTP, headers=admin).json() == {"srtp": "required"}
    assert "account.srtp" in [e.action for e in store.audit.entries(details.account_id)]
    assert directory.srtp_required(details.account_id)
    assert not directory.srtp_required("no-such-account")
    host = _bearer(details.host_token)
    assert client.get(SRTP, headers=host).status_code == 403
    assert client.put(SRTP, headers=host, json={"srtp": "offered"}).status_code == 403
    assert client.put(SRTP, json={"srtp": "offered"}).status_code == 401


def test_a_number_requires_srtp_only_when_every_account_answering_on_it_does(
    store: Store, settings: Settings, details: demo.DemoDetails
) -> None:
    clock = itertools.count(0.0, 10.0)  # each look-up 10 s after the last: none cached
    directory = StoreDirectory(store, monotonic=lambda: next(clock))
    frozen = StoreDirectory(store, monotonic=lambda: 0.0)
    number = store.numbers.add(OPERATOR, "+442079460001", label="London").number
    other = store.accounts.create_account(OPERATOR, "Other Firm", REGION)
    store.accounts.set_srtp_policy(OPERATOR, details.account_id, "required")
    # The other account has no limit: it answers on the number too, and takes clear calls.
    assert not directory.srtp_required_on(number)
    elsewhere = store.numbers.add(OPERATOR, "+442079460002", label="Elsewhere").number
    store.numbers.limit_account(OPERATOR, other, [elsewhere])
    store.numbers.limit_account(OPERATOR, details.account_id, [number])
    assert directory.srtp_required_on(number)
    assert frozen.srtp_required_on(number)
    store.accounts.set_srtp_policy(OPERATOR, details.account_id, "offered")
    assert not directory.srtp_required_on(number)  # (the control)
    assert frozen.srtp_required_on(number)  # read again only after SRTP_ON_NUMBER_MAX_AGE
    assert not directory.srtp_required_on("+442079469999")  # nobody answers there
    with pytest.raises(ValueError, match="offered, required"):
        store.accounts.set_srtp_policy(OPERATOR, details.account_id, "sometimes")
