"""The invitation routes, in-process over the real app: the text and the .ics for the people
who run the conference (no host PIN in either), and the emails: a list queued whole, or
refused whole with one clear message (1,000 addresses, a malformed entry, the host's daily
cap, no mail server), and each email's state afterwards."""

from __future__ import annotations

import datetime as dt

import icalendar
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.conftest import FakeClock
from tests.web.test_signin import HOST_EMAIL, PASSWORD, Firm, browser, csrf_of, sign_in, signin_app

from callroster.accounts.actor import Actor, operator_cli
from callroster.config import Settings
from callroster.store.store import Store


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the outbox's store part runs on both in tests/store/test_invitations.py


@pytest.fixture
def mail_settings(settings: Settings) -> Settings:
    # Nothing listens there: these tests only queue (tests/invitations/test_sender.py sends).
    return settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": 9, "invitations_per_host_per_day": 60}
    )


def _operator() -> Actor:
    return operator_cli("test")


@pytest.fixture
def firm(store: Store) -> Firm:
    return Firm(store)


@pytest.fixture
def conference(store: Store, firm: Firm) -> str:
    store.conferences.ensure_dial_in_number("+442079460000", "GB", "local")  # every account's
    existing = store.conferences.conferences_of_host(firm.host_id)
    return (
        existing[0]
        if existing
        else store.conferences.create_conference(_operator(), firm.host_id, "Weekly review")
    )


@pytest.fixture
def api(store: Store, mail_settings: Settings, firm: Firm) -> TestClient:
    client = TestClient(signin_app(store, mail_settings))
    client.headers["Authorization"] = f"Bearer {firm.host_token}"
    return client


def _url(conference: str, tail: str = "") -> str:
    return f"/api/v1/conferences/{conference}/invitation{tail}"


def test_the_text_and_the_ics_hold_the_guest_pin_not_the_host_pin(
    api: TestClient, store: Store, conference: str, clock: FakeClock
) -> None:
    view = store.conferences.get_conference(_operator(), conference)
    text = api.get(_url(conference))
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/plain")
    assert f"PIN: {view.pin} #" in text.text
    assert f"tel:+442079460000,,{view.pin}#" in text.text
    assert f"/c/{view.web_link}" in text.text
    assert view.host_pin and view.host_pin not in text.text

    ics = api.get(_url(conference, ".ics"), params={"start": "2026-12-07T10:00", "minutes": 30})
    assert ics.status_code == 200
    assert ics.headers["content-type"] == "text/calendar; charset=utf-8"
    assert ics.headers["content-disposition"] == 'attachment; filename="invitation.ics"'
    (event,) = icalendar.Calendar.from_ical(ics.content).walk("VEVENT")
    assert event["DTSTART"].dt == dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)
    assert event["DTEND"].dt - event["DTSTART"].dt == dt.timedelta(minutes=30)
    assert view.host_pin not in ics.text

    default = icalendar.Calendar.from_ical(api.get(_url(conference, ".ics")).content)
    (event,) = default.walk("VEVENT")
    assert event["DTSTART"].dt == clock().replace(minute=0) + dt.timedelta(hours=1)

    bad = api.get(_url(conference, ".ics"), params={"start": "tomorrow"})
    assert bad.status_code == 422
    assert bad.json()["detail"] == "The start is a date and time, such as 2026-12-07T10:00."


def test_a_list_is_queued_whole_and_each_email_shows_its_state(
    api: TestClient, conference: str
) -> None:
    sent = api.post(
        _url(conference, "/emails"),
        json={"addresses": "ada@example.org, Bob <bob@example.net>\ncarol@example.com"},
    )
    assert sent.status_code == 202 and sent.json()["queued"] == 3
    states = api.get(_url(conference, "/emails")).json()
    assert sorted((s["address"], s["status"]) for s in states) == [
        ("ada@example.org", "queued"),
        ("bob@example.net", "queued"),
        ("carol@example.com", "queued"),
    ]


def test_a_thousand_addresses_or_a_bad_one_are_refused_and_nothing_is_queued(
    api: TestClient, conference: str
) -> None:
    many = [f"guest{n}@example.org" for n in range(1000)]
    refused = api.post(_url(conference, "/emails"), json={"addresses": many})
    assert refused.status_code == 422
    assert refused.json()["detail"] == (
        "An invitation goes to 50 addresses at most at a time; this list has 1000. "
        "Nothing was sent."
    )
    malformed = api.post(
        _url(conference, "/emails"), json={"addresses": ["ok@example.org", "bob@", "x y"]}
    )
    assert malformed.status_code == 422
    assert malformed.json()["detail"] == (
        "Not an email address: entries 2 (bob@), 3 (x y). Nothing was sent."
    )
    assert api.get(_url(conference, "/emails")).json() == []


def test_the_hosts_daily_cap_refuses_a_list_that_would_pass_it(
    api: TestClient, conference: str, clock: FakeClock
) -> None:
    for batch in range(2):
        addresses = [f"g{batch}-{n}@example.org" for n in range(25)]
        assert api.post(_url(conference, "/emails"), json={"addresses": addresses}).is_success
    over = api.post(
        _url(conference, "/emails"), json={"addresses": [f"h{n}@example.org" for n in range(11)]}
    )
    assert over.status_code == 429
    assert over.json()["detail"] == (
        "A host's conferences may send 60 invitations a day; 10 are left for the next 24 "
        "hours and this list has 11. Nothing was sent."
    )
    assert len(api.get(_url(conference, "/emails")).json()) == 50
    clock.advance(hours=24, seconds=1)
    again = [f"h{n}@example.org" for n in range(11)]
    assert api.post(_url(conference, "/emails"), json={"addresses": again}).status_code == 202


def test_without_a_mail_server_the_invitation_is_copied_not_emailed(
    store: Store, settings: Settings, firm: Firm, conference: str
) -> None:
    client = TestClient(signin_app(store, settings))
    client.headers["Authorization"] = f"Bearer {firm.host_token}"
    refused = client.post(_url(conference, "/emails"), json={"addresses": ["ada@example.org"]})
    assert refused.status_code == 409
    assert "no mail server" in refused.json()["detail"]
    assert client.get(_url(conference)).status_code == 200  # the control: copying works


def _page_app(store: Store, mail_settings: Settings) -> FastAPI:
    return signin_app(store, mail_settings)


def test_the_page_copies_downloads_sends_and_shows_each_email(
    store: Store, mail_settings: Settings, firm: Firm, conference: str
) -> None:
    client = browser(_page_app(store, mail_settings))
    sign_in(client, HOST_EMAIL, PASSWORD)
    me = client.get("/me")
    assert f'href="/me/conferences/{conference}/invitation"' in me.text
    page = client.get(f"/me/conferences/{conference}/invitation")
    assert page.status_code == 200
    view = store.conferences.get_conference(_operator(), conference)
    assert 'id="invitation-text" readonly' in page.text and view.pin in page.text
    assert view.host_pin and view.host_pin not in page.text
    assert 'data-copy="invitation-text"' in page.text and "/static/invitation.js" in page.text
    assert f'action="/api/v1/conferences/{conference}/invitation.ics"' in page.text
    assert client.get(f"/api/v1/conferences/{conference}/invitation.ics").status_code == 200

    csrf = csrf_of(page)
    typed = "ada@example.org\nnot-an-address"
    refused = client.post(
        f"/me/conferences/{conference}/invitation/emails",
        data={"csrf_token": csrf, "addresses": typed, "start": "", "minutes": "60"},
    )
    assert refused.status_code == 400
    assert "Not an email address: entry 2 (not-an-address). Nothing was sent." in refused.text
    assert 'aria-invalid="true"' in refused.text
    assert ">ada@example.org\nnot-an-address</textarea>" in refused.text  # nothing lost
    assert "None in the last 30 days." in refused.text

    sent = client.post(
        f"/me/conferences/{conference}/invitation/emails",
        data={"csrf_token": csrf, "addresses": "ada@example.org", "start": "", "minutes": "60"},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    shown = client.get(sent.headers["location"])
    assert "The invitation is on its way" in shown.text
    assert "<td>ada@example.org</td>" in shown.text and "Waiting to be sent" in shown.text

    forged = client.post(
        f"/me/conferences/{conference}/invitation/emails",
        data={"csrf_token": "forged", "addresses": "eve@example.org"},
    )
    assert forged.status_code == 403
    assert "eve@example.org" not in client.get(f"/me/conferences/{conference}/invitation").text
