"""Issue 12, finding 4: one SIP packet froze SIP, audio and the web.

An INVITE to the public access number carrying a 64 KB offer of 12,000 formats and 1,500
``a=rtpmap`` lines made the bridge look every format up against every rtpmap, on the event
loop that also answers SIP, mixes audio and serves the web. Five at once, from raw UDP
sockets on loopback, against a real ``callroster serve``: meanwhile an OPTIONS ping must be
answered as fast as ever, and each INVITE refused (4xx) with a ``Warning`` saying why. The
same for five INVITEs of 15,000 empty headers each, which the SIP parser once read line by
line (refused 513 now).
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field

import pytest
from tests.support.service import RunningService, running_service

from callroster.sip.message import Response, parse_message

ATTACKERS = 5
FORMATS = 12_000
RTPMAPS = 1_500
# What an OPTIONS ping may take while the attack is handled. Unloaded it is about 1 ms; the
# attack on the quadratic look-up stalled it for about 50 s (see docs/architecture.md).
MAX_STALL = 0.1
REPLY_TIMEOUT = 120.0  # long enough to see, and report, the stall of the unfixed bridge


def attack_sdp() -> bytes:
    """12,000 formats (payload types 1 to 7: none the bridge speaks, so every one was looked
    up in vain) and 1,500 rtpmaps for types the m= line does not list: about 55 KB."""
    formats = " ".join(str(1 + i % 7) for i in range(FORMATS))
    lines = [
        "v=0",
        "o=- 1 1 IN IP4 127.0.0.1",
        "s=-",
        "c=IN IP4 127.0.0.1",
        "t=0 0",
        f"m=audio 40000 RTP/AVP {formats}",
        *(f"a=rtpmap:{100 + i % 28} X/8000" for i in range(RTPMAPS)),
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def invite(number: str, service_port: int, me: int, n: int, body: bytes, extra: str = "") -> bytes:
    head = (
        f"INVITE sip:{number}@127.0.0.1:{service_port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{me};rport;branch=z9hG4bKflood{n}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:flood{n}@127.0.0.1>;tag=f{n}\r\n"
        f"To: <sip:{number}@127.0.0.1>\r\n"
        f"Call-ID: sdp-flood-{n}@127.0.0.1\r\n"
        "CSeq: 1 INVITE\r\n"
        f"Contact: <sip:flood{n}@127.0.0.1:{me}>\r\n"
        "Content-Type: application/sdp\r\n"
        f"{extra}"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def ack_for(request: bytes, response: Response) -> bytes:
    """The ACK of a non-2xx final answer (RFC 3261 17.1.1.3), so it is not re-sent."""
    lines = request.split(b"\r\n\r\n", 1)[0].decode().split("\r\n")
    keep = ("Via:", "From:", "Call-ID:", "Max-Forwards:")
    headers = [line for line in lines[1:] if line.startswith(keep)]
    return (
        "\r\n".join(
            [
                lines[0].replace("INVITE", "ACK", 1),
                *headers,
                f"To: {response.get('To')}",
                "CSeq: 1 ACK",
                "Content-Length: 0",
            ]
        )
        + "\r\n\r\n"
    ).encode()


def options(service_port: int, me: int, n: int) -> bytes:
    return (
        f"OPTIONS sip:127.0.0.1:{service_port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{me};rport;branch=z9hG4bKping{n}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:ping@127.0.0.1>;tag=p{n}\r\n"
        "To: <sip:127.0.0.1>\r\n"
        f"Call-ID: ping-{n}@127.0.0.1\r\n"
        f"CSeq: {n} OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


@dataclass
class Flood:
    """What the pinger and the attackers saw."""

    pings: list[float] = field(default_factory=list)  # each ping's round trip, in order
    finals: dict[int, Response] = field(default_factory=dict)  # attacker -> final answer


def udp_socket(stack: ExitStack) -> socket.socket:
    sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    sock.bind(("127.0.0.1", 0))
    return sock


def flood(service: RunningService, request: Callable[[int, int], bytes]) -> Flood:
    """Sends five INVITEs at once (``request(n, port)``: the n-th, from that port), then
    pings with OPTIONS, one after another, until every INVITE has its final answer (and at
    least five pings were answered).

    Like any UAC on UDP, an attacker sends its INVITE again (every 0.5 s, RFC 3261's timer A
    without the doubling) until it hears an answer: five 55 KB datagrams at once overflow
    a default socket buffer, so some are dropped.
    """
    target = ("127.0.0.1", service.sip_port)
    seen = Flood()
    with ExitStack() as stack:
        pinger = udp_socket(stack)
        attackers = [udp_socket(stack) for _ in range(ATTACKERS)]
        requests = [request(n, sock.getsockname()[1]) for n, sock in enumerate(attackers)]
        assert all(len(r) < 65_000 for r in requests)  # one datagram each
        heard: set[int] = set()
        resend_at = 0.0

        def send_invites() -> None:
            nonlocal resend_at
            for index, (sock, request) in enumerate(zip(attackers, requests, strict=True)):
                if index not in heard:
                    sock.sendto(request, target)
            resend_at = time.perf_counter() + 0.5

        def ping(n: int) -> float:
            """One OPTIONS round trip; attackers' answers read meanwhile."""
            sent = time.perf_counter()
            pinger.sendto(options(service.sip_port, pinger.getsockname()[1], n), target)
            while True:
                now = time.perf_counter()
                assert now - sent < REPLY_TIMEOUT, (
                    f"OPTIONS {n} unanswered after {now - sent:.0f} s"
                )
                if resend_at and now >= resend_at and len(heard) < ATTACKERS:
                    send_invites()
                ready, _, _ = select.select([pinger, *attackers], [], [], 0.1)
                for sock in ready:
                    reply = parse_message(sock.recv(65_536))
                    assert isinstance(reply, Response)
                    if sock is pinger:
                        if reply.get("CSeq") == f"{n} OPTIONS":
                            assert reply.status == 200
                            return time.perf_counter() - sent
                        continue  # an earlier ping's answer, re-sent
                    index = attackers.index(sock)
                    heard.add(index)
                    if reply.status >= 200 and index not in seen.finals:
                        seen.finals[index] = reply
                        sock.sendto(ack_for(requests[index], reply), target)

        seen.pings.append(ping(0))  # the service is up and answering
        send_invites()
        n = 1
        while len(seen.finals) < ATTACKERS or n <= 5:
            seen.pings.append(ping(n))
            n += 1
    return seen


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    with running_service(tmp_path_factory.mktemp("sdp-flood") / "data") as running:
        yield running


def assert_no_stall(seen: Flood) -> None:
    stall = max(seen.pings[1:])
    assert stall < MAX_STALL, (
        f"an OPTIONS ping took {stall * 1000:.0f} ms during the flood "
        f"({len(seen.pings) - 1} pings; {seen.pings[0] * 1000:.1f} ms before it)"
    )


def test_five_invites_of_12000_formats_do_not_stall_sip(service: RunningService) -> None:
    number = service.demo()["dial_in_number"]
    body = attack_sdp()
    seen = flood(service, lambda n, me: invite(number, service.sip_port, me, n, body))

    assert_no_stall(seen)
    assert len(seen.finals) == ATTACKERS
    for index, reply in sorted(seen.finals.items()):
        assert 400 <= reply.status < 500, (index, reply.status, reply.reason)
        warning = reply.get("Warning") or ""
        # RFC 3261 20.43: warn-code, our host, and a text that says why without echoing
        # anything the attacker sent.
        assert warning.startswith("399 "), warning
        assert warning.endswith('"Session description too large"'), warning


def test_five_invites_of_15000_headers_do_not_stall_sip(service: RunningService) -> None:
    number = service.demo()["dial_in_number"]
    body = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    headers = "X:\r\n" * 15_000
    seen = flood(service, lambda n, me: invite(number, service.sip_port, me, n, body, headers))

    assert_no_stall(seen)
    assert len(seen.finals) == ATTACKERS
    for index, reply in sorted(seen.finals.items()):
        assert (reply.status, reply.reason) == (513, "Message Too Large"), index
