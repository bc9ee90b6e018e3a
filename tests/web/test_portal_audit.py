"""The audit log's page (``/admin/audit``): who by name, what in words, filtered (changes or
reads, by person), paged 50 at a time, and without the administrator's own viewing of it
unless asked for. The real app in-process over https://testserver."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from tests.conftest import FakeClock
from tests.web.test_portal_crm import _signed_in_administrator
from tests.web.test_signin import Firm, signin_app

from callroster.accounts.actor import Actor, Role
from callroster.config import Settings
from callroster.store.store import Store
from callroster.web.portal import AUDIT_PAGE, is_read

ITEM = re.compile(r"<li><span class=\"when\">.*?</li>", re.S)


@pytest.fixture
def firm(store: Store) -> Firm:
    return Firm(store)


@pytest.fixture
def app(store: Store, settings: Settings) -> FastAPI:
    return signin_app(store, settings)


def _items(html: str) -> list[str]:
    return ITEM.findall(html)


def test_reads_and_changes_are_told_apart() -> None:
    assert is_read("user.read") and is_read("users.email") and is_read("roster.watch")
    assert not is_read("user.create") and not is_read("contacts.delete_all")
    assert not is_read("conference.pin_reset")


def test_the_log_is_paged_filtered_and_readable(
    app: FastAPI, firm: Firm, clock: FakeClock, store: Store
) -> None:
    client = _signed_in_administrator(app, clock)
    host = Actor(firm.host_id, Role.HOST, firm.account_id, "192.0.2.7", "PATCH /api/v1/me")
    for n in range(70):
        store.audit.log(host, "conference.rename", f"conference:c-{n:04d}", firm.account_id)
        store.audit.log(host, "user.read", f"user:{firm.host_id}", firm.account_id)

    first = client.get("/admin/audit").text
    items = _items(first)
    assert len(items) == AUDIT_PAGE
    assert "<strong>Hana Host</strong> renamed conference …c-0069" in first  # names, words
    assert "<strong>Hana Host</strong> read the details of Hana Host" in first
    older = re.search(r'href="(/admin/audit\?[^"]*before=\d+)" id="audit-older"', first)
    assert older is not None
    second = client.get(older.group(1).replace("&amp;", "&")).text
    assert len(_items(second)) == AUDIT_PAGE
    assert not set(_items(second)) & set(items)  # the next 50, none again

    changes = client.get("/admin/audit?what=changes").text
    assert "renamed conference" in changes and "read the details of" not in changes
    reads = client.get("/admin/audit?what=reads").text
    assert "read the details of" in reads and "renamed conference" not in reads
    by_admin = client.get(f"/admin/audit?who={firm.admin_id}").text
    assert "Hana Host</strong>" not in by_admin and "Ada Admin</strong>" in by_admin

    # Each view logs a read of the log; the page leaves its own out unless asked.
    assert store.audit.entries(firm.account_id, 1)[0].action == "audit.read"
    assert "read the audit log" not in client.get("/admin/audit").text
    assert "read the audit log" in client.get("/admin/audit?log_reads=on").text


def test_nothing_matching_says_so(app: FastAPI, firm: Firm, clock: FakeClock) -> None:
    client = _signed_in_administrator(app, clock)
    page = client.get(f"/admin/audit?what=changes&who={firm.host_id}").text
    assert "No entries match." in page
