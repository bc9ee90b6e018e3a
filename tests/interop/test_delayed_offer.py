"""A delayed offer from a real SIP peer: sipp's INVITE carries no SDP (as CUCM trunks and
many PBXs send), the bridge's 200 carries its offer and sipp's ACK the answer. The caller is
then on the call with audio both ways: a baresip phone hears its tone, and it hears the
phone's."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from tests.support import audio
from tests.support.bridge import running_bridge
from tests.support.callers import phone_joins
from tests.support.talker import _bound_socket, sipp_call
from tests.support.waiting import wait_until

from callroster.conference.events import LegJoined
from callroster.rtp import g711
from callroster.rtp.packet import RtpSender, parse_rtp

pytestmark = pytest.mark.interop
FRAME_S = 0.02


@dataclass
class _Sip:
    sip_port: int


async def test_a_delayed_offer_caller_is_heard_and_hears(tmp_path: Path) -> None:
    async with running_bridge(tmp_path / "data") as harness:
        source = tmp_path / "phone.wav"
        audio.speech_like_tone(source, 700.0, 40)
        phone = await phone_joins(harness, tmp_path, source, seconds=30, key_pin=False)
        sock = _bound_socket()
        sock.setblocking(False)
        port = sock.getsockname()[1]
        service = cast(Any, _Sip(harness.sip_port))
        with sipp_call(
            service,
            harness.demo.pin,
            tmp_path / "sipp",
            port,
            duration_s=14,
            scenario="talker_delayed_offer",
        ) as call:
            remote = await asyncio.to_thread(call.bridge_media)
            await wait_until(
                lambda: sum(isinstance(e, LegJoined) for e in harness.events) == 2,
                10,
                "the delayed-offer caller to join once its ACK brought the answer",
            )
            # Real timing, the thing tested: 8 s of a 1 kHz tone in talk-like bursts, paced
            # as a phone sends it, while what the bridge sends back is collected.
            t = np.arange(400 * g711.FRAME_SAMPLES) / 8000
            tone = (0.35 * 32767 * np.sin(2 * np.pi * 1000 * t) * ((t % 0.4) < 0.3)).astype(
                np.int16
            )
            sender = RtpSender(ssrc=secrets.randbits(32), initial_sequence=1, initial_timestamp=0)
            received: list[bytes] = []
            loop = asyncio.get_running_loop()
            start = loop.time()
            for i in range(400):
                frame = tone[i * g711.FRAME_SAMPLES : (i + 1) * g711.FRAME_SAMPLES]
                sock.sendto(sender.next_packet(g711.encode("PCMU", frame), 160), remote)
                while True:
                    try:
                        received.append(sock.recv(2048))
                    except BlockingIOError:
                        break
                await asyncio.sleep(max(0.0, start + (i + 1) * FRAME_S - loop.time()))
            assert await asyncio.to_thread(call.finish, 30) == 0
        await phone.hang_up()
        sock.close()
        heard_by_phone = audio.read_wav(phone.heard())
    assert any(audio.tone_flags(heard_by_phone, 1000)), audio.describe(heard_by_phone)
    packets = [parse_rtp(data) for data in received]
    assert len(packets) >= 350  # a packet every 20 ms, sent to the address in the ACK's answer
    pcm = np.concatenate([g711.decode("PCMU", p.payload) for p in packets]).astype(np.float64)
    assert any(audio.tone_flags(pcm / 32768.0, 700)), audio.describe(pcm / 32768.0)
