"""A page's message comes from the service, never from its URL (issue 12, finding 10): a
link to ``/admin?error=<text>`` once showed its maker's text on the administrator's page as
an alert. Now the query carries only a code (``?done=settings-saved``) that the page maps to
its own words; a failed action answers with the page and the reason at once. In-process,
the real app over https://testserver."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from tests.conftest import FakeClock
from tests.web.test_portal_crm import _signed_in_administrator
from tests.web.test_signin import Firm, csrf_of, signin_app

from callroster.config import Settings
from callroster.store.store import Store

BAIT = "Your account is suspended: call +44 20 7946 0000 now"


@pytest.fixture
def firm(store: Store) -> Firm:
    return Firm(store)


@pytest.fixture
def app(store: Store, settings: Settings) -> FastAPI:
    return signin_app(store, settings)


def test_no_text_from_the_url_reaches_a_page(app: FastAPI, firm: Firm, clock: FakeClock) -> None:
    client = _signed_in_administrator(app, clock)
    pages = ("/admin", "/me", f"/admin/users/{firm.host_id}")
    for path in pages:
        for name in ("error", "done", "message", "notice"):
            answer = client.get(path, params={name: BAIT})
            assert answer.status_code == 200, (path, answer.text)
            assert "Your account is suspended" not in answer.text, (path, name)
            assert 'role="alert"' not in answer.text and 'id="notice"' not in answer.text
    # The control: a known code is shown, in the page's own words.
    assert "Settings saved." in client.get("/admin?done=settings-saved").text
    assert "Profile saved." in client.get("/me?done=profile-saved").text
    assert "Hana Host was added." in client.get(f"/admin/users/{firm.host_id}?done=added").text


def test_a_failed_action_answers_with_its_reason_not_a_redirect(
    app: FastAPI, firm: Firm, clock: FakeClock
) -> None:
    client = _signed_in_administrator(app, clock)
    csrf = csrf_of(client.get("/admin"))
    refused = client.post("/admin/contacts/delete", data={"csrf_token": csrf})
    assert refused.status_code == 400 and "location" not in refused.headers
    assert "Tick the box to confirm the deletion." in refused.text
    saved = client.post("/admin/settings", data={"csrf_token": csrf})
    assert saved.status_code == 303 and saved.headers["location"] == "/admin?done=settings-saved"
    me = client.post("/me/delegates", data={"csrf_token": csrf, "email": "no@one.example"})
    assert me.status_code == 400 and "Nobody in your account has that email." in me.text


def test_a_name_with_a_bidi_override_is_refused_on_the_pages_with_its_reason(
    app: FastAPI, firm: Firm, clock: FakeClock
) -> None:
    client = _signed_in_administrator(app, clock)
    csrf = csrf_of(client.get("/admin"))
    spoof = "Ada \u202enimdA"
    mine = client.post("/me/profile", data={"csrf_token": csrf, "name": spoof, "phone": ""})
    assert mine.status_code == 400 and "U+202E" in mine.text and "nimdA" not in mine.text
    added = client.post(
        "/admin/users", data={"csrf_token": csrf, "role": "host", "name": "Eve\u200bHost"}
    )
    assert added.status_code == 400 and "U+200B" in added.text
    edited = client.post(
        f"/admin/users/{firm.host_id}", data={"csrf_token": csrf, "name": "Hana\x00Host"}
    )
    assert edited.status_code == 400 and "U+0000" in edited.text
    assert "Hana Host" in client.get(f"/admin/users/{firm.host_id}").text  # unchanged


def test_the_portal_shows_numbers_to_guests_unticked_for_a_new_account(
    app: FastAPI, firm: Firm, clock: FakeClock
) -> None:
    client = _signed_in_administrator(app, clock)
    box = re.search(r'<input id="show-numbers"[^>]*>', client.get("/admin").text)
    assert box is not None and "checked" not in box.group(0)
    csrf = csrf_of(client.get("/admin"))
    client.post("/admin/settings", data={"csrf_token": csrf, "show_numbers_to_guests": "on"})
    box = re.search(r'<input id="show-numbers"[^>]*>', client.get("/admin").text)
    assert box is not None and "checked" in box.group(0)


def test_a_refused_field_is_said_in_words_not_the_validators(
    app: FastAPI, firm: Firm, clock: FakeClock
) -> None:
    client = _signed_in_administrator(app, clock)
    csrf = csrf_of(client.get("/admin"))
    answer = client.post(
        "/admin/users",
        data={"csrf_token": csrf, "role": "host", "name": "Shorty", "password": "short"},
    )
    assert answer.status_code == 400
    assert "Please give a password of 12 characters or more." in answer.text
    assert "String should have" not in answer.text  # pydantic's own words
