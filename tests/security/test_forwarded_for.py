"""Issue 12, finding 9: ``X-Forwarded-For`` was believed from 127.0.0.1.

uvicorn's default trusts the header from any process on the machine, so a client on it could
name any address it liked as its own: the sign-in lock-out per source address (and every
per-address limit) counted each attempt against another address, and never locked. Replayed
against a real ``callroster serve``: with the default settings a forwarded address changes
nothing (the audit log records 127.0.0.1, and a spray of wrong passwords "from" 20 addresses
locks 127.0.0.1 out); with ``trusted_proxies = 127.0.0.1`` (the positive control) the same
header is believed, as it must be behind a real proxy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

import httpx
import pytest
from tests.support.service import RunningService, running_service

from callroster.accounts.session_policy import FAILURES_PER_SOURCE

FORWARDED = "10.9.9.9"


@pytest.fixture(scope="module")
def default(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    with running_service(tmp_path_factory.mktemp("default") / "data") as service:
        yield service


@pytest.fixture(scope="module")
def behind_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    data = tmp_path_factory.mktemp("behind-proxy") / "data"
    with running_service(data, settings={"trusted_proxies": "127.0.0.1"}) as service:
        yield service


class Browser:
    """A sign-in form filled in again and again, each time claiming to come from ``via``."""

    def __init__(self, service: RunningService) -> None:
        self.base = service.base_url
        page = httpx.get(f"{self.base}/login")
        cookie = re.search(r"callroster_signin=([^;]+)", page.headers["set-cookie"])
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert cookie and token, page.text
        self.cookie, self.csrf = cookie.group(1), token.group(1)

    def sign_in(self, email: str, password: str, via: str) -> int:
        answer = httpx.post(
            f"{self.base}/login",
            data={"csrf_token": self.csrf, "email": email, "password": password},
            headers={"Cookie": f"callroster_signin={self.cookie}", "X-Forwarded-For": via},
        )
        return answer.status_code


def spray(browser: Browser, addresses: Iterable[str]) -> list[int]:
    """Wrong passwords for made-up emails (so no email's own lock-out comes into it), one
    from each address named, as many as lock a source address out; the answers."""
    return [
        browser.sign_in(f"nobody{n}@spray.example", "wrong", address)
        for n, address in zip(range(FAILURES_PER_SOURCE), addresses, strict=False)
    ]


LOCKED_AT_THE_LAST = [401] * (FAILURES_PER_SOURCE - 1) + [429]
NOT_LOCKED = [401] * FAILURES_PER_SOURCE
SPRAYED_FROM = [f"10.9.9.{n}" for n in range(1, FAILURES_PER_SOURCE + 1)]


def audited_source(service: RunningService, demo: dict[str, Any]) -> str:
    """The address the service saw for a request claiming to come from ``FORWARDED``: read
    the audit log with the header, then read the entry that reading left."""
    admin = {"Authorization": f"Bearer {demo['admin_token']}"}
    url = f"{service.base_url}/api/v1/account/audit"
    first = httpx.get(url, headers={**admin, "X-Forwarded-For": FORWARDED}, params={"limit": 1})
    assert first.status_code == 200, first.text
    # Each read is logged after it has read the log: the newest entry is now the first's.
    (entry,) = httpx.get(url, headers=admin, params={"limit": 1}).json()
    assert entry["action"] == "audit.read" and entry["seq"] > first.json()[0]["seq"], entry
    return str(entry["source"])


def test_by_default_the_audit_log_records_the_connection_not_the_header(
    default: RunningService,
) -> None:
    assert audited_source(default, default.demo()) == "127.0.0.1"


def test_by_default_a_spray_from_forwarded_addresses_locks_the_connection_out(
    default: RunningService,
) -> None:
    demo = default.demo()
    browser = Browser(default)
    # Counted against 127.0.0.1, whatever each attempt claimed: locked out, even with the
    # right password and yet another address.
    assert spray(browser, SPRAYED_FROM) == LOCKED_AT_THE_LAST
    assert browser.sign_in(demo["admin_email"], demo["password"], "10.9.8.7") == 429


def test_behind_a_trusted_proxy_the_audit_log_records_the_forwarded_address(
    behind_proxy: RunningService,
) -> None:
    assert audited_source(behind_proxy, behind_proxy.demo()) == FORWARDED


def test_behind_a_trusted_proxy_many_people_each_wrong_once_lock_nobody_out(
    behind_proxy: RunningService,
) -> None:
    demo = behind_proxy.demo()
    browser = Browser(behind_proxy)
    assert spray(browser, SPRAYED_FROM) == NOT_LOCKED
    assert browser.sign_in(demo["admin_email"], demo["password"], "10.9.8.7") == 303
