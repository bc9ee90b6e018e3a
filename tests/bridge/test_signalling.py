"""SIP signalling of a running service: OPTIONS answered on UDP and TCP; garbage and
oversized datagrams are dropped (or answered 400) without harming what follows; INVITEs for
numbers that are not ours get 404."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from tests.support.service import running_service

OPTIONS = (
    "OPTIONS sip:2000@127.0.0.1 SIP/2.0\r\n"
    "Via: SIP/2.0/{transport} 127.0.0.1:5999;rport;branch=z9hG4bK{branch}\r\n"
    "From: <sip:probe@127.0.0.1>;tag=p1\r\n"
    "To: <sip:2000@127.0.0.1>\r\n"
    "Call-ID: {branch}@probe\r\n"
    "CSeq: 1 OPTIONS\r\n"
    "Max-Forwards: 70\r\n"
    "Content-Length: 0\r\n\r\n"
)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with running_service(tmp_path_factory.mktemp("sip"), demo=False) as running:
        yield running.sip_port


def _udp(port: int, payload: bytes, timeout: float = 2.0) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(payload, ("127.0.0.1", port))
        try:
            return sock.recv(65536)
        except TimeoutError:
            return None


def test_options_over_udp(service: int) -> None:
    reply = _udp(service, OPTIONS.format(transport="UDP", branch="u1").encode())
    assert reply is not None and reply.startswith(b"SIP/2.0 200 OK\r\n")
    assert b"branch=z9hG4bKu1" in reply and b"CSeq: 1 OPTIONS" in reply


def test_options_over_tcp(service: int) -> None:
    with socket.create_connection(("127.0.0.1", service), timeout=3) as sock:
        sock.sendall(OPTIONS.format(transport="TCP", branch="t1").encode())
        reply = sock.recv(65536)
    assert reply.startswith(b"SIP/2.0 200 OK\r\n")


def test_garbage_and_oversized_datagrams_do_not_harm_the_listener(service: int) -> None:
    assert _udp(service, b"\x00\xff garbage \r\n\r\n", timeout=0.3) is None
    # Malformed (a Via that does not parse, no From, To, Call-ID or CSeq): answered 400,
    # statelessly, to where it came from.
    reply = _udp(service, b"INVITE sip:x SIP/2.0\r\nVia: nothing\r\n\r\n")
    assert reply is not None and reply.startswith(b"SIP/2.0 400 Bad Request\r\n")
    assert _udp(service, b"X" * 60000, timeout=0.3) is None
    reply = _udp(service, OPTIONS.format(transport="UDP", branch="u2").encode())
    assert reply is not None and reply.startswith(b"SIP/2.0 200 OK")


def test_invite_without_contact_is_a_bad_request(service: int) -> None:
    invite = OPTIONS.replace("OPTIONS", "INVITE").format(transport="UDP", branch="i1")
    reply = _udp(service, invite.encode())
    assert reply is not None and reply.startswith(b"SIP/2.0 400 ")


def test_invite_for_a_name_that_is_not_ours_gets_404(service: int) -> None:
    # (Digits are answered and checked as a PIN, right or wrong: see test_service.py.)
    invite = (
        OPTIONS.replace("OPTIONS", "INVITE")
        .replace("sip:2000@", "sip:sales@")
        .replace("Max-Forwards", "Contact: <sip:probe@127.0.0.1:5999>\r\nMax-Forwards")
        .format(transport="UDP", branch="i2")
    )
    replies = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        sock.sendto(invite.encode(), ("127.0.0.1", service))
        while not replies or replies[-1].startswith(b"SIP/2.0 1"):
            replies.append(sock.recv(65536))
    assert replies[-1].startswith(b"SIP/2.0 404 ")
