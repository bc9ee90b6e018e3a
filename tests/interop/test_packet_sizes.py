"""Any packet size, with real peers: three sipp callers whose SDP asks for 10, 30 and 60 ms
packets, and whose media (sent from this test, paced in real time) comes in packets of that
size, are each heard at their own frequency by a baresip phone that uses 20 ms; each hears
the phone, in packets of the size it asked for."""

from __future__ import annotations

import asyncio
import secrets
import socket
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from numpy.typing import NDArray
from tests.support import audio
from tests.support.bridge import running_bridge
from tests.support.callers import phone_joins
from tests.support.talker import _bound_socket, sipp_call
from tests.support.waiting import wait_until

from callroster.conference.events import LegJoined
from callroster.rtp import g711
from callroster.rtp.packet import RtpPacket, RtpSender, parse_rtp

pytestmark = pytest.mark.interop
RATE = 8000
TALK_S = 2.0  # each caller talks in its own 2 s turn, after 1 s of line noise for all


@dataclass
class _Sip:
    sip_port: int


@dataclass
class _Caller:
    ms: int
    frequency: float
    turn: int
    sock: socket.socket
    sender: RtpSender = field(
        default_factory=lambda: RtpSender(
            ssrc=secrets.randbits(32), initial_sequence=1, initial_timestamp=0
        )
    )
    remote: tuple[str, int] = ("", 0)
    sent_samples: int = 0
    received: list[RtpPacket] = field(default_factory=list)

    @property
    def size(self) -> int:
        return self.ms * RATE // 1000

    def samples(self, start: int, count: int) -> NDArray[np.int16]:
        """Line noise, and in its turn a tone in syllable-sized bursts (as a voice)."""
        t = (np.arange(count) + start) / RATE
        noise = np.random.default_rng(start).normal(0, 40, count)
        begins = 1.0 + self.turn * TALK_S
        talking = (t >= begins) & (t < begins + TALK_S) & ((t % 0.4) < 0.3)
        return (noise + 9000 * np.sin(2 * np.pi * self.frequency * t) * talking).astype(np.int16)

    def send_due(self, elapsed: float) -> None:
        """Every packet whose last sample has been spoken by ``elapsed`` seconds."""
        while (self.sent_samples + self.size) / RATE <= elapsed:
            pcm = self.samples(self.sent_samples, self.size)
            packet = self.sender.next_packet(g711.encode("PCMU", pcm), self.size)
            self.sock.sendto(packet, self.remote)
            self.sent_samples += self.size
        while True:
            try:
                self.received.append(parse_rtp(self.sock.recv(2048)))
            except BlockingIOError:
                return


async def test_callers_of_10_30_and_60_ms_packets_are_heard_and_hear(tmp_path: Path) -> None:
    seconds = 1.0 + 3 * TALK_S + 0.5
    async with running_bridge(tmp_path / "data") as harness:
        source = tmp_path / "phone.wav"
        audio.speech_like_tone(source, 700.0, 30)
        phone = await phone_joins(harness, tmp_path, source, seconds=40, key_pin=False)
        callers = [
            _Caller(10, 1000.0, 0, _bound_socket()),
            _Caller(30, 1400.0, 1, _bound_socket()),
            _Caller(60, 1800.0, 2, _bound_socket()),
        ]
        service = cast(Any, _Sip(harness.sip_port))
        with ExitStack() as stack:
            calls = []
            for caller in callers:
                caller.sock.setblocking(False)
                stack.callback(caller.sock.close)
                calls.append(
                    stack.enter_context(
                        sipp_call(
                            service,
                            harness.demo.pin,
                            tmp_path / f"sipp-{caller.ms}",
                            caller.sock.getsockname()[1],
                            duration_s=seconds + 4,
                            ptime=caller.ms,
                        )
                    )
                )
            for caller, call in zip(callers, calls, strict=True):
                caller.remote = await asyncio.to_thread(call.bridge_media)
            await wait_until(
                lambda: sum(isinstance(e, LegJoined) for e in harness.events) == 4,
                10,
                "the three sipp callers to join",
            )
            loop = asyncio.get_running_loop()
            start = loop.time()
            while (elapsed := loop.time() - start) < seconds:
                for caller in callers:
                    caller.send_due(elapsed)
                await asyncio.sleep(0.005)
            for call in calls:
                assert await asyncio.to_thread(call.finish, 30) == 0
        await phone.hang_up()
        heard_by_phone = audio.read_wav(phone.heard())
    for caller in callers:
        flags = audio.tone_flags(heard_by_phone, caller.frequency)
        assert sum(flags) >= 2, (caller.ms, audio.describe(heard_by_phone))
        sizes = {len(p.payload) for p in caller.received}
        assert sizes == {caller.size}, (caller.ms, sizes)
        expected = seconds * 1000 / caller.ms
        assert len(caller.received) >= 0.85 * expected, (caller.ms, len(caller.received))
        pcm = np.concatenate([g711.decode("PCMU", p.payload) for p in caller.received])
        heard = pcm.astype(np.float64) / 32768.0
        assert any(audio.tone_flags(heard, 700.0)), (caller.ms, audio.describe(heard))
