"""The administrator's portal sets the account's phone call encryption (SRTP policy)
through the API's function: the choice shown, a forged value refused, the choice kept."""

from __future__ import annotations

import re

from fastapi import FastAPI
from tests.conftest import FakeClock
from tests.web.test_portal_crm import _signed_in_administrator, app, firm  # noqa: F401
from tests.web.test_signin import Firm, csrf_of

from callroster.accounts.actor import system
from callroster.store.store import Store


def _selected(page: str) -> str | None:
    select = re.search(r'<select id="srtp-policy"[^>]*>(.*?)</select>', page, re.S)
    assert select is not None, page
    chosen = re.search(r'<option value="(\w+)" selected>', select.group(1))
    return chosen.group(1) if chosen else None


def test_the_portal_requires_encrypted_calls(
    app: FastAPI,  # noqa: F811
    firm: Firm,  # noqa: F811
    clock: FakeClock,
    store: Store,
) -> None:
    client = _signed_in_administrator(app, clock)
    page = client.get("/admin").text
    assert _selected(page) == "offered"
    assert '<label for="srtp-policy">' in page
    csrf = csrf_of(client.get("/admin"))
    forged = client.post("/admin/srtp", data={"csrf_token": csrf, "srtp": "sometimes"})
    assert forged.status_code == 400 and "location" not in forged.headers
    assert store.accounts.srtp_policy(system("test"), firm.account_id) == "offered"
    saved = client.post("/admin/srtp", data={"csrf_token": csrf, "srtp": "required"})
    assert saved.status_code == 303
    assert saved.headers["location"] == "/admin?done=srtp-saved"
    assert store.accounts.srtp_policy(system("test"), firm.account_id) == "required"
    page = client.get("/admin?done=srtp-saved").text
    assert "Encryption setting saved" in page and _selected(page) == "required"
    audit = client.get("/admin/audit").text
    assert "changed the phone call encryption setting" in audit
