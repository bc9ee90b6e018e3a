"""The administrator's portal sets the account's PIN lengths through the API's function:
the same bounds, the reason on the page when refused, the lengths kept when saved."""

from __future__ import annotations

import html
import re

from fastapi import FastAPI
from tests.conftest import FakeClock
from tests.web.test_portal_crm import _signed_in_administrator, app, firm  # noqa: F401
from tests.web.test_signin import Firm, csrf_of

from callroster.accounts.actor import system
from callroster.store.accounts import PinLengths
from callroster.store.store import Store


def _selected(page: str, select_id: str) -> str | None:
    select = re.search(rf'<select id="{select_id}"[^>]*>(.*?)</select>', page, re.S)
    assert select is not None, page
    chosen = re.search(r'<option value="(\d+)" selected>', select.group(1))
    return chosen.group(1) if chosen else None


def test_the_portal_sets_pin_lengths_within_the_apis_bounds(
    app: FastAPI,  # noqa: F811
    firm: Firm,  # noqa: F811
    clock: FakeClock,
    store: Store,
) -> None:
    client = _signed_in_administrator(app, clock)
    page = client.get("/admin").text
    assert (_selected(page, "guest-pin-length"), _selected(page, "host-pin-length")) == ("8", "10")

    csrf = csrf_of(client.get("/admin"))
    refused = client.post(
        "/admin/pin-lengths", data={"csrf_token": csrf, "guest": "10", "host": "9"}
    )
    assert refused.status_code == 400 and "location" not in refused.headers
    error = re.search(r'id="message">([^<]*)</p>', refused.text)
    assert error is not None and "a host PIN must be longer than a guest PIN" in html.unescape(
        error.group(1)
    )
    forged = client.post("/admin/pin-lengths", data={"csrf_token": csrf, "guest": "4", "host": "9"})
    assert forged.status_code == 400
    assert store.accounts.pin_lengths(system("test"), firm.account_id) == PinLengths(8, 10)

    saved = client.post("/admin/pin-lengths", data={"csrf_token": csrf, "guest": "7", "host": "11"})
    assert saved.status_code == 303
    assert saved.headers["location"] == "/admin?done=pin-lengths-saved"
    assert store.accounts.pin_lengths(system("test"), firm.account_id) == PinLengths(7, 11)
    page = client.get("/admin?done=pin-lengths-saved").text
    assert "existing PINs keep working" in page
    assert (_selected(page, "guest-pin-length"), _selected(page, "host-pin-length")) == ("7", "11")
