"""The plain-HTTP port's answer (web/https_redirect.py) and HSTS (web/security_headers.py),
in-process: every request is sent 308 to the same path and query over HTTPS on a host of
ours, whatever Host it named; HSTS is on every HTTPS answer, errors included, and never on
plain HTTP. The real ports: tests/security/test_https.py."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from callroster.web.https_redirect import RedirectToHttps, host_of, location
from callroster.web.security_headers import SecurityHeaders

HSTS = "max-age=31536000; includeSubDomains"


async def _get(app: RedirectToHttps | FastAPI, url: str, **kwargs: object) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport) as client:
        return await client.request(url=url, follow_redirects=False, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("header", "host"),
    [
        ("conference.example.net", "conference.example.net"),
        ("Conference.Example.NET:80", "conference.example.net"),
        ("[::1]:8080", "::1"),
        ("[::1]", "::1"),
        ("127.0.0.1:80", "127.0.0.1"),
        ("", ""),
    ],
)
def test_the_host_of_a_host_header(header: str, host: str) -> None:
    assert host_of(header) == host


def test_the_host_header_chooses_among_our_hosts_only() -> None:
    ours = ("127.0.0.1", "::1")
    assert location(ours, 8443, "[::1]:8080", "/x") == "https://[::1]:8443/x"
    assert location(ours, 8443, "127.0.0.1:8080", "/x") == "https://127.0.0.1:8443/x"
    # An attacker's Host never becomes the redirect's: the first of ours instead.
    assert location(ours, 8443, "evil.example", "/x") == "https://127.0.0.1:8443/x"
    assert location(("conference.example.net",), 443, "evil.example", "/") == (
        "https://conference.example.net/"
    )


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "PUT", "DELETE"])
async def test_every_request_is_sent_308_to_the_same_path_over_https(method: str) -> None:
    app = RedirectToHttps(("conference.example.net",), 443)
    answer = await _get(
        app,
        "http://conference.example.net/c/AbC-123_x?since=4&a=%20b",
        method=method,
        content=b"pin=1234" if method == "POST" else None,
    )
    assert answer.status_code == 308  # keeps the method: a POST stays a POST
    assert answer.headers["location"] == (
        "https://conference.example.net/c/AbC-123_x?since=4&a=%20b"
    )
    assert answer.headers["connection"] == "close"
    assert "strict-transport-security" not in answer.headers  # never over plain HTTP


async def test_an_attackers_host_header_makes_no_open_redirect() -> None:
    app = RedirectToHttps(("conference.example.net",), 8443)
    for host in ("evil.example", "evil.example:443", "conference.example.net.evil.example"):
        answer = await _get(app, "http://x/login", method="GET", headers={"Host": host})
        assert answer.headers["location"] == "https://conference.example.net:8443/login"
    # The path cannot name an authority either: it stays a path on our host.
    answer = await _get(app, "http://x//evil.example/%0d%0aSet-Cookie:x", method="GET")
    assert answer.headers["location"].startswith("https://conference.example.net:8443/")
    assert "\r" not in answer.headers["location"] and "\n" not in answer.headers["location"]
    assert answer.headers["location"] == (
        "https://conference.example.net:8443/evil.example/%0d%0aSet-Cookie:x"
    )


def _hsts_app() -> FastAPI:
    app = FastAPI()

    @app.get("/ok")
    async def ok() -> PlainTextResponse:
        return PlainTextResponse("ok")

    app.add_middleware(SecurityHeaders)
    return app


async def test_hsts_on_every_https_answer_and_never_on_plain_http() -> None:
    app = _hsts_app()
    for path, status in (("/ok", 200), ("/missing", 404)):
        secure = await _get(app, f"https://testserver{path}", method="GET")
        plain = await _get(app, f"http://testserver{path}", method="GET")
        assert (secure.status_code, plain.status_code) == (status, status)
        assert secure.headers["strict-transport-security"] == HSTS
        assert "strict-transport-security" not in plain.headers
        # The other headers are on both: the control that the middleware ran on plain HTTP.
        assert plain.headers["x-content-type-options"] == "nosniff"
