"""A browser's WebRTC leg (a real aiortc peer here; chromium in tests/browser) mixed with a
real phone (baresip): each hears the other, the roster shows the typed name, and the leg
leaves when the browser hangs up."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from tests.support import audio
from tests.support.bridge import BridgeHarness, running_bridge
from tests.support.callers import phone_joins
from tests.support.peers import Baresip
from tests.support.waiting import until
from tests.support.web_client import WebClient

from callroster.accounts.actor import operator_cli
from callroster.bridge.errors import ConferenceLocked
from callroster.bridge.web_peer import WebPeerError
from callroster.store.conferences import PinMatch

pytestmark = pytest.mark.interop


def _match(harness: BridgeHarness, as_host: bool = False) -> PinMatch:
    match = harness.store.conferences.open_for_web(harness.demo.conference_id, as_host)
    assert match is not None
    return match


def _on_call(harness: BridgeHarness, leg_id: str) -> bool:
    conference = harness.bridge.conference(harness.demo.conference_id)
    return conference is not None and leg_id in {leg.id for leg in conference.present()}


async def _phone_joins(harness: BridgeHarness, workdir: Path, frequency: float) -> Baresip:
    source = workdir / "phone.wav"
    audio.speech_like_tone(source, frequency, 40)
    # It dials the PIN directly: keying one is tested in test_dial_in.py (and saves 4 s here).
    return await phone_joins(harness, workdir, source, 30, key_pin=False)


async def test_a_browser_and_a_phone_hear_each_other(tmp_path: Path) -> None:
    async with running_bridge(tmp_path / "data") as harness:
        phone = await _phone_joins(harness, tmp_path, 700.0)
        assert await until(
            lambda: harness.demo.conference_id in harness.bridge.conferences_in_progress(), 10
        )
        web = WebClient(1000.0)
        joined = await harness.bridge.join_web(_match(harness), "Wendy Web", await web.offer())
        await web.accept(joined.answer)
        leg_id = joined.leg_id
        # On the call (and the roster) once its audio arrives (bridge/web_legs.py).
        assert await until(lambda: _on_call(harness, leg_id), 10)
        leg = harness.conference().leg(leg_id)
        assert (leg.name, leg.name_source, leg.joined_via) == ("Wendy Web", "entered", "web")
        roster = harness.roster.get(harness.demo.conference_id)
        assert roster is not None
        shown = roster.legs[leg_id]
        assert (shown.name, shown.name_source, shown.joined_via) == ("Wendy Web", "entered", "web")
        # Long enough for the joining prompt, then several seconds of each other's tone.
        assert await until(lambda: leg.talking, 10), "the browser's tone was never taken as talk"
        # 6 s of each other's tone: real audio, recorded on both sides and measured below.
        await asyncio.sleep(6)
        await web.close()
        # The browser hung up: its leg leaves the call (DTLS close, or ICE consent at worst).
        assert await until(lambda: leg.status == "left", 35), leg
        await phone.hang_up()
        phone_heard = audio.read_wav(phone.heard())
        web_heard = web.heard()
        stored = harness.store.conferences.legs(operator_cli("test"), harness.demo.conference_id)
    # The phone heard the browser's 1 kHz and the browser heard the phone's 700 Hz, each at
    # about the level sent (bursts of a 0.35 sine, 75 % duty: -12.3 dBFS RMS).
    from_web = audio.tone_windows(phone_heard, 1000)
    assert len(from_web) >= 8, audio.describe(phone_heard)
    assert abs(float(np.median([audio.peak_frequency(w) for w in from_web])) - 1000) < 10
    assert -16 < float(np.median([audio.rms_dbfs(w) for w in from_web])) < -9, audio.describe(
        phone_heard
    )
    from_phone = audio.tone_windows(web_heard, 700)
    assert len(from_phone) >= 8, audio.describe(web_heard)
    assert abs(float(np.median([audio.peak_frequency(w) for w in from_phone])) - 700) < 10
    assert -15 < float(np.median([audio.rms_dbfs(w) for w in from_phone])) < -10
    # The typed name is kept (encrypted) with the leg.
    [web_leg] = [s for s in stored if s.id == leg_id]
    assert (web_leg.joined_via, web_leg.name, web_leg.status) == ("web", "Wendy Web", "left")


async def test_a_locked_conference_refuses_a_guest_browser_but_not_the_host(
    tmp_path: Path,
) -> None:
    async with running_bridge(tmp_path / "data") as harness:
        host = WebClient(1000.0)
        joined = await harness.bridge.join_web(
            _match(harness, as_host=True), "Hannah Host", await host.offer()
        )
        await host.accept(joined.answer)
        leg_id = joined.leg_id
        assert await until(lambda: _on_call(harness, leg_id), 10)
        harness.bridge.control(harness.demo.conference_id, "lock")
        guest = WebClient(1000.0)
        with pytest.raises(ConferenceLocked):
            await harness.bridge.join_web(_match(harness), "Gus Guest", await guest.offer())
        assert [leg.id for leg in harness.conference().present()] == [leg_id]
        assert harness.bridge.call_count() == 1
        # The host drops their own browser leg: the connection ends and so does the call.
        harness.bridge.control(harness.demo.conference_id, "drop", leg_id)
        assert await until(lambda: not harness.bridge.call_count(), 10)
        assert await until(lambda: host.pc.connectionState == "closed", 10), host.pc.connectionState
        await host.close()
        await guest.close()


@pytest.mark.parametrize(
    "offer",
    [
        "",
        "not sdp at all",
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n",  # no media
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\n",
    ],
)
async def test_an_offer_that_cannot_be_answered_is_refused_and_leaves_nothing(
    tmp_path: Path, offer: str
) -> None:
    async with running_bridge(tmp_path / "data") as harness:
        with pytest.raises(WebPeerError):
            await harness.bridge.join_web(_match(harness), "Bad Offer", offer)
        assert not harness.bridge.call_count() and not harness.bridge.conferences_in_progress()
