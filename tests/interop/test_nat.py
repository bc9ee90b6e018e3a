"""A phone behind a real NAT (a network namespace with nftables masquerade, see
tests/support/netns.py): baresip inside binds and advertises its private address in its
Contact and SDP, and its packets reach the bridge from the router's address and another port.
It dials the conference and a phone on the host is on the call: each hears the other's tone,
and the bridge's BYE reaches the phone behind the NAT when the host drops it.

What has to work for that: responses to where the request came from (RFC 3581 rport), in-dialog
requests to where the dialog's requests came from (its Contact is unreachable), and symmetric
RTP (the leg's media address learnt from where its RTP comes from, not its SDP)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from tests.support import audio
from tests.support.bridge import BridgeHarness, running_bridge
from tests.support.netns import nat_network
from tests.support.peers import Baresip, run_sipp, sipp_tone_file
from tests.support.waiting import until, wait_until

from callroster.conference.events import LegJoined, LegLeft, TalkingStarted

pytestmark = pytest.mark.interop

HOST_TONE = 700.0  # what the phone on the host side says
NAT_TONE = 1000.0  # what the phone behind the NAT says


def _joined(harness: BridgeHarness) -> list[str]:
    return [e.leg_id for e in harness.events if isinstance(e, LegJoined)]


def _talking(harness: BridgeHarness, leg_id: str) -> bool:
    return any(isinstance(e, TalkingStarted) and e.leg_id == leg_id for e in harness.events)


def _left(harness: BridgeHarness, leg_id: str) -> list[str]:
    return [e.reason for e in harness.events if isinstance(e, LegLeft) and e.leg_id == leg_id]


def _median_peak(heard: np.ndarray, frequency: float) -> float | None:
    found = audio.tone_windows(heard, frequency)
    return float(np.median([audio.peak_frequency(w) for w in found])) if found else None


async def test_a_phone_behind_nat_is_heard_hears_and_gets_our_bye(tmp_path: Path) -> None:
    with nat_network() as net:
        async with running_bridge(tmp_path / "data", bind=net.host_address) as harness:
            host_voice = tmp_path / "host.wav"
            audio.speech_like_tone(host_voice, HOST_TONE, 40)
            # The phone on the host's side binds and advertises the host's end of the veth,
            # where its packets to the bridge come from: it needs no latching.
            host = Baresip(tmp_path, host_voice, name="host", address=net.host_address)
            await host.dial(f"sip:{harness.demo.pin}@{harness.settings.sip_hostport}", 30)
            await wait_until(lambda: _joined(harness), 10, "the phone on the host to join")
            [host_leg] = _joined(harness)

            nat_voice = tmp_path / "natted.wav"
            audio.speech_like_tone(nat_voice, NAT_TONE, 40)
            natted = Baresip(
                tmp_path,
                nat_voice,
                name="natted",
                address=net.private_address,
                prefix=net.command(),
            )
            await natted.dial(f"sip:{harness.demo.pin}@{harness.settings.sip_hostport}", 30)
            await wait_until(
                lambda: len(_joined(harness)) == 2, 10, "the phone behind the NAT to join"
            )
            nat_leg = _joined(harness)[1]
            # The bridge takes each phone for talking once it hears it: with symmetric RTP
            # the NAT'd phone's media is accepted from where it really comes from.
            both_talk = await until(
                lambda: _talking(harness, host_leg) and _talking(harness, nat_leg), 10
            )
            # Real time is the thing recorded: each phone hears its "joining" prompt (1.5 s)
            # out and then the other, for 5 s in all.
            await asyncio.sleep(5.0)
            counters = harness.bridge.media_counters()

            harness.bridge.control(harness.demo.conference_id, "drop", nat_leg)
            bye_reached = await until(
                lambda: any(end in natted.output for end in ("terminated", "session closed")), 5
            )
            nat_output = await natted.hang_up()
            assert _left(harness, nat_leg) == ["dropped"]
            await host.hang_up()  # the host phone's BYE: the last leg leaves
            await wait_until(lambda: _left(harness, host_leg), 5, "the host phone to leave")
            await wait_until(lambda: harness.bridge.call_count() == 0, 5, "no calls left")
        dropped = net.dropped()
        translations = net.translations()
        heard_by_host = audio.read_wav(host.heard())
        heard_by_natted = audio.read_wav(natted.heard())

    # The NAT is real: the phone's packets (SIP, RTP) left from the router's address, and
    # from other ports than the phone's own.
    assert translations and all(public[0] == net.wan_address for _, public in translations)
    assert any(private[1] != public[1] for private, public in translations), translations
    natted_heard = _median_peak(heard_by_natted, HOST_TONE)
    host_heard = _median_peak(heard_by_host, NAT_TONE)
    figures = (
        f"host heard {NAT_TONE} Hz in {len(audio.tone_windows(heard_by_host, NAT_TONE))}"
        f" half-seconds (median {host_heard}); the NAT'd phone heard {HOST_TONE} Hz in"
        f" {len(audio.tone_windows(heard_by_natted, HOST_TONE))} (median {natted_heard});"
        f" both taken for talking: {both_talk}; packets to the private address: {dropped};"
        f" counters {counters}"
    )
    # Each heard the other, at the right pitch, for at least 2.5 of the 3.5 s after the
    # prompt.
    assert host_heard is not None and abs(host_heard - NAT_TONE) < 10, (
        figures,
        audio.describe(heard_by_host),
    )
    assert len(audio.tone_windows(heard_by_host, NAT_TONE)) >= 5, (
        figures,
        audio.describe(heard_by_host),
    )
    assert natted_heard is not None and abs(natted_heard - HOST_TONE) < 10, (
        figures,
        audio.describe(heard_by_natted),
    )
    assert len(audio.tone_windows(heard_by_natted, HOST_TONE)) >= 5, (
        figures,
        audio.describe(heard_by_natted),
    )
    # The bridge's BYE went to where the phone's requests came from, through the NAT.
    assert bye_reached, (figures, nat_output[-2000:])
    # Nothing went on being sent to the private address: at most the first packets of
    # media, before the phone's own RTP moved its leg (half a second's worth).
    assert dropped < 25, figures


async def test_sipp_behind_nat_without_rport_gets_our_answers_and_our_bye(tmp_path: Path) -> None:
    """sipp writes no ``rport`` in its Via (nor do many older phones and adapters): the
    NAT rewrote its address, so its port too, and our responses go back to where its requests
    came from, the only address the NAT lets back in; the host drops it and our BYE reaches
    it there. Its RTP through the NAT is heard: the bridge takes it for talking."""
    with nat_network() as net:
        async with running_bridge(tmp_path / "data", bind=net.host_address) as harness:
            sipp_tone_file(tmp_path)
            caller = asyncio.create_task(
                run_sipp(
                    "refused",
                    harness.sip_port,
                    harness.demo.pin,
                    tmp_path,
                    host=net.host_address,
                    local_ip=net.private_address,
                    prefix=net.command(),
                    timeout=20,
                )
            )
            joined = await until(lambda: _joined(harness) or caller.done(), 10)
            assert joined and _joined(harness), "sipp behind the NAT never joined"
            [leg] = _joined(harness)
            heard = await until(lambda: _talking(harness, leg), 10)
            harness.bridge.control(harness.demo.conference_id, "drop", leg)
            result = await caller
            await wait_until(lambda: harness.bridge.call_count() == 0, 5, "no calls left")
        translations = net.translations()
    assert translations and all(public[0] == net.wan_address for _, public in translations)
    # sipp exits 0 only once it had our 200 (to its INVITE) and our BYE, and answered it.
    assert result.returncode == 0, result.stdout + result.stderr
    assert heard, "the bridge never heard sipp's tone through the NAT"
