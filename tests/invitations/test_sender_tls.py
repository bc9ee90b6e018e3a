"""Invitations to a mail server that wants TLS (aiosmtpd with a certificate made here):
STARTTLS on a server that refuses mail without it, and implicit TLS; the certificate is
checked, so the same server with a certificate nobody vouches for gets nothing (the
invitation waits, retrying), and trusting its CA (``smtp_ca_file``) lets it through."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tests.conftest import FakeClock
from tests.support.smtp import Mailbox, MailServerProcess

from callroster.accounts.actor import Actor, Role, operator_cli
from callroster.config import Settings
from callroster.invitations.sender import InvitationSender, MailServer
from callroster.store.store import Store

OPERATOR = operator_cli("test")
GUEST = "marguerite.oyelaran@example.org"


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA), and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "callroster test mail")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "mail.pem", tmp_path / "mail.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def _server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


@pytest.fixture(params=["starttls", "tls"])
def mail_server(
    request: pytest.FixtureRequest, certificate: tuple[Path, Path]
) -> Iterator[MailServerProcess]:
    process = MailServerProcess(
        Mailbox(), tls=_server_tls(certificate), implicit=request.param == "tls"
    )
    process.start()
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


async def test_over_tls_only_to_a_server_whose_certificate_is_trusted(
    store: Store,
    clock: FakeClock,
    settings: Settings,
    mail_server: MailServerProcess,
    certificate: tuple[Path, Path],
    request: pytest.FixtureRequest,
) -> None:
    mode = request.node.callspec.params["mail_server"]
    host, conference_id = _queue(store)
    untrusted = settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": mail_server.port, "smtp_security": mode}
    )
    sender = InvitationSender(store, untrusted, MailServer.of(untrusted))
    assert await sender.send_due() == 0
    (entry,) = store.invitations.outbox(host, conference_id)
    assert (entry.status, entry.last_error) == (
        "retrying",
        "the mail server could not be reached",
    )
    assert mail_server.mailbox.received == []

    trusted = untrusted.model_copy(update={"smtp_ca_file": certificate[0]})
    clock.advance(minutes=1)
    sender = InvitationSender(store, trusted, MailServer.of(trusted))
    assert await sender.send_due() == 1
    assert [to for to, _ in mail_server.mailbox.received] == [[GUEST]]
    assert mail_server.mailbox.encrypted == [True]
