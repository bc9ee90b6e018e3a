"""Tell a Friend end to end (issue 16): the real app in-process (https://testserver), a host
signed in by the real sign-in form, the real sender task's code against a real SMTP server
(aiosmtpd on 127.0.0.1), on SQLite and PostgreSQL.

The email names the sender and carries ``List-Unsubscribe`` and ``List-Unsubscribe-Post``;
a GET of the link (a mail scanner, several times) changes nothing; the one-click POST
unsubscribes; afterwards the address is refused with the same words as one invited before,
and a scan of the whole database (SQLite file, WAL and dump; ``pg_dump``) finds the address
neither in clear nor in hex, while the same scan finds it planted (positive control).
"""

from __future__ import annotations

import asyncio
import email
import re
from email.message import EmailMessage
from email.policy import default

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from tests.conftest import FakeClock
from tests.store.raw_bytes import assert_found_when_planted, found, named_views
from tests.support.smtp import MailServerProcess
from tests.web.test_signin import (
    HOST_EMAIL,
    OPERATOR,
    PASSWORD,
    Firm,
    browser,
    csrf_of,
    sign_in,
    signin_app,
)

from callroster.accounts.actor import Role
from callroster.config import Settings
from callroster.invitations.friend import STANDARD_WORDING
from callroster.invitations.sender import InvitationSender, MailServer
from callroster.store import suppressions
from callroster.store.models import AuditEntry, FriendInvitation, MarketingSuppression
from callroster.store.store import Store

FRIEND = "Marguerite.Oyelaran@Example.ORG"  # as typed; the store's form is lower-cased
FRIEND_NORMALISED = FRIEND.lower()
OTHER = "tobias.vandermeer@example.net"
DELEGATE = "dora.delegate@firm.example"
PUBLIC = "https://meet.callroster.test"
REFUSED = "We can&#x27;t send an invitation to this address."


@pytest.fixture
def mail_settings(settings: Settings, mail_server: MailServerProcess) -> Settings:
    return settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": mail_server.port,
            "smtp_security": "none",
            "smtp_from": "hello@callroster.test",
            "public_url": PUBLIC,
            "friend_invitations_per_sender_per_day": 4,
            "friend_invitations_per_account_per_day": 5,
        }
    )


@pytest.fixture
def firm(store: Store) -> Firm:
    return Firm(store)


@pytest.fixture
def app(store: Store, mail_settings: Settings, firm: Firm) -> FastAPI:
    return signin_app(store, mail_settings)


def signed_in(app: FastAPI, who: str = HOST_EMAIL) -> TestClient:
    client = browser(app)
    assert sign_in(client, who, PASSWORD).status_code == 303
    return client


def invite(client: TestClient, address: str, **fields: str) -> httpx.Response:
    form = client.get("/invite-a-friend")
    assert form.status_code == 200, form.text
    data = {"csrf_token": csrf_of(form), "email": address, "over_18": "yes"}
    data.update(fields)
    answer: httpx.Response = client.post(
        "/invite-a-friend", data={k: v for k, v in data.items() if v != ""}
    )
    return answer


def send_due(store: Store, mail_settings: Settings) -> int:
    sender = InvitationSender(store, mail_settings, MailServer.of(mail_settings))
    return asyncio.run(sender.send_due())


def mails(mail_server: MailServerProcess) -> list[tuple[list[str], EmailMessage]]:
    received = []
    for to, raw in mail_server.mailbox.received:
        message = email.message_from_bytes(raw, policy=default)
        assert isinstance(message, EmailMessage)
        received.append((to, message))
    return received


def rows(store: Store) -> list[FriendInvitation]:
    with store.sessions() as session:
        return list(session.scalars(select(FriendInvitation)))


def suppressed_count(store: Store) -> int:
    with store.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(MarketingSuppression)) or 0)


def mail_client(app: FastAPI) -> TestClient:
    """What a mail client or scanner is: no cookies, no Origin, no CSRF token."""
    return TestClient(app, base_url=PUBLIC, follow_redirects=False)


def test_the_email_names_the_sender_get_changes_nothing_post_unsubscribes(
    app: FastAPI,
    store: Store,
    mail_settings: Settings,
    mail_server: MailServerProcess,
    settings: Settings,
    request: pytest.FixtureRequest,
) -> None:
    host = signed_in(app)
    assert 'href="/invite-a-friend"' in host.get("/me").text
    page = host.get("/invite-a-friend")
    assert STANDARD_WORDING in page.text and "My friend is 18 or over" in page.text
    sent = invite(host, FRIEND, wording="standard")
    assert sent.status_code == 303 and sent.headers["location"] == "/invite-a-friend?done=sent"
    assert "Sent." in host.get(sent.headers["location"]).text

    [row] = rows(store)
    assert row.address_enc is not None and row.status == "queued"
    assert send_due(store, mail_settings) == 1
    [(to, message)] = mails(mail_server)
    assert to == [FRIEND.rsplit("@", 1)[0] + "@example.org"]
    assert message["Subject"] == "Hana Host invites you to try Callroster"
    assert message["From"] == "hello@callroster.test"
    body = message.get_content()
    assert "Hana Host has invited you" in body and STANDARD_WORDING[:40] in body
    unsubscribe = re.fullmatch(
        rf"<({PUBLIC}/unsubscribe/crun_[\w-]{{43}})>", message["List-Unsubscribe"]
    )
    assert unsubscribe, message["List-Unsubscribe"]
    link = unsubscribe.group(1)
    assert link in body  # a plain link too, for clients without one-click
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    [row] = rows(store)  # sent: the address, message and token are gone from the row
    assert (row.status, row.address_enc, row.message_enc, row.token_enc) == (
        "sent",
        None,
        None,
        None,
    )

    # A mail scanner fetches the link, several times: a page with a button, nothing changed.
    scanner = mail_client(app)
    for _ in range(3):
        shown = scanner.get(link)
        assert shown.status_code == 200
        assert re.search(r'<form method="post" action="/unsubscribe/crun_[\w-]{43}">', shown.text)
        assert "You are unsubscribed" not in shown.text
    assert suppressed_count(store) == 0 and len(rows(store)) == 1
    assert not store.privacy_requests.suppressed(FRIEND_NORMALISED)

    # The mail client's one-click POST: no cookie, no CSRF token, the RFC 8058 body.
    done = scanner.post(
        link,
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert done.status_code == 200 and "You are unsubscribed" in done.text
    assert rows(store) == [] and suppressed_count(store) == 1
    # One list: marketing email's own check sees the unsubscribe too.
    assert store.privacy_requests.suppressed(FRIEND_NORMALISED)
    assert not store.privacy_requests.suppressed(OTHER)  # control
    # Again, or with a token never issued: the same answer, nothing more changed.
    again = scanner.post(link, content=b"List-Unsubscribe=One-Click")
    unknown = scanner.post(f"{PUBLIC}/unsubscribe/crun_{'A' * 43}", data={})
    assert again.status_code == unknown.status_code == 200
    pages = {re.sub(r"crun_[\w-]{43}", "T", r.text) for r in (again, unknown, done)}
    assert len(pages) == 1
    assert suppressed_count(store) == 1

    # Invited again, in another spelling: refused with the words an earlier invitation gets.
    refused = invite(host, FRIEND_NORMALISED.upper())
    assert refused.status_code == 422 and REFUSED in refused.text
    assert send_due(store, mail_settings) == 0 and len(mails(mail_server)) == 1

    with store.sessions() as session:
        actions = [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
    for action in ("queue", "send", "sent", "unsubscribe", "refused"):
        assert f"friend_invitation.{action}" in actions

    store.close()
    views = named_views(settings, request)
    for value in (FRIEND, FRIEND_NORMALISED, FRIEND.split("@")[0], FRIEND_NORMALISED.split("@")[0]):
        assert found(views, value) == [], value
    assert_found_when_planted(settings, request, FRIEND, FRIEND_NORMALISED)


def test_invited_before_and_suppressed_get_one_answer(
    app: FastAPI, store: Store, mail_settings: Settings, mail_server: MailServerProcess
) -> None:
    host = signed_in(app)
    assert invite(host, OTHER).status_code == 303
    with store.sessions.begin() as session:  # the marketing opt-out's own step
        digest = suppressions.suppression_index(store.keys.blind_index(), FRIEND_NORMALISED)
        suppressions.suppress(session, digest, store.clock())
    twice, opted_out = invite(host, OTHER), invite(host, FRIEND)
    assert twice.status_code == opted_out.status_code == 422

    def without_input(page: httpx.Response) -> str:
        text = re.sub(r'name="csrf_token" value="[^"]+"', "", page.text)
        return text.replace(OTHER, "X").replace(FRIEND, "X")

    assert without_input(twice) == without_input(opted_out)
    assert REFUSED in twice.text
    # The API says it in the same words.
    api = host.post(
        "/api/v1/friend-invitations",
        json={"email": FRIEND, "over_18": True},
        headers={"X-CSRF-Token": csrf_of(host.get("/invite-a-friend"))},
    )
    assert api.status_code == 422 and api.json()["detail"] == REFUSED.replace("&#x27;", "'")
    assert send_due(store, mail_settings) == 1
    assert [to for to, _ in mails(mail_server)] == [[OTHER]]


def test_what_is_refused_is_said_and_an_own_message_stays_plain_text(
    app: FastAPI,
    store: Store,
    firm: Firm,
    mail_settings: Settings,
    mail_server: MailServerProcess,
) -> None:
    host = signed_in(app)
    bad = invite(host, "not an address")
    assert bad.status_code == 422 and "That is not an email address." in bad.text
    young = invite(host, OTHER, over_18="")
    assert young.status_code == 422 and "Confirm that your friend is 18 or over." in young.text
    long = invite(host, OTHER, wording="own", message="x" * 1001)
    assert long.status_code == 422 and "it may be 1000 at most" in long.text
    empty = invite(host, OTHER, wording="own", message=" \u200b ")
    assert empty.status_code == 422 and "Write a message" in empty.text
    assert rows(store) == []
    own = "Hi Tobias,\r\n<b>try</b> this\u202e\x07 one!\n\n\n\nAda"
    assert invite(host, OTHER, wording="own", message=own).status_code == 303
    assert send_due(store, mail_settings) == 1
    [(_, message)] = mails(mail_server)
    assert message.get_content_type() == "text/plain" and not message.is_multipart()
    body = message.get_content().replace("\r\n", "\n")
    assert "  Hi Tobias,\n  <b>try</b> this one!\n\n  Ada\n" in body
    assert STANDARD_WORDING[:40] not in body

    # The API twin: a person's own token works; an account's API key is not a person.
    api = TestClient(app, base_url="https://testserver")
    token = {"Authorization": f"Bearer {firm.host_token}"}
    made = api.post(
        "/api/v1/friend-invitations",
        json={"email": "ada.l@example.com", "over_18": True, "message": "Come along"},
        headers=token,
    )
    assert made.status_code == 202 and made.json() == {"status": "queued"}
    no_session = api.post("/api/v1/friend-invitations", json={"email": "x@example.com"})
    assert no_session.status_code == 401
    young_api = api.post(
        "/api/v1/friend-invitations",
        json={"email": "b@example.com", "over_18": False},
        headers=token,
    )
    assert young_api.status_code == 422
    csrf_less = host.post(
        "/api/v1/friend-invitations", json={"email": "c@example.com", "over_18": True}
    )
    assert csrf_less.status_code == 403


def test_daily_limits_per_sender_and_per_account(
    app: FastAPI, store: Store, firm: Firm, clock: FakeClock
) -> None:
    store.accounts.create_user(
        OPERATOR, firm.account_id, Role.DELEGATE, "Dora Delegate", email=DELEGATE, password=PASSWORD
    )
    now = [1000.0]
    app.state.monotonic = lambda: now[0]
    host = signed_in(app)
    answers = [invite(host, f"friend{n}@example.org").status_code for n in range(5)]
    assert answers == [303, 303, 303, 303, 429]
    said = invite(host, "friend9@example.org")
    assert "You may invite 4 friends a day; try again tomorrow." in said.text
    delegate = signed_in(app, DELEGATE)
    answers = [invite(delegate, f"pal{n}@example.org").status_code for n in range(2)]
    assert answers == [303, 429]  # the account's 5 a day: 4 of the host's and 1
    assert "Your account may invite 5 friends a day" in invite(delegate, "pal8@example.org").text
    assert len(rows(store)) == 5
    # A refused address counts towards the sender's limit too (no probing in bulk).
    clock.advance(hours=24, seconds=1)
    now[0] += 24 * 3600 + 1
    host = signed_in(app)
    answers = [invite(host, "friend0@example.org").status_code for _ in range(4)]
    assert answers == [422, 422, 422, 422]
    assert invite(host, "friend5@example.org").status_code == 429
    delegate = signed_in(app, DELEGATE)
    assert invite(delegate, "pal5@example.org").status_code == 303


def test_unsubscribe_posts_are_limited_in_size_and_rate(app: FastAPI, store: Store) -> None:
    client = mail_client(app)
    token = f"/unsubscribe/crun_{'B' * 43}"
    big = client.post(token, content=b"x" * 2048)
    assert big.status_code == 413
    answers = [
        client.post(token, content=b"List-Unsubscribe=One-Click").status_code for _ in range(31)
    ]
    assert answers == [200] * 30 + [429]
    assert suppressed_count(store) == 0
