"""A PIN guesser over real UDP, for the security test and the benchmark: from each of its
source addresses (``127.0.0.x``) it keeps a few calls going, each dialling a random PIN
directly (``sip:<PIN>@bridge``), ACKing the answer, staying on long enough to hear whether
it joined or is asked for the PIN again, and hanging up. It counts what the bridge answered
(200, 403, anything else); what it learnt about PINs is what the bridge checked, which the
caller reads from the bridge's PIN guard."""

from __future__ import annotations

import asyncio
import secrets
import socket
from dataclasses import dataclass, field

from callroster.sip.message import Response, parse_message


@dataclass
class GuessStats:
    answered: int = 0  # 200: answered, as a right PIN would be
    refused: int = 0  # 403: the source is blocked
    other: dict[int, int] = field(default_factory=dict)
    unanswered: int = 0


_SDP = (
    "v=0\r\no=g 1 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
    "m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


def _request(
    method: str, pin: str, bridge: tuple[str, int], local: tuple[str, int], call_id: str, **h: str
) -> bytes:
    host, port = local
    body = h.pop("body", "")
    branch = h.pop("branch", "") or f"z9hG4bK{secrets.token_hex(6)}"
    lines = [
        f"{method} sip:{pin}@{bridge[0]}:{bridge[1]} SIP/2.0",
        f"Via: SIP/2.0/UDP {host}:{port};branch={branch};rport",
        f"From: <sip:guesser@{host}:{port}>;tag={call_id[:8]}",
        f"To: <sip:{pin}@{bridge[0]}:{bridge[1]}>{h.pop('to_tag', '')}",
        f"Call-ID: {call_id}",
        f"CSeq: {h.pop('cseq', '1')} {method}",
        f"Contact: <sip:guesser@{host}:{port}>",
        "Max-Forwards: 70",
    ]
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


class _Endpoint(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Queue[Response]] = {}

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        try:
            message = parse_message(data)
        except Exception:  # noqa: BLE001 - a guesser ignores what it cannot read
            return
        if isinstance(message, Response):
            queue = self.waiting.get(message.get("Call-ID") or "")
            if queue is not None:
                queue.put_nowait(message)


class Caller:
    """One source address placing calls to the bridge, each to ``sip:<digits>@bridge``."""

    def __init__(self, bridge: tuple[str, int], host: str) -> None:
        self.bridge, self.host = bridge, host

    async def __aenter__(self) -> Caller:
        loop = asyncio.get_running_loop()
        self._transport, self._endpoint = await loop.create_datagram_endpoint(
            _Endpoint, local_addr=(self.host, 0)
        )
        self._local = self._transport.get_extra_info("sockname")[:2]
        self._media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # for its audio
        self._media.bind((self.host, 0))
        self._media.setblocking(False)
        self._sdp = _SDP.format(host=self.host, port=self._media.getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._transport.close()
        self._media.close()

    async def call(self, pin: str, listen: float) -> int | None:
        """Dials ``pin``; on 200, ACKs, stays ``listen`` seconds, hangs up. The final status
        (None: no answer within 5 s)."""
        bridge, local, transport = self.bridge, self._local, self._transport
        call_id = secrets.token_hex(8)
        branch = f"z9hG4bK{secrets.token_hex(6)}"
        queue: asyncio.Queue[Response] = asyncio.Queue()
        self._endpoint.waiting[call_id] = queue
        try:
            invite = _request("INVITE", pin, bridge, local, call_id, body=self._sdp, branch=branch)
            transport.sendto(invite, bridge)
            while True:
                try:
                    response = await asyncio.wait_for(queue.get(), 5)
                except TimeoutError:
                    return None
                if response.status >= 200:
                    break
            to = response.get("To") or ""
            tag = ";tag=" + to.split(";tag=")[1] if ";tag=" in to else ""
            if response.status == 200:
                transport.sendto(_request("ACK", pin, bridge, local, call_id, to_tag=tag), bridge)
                await asyncio.sleep(listen)  # hearing "joining" or "enter your PIN"
                bye = _request("BYE", pin, bridge, local, call_id, to_tag=tag, cseq="2")
                transport.sendto(bye, bridge)
                await asyncio.sleep(0.05)
            else:  # a final failure is ACKed in its INVITE's transaction (same branch)
                ack = _request("ACK", pin, bridge, local, call_id, to_tag=tag, branch=branch)
                transport.sendto(ack, bridge)
            return response.status
        finally:
            self._endpoint.waiting.pop(call_id, None)


async def guess(
    bridge: tuple[str, int],
    host: str,
    seconds: float,
    *,
    parallel: int = 3,
    listen: float = 1.0,
    stats: GuessStats | None = None,
) -> GuessStats:
    """Guesses random 8-digit PINs from ``host`` for ``seconds`` with ``parallel`` calls at a
    time, each staying ``listen`` seconds after its answer."""
    stats = stats or GuessStats()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    async with Caller(bridge, host) as source:

        async def caller() -> None:
            while loop.time() < deadline:
                pin = "".join(secrets.choice("0123456789") for _ in range(8))
                status = await source.call(pin, listen)
                if status is None:
                    stats.unanswered += 1
                elif status == 200:
                    stats.answered += 1
                elif status == 403:
                    stats.refused += 1
                    await asyncio.sleep(0.2)
                else:
                    stats.other[status] = stats.other.get(status, 0) + 1

        await asyncio.gather(*(caller() for _ in range(parallel)))
    return stats
