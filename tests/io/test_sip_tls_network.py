"""SIP over TLS on real sockets (io/bridge_network.py with io/sip_tls.py's contexts), with
test-CA certificates: the TLS port answers over the connection a message came on, takes
TLS 1.2 and up only, asks for client certificates when told to and marks a connection
certified only for one its client CA verified; a trunk's certificate is checked for its CA
and its name, and a failure says why. Every handshake is a real one on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from cryptography import x509
from tests.support.certs import Issued, TestCa
from tests.support.waiting import wait_until

from callroster.bridge.ports import Address, ConnectFailure
from callroster.config import load_settings
from callroster.errors import ConfigError
from callroster.io.bridge_network import STREAMS_PER_ADDRESS, AsyncioNetwork
from callroster.io.sip_tls import SipTls
from callroster.io.sockets import bind_socket
from callroster.sip.events import Outgoing

OPTIONS = b"OPTIONS sip:bridge@127.0.0.1 SIP/2.0\r\nContent-Length: 0\r\n\r\n"


class Listening:
    def __init__(self, network: AsyncioNetwork, port: int) -> None:
        self.network = network
        self.port = port
        self.received: list[tuple[bytes, Address, str]] = []


@asynccontextmanager
async def tls_listener(tmp_path: Path, ca: TestCa, **settings: object) -> AsyncIterator[Listening]:
    """The network listening for TLS on a free port with a certificate of ``ca``; whatever
    comes is echoed back down the same connection."""
    issued = ca.issue(tmp_path / "certs", "bridge")
    tls = SipTls.from_settings(
        load_settings(
            data=tmp_path / "data",
            sip_tls_cert_file=issued.cert_file,
            sip_tls_key_file=issued.key_file,
            **settings,
        )
    )
    network = AsyncioNetwork(["127.0.0.1"], tls)
    tls_socket = bind_socket("127.0.0.1", 0, socket.SOCK_STREAM, "SIP TLS")
    listening = Listening(network, int(tls_socket.getsockname()[1]))

    def on_sip(data: bytes, source: Address, transport: str) -> None:
        listening.received.append((data, source, transport))
        network.send_sip(Outgoing(b"echo:" + data, source, "tls"))

    await network.listen([], on_sip, lambda source: None, [tls_socket])  # TLS alone
    try:
        yield listening
    finally:
        await network.close()


def _client(ca: TestCa, *, maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca.cert_file))
    if maximum is not None:
        with warnings.catch_warnings():  # an old version, on purpose: it must be refused
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            context.maximum_version = maximum
    return context


async def _exchange(port: int, context: ssl.SSLContext) -> tuple[bytes, float, float]:
    """Connect, send OPTIONS, read the echo; returns it, the handshake's time and the first
    answer's."""
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=context, server_hostname="127.0.0.1"
    )
    handshake = time.perf_counter() - started
    try:
        writer.write(OPTIONS)
        echoed = await asyncio.wait_for(reader.readexactly(5 + len(OPTIONS)), 5)
        return echoed, handshake, time.perf_counter() - started - handshake
    finally:
        writer.close()


async def test_the_tls_port_answers_down_the_same_connection(tmp_path: Path) -> None:
    ca = TestCa(tmp_path / "ca")
    async with tls_listener(tmp_path, ca) as listening:
        echoed, handshake, _ = await _exchange(listening.port, _client(ca))
        [(data, source, transport)] = listening.received
        # The first answer on a new connection is not held back (TLS 1.3 session tickets
        # sent with it cost a 40 ms delayed ACK every time); the best of three, for load.
        firsts = [(await _exchange(listening.port, _client(ca)))[2] for _ in range(3)]
    assert echoed == b"echo:" + OPTIONS
    assert (data, transport) == (OPTIONS, "tls") and source[0] == "127.0.0.1"
    assert handshake < 1.0, handshake
    assert min(firsts) < 0.02, firsts


async def test_below_tls_1_2_is_refused(tmp_path: Path) -> None:
    ca = TestCa(tmp_path / "ca")
    async with tls_listener(tmp_path, ca) as listening:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            await _exchange(listening.port, _client(ca, maximum=ssl.TLSVersion.TLSv1_1))
        # Control: the same client allowed TLS 1.2 is served.
        echoed, _, _ = await _exchange(listening.port, _client(ca, maximum=ssl.TLSVersion.TLSv1_2))
    assert echoed.startswith(b"echo:")


async def test_client_certificates_mark_the_connection_certified(tmp_path: Path) -> None:
    ca, clients = TestCa(tmp_path / "ca"), TestCa(tmp_path / "clients-ca", "Peers CA")
    proxy = clients.issue(tmp_path / "certs", "proxy", client=True)
    stranger = TestCa(tmp_path / "other-ca", "Other CA").issue(
        tmp_path / "certs", "stranger", client=True
    )
    async with tls_listener(tmp_path, ca, sip_tls_client_ca_file=clients.cert_file) as listening:
        network = listening.network
        seen: dict[str, bool | None] = {}
        for name, certificate in (("none", None), ("proxy", proxy), ("stranger", stranger)):
            context = _client(ca)
            if certificate is not None:
                context.load_cert_chain(certificate.cert_file, certificate.key_file)
            listening.received.clear()
            try:
                reader, writer = await asyncio.open_connection(
                    "127.0.0.1", listening.port, ssl=context, server_hostname="127.0.0.1"
                )
                writer.write(OPTIONS)
                await asyncio.wait_for(reader.readexactly(5 + len(OPTIONS)), 5)
            except (ssl.SSLError, ConnectionError, asyncio.IncompleteReadError):
                seen[name] = None  # refused at the handshake
                continue
            source = listening.received[0][1]
            seen[name] = network.peer_certified(source)
            writer.close()
    # No certificate: an ordinary caller; the peers' CA's: certified; another CA's: refused.
    assert seen == {"none": False, "proxy": True, "stranger": None}


async def test_a_renewed_certificate_is_served_without_a_restart(tmp_path: Path) -> None:
    ca = TestCa(tmp_path / "ca")
    first = ca.issue(tmp_path / "certs", "bridge")
    tls = SipTls.from_settings(
        load_settings(
            data=tmp_path / "data",
            sip_tls_cert_file=first.cert_file,
            sip_tls_key_file=first.key_file,
            tls_reload_seconds=0.05,
        )
    )
    network = AsyncioNetwork(["127.0.0.1"], tls)
    tls_socket = bind_socket("127.0.0.1", 0, socket.SOCK_STREAM, "SIP TLS")
    port = int(tls_socket.getsockname()[1])
    await network.listen([], lambda data, source, transport: None, lambda s: None, [tls_socket])
    watching = asyncio.create_task(tls.watch())

    async def served_serial() -> int:
        _, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=_client(ca), server_hostname="127.0.0.1"
        )
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        writer.close()
        return int(x509.load_der_x509_certificate(der).serial_number)

    try:
        assert await served_serial() == first.certificate.serial_number
        renewed = ca.issue(tmp_path / "certs", "bridge")  # the same files, written anew
        assert renewed.certificate.serial_number != first.certificate.serial_number
        serials: list[int] = []

        async def renewed_served() -> bool:
            serials.append(await served_serial())
            return serials[-1] == renewed.certificate.serial_number

        deadline = time.monotonic() + 5
        while not await renewed_served():
            assert time.monotonic() < deadline, serials
            await asyncio.sleep(0.05)
    finally:
        watching.cancel()
        await network.close()


async def test_without_a_client_ca_nobody_is_asked(tmp_path: Path) -> None:
    ca = TestCa(tmp_path / "ca")
    async with tls_listener(tmp_path, ca) as listening:
        await _exchange(listening.port, _client(ca))
        assert listening.network.peer_certified(listening.received[0][1]) is None


async def _dial_carrier(issued: Issued, tls: SipTls) -> tuple[ConnectFailure | None, list[bytes]]:
    """A carrier serving TLS with ``issued``; the network connects as to a trunk at
    127.0.0.1 and, if let, sends OPTIONS. Returns the failure, and what the carrier read."""
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(issued.cert_file, issued.key_file)
    got: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        got.append(await reader.read(100))
        writer.close()

    carrier = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server)
    port = int(carrier.sockets[0].getsockname()[1])
    network = AsyncioNetwork(["127.0.0.1"], tls)
    try:
        failure = await network.connect_sip_tls(("127.0.0.1", port), "127.0.0.1")
        if failure is None:
            network.send_sip(Outgoing(OPTIONS, ("127.0.0.1", port), "tls"))
            await wait_until(lambda: bool(got), 5, "the carrier to read the request")
        return failure, got
    finally:
        await network.close()
        carrier.close()
        await carrier.wait_closed()


async def test_a_trunks_certificate_is_checked_for_its_ca_and_its_name(tmp_path: Path) -> None:
    ca = TestCa(tmp_path / "ca")
    other = TestCa(tmp_path / "other-ca", "Other CA")
    tls = SipTls.from_settings(load_settings(data=tmp_path / "data", sip_tls_ca_file=ca.cert_file))
    right, got = await _dial_carrier(ca.issue(tmp_path / "c", "right"), tls)
    assert right is None and got == [OPTIONS]
    other_ca, got = await _dial_carrier(other.issue(tmp_path / "c", "other"), tls)
    assert other_ca is not None and other_ca.certificate and got == []
    assert other_ca.detail == "unable to get local issuer certificate"
    named = ca.issue(tmp_path / "c", "name", hosts=("carrier.example",))
    other_name, got = await _dial_carrier(named, tls)
    assert other_name is not None and other_name.certificate and got == []
    assert "IP address mismatch" in other_name.detail


async def test_an_unreachable_tls_trunk_is_not_a_certificate_failure(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    network = AsyncioNetwork(["127.0.0.1"])
    failure = await network.connect_sip_tls(("127.0.0.1", port), "127.0.0.1")
    assert failure is not None and not failure.certificate
    assert failure.detail.startswith("unreachable over TLS")


def test_settings_that_do_not_load_are_one_line(tmp_path: Path) -> None:
    ca = TestCa(tmp_path / "ca")
    issued = ca.issue(tmp_path / "certs", "bridge")
    data = tmp_path / "data"
    with pytest.raises(ConfigError, match="set both sip_tls_cert_file and sip_tls_key_file"):
        SipTls.from_settings(load_settings(data=data, sip_tls_cert_file=issued.cert_file))
    with pytest.raises(ConfigError, match=r"sip_tls_ca_file .*missing\.pem: cannot be loaded"):
        SipTls.from_settings(load_settings(data=data, sip_tls_ca_file=tmp_path / "missing.pem"))
    wrong_key = ca.issue(tmp_path / "certs", "another").key_file
    with pytest.raises(ConfigError, match="sip_tls_key_file is not the key of the cert"):
        SipTls.from_settings(
            load_settings(data=data, sip_tls_cert_file=issued.cert_file, sip_tls_key_file=wrong_key)
        )
    with pytest.raises(ConfigError, match="sip_tls_client_ca_file needs sip_tls_cert_file"):
        SipTls.from_settings(load_settings(data=data, sip_tls_client_ca_file=ca.cert_file))
    # Nothing set: no TLS port, trunks checked against the system's authorities.
    plain = SipTls.from_settings(load_settings(data=data))
    assert plain.server is None and plain.client.verify_mode == ssl.CERT_REQUIRED


async def test_connections_held_open_by_one_address_are_capped_before_any_handshake(
    tmp_path: Path,
) -> None:
    """An attacker opens TCP connections to the TLS port and never says anything (each would
    cost a handshake's CPU and hold a slot for its 10 s timeout): beyond STREAMS_PER_ADDRESS
    from one address, new ones are closed at once, while another address is served."""
    ca = TestCa(tmp_path / "ca")
    async with tls_listener(tmp_path, ca) as listening:
        held: list[asyncio.StreamWriter] = []
        try:
            for _ in range(STREAMS_PER_ADDRESS):
                _, writer = await asyncio.open_connection("127.0.0.1", listening.port)
                held.append(writer)
            await wait_until(
                lambda: sum(listening.network._streams_from.values()) == STREAMS_PER_ADDRESS,  # noqa: SLF001
                5,
                "every held connection counted",
            )
            reader, writer = await asyncio.open_connection("127.0.0.1", listening.port)
            closed_at_once = await asyncio.wait_for(reader.read(1), 2)  # EOF: refused
            writer.close()
            assert closed_at_once == b"" and listening.network.streams_refused == 1
            # Another address is served meanwhile, a full handshake and an answer.
            reader, writer = await asyncio.open_connection(
                "127.0.0.1",
                listening.port,
                ssl=_client(ca),
                server_hostname="127.0.0.1",
                local_addr=("127.0.0.2", 0),
            )
            writer.write(OPTIONS)
            assert await asyncio.wait_for(reader.readexactly(5 + len(OPTIONS)), 5) == (
                b"echo:" + OPTIONS
            )
            writer.close()
        finally:
            for writer in held:
                writer.close()
        # Once they go, the address may connect again (the control: it was the count).
        await wait_until(
            lambda: not listening.network._streams_from.get("127.0.0.1"),  # noqa: SLF001
            5,
            "the held connections released",
        )
        echoed, _, _ = await _exchange(listening.port, _client(ca))
    assert echoed == b"echo:" + OPTIONS
