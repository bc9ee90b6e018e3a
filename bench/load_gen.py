"""Synthetic phones for the bridge benchmark: SIP on one shared UDP socket, RTP on one UDP
socket per leg, sent on an absolute 20 ms grid and counted on the way back.

With ``srtp_suite``, every leg offers RTP/SAVP with an SDES key (bench/srtp_bridge.py; the
bridge node must then take keys over UDP, which only a benchmark node does) and protects
what it sends with libsrtp.

Receiving goes through one epoll set drained once per tick (level-triggered, one ``recv_into``
per datagram, no exceptions, no allocations), so the generator spends as little of the two
cores it shares with the bridge as it can; its own tick lateness is measured and reported.
"""

from __future__ import annotations

import asyncio
import base64
import math
import resource
import secrets
import select
import socket
import struct
from collections import deque
from dataclasses import dataclass
from typing import cast

import numpy as np

from callroster.rtp import g711
from callroster.rtp.srtp import SrtpContext
from callroster.sdp.crypto import KEY_SALT_LENGTHS, parse_crypto
from callroster.sdp.offer_answer import SrtpKeys
from callroster.sdp.session import parse_sdp
from callroster.sip.message import Request, Response, parse_message, response_to, serialise

TICK = 0.020
FRAMES_PER_S = 50
RTP_HEADER = struct.Struct("!BBHII")
TALK_CYCLE = 150  # frames: 1.8 s of speech-like bursts, then 1.2 s of background noise
TALK_FRAMES = 90
T1 = 0.5
TRANSACTION_TIMEOUT = 16.0


def _noise_frames(count: int, level: float, seed: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    return [
        g711.encode("PCMU", (rng.standard_normal(160) * level).astype(np.int16))
        for _ in range(count)
    ]


def _talk_frames() -> list[bytes]:
    """A voice-like cycle: a gliding 120-240 Hz buzz with harmonics, in ~4 Hz syllables."""
    rng = np.random.default_rng(7)
    t = np.arange(TALK_CYCLE * 160) / 8000.0
    f0 = 180.0 + 60.0 * np.sin(2 * math.pi * 0.7 * t)
    phase = 2 * math.pi * np.cumsum(f0) / 8000.0
    voice = sum(np.sin(k * phase) / k for k in range(1, 6))
    syllables = np.clip(np.sin(2 * math.pi * 4.0 * t), 0.0, None) ** 0.5
    pcm = 6000.0 * voice * syllables / 2.3 + rng.standard_normal(t.size) * 30.0
    pcm[TALK_FRAMES * 160 :] = rng.standard_normal(t.size - TALK_FRAMES * 160) * 30.0
    samples = np.clip(pcm, -32768, 32767).astype(np.int16)
    return [g711.encode("PCMU", samples[i * 160 : (i + 1) * 160]) for i in range(TALK_CYCLE)]


NOISE = _noise_frames(50, 30.0, 1)
TALK = _talk_frames()


@dataclass(eq=False)
class Leg:
    index: int
    pin: str
    talker: bool
    sock: socket.socket
    rtp_port: int
    call_id: str
    from_tag: str
    ssrc: int
    seq: int
    timestamp: int
    to_header: str = ""
    contact: str = ""
    up: bool = False
    ended_by_bridge: bool = False
    sent: int = 0
    received: int = 0
    failure: str = ""
    srtp: SrtpContext | None = None


class SipClient(asyncio.DatagramProtocol):
    """A minimal UAC: client transactions keyed by (Call-ID, CSeq method), retransmitted on
    T1 doubling; answers any request from the bridge (BYE, OPTIONS...) with 200."""

    def __init__(self, legs_by_call: dict[str, Leg]) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0
        self._waiting: dict[tuple[str, str], asyncio.Future[Response]] = {}
        self._acks: dict[str, bytes] = {}
        self._legs = legs_by_call
        self.bridge_addr: tuple[str, int] = ("127.0.0.1", 0)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # uvloop's is no subclass
        self.port = int(transport.get_extra_info("sockname")[1])

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        try:
            message = parse_message(data)
        except Exception:  # noqa: BLE001 - a benchmark peer ignores what it cannot read
            return
        call_id = message.get("Call-ID") or ""
        if isinstance(message, Request):
            if message.method == "BYE" and call_id in self._legs:
                self._legs[call_id].ended_by_bridge = True
                self._legs[call_id].up = False
            if message.method != "ACK":
                self.send(serialise(response_to(message, 200, "OK")), (str(addr[0]), int(addr[1])))
            return
        method = (message.get("CSeq") or " ").split()[-1].upper()
        if message.status < 200:
            return
        future = self._waiting.get((call_id, method))
        if future is not None and not future.done():
            future.set_result(message)
        elif method == "INVITE" and call_id in self._acks:  # a retransmitted 200: ACK again
            self.send(self._acks[call_id])

    def send(self, data: bytes, addr: tuple[str, int] | None = None) -> None:
        assert self.transport is not None
        self.transport.sendto(data, addr or self.bridge_addr)

    def remember_ack(self, call_id: str, ack: bytes) -> None:
        self._acks[call_id] = ack

    async def transact(self, call_id: str, method: str, data: bytes) -> Response | None:
        """Send a request until a final response comes (None after 16 s)."""
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._waiting[(call_id, method)] = future
        interval, waited = T1, 0.0
        try:
            while waited < TRANSACTION_TIMEOUT:
                self.send(data)
                try:
                    return await asyncio.wait_for(asyncio.shield(future), interval)
                except TimeoutError:
                    waited += interval
                    interval = min(interval * 2, 4.0)
            return None
        finally:
            self._waiting.pop((call_id, method), None)


def _uri_of(name_addr: str) -> str:
    if "<" in name_addr:
        return name_addr.split("<", 1)[1].split(">", 1)[0]
    return name_addr.split(";", 1)[0].strip()


class Generator:
    def __init__(self, sip_port: int, srtp_suite: str | None = None) -> None:
        self.sip_port = sip_port
        self.srtp_suite = srtp_suite
        self.legs: list[Leg] = []
        self._by_call: dict[str, Leg] = {}
        self._by_fd: dict[int, Leg] = {}
        self._sip: SipClient | None = None
        self._epoll = select.epoll()
        self._buffer = bytearray(2048)
        self._handle: asyncio.TimerHandle | None = None
        self._next = 0.0
        self._tick_count = 0
        self.lateness: deque[float] = deque(maxlen=100_000)

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_datagram_endpoint(
            lambda: SipClient(self._by_call), local_addr=("127.0.0.1", 0)
        )
        protocol.bridge_addr = ("127.0.0.1", self.sip_port)
        self._sip = protocol
        self._next = loop.time() + TICK
        self._handle = loop.call_at(self._next, self._tick)

    @property
    def sip(self) -> SipClient:
        assert self._sip is not None
        return self._sip

    def _headers(self, leg: Leg, method: str, cseq: int, to: str) -> list[tuple[str, str]]:
        local = f"127.0.0.1:{self.sip.port}"
        return [
            ("Via", f"SIP/2.0/UDP {local};branch=z9hG4bK{secrets.token_hex(8)};rport"),
            (
                "From",
                f'"Bench {leg.index}" <sip:+4477009{leg.index:05d}@{local}>;tag={leg.from_tag}',
            ),
            ("To", to),
            ("Call-ID", leg.call_id),
            ("CSeq", f"{cseq} {method}"),
            ("Contact", f"<sip:bench{leg.index}@{local}>"),
            ("Max-Forwards", "70"),
        ]

    async def call(self, leg: Leg) -> None:
        """INVITE the leg's PIN directly, ACK the 200, point the leg's RTP at the answer."""
        target = f"sip:{leg.pin}@127.0.0.1:{self.sip_port}"
        suite = self.srtp_suite
        key = secrets.token_bytes(KEY_SALT_LENGTHS[suite]) if suite else b""
        crypto = f"a=crypto:1 {suite} inline:{base64.b64encode(key).decode()}\r\n"
        sdp = (
            f"v=0\r\no=bench {leg.ssrc} 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
            f"t=0 0\r\nm=audio {leg.rtp_port} RTP/{'SAVP' if suite else 'AVP'} 0 96\r\n"
            "a=rtpmap:0 PCMU/8000\r\n"
            "a=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-15\r\na=ptime:20\r\n"
            f"{crypto if suite else ''}"
        )
        headers = self._headers(leg, "INVITE", 1, f"<{target}>")
        headers.append(("Content-Type", "application/sdp"))
        invite = Request("INVITE", target, headers, sdp.encode())
        response = await self.sip.transact(leg.call_id, "INVITE", serialise(invite))
        if response is None or response.status != 200:
            leg.failure = "timeout" if response is None else str(response.status)
            return
        answer = parse_sdp(response.body)
        media = answer.media[0]
        if suite:
            [theirs] = [parse_crypto(v) for v in media.attribute_values("crypto")]
            leg.srtp = SrtpContext(SrtpKeys(suite, key, theirs.key, theirs.tag))
        connection = media.connection or answer.connection
        host = connection.host if connection else "127.0.0.1"
        leg.sock.connect((host, media.port))
        leg.to_header = response.get("To") or ""
        leg.contact = _uri_of(response.get("Contact") or target)
        ack = Request("ACK", leg.contact, self._headers(leg, "ACK", 1, leg.to_header))
        data = serialise(ack)
        self.sip.remember_ack(leg.call_id, data)
        self.sip.send(data)
        leg.up = True

    async def hang_up(self, leg: Leg) -> bool:
        if not leg.up:
            return False
        leg.up = False
        bye = Request("BYE", leg.contact, self._headers(leg, "BYE", 2, leg.to_header))
        response = await self.sip.transact(leg.call_id, "BYE", serialise(bye))
        return response is not None and response.status == 200

    def add_legs(self, pins: list[str]) -> list[Leg]:
        """New legs (not yet called), one RTP socket each, every tenth a talker."""
        added = []
        for pin in pins:
            index = len(self.legs)
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)
            leg = Leg(
                index=index,
                pin=pin,
                talker=index % 10 == 0,
                sock=sock,
                rtp_port=int(sock.getsockname()[1]),
                call_id=f"{secrets.token_hex(10)}@bench",
                from_tag=secrets.token_hex(6),
                ssrc=secrets.randbits(32),
                seq=secrets.randbits(16),
                timestamp=secrets.randbits(32),
            )
            self.legs.append(leg)
            self._by_call[leg.call_id] = leg
            self._by_fd[sock.fileno()] = leg
            self._epoll.register(sock.fileno(), select.EPOLLIN)
            added.append(leg)
        return added

    async def set_up(self, legs: list[Leg], rate: float) -> None:
        """Call every leg, paced at ``rate`` calls/s on an absolute schedule."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        tasks = []
        for i, leg in enumerate(legs):
            delay = start + i / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(loop.create_task(self.call(leg)))
        await asyncio.gather(*tasks)

    async def tear_down(self, rate: float) -> int:
        """BYE every leg still up, paced; close every socket. Returns the BYEs answered 200."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        tasks = []
        for i, leg in enumerate(list(self.legs)):
            delay = start + i / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(loop.create_task(self.hang_up(leg)))
        answered = sum(await asyncio.gather(*tasks))
        for leg in self.legs:
            self._epoll.unregister(leg.sock.fileno())
            leg.sock.close()
        self.legs.clear()
        self._by_call.clear()
        self._by_fd.clear()
        return answered

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        for leg in self.legs:
            leg.sock.close()
        if self._sip is not None and self._sip.transport is not None:
            self._sip.transport.close()
        self._epoll.close()

    # -- media -----------------------------------------------------------------------------
    def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        self.lateness.append(now - self._next)
        tick = self._tick_count
        self._tick_count += 1
        pack = RTP_HEADER.pack
        for leg in self.legs:
            if not leg.up:
                continue
            if leg.talker:
                frame = (tick + leg.index * 7) % TALK_CYCLE
                payload, marker = TALK[frame], 0x80 if frame == 0 else 0
            else:
                payload, marker = NOISE[(tick + leg.index) % 50], 0
            packet = pack(0x80, marker, leg.seq, leg.timestamp, leg.ssrc) + payload
            if leg.srtp is not None:
                packet = leg.srtp.protect(packet)
            try:
                leg.sock.send(packet)
                leg.sent += 1
            except OSError:
                pass
            leg.seq = (leg.seq + 1) & 0xFFFF
            leg.timestamp = (leg.timestamp + 160) & 0xFFFFFFFF
        self.drain()
        self._next += TICK
        if self._next < now - 5 * TICK:
            self._next = now + TICK
        self._handle = loop.call_at(self._next, self._tick)

    def drain(self) -> None:
        """Read every datagram waiting on any leg's socket; count them per leg."""
        buffer, by_fd = self._buffer, self._by_fd
        for _ in range(64):
            ready = self._epoll.poll(0)
            if not ready:
                return
            for fd, _ in ready:
                leg = by_fd.get(fd)
                if leg is None:
                    continue
                try:
                    leg.sock.recv_into(buffer)
                    leg.received += 1
                except OSError:
                    pass

    def totals(self) -> dict[str, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "sent": float(sum(leg.sent for leg in self.legs)),
            "received": float(sum(leg.received for leg in self.legs)),
            "cpu": usage.ru_utime + usage.ru_stime,
        }
