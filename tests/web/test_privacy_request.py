"""The public data-subject request pages and the operator's queue, against the real app
in-process (https://testserver) with a real SMTP server (aiosmtpd on 127.0.0.1) for the email
codes and the recording SMS double for text messages: the same answer whether or not the
address is on record (only the mail differs), the code, its tries, the download and its
expiry, rate limits, CSRF, and the operator's page and API."""

from __future__ import annotations

import email
import io
import re
import zipfile
from email.message import Message

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.conftest import FakeClock
from tests.store.test_privacy_requests import EMAIL, NAME, NATIONAL, NUMBER, seed
from tests.support.smtp import MailServerProcess

from callroster.accounts.actor import operator_cli
from callroster.app import create_app
from callroster.config import Settings
from callroster.invitations.sender import MailServer
from callroster.io.code_sender import CodeSender, RecordingSmsSender
from callroster.store.store import Store

OPERATOR = operator_cli("test")
UNKNOWN = "nobody@nowhere.example"


@pytest.fixture
def sms() -> RecordingSmsSender:
    return RecordingSmsSender()


@pytest.fixture
def app(
    store: Store, settings: Settings, mail_server: MailServerProcess, sms: RecordingSmsSender
) -> FastAPI:
    mail_settings = settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": mail_server.port,
            "smtp_security": "none",
            "smtp_from": "privacy@callroster.test",
        }
    )
    app = create_app(store, mail_settings)
    app.state.code_sender = CodeSender(MailServer.of(mail_settings), sms, "privacy@callroster.test")
    return app


def browser(app: FastAPI) -> TestClient:
    return TestClient(app, base_url="https://testserver", follow_redirects=False)


def csrf_of(page: httpx.Response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def ask(client: TestClient, **fields: str) -> httpx.Response:
    form = client.get("/privacy/request")
    assert form.status_code == 200
    return client.post(
        "/privacy/request",
        data={"csrf_token": csrf_of(form), "kind": "access", "country": "GB", **fields},
    )


def mails(mail_server: MailServerProcess) -> list[tuple[list[str], Message]]:
    return [(to, email.message_from_bytes(raw)) for to, raw in mail_server.mailbox.received]


def code_in(text: str) -> str:
    match = re.search(r"code is (\d{8})", text)
    assert match, text
    return match.group(1)


def give_code(client: TestClient, path: str, code: str) -> httpx.Response:
    page = client.get(path)
    return client.post(path, data={"csrf_token": csrf_of(page), "code": code})


def test_known_and_unknown_addresses_get_the_same_answer_only_one_gets_mail(
    app: FastAPI, store: Store, mail_server: MailServerProcess
) -> None:
    seed(store)
    client = browser(app)
    known, unknown = ask(client, email=EMAIL), ask(client, email=UNKNOWN)
    assert known.status_code == unknown.status_code == 303
    paths = [r.headers["location"] for r in (known, unknown)]
    assert all(re.fullmatch(r"/privacy/request/crpr_[\w-]{43}", p) for p in paths)
    pages = [client.get(p) for p in paths]
    assert [p.status_code for p in pages] == [200, 200]
    texts = [re.sub(r"crpr_[\w-]{43}", "T", p.text) for p in pages]
    texts = [re.sub(r'value="[^"]+"', 'value=""', t) for t in texts]
    assert texts[0] == texts[1]
    assert "If we hold that email address or phone number, we" in texts[0]
    received = mails(mail_server)
    assert [to for to, _ in received] == [[EMAIL]]  # nothing to the unknown address
    message = received[0][1]
    assert message["Subject"] == "Your Callroster privacy request code"
    code = code_in(message.get_payload())
    # The right code for the unknown request does not exist; it is refused like a wrong one.
    refused = give_code(client, paths[1], code)
    assert refused.status_code == 422 and "That code is not right. 4 tries left." in refused.text

    done = give_code(client, paths[0], code)
    assert done.status_code == 200
    link = re.search(r'href="(/privacy/export/crpx_[\w-]{43})"', done.text)
    assert link, done.text
    download = client.get(link.group(1))
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/zip"
    assert download.headers["cache-control"] == "no-store"
    archive = zipfile.ZipFile(io.BytesIO(download.content))
    assert "README.txt" in archive.namelist()
    assert NAME in archive.read("users.csv").decode()


def test_by_national_number_the_code_goes_by_text_to_the_number_on_record(
    app: FastAPI, store: Store, sms: RecordingSmsSender, mail_server: MailServerProcess
) -> None:
    seed(store)
    client = browser(app)
    path = ask(client, phone=NATIONAL).headers["location"]
    assert [number for number, _ in sms.messages] == [NUMBER]
    assert mail_server.mailbox.received == []
    done = give_code(client, path, code_in(sms.messages[0][1]))
    link = re.search(r'href="(/privacy/export/[\w-]+)"', done.text)
    assert link
    archive = zipfile.ZipFile(io.BytesIO(client.get(link.group(1)).content))
    assert NUMBER in archive.read("call_legs.json").decode()


def test_wrong_codes_run_out_and_an_old_link_is_refused(
    app: FastAPI, store: Store, mail_server: MailServerProcess, clock: FakeClock
) -> None:
    seed(store)
    client = browser(app)
    path = ask(client, email=EMAIL).headers["location"]
    code = code_in(mails(mail_server)[0][1].get_payload())
    wrong = f"{(int(code) + 1) % 10**8:08d}"
    said = [give_code(client, path, wrong) for _ in range(5)]
    assert [r.status_code for r in said] == [422] * 4 + [410]
    assert "1 tries left" in said[3].text and "Too many wrong codes" in said[4].text
    assert give_code(client, path, code).status_code == 410

    path = ask(client, email=EMAIL).headers["location"]
    code = code_in(mails(mail_server)[1][1].get_payload())
    link = re.search(r'href="(/privacy/export/[\w-]+)"', give_code(client, path, code).text)
    assert link
    assert client.get(link.group(1)).status_code == 200
    clock.advance(days=7)
    expired = client.get(link.group(1))
    assert expired.status_code == 410 and "This link has expired." in expired.text
    assert client.get("/privacy/export/crpx_nothing").status_code == 404


def test_a_code_expires(
    app: FastAPI, store: Store, mail_server: MailServerProcess, clock: FakeClock
) -> None:
    seed(store)
    client = browser(app)
    path = ask(client, email=EMAIL).headers["location"]
    code = code_in(mails(mail_server)[0][1].get_payload())
    clock.advance(minutes=16)
    late = give_code(client, path, code)
    assert late.status_code == 410 and "This code has expired" in late.text


def test_rate_limit_per_address_is_the_same_for_known_and_unknown(
    app: FastAPI, store: Store
) -> None:
    seed(store)
    client = browser(app)
    for address in (EMAIL, UNKNOWN):
        answers = [ask(client, email=address).status_code for _ in range(4)]
        assert answers == [303, 303, 303, 429]
    # Per source: 10 an hour, whatever the address (the refused ones did not count).
    for n in range(4):
        assert ask(client, email=f"someone{n}@nowhere.example").status_code == 303
    assert ask(client, email="someone9@nowhere.example").status_code == 429


def test_forms_need_their_csrf_token_and_bad_input_is_said(app: FastAPI) -> None:
    client = browser(app)
    refused = client.post("/privacy/request", data={"kind": "access", "email": EMAIL})
    assert refused.status_code == 403
    bad = ask(client, email="not-an-email")
    assert bad.status_code == 422 and "Not an email address." in bad.text
    both = ask(client, email=EMAIL, phone=NATIONAL)
    assert both.status_code == 422 and "not both" in both.text
    assert client.get("/privacy/request/crpr_nothing").status_code == 404


# -- the operator -------------------------------------------------------------------------
def operator_sign_in(client: TestClient, token: str) -> None:
    page = client.get("/operator/login")
    signed = client.post("/operator/login", data={"csrf_token": csrf_of(page), "token": token})
    assert signed.status_code == 303


def verified_request(
    client: TestClient, mail_server: MailServerProcess, kind: str, **fields: str
) -> None:
    path = ask(client, email=EMAIL, kind=kind, **fields).headers["location"]
    code = code_in(mails(mail_server)[-1][1].get_payload())
    done = give_code(client, path, code)
    assert done.status_code == 200 and "Your request is with" in done.text


def test_operator_queue_page_deadline_overdue_refuse_and_approve(
    app: FastAPI, store: Store, mail_server: MailServerProcess, clock: FakeClock
) -> None:
    seeded = seed(store)
    public = browser(app)
    verified_request(public, mail_server, "rectification", correct_name="Rosalind E. Franklin")
    verified_request(public, mail_server, "erasure")
    token = store.operator_tokens.issue(OPERATOR, "web")[1]
    operator = browser(app)
    assert operator.get("/operator/requests").headers["location"] == "/operator/login"
    operator_sign_in(operator, token)
    home = operator.get("/operator")
    assert '<a href="/operator/requests">Privacy requests</a>' in home.text
    queue = operator.get("/operator/requests")
    assert queue.status_code == 200
    assert '<a href="/operator/requests" aria-current="page">' in queue.text
    assert "0 overdue." in queue.text and queue.text.count("2026-12-23") == 2
    assert EMAIL not in queue.text and NAME not in queue.text
    clock.advance(days=30)
    operator_sign_in(operator, token)  # the session idled out meanwhile
    queue = operator.get("/operator/requests")
    assert "2 overdue." in queue.text and queue.text.count(">overdue<") == 2
    ids = re.findall(r'action="/operator/requests/([\w-]+)/refuse"', queue.text)
    assert len(ids) == 2
    rectification = next(
        v.id for v in store.privacy_requests.list(OPERATOR) if v.kind == "rectification"
    )
    csrf = csrf_of(queue)
    assert operator.post(f"/operator/requests/{rectification}/approve").status_code == 403
    approved = operator.post(
        f"/operator/requests/{rectification}/approve", data={"csrf_token": csrf}
    )
    assert approved.headers["location"] == "/operator/requests?done=approved"
    assert store.accounts.get_user(OPERATOR, seeded.user_id).name == "Rosalind E. Franklin"
    erasure = next(i for i in ids if i != rectification)
    no_reason = operator.post(
        f"/operator/requests/{erasure}/refuse", data={"csrf_token": csrf, "reason": " "}
    )
    assert no_reason.status_code == 404 or "Say why" in no_reason.text
    operator.post(
        f"/operator/requests/{erasure}/refuse",
        data={"csrf_token": csrf, "reason": "Needed for a legal claim"},
    )
    queue = operator.get("/operator/requests?done=refused")
    assert "Request refused." in queue.text and "Refused: Needed for a legal claim" in queue.text
    assert "0 overdue." in queue.text


def test_operator_api_lists_and_decides(
    app: FastAPI, store: Store, mail_server: MailServerProcess, clock: FakeClock
) -> None:
    seed(store)
    public = browser(app)
    verified_request(public, mail_server, "rectification", correct_name="Rosalind E. Franklin")
    api = TestClient(app, base_url="https://testserver")
    assert api.get("/api/v1/operator/requests").status_code == 401
    token = store.operator_tokens.issue(OPERATOR, "api")[1]
    auth = {"Authorization": f"Bearer {token}"}
    listed = api.get("/api/v1/operator/requests", headers=auth).json()
    assert [(r["kind"], r["status"], r["overdue"]) for r in listed] == [
        ("rectification", "verified", False)
    ]
    assert EMAIL not in str(listed)
    clock.advance(days=31)
    (item,) = api.get("/api/v1/operator/requests", headers=auth).json()
    assert item["overdue"] is True
    refused = api.post(
        f"/api/v1/operator/requests/{item['id']}/refuse",
        headers=auth,
        json={"reason": "The name on record is right"},
    )
    assert refused.status_code == 200
    assert refused.json()["status"] == "refused" and refused.json()["overdue"] is False
    again = api.post(f"/api/v1/operator/requests/{item['id']}/approve", headers=auth)
    assert again.status_code == 404
