"""Signalling corner cases against the running bridge: a caller who gives up (CANCEL) while
the bridge is still looking the call up, and an offerless re-INVITE (session refresh)."""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path

import pytest
from tests.support.bridge import running_bridge
from tests.support.peers import run_sipp, sipp_tone_file
from tests.support.waiting import holds_for, wait_until

from callroster.sip.message import Response, parse_message

pytestmark = pytest.mark.interop

INVITE = (
    "{method} sip:{pin}@127.0.0.1:{port} SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:{me};rport;branch=z9hG4bKc4nc3l\r\n"
    "From: <sip:+447700900555@127.0.0.1>;tag=q1\r\n"
    "To: <sip:{pin}@127.0.0.1>\r\n"
    "Call-ID: cancel-me@127.0.0.1\r\n"
    "CSeq: 1 {method}\r\n"
    "Contact: <sip:q@127.0.0.1:{me}>\r\n"
    "Max-Forwards: 70\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: {length}\r\n\r\n{body}"
)
SDP = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


async def test_cancel_while_routing_leaves_nothing_behind(tmp_path: Path) -> None:
    async with running_bridge(tmp_path / "data") as harness:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)
            me = sock.getsockname()[1]
            fields = {"pin": harness.demo.pin, "port": harness.sip_port, "me": me}
            sock.sendto(
                INVITE.format(method="INVITE", length=len(SDP), body=SDP, **fields).encode(),
                ("127.0.0.1", harness.sip_port),
            )
            sock.sendto(
                INVITE.format(method="CANCEL", length=0, body="", **fields).encode(),
                ("127.0.0.1", harness.sip_port),
            )
            statuses: dict[str, int] = {}
            for _ in range(100):
                await asyncio.sleep(0.02)
                try:
                    while True:
                        reply = parse_message(sock.recv(65536))
                        if isinstance(reply, Response) and reply.status >= 200:
                            statuses[(reply.get("CSeq") or "").split()[-1]] = reply.status
                except BlockingIOError:
                    pass
                if len(statuses) == 2:
                    break
            assert statuses == {"CANCEL": 200, "INVITE": 487}
            # Nothing is left, nor comes back once the look-up the CANCEL overtook is over.
            await holds_for(
                lambda: (
                    harness.bridge.call_count() == 0
                    and harness.bridge.conferences_in_progress() == []
                ),
                1.0,
                "no call and no conference in progress",
            )


async def test_offerless_reinvite_keeps_the_call_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="callroster.sip.transaction")

    def invites_accepted() -> int:
        return sum(
            r.getMessage().startswith("server-invite ") and r.getMessage().endswith("-> accepted")
            for r in caplog.records
        )

    async with running_bridge(tmp_path / "data") as harness:
        sipp_tone_file(tmp_path)
        task = asyncio.create_task(
            run_sipp(
                "offerless_refresh", harness.sip_port, harness.demo.pin, tmp_path, duration_ms=2000
            )
        )
        # The refresh (the second INVITE) is answered; the call is still up once our offer is
        # answered in the ACK (sipp hangs up 2 s after the refresh).
        await wait_until(lambda: invites_accepted() == 2, 10, "the refresh to be answered")
        await holds_for(lambda: harness.bridge.call_count() == 1, 1.0, "the call is up")
        calls_after_refresh = harness.bridge.call_count()
        result = await task
        assert calls_after_refresh == 1, result.stdout + result.stderr
        assert result.returncode == 0, result.stdout + result.stderr
