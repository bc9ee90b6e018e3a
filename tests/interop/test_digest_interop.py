"""Digest authentication against a real peer: sipp plays a carrier trunk that challenges our
INVITE (401, or 407 from its proxy) and checks the credentials of the INVITE sent again.

The endpoint runs on its own UDP socket with a small asyncio driver (the same loop the bridge
runs: receive, send what it wants sent, collect events, re-arm one timer), without the rest of
the bridge."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import secrets
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import pytest
from tests.support.peers import SCENARIOS, free_udp_port, require, udp_port_bound
from tests.support.waiting import holds_for, until

from callroster.sip.endpoint import (
    CallAnswered,
    CallFailed,
    Credentials,
    Event,
    SipEndpoint,
)
from callroster.sip.message import Request, parse_message

pytestmark = pytest.mark.interop

USERNAME = "callroster-trunk"
PASSWORD = "Tr0mb0ne-Sky-42"
REALM = "carrier.test"
TARGET = "sip:+442071234567@127.0.0.1:{port}"
PARAM = re.compile(r'([a-z]+)=("(?:[^"\\]|\\.)*"|[^,\s]+)')


class Dialler(asyncio.DatagramProtocol):
    """A :class:`SipEndpoint` on a UDP socket of 127.0.0.1, driven by the event loop."""

    def __init__(self, sock: socket.socket) -> None:
        self.loop = asyncio.get_running_loop()
        port = sock.getsockname()[1]
        self.endpoint = SipEndpoint("127.0.0.1", port, lambda: secrets.token_hex(8))
        self.udp: asyncio.DatagramTransport | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.sent: list[bytes] = []
        self.events: asyncio.Queue[Event] = asyncio.Queue()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.udp = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.endpoint.receive(data, (addr[0], addr[1]), "udp", self.loop.time())
        self.pump()

    def pump(self) -> None:
        """Sends what the endpoint wants sent, queues its events, re-arms its one timer."""
        assert self.udp is not None
        for out in self.endpoint.datagrams():
            self.sent.append(out.data)
            self.udp.sendto(out.data, out.destination)
        for event in self.endpoint.events():
            self.events.put_nowait(event)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        when = self.endpoint.next_timer()
        if when is not None:
            self.timer = self.loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self.timer = None
        self.endpoint.handle_timer(self.loop.time())
        self.pump()

    def dial(self, sipp_port: int, credentials: Credentials) -> str:
        call_id = self.endpoint.dial(
            TARGET.format(port=sipp_port),
            ("127.0.0.1", sipp_port),
            "udp",
            self.loop.time(),
            body=SDP,
            content_type="application/sdp",
            credentials=credentials,
        )
        self.pump()
        return call_id

    def hangup(self, call_id: str) -> None:
        self.endpoint.hangup(call_id, self.loop.time())
        self.pump()

    async def final_event(self, timeout: float = 15.0) -> Event:
        """The first event that is not a provisional response."""
        async with asyncio.timeout(timeout):
            while True:
                event = await self.events.get()
                if isinstance(event, CallAnswered | CallFailed):
                    return event

    def invites(self) -> list[Request]:
        messages = [parse_message(data) for data in self.sent]
        return [m for m in messages if isinstance(m, Request) and m.method == "INVITE"]


SDP = (
    b"v=0\r\no=callroster 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


@contextlib.asynccontextmanager
async def dialler() -> AsyncIterator[Dialler]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_datagram_endpoint(lambda: Dialler(sock), sock=sock)
    try:
        yield protocol
    finally:
        if protocol.timer is not None:
            protocol.timer.cancel()
        if protocol.udp is not None:
            protocol.udp.close()


class Sipp:
    """sipp as a UAS in the foreground, stopped by its pid if it outlives the test."""

    def __init__(self, scenario: str, workdir: Path, keys: dict[str, str]) -> None:
        self.port = free_udp_port()
        self.workdir = workdir
        text = (SCENARIOS / f"{scenario}.xml").read_text()
        for name, value in {"USERNAME": USERNAME, "REALM": REALM, **keys}.items():
            text = text.replace(f"@{name}@", value)
        self.scenario = workdir / f"{scenario}.xml"
        self.scenario.write_text(text)
        self.args = [
            require("sipp"),
            "-sf",
            str(self.scenario),
            "-i",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-mp",
            str(free_udp_port(pair=True, span=4)),
            "-m",
            "1",
            "-nostdin",
            "-timeout",
            "30s",
            "-timeout_error",
            "-trace_err",
            "-error_file",
            str(workdir / "errors.log"),
            "-trace_msg",
            "-message_file",
            str(workdir / "messages.log"),
        ]
        for name, value in {"realm": REALM, "username": USERNAME, **keys}.items():
            self.args += ["-key", name, value]
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *self.args,
            cwd=self.workdir,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        proc = self.proc
        await until(lambda: udp_port_bound(self.port) or proc.returncode is not None, 5)
        if udp_port_bound(self.port) and proc.returncode is None:
            return
        raise AssertionError(f"sipp is not listening on {self.port}: {await self.output()}")

    async def wait(self, timeout: float = 15.0) -> int:
        assert self.proc is not None
        async with asyncio.timeout(timeout):
            return await self.proc.wait()

    async def output(self) -> str:
        err = b""
        if self.proc is not None and self.proc.returncode is not None and self.proc.stderr:
            err = await self.proc.stderr.read()
        logs = [self.workdir / "errors.log", self.workdir / "messages.log"]
        text = "".join(p.read_text(errors="replace")[-4000:] for p in logs if p.exists())
        return err.decode(errors="replace")[-2000:] + text

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()  # by its pid: this process only
            await self.proc.wait()


@contextlib.asynccontextmanager
async def sipp(scenario: str, workdir: Path, **keys: str) -> AsyncIterator[Sipp]:
    peer = Sipp(scenario, workdir, keys)
    await peer.start()
    try:
        yield peer
    finally:
        await peer.stop()


def params(value: str) -> dict[str, str]:
    assert value.startswith("Digest ")
    return {
        name: text[1:-1] if text.startswith('"') else text
        for name, text in PARAM.findall(value.removeprefix("Digest "))
    }


def md5_response(request: Request, header: str, password: str) -> bool:
    """The test's own check of a digest response (RFC 2617, MD5, qop=auth)."""
    got = params(request.get(header) or "")

    def h(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    ha1 = h(f"{got['username']}:{got['realm']}:{password}")
    ha2 = h(f"{request.method}:{got['uri']}")
    expected = h(f"{ha1}:{got['nonce']}:{got['nc']}:{got['cnonce']}:{got['qop']}:{ha2}")
    return got["uri"] == request.uri and got["response"] == expected


async def test_the_right_password_gets_the_call_answered(tmp_path: Path) -> None:
    nonce = secrets.token_hex(16)
    async with sipp("uas_digest", tmp_path, nonce=nonce, password=PASSWORD) as peer:
        async with dialler() as us:
            call_id = us.dial(peer.port, Credentials(USERNAME, PASSWORD))
            event = await us.final_event()
            assert isinstance(event, CallAnswered), await peer.output()
            assert event.call_id == call_id
            us.hangup(call_id)
            assert await peer.wait() == 0, await peer.output()
            first, again = us.invites()
            assert first.get("Authorization") is None
            assert again.get("Call-ID") == call_id and again.get("CSeq") == "2 INVITE"
            assert params(again.get("Authorization") or "")["nonce"] == nonce
            assert md5_response(again, "Authorization", PASSWORD)


async def test_a_wrong_password_gets_the_call_refused(tmp_path: Path) -> None:
    nonce = secrets.token_hex(16)
    async with sipp("uas_digest", tmp_path, nonce=nonce, password=PASSWORD) as peer:
        async with dialler() as us:
            call_id = us.dial(peer.port, Credentials(USERNAME, "not-the-password"))
            event = await us.final_event()
            assert event == CallFailed(call_id, 403, "Forbidden"), await peer.output()
            assert await peer.wait() == 0, await peer.output()
            assert len(us.invites()) == 2  # one retry, then the refusal is final
            assert us.endpoint.counts["calls"] == 0


async def test_a_proxy_challenge_is_answered_with_proxy_authorization(tmp_path: Path) -> None:
    nonce = secrets.token_hex(16)
    async with sipp("uas_digest_proxy", tmp_path, NONCE=nonce) as peer:
        async with dialler() as us:
            call_id = us.dial(peer.port, Credentials(USERNAME, PASSWORD))
            event = await us.final_event()
            assert isinstance(event, CallAnswered), await peer.output()
            us.hangup(call_id)
            assert await peer.wait() == 0, await peer.output()
            _, again = us.invites()
            assert again.get("Authorization") is None
            assert md5_response(again, "Proxy-Authorization", PASSWORD)
            assert not md5_response(again, "Proxy-Authorization", "not-the-password")


async def test_a_challenged_bye_is_sent_again_with_credentials(tmp_path: Path) -> None:
    """A carrier that challenges our BYE gets it again with the trunk's credentials, so the
    call ends at the carrier too (and is no longer billed)."""
    nonce = secrets.token_hex(16)
    async with sipp("uas_digest_bye", tmp_path, nonce=nonce, password=PASSWORD) as peer:
        async with dialler() as us:
            call_id = us.dial(peer.port, Credentials(USERNAME, PASSWORD))
            event = await us.final_event()
            assert isinstance(event, CallAnswered), await peer.output()
            us.hangup(call_id)
            assert await peer.wait() == 0, await peer.output()  # sipp verified, answered 200
            messages = [parse_message(data) for data in us.sent]
            byes = [m for m in messages if isinstance(m, Request) and m.method == "BYE"]
            assert len(byes) == 2, [m.method for m in messages if isinstance(m, Request)]
            first, again = byes
            assert first.get("Authorization") is None
            number = int((first.get("CSeq") or "").split()[0])
            assert again.get("CSeq") == f"{number + 1} BYE"
            assert again.get("Call-ID") == call_id
            assert params(again.get("Authorization") or "")["nonce"] == nonce
            assert md5_response(again, "Authorization", PASSWORD)


async def test_a_bye_refused_twice_is_not_sent_a_third_time(tmp_path: Path) -> None:
    nonce = secrets.token_hex(16)
    async with sipp("uas_digest_bye", tmp_path, nonce=nonce, password=PASSWORD) as peer:
        async with dialler() as us:
            call_id = us.dial(peer.port, Credentials(USERNAME, "not-the-password"))
            assert isinstance(await us.final_event(), CallAnswered), await peer.output()
            us.hangup(call_id)
            await peer.wait()  # sipp answered the wrong credentials with 403 and stopped

            def byes_sent() -> list[Request]:
                messages = [parse_message(data) for data in us.sent]
                return [m for m in messages if isinstance(m, Request) and m.method == "BYE"]

            # A third BYE would follow the 403 at once: watch for it a while.
            await holds_for(lambda: len(byes_sent()) <= 2, 0.5, "no third BYE")
            byes = byes_sent()
            assert len(byes) == 2  # once, once more with credentials, and no more
            assert us.endpoint.counts["calls"] == 0
