"""Invitations to a mail server that wants TLS (aiosmtpd with a certificate from a test CA):
STARTTLS on a server that refuses mail without it, and implicit TLS. The certificate is
checked against the system's authorities and ``smtp_ca_file``'s: by default (the test CA is
in no system store), from another CA, or for another name than ``smtp_host``, nothing is
sent, the invitation stays queued (retrying) and says why; trusting the server's CA lets it
through, encrypted. ``starttls`` to a server that does not offer STARTTLS sends nothing in
clear text (the control: ``none`` to the same server delivers)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import FakeClock
from tests.support.certs import Issued, TestCa
from tests.support.smtp import Mailbox, MailServerProcess

from callroster.accounts.actor import Actor, Role, operator_cli
from callroster.config import Settings
from callroster.errors import ConfigError
from callroster.invitations.sender import InvitationSender, MailServer
from callroster.store.store import Store

OPERATOR = operator_cli("test")
GUEST = "marguerite.oyelaran@example.org"
UNTRUSTED = "the mail server's certificate is not trusted (unable to get local issuer certificate)"


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
def ca(tmp_path: Path) -> TestCa:
    return TestCa(tmp_path / "ca")


def _server_tls(issued: Issued) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(issued.cert_file, issued.key_file)
    return context


@pytest.fixture(params=["starttls", "tls"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _mail_server(issued: Issued, mode: str) -> MailServerProcess:
    process = MailServerProcess(Mailbox(), tls=_server_tls(issued), implicit=mode == "tls")
    process.start()
    return process


@pytest.fixture
def mail_server(ca: TestCa, tmp_path: Path, mode: str) -> Iterator[MailServerProcess]:
    process = _mail_server(ca.issue(tmp_path / "mail", "mail"), mode)  # for 127.0.0.1
    yield process
    process.stop()


def _queue(store: Store) -> tuple[Actor, str]:
    account_id = store.accounts.create_account(OPERATOR, "Hale & Partners LLP", "london")
    host_id = store.accounts.create_user(OPERATOR, account_id, Role.HOST, "Grace Hopper")
    conference_id = store.conferences.create_conference(OPERATOR, host_id, "Weekly review")
    host = Actor(host_id, Role.HOST, account_id, "192.0.2.7", "test")
    store.invitations.queue(
        host,
        conference_id,
        [GUEST],
        event_start=store.clock(),
        event_minutes=60,
        per_host_per_day=200,
    )
    return host, conference_id


async def _send(store: Store, settings: Settings, **smtp: object) -> int:
    configured = settings.model_copy(update={"smtp_host": "127.0.0.1", **smtp})
    return await InvitationSender(store, configured, MailServer.of(configured)).send_due()


def _state(store: Store, host: Actor, conference_id: str) -> tuple[str, str | None]:
    (entry,) = store.invitations.outbox(host, conference_id)
    return entry.status, entry.last_error


async def test_over_tls_only_to_a_server_whose_certificate_is_trusted(
    store: Store,
    clock: FakeClock,
    settings: Settings,
    mail_server: MailServerProcess,
    ca: TestCa,
    mode: str,
    tmp_path: Path,
) -> None:
    host, conference_id = _queue(store)
    smtp = {"smtp_port": mail_server.port, "smtp_security": mode}

    # By default only the system's authorities are trusted, and the test CA is not one.
    assert await _send(store, settings, **smtp) == 0
    assert _state(store, host, conference_id) == ("retrying", UNTRUSTED)

    # Trusting another CA does not help.
    other = TestCa(tmp_path / "other-ca", "Some Other CA")
    clock.advance(minutes=1)
    assert await _send(store, settings, smtp_ca_file=other.cert_file, **smtp) == 0
    assert _state(store, host, conference_id) == ("retrying", UNTRUSTED)
    assert mail_server.mailbox.received == []

    clock.advance(minutes=2)
    assert await _send(store, settings, smtp_ca_file=ca.cert_file, **smtp) == 1
    assert [to for to, _ in mail_server.mailbox.received] == [[GUEST]]
    assert mail_server.mailbox.encrypted == [True]


async def test_a_certificate_for_another_name_is_refused(
    store: Store, settings: Settings, ca: TestCa, mode: str, tmp_path: Path
) -> None:
    host, conference_id = _queue(store)
    server = _mail_server(ca.issue(tmp_path / "mail", "mail", hosts=["mail.example.net"]), mode)
    try:
        smtp = {"smtp_port": server.port, "smtp_security": mode, "smtp_ca_file": ca.cert_file}
        assert await _send(store, settings, **smtp) == 0
    finally:
        server.stop()
    assert _state(store, host, conference_id) == (
        "retrying",
        "the mail server's certificate is not for smtp_host",
    )
    assert server.mailbox.received == []


async def test_starttls_to_a_server_without_it_sends_nothing_in_clear(
    store: Store, clock: FakeClock, settings: Settings
) -> None:
    host, conference_id = _queue(store)
    server = MailServerProcess(Mailbox())  # no TLS at all
    server.start()
    try:
        assert await _send(store, settings, smtp_port=server.port, smtp_security="starttls") == 0
        assert _state(store, host, conference_id) == (
            "retrying",
            "the mail server does not offer STARTTLS (smtp_security); nothing was sent",
        )
        assert server.mailbox.received == []

        # The control: the same server takes the invitation when clear text is allowed.
        clock.advance(minutes=1)
        assert await _send(store, settings, smtp_port=server.port, smtp_security="none") == 1
        assert server.mailbox.encrypted == [False]
    finally:
        server.stop()


def test_an_smtp_ca_file_that_is_not_certificates_is_a_one_line_setting_error(
    settings: Settings, tmp_path: Path
) -> None:
    bad = tmp_path / "mail-ca.pem"
    bad.write_text("not a certificate\n")
    configured = settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_ca_file": bad})
    server = MailServer.of(configured)
    assert server is not None
    with pytest.raises(ConfigError, match=r"^bad setting smtp_ca_file: .*mail-ca\.pem") as caught:
        server.check()
    assert "\n" not in str(caught.value)
    # The control: a file of certificates passes.
    good = configured.model_copy(update={"smtp_ca_file": TestCa(tmp_path / "ca").cert_file})
    server = MailServer.of(good)
    assert server is not None
    server.check()
