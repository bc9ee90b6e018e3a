"""HTTPS settings: tls_cert_file and tls_key_file go together; http_redirect_port only with
them, on another port, and with a host a redirect can name; the links and the banner say
https once they are set, and nothing changes without them (``make run``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI, Request

from callroster.app import web_certificate, web_server_config
from callroster.config import load_settings
from callroster.errors import ConfigError


def test_by_default_the_web_is_plain_http_on_loopback(tmp_path: Path) -> None:
    settings = load_settings(data=tmp_path)
    assert (settings.tls_cert_file, settings.tls_key_file) == (None, None)
    assert settings.tls_enabled is False
    assert settings.http_redirect_port is None
    assert settings.tls_reload_seconds == 5.0
    assert settings.web_base_url == "http://127.0.0.1:8000"
    assert settings.web_listening == "http://127.0.0.1:8000"
    assert web_certificate(settings) is None
    config = web_server_config(FastAPI(), settings)
    config.load()
    assert config.ssl is None


@pytest.mark.parametrize(
    "given",
    [{"tls_cert_file": "web.crt"}, {"tls_key_file": "web.key"}],
)
def test_one_of_the_pair_alone_is_refused(tmp_path: Path, given: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(data=tmp_path, **given)
    assert str(refused.value) == (
        "bad settings: set both tls_cert_file and tls_key_file, or neither"
    )


def test_with_both_links_and_the_banner_say_https(tmp_path: Path) -> None:
    settings = load_settings(
        data=tmp_path,
        tls_cert_file="web.crt",
        tls_key_file="web.key",
        public_host="conference.example.net",
        http_port=8443,
        http_redirect_port=8080,
    )
    assert settings.tls_enabled is True
    assert settings.web_base_url == "https://conference.example.net:8443"
    assert settings.web_listening == (
        "https://conference.example.net:8443 (plain http port 8080 redirects)"
    )
    assert settings.redirect_hosts == ("conference.example.net",)


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ({}, "http_redirect_port redirects to HTTPS: set tls_cert_file too"),
        (
            {
                "tls_cert_file": "c",
                "tls_key_file": "k",
                "http_port": 8443,
                "http_redirect_port": 8443,
            },
            "http_redirect_port must differ from http_port",
        ),
        (
            {"tls_cert_file": "c", "tls_key_file": "k", "bind": "0.0.0.0,::"},
            "http_redirect_port needs public_host when bind is 0.0.0.0 or ::",
        ),
    ],
)
def test_a_redirect_port_that_cannot_work_is_refused(
    tmp_path: Path, given: dict[str, object], said: str
) -> None:
    with pytest.raises(ConfigError, match=said):
        load_settings(data=tmp_path, **({"http_redirect_port": 8080} | given))


def test_the_redirect_names_only_hosts_of_ours(tmp_path: Path) -> None:
    settings = load_settings(
        data=tmp_path,
        tls_cert_file="c",
        tls_key_file="k",
        bind="127.0.0.1,::1",
        http_redirect_port=0,
    )
    assert settings.redirect_hosts == ("127.0.0.1", "::1")
    wildcard = load_settings(
        data=tmp_path,
        tls_cert_file="c",
        tls_key_file="k",
        bind="0.0.0.0",
        public_host="conference.example.net",
        http_redirect_port=80,
    )
    assert wildcard.redirect_hosts == ("conference.example.net",)


def test_the_reload_interval_is_bounded(tmp_path: Path) -> None:
    assert load_settings(data=tmp_path, tls_reload_seconds=0.5).tls_reload_seconds == 0.5
    for bad in (0, -1, 3601):
        with pytest.raises(ConfigError, match="tls_reload_seconds"):
            load_settings(data=tmp_path, tls_reload_seconds=bad)


def test_the_live_context_is_the_one_uvicorn_serves_with(tmp_path: Path) -> None:
    from tests.support.certs import TestCa

    issued = TestCa(tmp_path / "ca").issue(tmp_path / "web", "web")
    settings = load_settings(
        data=tmp_path, tls_cert_file=issued.cert_file, tls_key_file=issued.key_file
    )
    certificate = web_certificate(settings)
    assert certificate is not None
    config = web_server_config(FastAPI(), settings, certificate.context)
    config.load()
    assert config.ssl is certificate.context  # the reloader's changes reach new connections


@pytest.mark.parametrize(
    ("files", "said"),
    [
        ({"TLS_CERT_FILE": "good"}, "bad settings: set both tls_cert_file and tls_key_file"),
        ({"TLS_CERT_FILE": "good", "TLS_KEY_FILE": "other"}, "tls_key_file is not the key"),
        ({"TLS_CERT_FILE": "missing", "TLS_KEY_FILE": "good"}, "No such file or directory"),
    ],
)
def test_serve_refuses_to_start_with_one_line(
    tmp_path: Path, files: dict[str, str], said: str
) -> None:
    """The real command: exit 2, one line on stderr, and nothing bound or written."""
    from tests.support.certs import TestCa
    from tests.test_cli import assert_one_line_error, run

    ca = TestCa(tmp_path / "ca")
    good, other = ca.issue(tmp_path / "good", "web"), ca.issue(tmp_path / "other", "web")
    paths = {
        "good": {"TLS_CERT_FILE": good.cert_file, "TLS_KEY_FILE": good.key_file},
        "other": {"TLS_KEY_FILE": other.key_file},
        "missing": {"TLS_CERT_FILE": tmp_path / "missing.pem"},
    }
    env = {f"CALLROSTER_{name}": str(paths[kind][name]) for name, kind in files.items()}
    data = tmp_path / "data"
    args = ["serve", "--data", str(data), "--http-port", "0", "--sip-port", "0"]
    assert_one_line_error(run(args, env), 2, said)
    assert not (data / "callroster.db").exists()


async def test_behind_a_trusted_proxy_that_says_https_the_answers_carry_hsts(
    tmp_path: Path,
) -> None:
    """The web port on plain HTTP behind an HTTPS proxy: ``X-Forwarded-Proto: https`` from a
    proxy named in trusted_proxies makes the request HTTPS to the app, HSTS included; from
    anyone else (the control) the header is ignored and no HSTS is sent."""
    import httpx
    from fastapi.responses import PlainTextResponse

    from callroster.web.security_headers import SecurityHeaders

    app = FastAPI()

    @app.get("/scheme")
    async def scheme(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.url.scheme)

    app.add_middleware(SecurityHeaders)
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "192.0.2.7"}
    seen = {}
    for trusted in ("127.0.0.1", ""):
        settings = load_settings(data=tmp_path, trusted_proxies=trusted)
        config = web_server_config(app, settings)
        config.load()
        transport = httpx.ASGITransport(app=config.loaded_app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://proxied") as client:
            answer = await client.get("/scheme", headers=forwarded)
        seen[trusted] = (answer.text, answer.headers.get("strict-transport-security"))
    assert seen == {
        "127.0.0.1": ("https", "max-age=31536000; includeSubDomains"),
        "": ("http", None),
    }
