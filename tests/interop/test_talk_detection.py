"""Talk detection on a real call (sipp signalling, RTP from this test): a noisy line that loses
packets is never taken for talk. (The bridge once measured its own concealment of the gaps,
a fading repeat, as the caller's level: the noise floor sank and plain noise then lit the
speaking indicator for seconds.)"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from tests.support.bridge import running_bridge
from tests.support.talker import Plan, _bound_socket, _noise_frames, sipp_call
from tests.support.waiting import holds_for

from callroster.conference.events import TalkingStarted
from callroster.rtp.packet import RtpSender

pytestmark = pytest.mark.interop
FRAME_S = 0.02


@dataclass
class _Sip:
    sip_port: int


async def test_lost_packets_on_a_noisy_line_never_light_the_talk_indicator(
    tmp_path: Path,
) -> None:
    async with running_bridge(tmp_path / "data") as harness:
        sock = _bound_socket()
        sock.setblocking(False)
        port = sock.getsockname()[1]
        service = cast(Any, _Sip(harness.sip_port))
        with sipp_call(service, harness.demo.pin, tmp_path / "sipp", port, duration_s=12) as call:
            remote = await asyncio.to_thread(call.bridge_media)
            frames = _noise_frames(Plan(noise_dbfs=-50.0))
            sender = RtpSender(
                ssrc=secrets.randbits(32), initial_sequence=1000, initial_timestamp=0
            )
            lost = {150, 151, 250, 251, 252, 350, 351}  # pairs and a triple, after the settling
            loop = asyncio.get_running_loop()
            start = loop.time()
            for i in range(450):  # 9 s of -50 dBFS noise
                packet = sender.next_packet(frames[i % len(frames)], 160)
                if i not in lost:
                    sock.sendto(packet, remote)
                # Paced as a phone sends: one packet each 20 ms is the thing under test.
                await asyncio.sleep(max(0.0, start + (i + 1) * FRAME_S - loop.time()))
            # The last packets are played out of the jitter buffer in real time: watch that
            # they light nothing either.
            await holds_for(
                lambda: not any(isinstance(e, TalkingStarted) for e in harness.events),
                0.5,
                "nothing taken for talk",
            )
            [leg] = harness.conference().present()
            lit = [e for e in harness.events if isinstance(e, TalkingStarted)]
            received = harness.bridge.media_counters()[0]
        sock.close()
    assert received.received >= 440, received
    assert lit == [], f"noise with lost packets was taken for talk: {lit} ({leg})"
