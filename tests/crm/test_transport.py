"""The webhook client connects only where the destination policy allowed, to the addresses it
checked when the connection opened: a name that answers a public address to the check and
127.0.0.1 a moment later (DNS rebinding) is refused at connect time, and no packet reaches
the loopback listener it pointed at. The connection goes to the checked address while TLS
still checks the URL's host name (SNI and certificate), and no proxy from the environment is
used. Every listener is on loopback; the resolvers are functions of the test's own."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tests.crm.receiver import Receiver, serving
from tests.support.trap import LoopbackOnly, trapping

from callroster.crm.destination import DestinationPolicy, ForbiddenDestinationError
from callroster.crm.transport import GuardedBackend, GuardedTransport
from callroster.crm.webhook import DeliveryResult, WebhookSender, WebhookTarget

SECRET = b"Qm9sZC1Ib3Jpem9uLTQ0Nzctc2lnbmluZw"
EVENT = "call_5d0b7c1e"
PAYLOAD = {"event": "call.ended", "call_id": "5d0b7c1e", "outcome": "busy"}
PUBLIC = "93.184.216.34"  # only ever an answer to a check: nothing connects to it


class Answers:
    """A resolver that gives its answers in turn (the last one again once they run out) and
    records what it was asked: one answer to the check, another to the connection."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        return self.answers[min(len(self.asked), len(self.answers)) - 1]


async def _no_sleep(_delay: float) -> None:
    await asyncio.sleep(0)


async def test_a_name_that_rebinds_to_loopback_after_the_check_is_refused_when_connecting() -> None:
    with trapping() as trap:
        rebinding = Answers([PUBLIC], ["127.0.0.1"])
        policy = DestinationPolicy(resolve=rebinding)
        url = f"https://crm.rebind.test:{trap.port}/hooks/calls"
        assert policy.check_url(url) == url  # when the URL is set: a public address
        network = LoopbackOnly()
        sender = WebhookSender(destinations=policy, network=network, sleep=_no_sleep)
        result = await sender.deliver(WebhookTarget(url, SECRET), EVENT, PAYLOAD)
        await sender.aclose()
        assert rebinding.asked == ["crm.rebind.test", "crm.rebind.test"]  # checked again
        assert result == DeliveryResult(
            False,
            1,
            None,
            "refused: the webhook URL's host resolves to a loopback address (this machine): "
            "CRM webhooks go to public addresses only, unless the operator allows private ones",
        )
        assert trap.reached == 0 and network.connected == []
        trap.prove_reachable()

        # The positive control: where the operator allows private targets, the same answers
        # take the sender to the listener (which hangs up: it is not a CRM).
        control = Answers([PUBLIC], ["127.0.0.1"])
        allowed = DestinationPolicy(allow_private=True, resolve=control)
        assert allowed.check_url(url) == url
        sender = WebhookSender(
            destinations=allowed, network=network, sleep=_no_sleep, max_attempts=1
        )
        result = await sender.deliver(WebhookTarget(url, SECRET), EVENT, PAYLOAD)
        await sender.aclose()
        assert not result.delivered and trap.reached == 2
        assert control.asked == ["crm.rebind.test", "crm.rebind.test"]
        assert network.connected == ["127.0.0.1"]


async def test_every_address_a_name_resolves_to_must_pass() -> None:
    with trapping() as trap:
        mixed = Answers([PUBLIC, "127.0.0.1"])
        transport = GuardedTransport(DestinationPolicy(resolve=mixed), network=LoopbackOnly())
        async with httpx.AsyncClient(transport=transport) as client:
            with pytest.raises(ForbiddenDestinationError, match="loopback"):
                await client.post(f"https://crm.mixed.test:{trap.port}/hook", content=b"{}")
        assert mixed.asked == ["crm.mixed.test"] and trap.reached == 0
        trap.prove_reachable()


# -- TLS to the checked address, for the URL's name ---------------------------------------


def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for ``name`` and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@dataclass
class TlsReceiver:
    """An HTTPS server on 127.0.0.1 that answers 200 and records the name each client asked
    for in its TLS hello (SNI) and the Host header of each request."""

    port: int = 0
    server_names: list[str | None] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)


@asynccontextmanager
async def tls_receiver(cert_file: Path, key_file: Path) -> AsyncIterator[TlsReceiver]:
    received = TlsReceiver()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    context.sni_callback = lambda _sock, name, _ctx: received.server_names.append(name)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        for line in head.decode("latin-1").split("\r\n"):
            if line.lower().startswith("host:"):
                received.hosts.append(line.split(":", 1)[1].strip())
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    received.port = server.sockets[0].getsockname()[1]
    try:
        yield received
    finally:
        server.close()
        await server.wait_closed()


async def test_the_connection_goes_to_the_checked_address_and_tls_checks_the_name(
    tmp_path: Path,
) -> None:
    cert_file, key_file = _certificate(tmp_path, "crm.test")
    trusted = ssl.create_default_context(cafile=str(cert_file))
    answers = Answers(["127.0.0.1"])
    policy = DestinationPolicy(allow_private=True, resolve=answers)
    async with tls_receiver(cert_file, key_file) as receiver:
        transport = GuardedTransport(policy, ssl_context=trusted, network=LoopbackOnly())
        async with httpx.AsyncClient(transport=transport) as client:
            answer = await client.post(f"https://crm.test:{receiver.port}/hook", content=b"{}")
    assert answer.status_code == 200
    assert answers.asked == ["crm.test"]  # the name went to the policy's resolver only
    assert receiver.server_names == ["crm.test"]  # SNI: the URL's name, not the address
    assert receiver.hosts == [f"crm.test:{receiver.port}"]

    # The certificate is checked against the name: one for another name is refused.
    other_cert, other_key = _certificate(tmp_path, "other.test")
    async with tls_receiver(other_cert, other_key) as impostor:
        transport = GuardedTransport(
            policy,
            ssl_context=ssl.create_default_context(cafile=str(other_cert)),
            network=LoopbackOnly(),
        )
        async with httpx.AsyncClient(transport=transport) as client:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await client.post(f"https://crm.test:{impostor.port}/hook", content=b"{}")
    assert impostor.hosts == []


async def test_the_checked_addresses_are_tried_in_turn(tmp_path: Path) -> None:
    cert_file, key_file = _certificate(tmp_path, "crm.test")
    trusted = ssl.create_default_context(cafile=str(cert_file))
    async with tls_receiver(cert_file, key_file) as receiver:
        # ::1 first (the receiver listens on 127.0.0.1 only, so ::1 refuses), then 127.0.0.1.
        answers = Answers(["::1", "127.0.0.1"])
        network = LoopbackOnly()
        transport = GuardedTransport(
            DestinationPolicy(allow_private=True, resolve=answers),
            ssl_context=trusted,
            network=network,
        )
        async with httpx.AsyncClient(transport=transport) as client:
            answer = await client.post(f"https://crm.test:{receiver.port}/hook", content=b"{}")
    assert answer.status_code == 200 and len(receiver.hosts) == 1
    assert answers.asked == ["crm.test"] and network.connected == ["::1", "127.0.0.1"]


async def test_no_proxy_from_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy would resolve the name itself, past every check: the sender ignores the
    environment's proxies, which a plain httpx client would use."""
    with trapping() as proxy:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
            monkeypatch.setenv(name, f"http://{proxy.authority}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        async with serving(Receiver(SECRET)) as receiver:
            sender = WebhookSender(
                destinations=DestinationPolicy(allow_private=True), network=LoopbackOnly()
            )
            result = await sender.deliver(WebhookTarget(receiver.url, SECRET), EVENT, PAYLOAD)
            await sender.aclose()
            assert result.delivered and len(receiver.requests) == 1
            assert proxy.reached == 0
            # The positive control: a plain client, trusting the environment, goes to it.
            async with httpx.AsyncClient(timeout=5) as plain:
                with pytest.raises(httpx.HTTPError):
                    await plain.post(receiver.url, content=b"{}")
            assert proxy.reached == 1 and len(receiver.requests) == 1


async def test_a_local_socket_is_never_a_destination() -> None:
    backend = GuardedBackend(DestinationPolicy(allow_private=True))
    with pytest.raises(ForbiddenDestinationError, match="local socket"):
        await backend.connect_unix_socket("/run/docker.sock")
