"""Signing in against the real app in-process (httpx, over https://testserver so the Secure
cookie is kept): no user enumeration, lock-out, CSRF on every form and on cookie-signed API
calls, the cookie's flags, the 15-minute idle limit on a moved clock, the administrator's
second factor, open redirects refused, suspended users refused, bearer tokens unchanged."""

from __future__ import annotations

import html
import re
import time
from http.cookies import SimpleCookie

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.conftest import FakeClock

from callroster.accounts import totp
from callroster.accounts.actor import Role, operator_cli
from callroster.accounts.passwords import hash_password, verify_password
from callroster.app import create_app
from callroster.config import Settings
from callroster.store.models import User
from callroster.store.store import Store
from callroster.web.signin import qr_code, safe_next
from callroster.web.signin import router as signin_router

OPERATOR = operator_cli("test")
HOST_EMAIL = "hana.host@firm.example"
ADMIN_EMAIL = "ada.admin@firm.example"
PASSWORD = "Plover-Quartz-Ribbon-71"


class Firm:
    def __init__(self, store: Store) -> None:
        self.account_id = store.accounts.create_account(OPERATOR, "Firm LLP", "london")
        self.host_id = store.accounts.create_user(
            OPERATOR, self.account_id, Role.HOST, "Hana Host", email=HOST_EMAIL, password=PASSWORD
        )
        self.admin_id = store.accounts.create_user(
            OPERATOR,
            self.account_id,
            Role.ADMINISTRATOR,
            "Ada Admin",
            email=ADMIN_EMAIL,
            password=PASSWORD,
        )
        self.host_token = store.tokens.issue(
            OPERATOR, self.account_id, self.host_id, {"roster:read", "legs:control"}, "test"
        )


def signin_app(store: Store, settings: Settings) -> FastAPI:
    app = create_app(store, settings)
    if not any(getattr(route, "path", None) == "/login" for route in app.routes):
        app.include_router(signin_router)
    return app


@pytest.fixture
def firm(store: Store) -> Firm:
    return Firm(store)


@pytest.fixture
def app(store: Store, settings: Settings) -> FastAPI:
    return signin_app(store, settings)


def browser(app: FastAPI, source: str = "testclient", device: str | None = None) -> TestClient:
    """A browser whose requests come from the address ``source``, holding the device
    cookie ``device`` if given."""
    return TestClient(
        app,
        base_url="https://testserver",
        follow_redirects=False,
        client=(source, 50000),
        cookies={"callroster_device": device} if device else None,
    )


def csrf_of(page: httpx.Response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def sign_in(
    client: TestClient,
    email: str,
    password: str,
    *,
    stay: bool = False,
    next_path: str | None = None,
) -> httpx.Response:
    page = client.get("/login")
    assert page.status_code == 200
    form = {"csrf_token": csrf_of(page), "email": email, "password": password}
    if stay:
        form["stay_signed_in"] = "on"
    if next_path is not None:
        form["next"] = next_path
    return client.post("/login", data=form)


def session_cookie(response: httpx.Response) -> SimpleCookie:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith("callroster_session="):
            cookie = SimpleCookie()
            cookie.load(header)
            return cookie
    raise AssertionError(f"no session cookie in {response.headers}")


@pytest.mark.real_password_cost  # its timing comparison is of the real argon2 check
def test_wrong_password_and_unknown_email_give_the_same_answer(
    app: FastAPI, firm: Firm, store: Store
) -> None:
    client = browser(app)
    wrong = sign_in(client, HOST_EMAIL, "not the password")
    unknown = sign_in(client, "nobody@firm.example", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "The email or password is not right." in wrong.text
    assert wrong.text.replace(HOST_EMAIL, "EMAIL") == unknown.text.replace(
        "nobody@firm.example", "EMAIL"
    )
    assert "callroster_session" not in str(wrong.headers) + str(unknown.headers)
    # A user without a password at all answers the same, too.
    store.accounts.create_user(
        OPERATOR, firm.account_id, Role.HOST, "No Password", email="nopw@firm.example"
    )
    nopw = sign_in(client, "nopw@firm.example", "not the password")
    assert nopw.text.replace("nopw@firm.example", "EMAIL") == unknown.text.replace(
        "nobody@firm.example", "EMAIL"
    )

    # Comparable time: argon2 runs for an unknown email as for a known one.
    reference = hash_password("a reference password")
    started = time.perf_counter()
    verify_password(reference, "not the password")
    argon2_s = time.perf_counter() - started
    timings: dict[str, float] = {}
    for email in (HOST_EMAIL, "someone.else@firm.example"):
        page = client.get("/login")
        form = {"csrf_token": csrf_of(page), "email": email, "password": "not the password"}
        started = time.perf_counter()
        client.post("/login", data=form)
        timings[email] = time.perf_counter() - started
    assert min(timings.values()) >= 0.6 * argon2_s, (timings, argon2_s)


def test_signing_in_sets_a_secure_httponly_session_cookie(app: FastAPI, firm: Firm) -> None:
    client = browser(app)
    signed_in = sign_in(client, HOST_EMAIL, PASSWORD)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/me"
    header = next(
        h for h in signed_in.headers.get_list("set-cookie") if h.startswith("callroster_session=")
    )
    attributes = {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}
    assert {"httponly", "secure", "samesite", "path"} <= attributes
    assert "max-age" not in attributes and "expires" not in attributes
    cookie = session_cookie(signed_in)["callroster_session"]
    assert cookie["samesite"].lower() == "lax" and cookie["path"] == "/"
    assert cookie.value.startswith("crs_")

    me = client.get("/me")
    assert me.status_code == 200
    assert "Hana Host" in me.text and "Host" in me.text and HOST_EMAIL in me.text
    assert 'name="csrf-token"' in me.text
    assert me.headers["cache-control"] == "no-store"
    # Signed in, /login goes straight on.
    assert client.get("/login").headers["location"] == "/me"

    stay = sign_in(browser(app), HOST_EMAIL, PASSWORD, stay=True)
    cookie = session_cookie(stay)["callroster_session"]
    assert cookie["max-age"] == "86400" and cookie["httponly"] and cookie["secure"]


def test_the_session_ends_after_15_minutes_idle_and_slides_with_use(
    app: FastAPI, firm: Firm, clock: FakeClock
) -> None:
    client = browser(app)
    sign_in(client, HOST_EMAIL, PASSWORD)
    for _ in range(3):
        clock.advance(minutes=14)
        assert client.get("/me").status_code == 200
    clock.advance(minutes=16)
    gone = client.get("/me")
    assert gone.status_code == 303 and gone.headers["location"] == "/login?next=/me"
    assert client.get("/api/v1/me").status_code == 401

    # "Stay signed in": idle for hours is fine, until one day after signing in.
    client = browser(app)
    sign_in(client, HOST_EMAIL, PASSWORD, stay=True)
    clock.advance(hours=23, minutes=59)
    assert client.get("/me").status_code == 200
    clock.advance(minutes=1)
    assert client.get("/me").status_code == 303


def test_lock_out_after_5_failures_from_one_address_the_same_for_unknown_emails(
    app: FastAPI, firm: Firm, clock: FakeClock, store: Store
) -> None:
    client = browser(app)
    for email in (HOST_EMAIL, "nobody@firm.example"):
        answers = [sign_in(client, email, f"wrong password {i}") for i in range(5)]
        assert [a.status_code for a in answers] == [401, 401, 401, 401, 429]
        locked = sign_in(client, email, PASSWORD)  # even the right password
        assert locked.status_code == 429
        assert "Too many attempts. Try again in 15 minutes." in locked.text
        assert locked.headers["retry-after"] == "900"
    clock.advance(minutes=10)
    assert "Try again in 5 minutes." in sign_in(client, HOST_EMAIL, PASSWORD).text
    clock.advance(minutes=5)
    assert sign_in(client, HOST_EMAIL, PASSWORD).status_code == 303

    # Per source address: 20 failures in 15 minutes, whatever the emails.
    clock.advance(hours=1)
    for i in range(20):
        sign_in(client, f"spray{i}@firm.example", "wrong password")
    assert sign_in(client, ADMIN_EMAIL, PASSWORD).status_code == 429

    actions = [e.action for e in store.audit.entries(limit=200)]
    assert "signin.lockout" in actions and "signin.locked" in actions
    assert "signin.failure" in actions and "signin" in actions
    for entry in store.audit.entries(limit=500):
        text = " ".join([entry.actor, entry.action, entry.subject, entry.reason, entry.source])
        assert PASSWORD not in text and "firm.example" not in text and "wrong" not in text


def test_an_attacker_cannot_lock_the_administrator_out(
    app: FastAPI, firm: Firm, clock: FakeClock, store: Store
) -> None:
    """Issue 12: five wrong passwords used to lock the email out for everyone for 15 minutes.
    Now the guesser's own address is locked; the administrator, from theirs, waits a second."""
    attacker, admin = browser(app, "198.51.100.66"), browser(app, "192.0.2.10")
    answers = [sign_in(attacker, ADMIN_EMAIL, f"guess {i}").status_code for i in range(50)]
    assert answers == [401] * 4 + [429] * 46
    assert sign_in(attacker, ADMIN_EMAIL, PASSWORD).status_code == 429  # locked, right or not
    failures = [e for e in store.audit.entries(limit=500) if e.action == "signin.failure"]
    assert len(failures) == 5  # the other 45 were refused without checking

    # From another address the email is delayed, not locked: a second after the latest
    # failure. Too soon, the right password is refused unchecked and not counted...
    too_soon = sign_in(admin, ADMIN_EMAIL, PASSWORD)
    assert too_soon.status_code == 429
    assert too_soon.headers["retry-after"] == "1"
    assert "Too many attempts. Try again in 1 second." in too_soon.text
    assert "callroster_session" not in str(too_soon.headers)
    clock.advance(seconds=1)
    # ...and after the wait it is accepted.
    assert sign_in(admin, ADMIN_EMAIL, PASSWORD).headers["location"] == "/account/second-factor"
    actions = [e.action for e in store.audit.entries(limit=500)]
    assert actions.count("signin.failure") == 5 and "signin.delayed" in actions
    assert "signin.locked" in actions and "signin.lockout" in actions


def test_guesses_from_many_addresses_slow_the_email_down_but_never_lock_it(
    app: FastAPI, firm: Firm, clock: FakeClock, store: Store
) -> None:
    """Each address guesses once, each as soon as the delay allows: the waits double from a
    second to the one-minute cap; attempts too soon change nothing; the owner gets in after
    at most the cap, and an unknown email is slowed down just the same."""
    for email in (HOST_EMAIL, "nobody@firm.example"):
        waits: list[int] = []
        for n in range(14):
            guesser = browser(app, f"203.0.113.{n}")
            answer = sign_in(guesser, email, f"guess {n}")
            while answer.status_code == 429:
                wait = int(answer.headers["retry-after"])
                waits.append(wait)
                # Hammering meanwhile, from yet other addresses, neither counts nor helps.
                for m in range(3):
                    assert sign_in(browser(app, f"203.0.114.{m}"), email, "x").status_code == 429
                clock.advance(seconds=wait)
                answer = sign_in(guesser, email, f"guess {n}")
            assert answer.status_code == 401
        assert waits == [1, 2, 4, 8, 16, 32, 60, 60, 60]
        owner = browser(app, "192.0.2.10")
        assert int(sign_in(owner, email, PASSWORD).headers["retry-after"]) == 60
        clock.advance(seconds=60)
        expected = 303 if email == HOST_EMAIL else 401
        assert sign_in(owner, email, PASSWORD).status_code == expected
        clock.advance(minutes=30)  # the delay fades with its failures
        if email == HOST_EMAIL:
            assert sign_in(browser(app, "192.0.2.11"), email, "wrong").status_code == 401


def device_cookie(response: httpx.Response) -> SimpleCookie:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith("callroster_device="):
            cookie = SimpleCookie()
            cookie.load(header)
            return cookie
    raise AssertionError(f"no device cookie in {response.headers}")


def push_to_the_cap(app: FastAPI, clock: FakeClock, email: str) -> None:
    """Guesses from 11 addresses, each as soon as the delay allows: the email's delay is
    then at its cap, 60 s after the latest."""
    for n in range(11):
        guesser = browser(app, f"203.0.113.{n}")
        answer = sign_in(guesser, email, f"guess {n}")
        while answer.status_code == 429:
            clock.advance(seconds=int(answer.headers["retry-after"]))
            answer = sign_in(guesser, email, f"guess {n}")
        assert answer.status_code == 401


def test_a_browser_that_signed_in_before_is_not_delayed(
    app: FastAPI, firm: Firm, clock: FakeClock, store: Store
) -> None:
    """Guessers from many addresses could grab each slot the delay opens before the owner:
    the browser the owner signed in with before skips the delay (its device cookie)."""
    first = sign_in(browser(app, "192.0.2.10"), HOST_EMAIL, PASSWORD)
    cookie = device_cookie(first)["callroster_device"]
    assert cookie["httponly"] and cookie["secure"] and cookie["samesite"].lower() == "strict"
    assert cookie["path"] == "/login" and cookie["max-age"] == str(30 * 24 * 3600)
    device = cookie.value
    assert "firm.example" not in device
    push_to_the_cap(app, clock, HOST_EMAIL)
    assert sign_in(browser(app, "192.0.2.77"), HOST_EMAIL, PASSWORD).status_code == 429
    # The owner's browser, from any address: straight in, while the delay stands.
    assert sign_in(browser(app, "192.0.2.77", device), HOST_EMAIL, PASSWORD).status_code == 303
    # A device cookie is for its email only, for 30 days, and cannot be forged.
    assert sign_in(browser(app, "192.0.2.78", device), ADMIN_EMAIL, "x").status_code == 401
    day, _, mac = device.partition(".")
    for forged in (f"{int(day) + 1}.{mac}", f"{day}.{mac[:-2]}AA", "", "1.x", "x" * 500):
        refused = sign_in(browser(app, "192.0.2.79", forged), HOST_EMAIL, PASSWORD)
        assert refused.status_code == 429
    clock.advance(days=31)
    push_to_the_cap(app, clock, HOST_EMAIL)
    assert sign_in(browser(app, "192.0.2.80", device), HOST_EMAIL, PASSWORD).status_code == 429


def test_a_stolen_device_cookie_gives_5_undelayed_guesses_then_none(
    app: FastAPI, firm: Firm, clock: FakeClock, store: Store
) -> None:
    device = device_cookie(sign_in(browser(app, "192.0.2.10"), HOST_EMAIL, PASSWORD))
    stolen = device["callroster_device"].value
    push_to_the_cap(app, clock, HOST_EMAIL)
    answers = [
        sign_in(browser(app, f"198.51.100.{n}", stolen), HOST_EMAIL, f"guess {n}").status_code
        for n in range(8)
    ]
    # Five checked without delay, from five addresses; then the cookie is an ordinary
    # browser's: delayed (60 s), not a lock.
    assert answers == [401] * 5 + [429] * 3
    delayed = sign_in(browser(app, "198.51.100.99", stolen), HOST_EMAIL, PASSWORD)
    assert delayed.status_code == 429 and int(delayed.headers["retry-after"]) <= 60
    # The owner, with the same cookie, is delayed too but never locked out.
    clock.advance(seconds=60)
    assert sign_in(browser(app, "192.0.2.10", stolen), HOST_EMAIL, PASSWORD).status_code == 303


def test_a_post_without_the_csrf_token_is_refused(app: FastAPI, firm: Firm) -> None:
    client = browser(app)
    page = client.get("/login")
    form = {"email": HOST_EMAIL, "password": PASSWORD}
    assert client.post("/login", data=form).status_code == 403
    assert client.post("/login", data={**form, "csrf_token": "forged"}).status_code == 403
    # The sign-in form's token is tied to this browser's pre-session cookie.
    other = browser(app)
    other.get("/login")
    assert other.post("/login", data={**form, "csrf_token": csrf_of(page)}).status_code == 403

    assert sign_in(client, HOST_EMAIL, PASSWORD).status_code == 303
    assert client.post("/logout", data={}).status_code == 403
    assert client.post("/logout", data={"csrf_token": csrf_of(page)}).status_code == 403
    assert client.get("/me").status_code == 200  # still signed in
    me = client.get("/me")
    out = client.post("/logout", data={"csrf_token": csrf_of(me)})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert session_cookie(out)["callroster_session"]["max-age"] == "0"
    assert client.get("/me").status_code == 303


def test_the_cookie_authenticates_the_api_and_changes_need_the_csrf_header(
    app: FastAPI, firm: Firm
) -> None:
    client = browser(app)
    sign_in(client, HOST_EMAIL, PASSWORD)
    me = client.get("/api/v1/me")
    assert me.status_code == 200 and me.json()["role"] == "host"
    assert me.json()["id"] == firm.host_id

    session = client.get("/api/v1/session").json()
    assert session["role"] == "host" and session["idle_timeout_s"] == 900
    page = client.get("/me").text
    assert f'<meta name="csrf-token" content="{session["csrf_token"]}">' in page

    csv = "Rhoda Contact,+442079460123\n"
    headers = {"Content-Type": "text/csv"}
    assert client.post("/api/v1/contacts", content=csv, headers=headers).status_code == 403
    forged = {**headers, "X-CSRF-Token": "forged"}
    assert client.post("/api/v1/contacts", content=csv, headers=forged).status_code == 403
    good = {**headers, "X-CSRF-Token": session["csrf_token"]}
    assert client.post("/api/v1/contacts", content=csv, headers=good).status_code == 201

    # Bearer tokens work as before, with no CSRF token and no cookie.
    api = TestClient(app, base_url="https://testserver")
    bearer = {"Authorization": f"Bearer {firm.host_token}"}
    assert api.get("/api/v1/me", headers=bearer).json()["id"] == firm.host_id
    assert (
        api.post("/api/v1/contacts", content=csv, headers={**headers, **bearer}).status_code == 201
    )
    assert api.get("/api/v1/session", headers=bearer).status_code == 401
    assert api.get("/api/v1/me").status_code == 401


def test_next_goes_to_local_paths_only(app: FastAPI, firm: Firm) -> None:
    assert sign_in(browser(app), HOST_EMAIL, PASSWORD, next_path="/c/abc?x=1").headers[
        "location"
    ] == ("/c/abc?x=1")
    for evil in (
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "/\t/evil.example",
        "evil.example",
    ):
        answer = sign_in(browser(app), HOST_EMAIL, PASSWORD, next_path=evil)
        assert answer.headers["location"] == "/me", evil
        assert safe_next(evil) is None
    # The login page given a bad next does not carry it in its form.
    page = browser(app).get("/login", params={"next": "//evil.example"})
    assert "evil.example" not in page.text


def test_suspended_users_cannot_sign_in(app: FastAPI, firm: Firm, store: Store) -> None:
    client = browser(app)
    signed_in = browser(app)
    sign_in(signed_in, HOST_EMAIL, PASSWORD)
    with store.sessions.begin() as session:
        session.get_one(User, firm.host_id).suspended_at = store.clock()
    refused = sign_in(client, HOST_EMAIL, PASSWORD)
    assert refused.status_code == 403 and "suspended" in refused.text
    assert "callroster_session" not in str(refused.headers)
    # Without the right password, the answer is the ordinary one.
    assert sign_in(client, HOST_EMAIL, "wrong password").status_code == 401
    # A session opened before the suspension ends.
    assert signed_in.get("/me").status_code == 303
    assert signed_in.get("/api/v1/me").status_code == 401


def test_an_administrator_enrols_a_second_factor_before_anything_else(
    app: FastAPI, firm: Firm, clock: FakeClock, store: Store
) -> None:
    client = browser(app)
    first = sign_in(client, ADMIN_EMAIL, PASSWORD)
    assert first.headers["location"] == "/account/second-factor"
    # Not usable until enrolled: not the pages, not the API.
    assert client.get("/me").headers["location"] == "/account/second-factor?next=/me"
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/session").status_code == 401
    assert client.get("/login/second-factor").headers["location"] == "/account/second-factor"

    page = client.get("/account/second-factor")
    assert page.status_code == 200 and 'for="code"' in page.text
    match = re.search(r'href="(otpauth://totp/[^"]+)"', page.text)
    assert match is not None
    secret = re.search(r"secret=([A-Z2-7]+)", match.group(1))
    assert secret is not None
    shown = re.search(r'id="totp-secret" class="secret">([A-Z2-7 ]+)<', page.text)
    assert shown is not None and shown.group(1).replace(" ", "") == secret.group(1)
    # The same address as a QR code, drawn on the server (an SVG in a data: address).
    qr = re.search(r'id="totp-qr" class="qr" src="([^"]+)"', page.text)
    assert qr is not None and qr.group(1).startswith("data:image/svg+xml")
    assert html.unescape(qr.group(1)) == qr_code(html.unescape(match.group(1)))
    assert qr_code("otpauth://totp/other") != qr_code(html.unescape(match.group(1)))

    wrong = client.post(
        "/account/second-factor", data={"csrf_token": csrf_of(page), "code": "12345"}
    )
    assert wrong.status_code == 401 and "That code is not right." in wrong.text
    assert client.post("/account/second-factor", data={"code": "123456"}).status_code == 403
    done = client.post(
        "/account/second-factor",
        data={"csrf_token": csrf_of(page), "code": totp.code_at(secret.group(1), clock.now)},
    )
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([a-z2-9-]{19})</code></li>", done.text)
    assert len(codes) == 10
    assert client.get("/me").status_code == 200
    assert client.get("/api/v1/me").json()["role"] == "administrator"
    # Shown once: the page now only says it is set up.
    again = client.get("/account/second-factor")
    assert "is set up" in again.text and codes[0] not in again.text

    client.post("/logout", data={"csrf_token": csrf_of(client.get("/me"))})
    second = sign_in(client, ADMIN_EMAIL, PASSWORD, next_path="/me")
    assert second.headers["location"] == "/login/second-factor?next=/me"
    assert client.get("/me").status_code == 303
    step = client.get("/login/second-factor?next=/me")
    assert step.status_code == 200
    bad = client.post(
        "/login/second-factor", data={"csrf_token": csrf_of(step), "code": "nope-nope"}
    )
    assert bad.status_code == 401 and "That code is not right." in bad.text
    clock.advance(seconds=30)
    ok = client.post(
        "/login/second-factor",
        data={
            "csrf_token": csrf_of(step),
            "code": totp.code_at(secret.group(1), clock.now),
            "next": "/me",
        },
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/me"
    assert client.get("/me").status_code == 200

    # A recovery code works once.
    for expected in (303, 401):
        other = browser(app)
        sign_in(other, ADMIN_EMAIL, PASSWORD)
        form = other.get("/login/second-factor")
        answer = other.post(
            "/login/second-factor", data={"csrf_token": csrf_of(form), "code": codes[3]}
        )
        assert answer.status_code == expected
    actions = [e.action for e in store.audit.entries(firm.account_id, limit=100)]
    assert "second_factor.enrol" in actions and "second_factor.recovery_code_use" in actions
    assert "second_factor.verify" in actions and "signout" in actions


def test_wrong_second_factor_codes_lock_out(app: FastAPI, firm: Firm, clock: FakeClock) -> None:
    client = browser(app)
    sign_in(client, ADMIN_EMAIL, PASSWORD)
    page = client.get("/account/second-factor")
    secret = re.search(r"secret=([A-Z2-7]+)", page.text)
    assert secret is not None
    client.post(
        "/account/second-factor",
        data={"csrf_token": csrf_of(page), "code": totp.code_at(secret.group(1), clock.now)},
    )
    client.post("/logout", data={"csrf_token": csrf_of(client.get("/me"))})
    sign_in(client, ADMIN_EMAIL, PASSWORD)
    form = client.get("/login/second-factor")
    answers = [
        client.post("/login/second-factor", data={"csrf_token": csrf_of(form), "code": "x"})
        for _ in range(6)
    ]
    assert [a.status_code for a in answers] == [401, 401, 401, 401, 429, 429]
    assert "Too many attempts. Try again in 15 minutes." in answers[-1].text


def test_wrong_second_factor_codes_from_one_address_do_not_lock_the_user_elsewhere(
    app: FastAPI, firm: Firm, clock: FakeClock
) -> None:
    """Whoever knows the password and types wrong codes locks only their own address out;
    from another, the user waits (1 s after 5 failures, doubling up to 5 minutes)."""
    enrolling = browser(app, "192.0.2.10")
    sign_in(enrolling, ADMIN_EMAIL, PASSWORD)
    page = enrolling.get("/account/second-factor")
    secret = re.search(r"secret=([A-Z2-7]+)", page.text)
    assert secret is not None
    enrolling.post(
        "/account/second-factor",
        data={"csrf_token": csrf_of(page), "code": totp.code_at(secret.group(1), clock.now)},
    )
    clock.advance(seconds=30)
    attacker = browser(app, "198.51.100.66")
    sign_in(attacker, ADMIN_EMAIL, PASSWORD)
    form = attacker.get("/login/second-factor")
    answers = [
        attacker.post("/login/second-factor", data={"csrf_token": csrf_of(form), "code": "x"})
        for _ in range(20)
    ]
    assert [a.status_code for a in answers] == [401] * 4 + [429] * 16
    owner = browser(app, "192.0.2.10")
    sign_in(owner, ADMIN_EMAIL, PASSWORD)
    form = owner.get("/login/second-factor")
    code = totp.code_at(secret.group(1), clock.now)
    too_soon = owner.post("/login/second-factor", data={"csrf_token": csrf_of(form), "code": code})
    assert too_soon.status_code == 429 and too_soon.headers["retry-after"] == "1"
    clock.advance(seconds=1)
    done = owner.post("/login/second-factor", data={"csrf_token": csrf_of(form), "code": code})
    assert done.status_code == 303
