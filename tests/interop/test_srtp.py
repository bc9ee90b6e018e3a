"""SRTP with a real peer: baresip over TLS with its srtp module (``mediaenc=srtp-mand``:
RTP/SAVP, SDES keys) joins by the access number, keys the PIN, and hears a clear-text
baresip's tone, which hears its tone in turn (frequency checks). A packet capture on
loopback during both calls shows the clear call's SIP, its keyed PIN digits (RFC 4733
events) and its G.711 tone in both directions: the control that the capture and its
analysis see what is there. The TLS+SRTP call shows none of them: no SIP text, no PIN
digit, no tone. Every certificate is a tests/support/certs.py TestCa's."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import threading
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from tests.support import audio
from tests.support.audio import describe, tone_windows
from tests.support.bridge import BridgeHarness, running_bridge
from tests.support.certs import TestCa
from tests.support.peers import Baresip
from tests.support.waiting import wait_until

from callroster.accounts.actor import operator_cli
from callroster.conference.events import LegJoined
from callroster.rtp import g711

pytestmark = pytest.mark.interop

SECURE_TONE, CLEAR_TONE = 700.0, 1000.0
Flow = tuple[int, int]  # (source port, destination port) of UDP on loopback


class UdpCapture:
    """Every IPv4 UDP and TCP payload on ``lo`` while it runs, by (source, destination)
    port (a raw AF_PACKET socket: the tests run as root), read in a thread."""

    def __init__(self) -> None:
        self.udp: dict[Flow, list[bytes]] = defaultdict(list)
        self.tcp: dict[Flow, list[bytes]] = defaultdict(list)
        self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        self._sock.bind(("lo", 0))
        self._sock.settimeout(0.2)
        self._running = True
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while self._running:
            try:
                frame, (_, _, packet_type, *_) = self._sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            if packet_type == socket.PACKET_OUTGOING:
                continue  # on lo each packet is seen twice: keep the incoming copy
            ip = frame[14:]
            if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] not in (6, 17):
                continue
            body = ip[(ip[0] & 0x0F) * 4 :]
            flow = struct.unpack("!HH", body[:4])
            offset = (body[12] >> 4) * 4 if ip[9] == 6 else 8
            if payload := body[offset:]:
                (self.tcp if ip[9] == 6 else self.udp)[flow].append(payload)

    def stop(self) -> None:
        self._running = False
        self._thread.join(2)
        self._sock.close()

    def all_bytes(self) -> bytes:
        return b"".join(p for flows in (self.udp, self.tcp) for ps in flows.values() for p in ps)


def _as_g711(payloads: list[bytes]) -> NDArray[np.float64]:
    """The UDP payloads of one flow read as RTP with PCMU audio (what an eavesdropper would
    try): 12 bytes of header off, the rest decoded, scaled to -1..1."""
    frames = [p[12:172] for p in payloads if len(p) >= 172 and p[0] >> 6 == 2]
    if not frames:
        return np.zeros(0)
    return g711.decode("PCMU", b"".join(frames)).astype(np.float64) / 32768.0


def _digits(payloads: list[bytes]) -> str:
    """The DTMF digits an eavesdropper reads from RFC 4733 events in one flow (any dynamic
    payload type with a 4-byte payload; an event counted once per timestamp)."""
    keys, seen = "0123456789*#", set()
    digits = ""
    for p in payloads:
        if len(p) != 16 or p[0] >> 6 != 2 or (p[1] & 0x7F) < 96:
            continue
        timestamp = struct.unpack("!I", p[4:8])[0]
        event = p[12]
        if event < 12 and timestamp not in seen:
            seen.add(timestamp)
            digits += keys[event]
    return digits


def _phone_port(harness: BridgeHarness, leg_id: str) -> tuple[int, int]:
    """(the phone's RTP port, the bridge's port for it) of a leg on the call."""
    for call in harness.bridge._calls:  # noqa: SLF001 - the test looks at the leg's media
        if call.leg_id == leg_id:
            return int(call.rtp.remote[1]), call.local_port
    raise AssertionError(f"no call for leg {leg_id}")


async def _joins(harness: BridgeHarness, phone: Baresip, uri: str) -> str:
    before = {e.leg_id for e in harness.events if isinstance(e, LegJoined)}
    await phone.dial(uri, 40)
    await phone.wait_for_output("Call established", 15)
    await phone.media_up()
    await phone.keys(harness.demo.pin + "#")
    await wait_until(
        lambda: {e.leg_id for e in harness.events if isinstance(e, LegJoined)} - before,
        10,
        "the phone to join",
    )
    return next(iter({e.leg_id for e in harness.events if isinstance(e, LegJoined)} - before))


async def test_an_srtp_phone_over_tls_talks_with_a_clear_one_and_a_capture_sees_only_the_clear(
    tmp_path: Path,
) -> None:
    ca = TestCa(tmp_path / "ca")
    bridge_cert = ca.issue(tmp_path / "certs", "bridge")
    capture = UdpCapture()
    try:
        async with running_bridge(
            tmp_path / "data",
            sip_tls_cert_file=bridge_cert.cert_file,
            sip_tls_key_file=bridge_cert.key_file,
        ) as harness:
            assert harness.sip_tls_port is not None
            secure_tone, clear_tone = tmp_path / "secure.wav", tmp_path / "clear.wav"
            audio.speech_like_tone(secure_tone, SECURE_TONE, 45)
            audio.speech_like_tone(clear_tone, CLEAR_TONE, 45)
            secure = Baresip(
                tmp_path, secure_tone, name="secure", cafile=ca.cert_file, mediaenc="srtp-mand"
            )
            clear = Baresip(tmp_path, clear_tone, name="clear")
            number = harness.demo.dial_in_number
            secure_leg = await _joins(
                harness, secure, f"sip:{number}@127.0.0.1:{harness.sip_tls_port};transport=tls"
            )
            clear_leg = await _joins(harness, clear, f"sip:{number}@127.0.0.1:{harness.sip_port}")
            # What Live Call Status's padlock reads: TLS signalling and SRTP media.
            assert harness.bridge.signalling_of(secure_leg) == "tls"
            assert harness.bridge.media_encrypted_of(secure_leg) is True
            assert harness.bridge.signalling_of(clear_leg) == "udp"
            assert harness.bridge.media_encrypted_of(clear_leg) is False
            [secure_call] = [c for c in harness.bridge._calls if c.leg_id == secure_leg]  # noqa: SLF001
            assert secure_call.rtp.srtp is not None
            suite = secure_call.rtp.srtp.suite  # the first of baresip's offer that we do
            logging.getLogger(__name__).info("baresip's SRTP suite: %s", suite)
            secure_port, bridge_secure = _phone_port(harness, secure_leg)
            clear_port, bridge_clear = _phone_port(harness, clear_leg)
            await asyncio.sleep(6)  # both talk, in real time
            await secure.hang_up()
            await clear.hang_up()
            secure_heard = audio.read_wav(secure.heard())
            clear_heard = audio.read_wav(clear.heard())
            sip_port, tls_port = harness.sip_port, harness.sip_tls_port
    finally:
        capture.stop()
    # Each heard the other, at its frequency.
    for heard, frequency in ((secure_heard, CLEAR_TONE), (clear_heard, SECURE_TONE)):
        tone = tone_windows(heard, frequency)
        assert len(tone) >= 6, describe(heard)
        assert abs(float(np.median([audio.peak_frequency(w) for w in tone])) - frequency) < 10
    pin = harness.demo.pin
    udp = capture.udp
    # The control: the clear call, seen by the capture. Its SIP as text, its PIN digits as
    # events, its tone going in and the secure phone's tone coming out to it.
    assert b"INVITE sip:" in b"".join(b"".join(p) for (_, d), p in udp.items() if d == sip_port)
    assert pin in _digits(udp[(clear_port, bridge_clear)])
    assert len(tone_windows(_as_g711(udp[(clear_port, bridge_clear)]), CLEAR_TONE)) >= 6
    assert len(tone_windows(_as_g711(udp[(bridge_clear, clear_port)]), SECURE_TONE)) >= 6
    # The TLS+SRTP call: its SIP is TLS records only, both media directions are there but
    # carry no recognisable tone, and its key presses cannot be read.
    tls = capture.tcp
    to_tls = b"".join(b"".join(p) for (s, d), p in tls.items() if tls_port in (s, d))
    assert to_tls and b"SIP/2.0" not in to_tls and b"INVITE" not in to_tls
    assert to_tls[:1] == b"\x16"  # a TLS handshake record opened the connection
    inbound, outbound = udp[(secure_port, bridge_secure)], udp[(bridge_secure, secure_port)]
    assert len(inbound) > 250 and len(outbound) > 250, (len(inbound), len(outbound))
    for payloads in (inbound, outbound):
        heard_by_spy = _as_g711(payloads)
        for frequency in (SECURE_TONE, CLEAR_TONE):
            assert tone_windows(heard_by_spy, frequency) == [], describe(heard_by_spy)
    assert pin not in _digits(inbound)
    assert pin.encode() not in b"".join(inbound + outbound) + to_tls


async def test_an_account_that_requires_srtp_keeps_clear_text_phones_out(tmp_path: Path) -> None:
    """With the demo account's policy at ``required`` (the only account on its access
    number): a clear-text phone dialling the number is refused with 488 before any PIN; one
    dialling the PIN in the URI is answered like any caller (no PIN oracle), told why once
    the PIN is checked, and hung up, never joining; a phone over TLS with SRTP joins."""
    ca = TestCa(tmp_path / "ca")
    bridge_cert = ca.issue(tmp_path / "certs", "bridge")
    async with running_bridge(
        tmp_path / "data",
        sip_tls_cert_file=bridge_cert.cert_file,
        sip_tls_key_file=bridge_cert.key_file,
    ) as harness:
        assert harness.sip_tls_port is not None
        harness.store.accounts.set_srtp_policy(
            operator_cli("test"), harness.demo.account_id, "required"
        )
        tone = tmp_path / "tone.wav"
        audio.speech_like_tone(tone, CLEAR_TONE, 45)
        number, pin = harness.demo.dial_in_number, harness.demo.pin
        refused = Baresip(tmp_path, tone, name="refused")
        await refused.dial(f"sip:{number}@127.0.0.1:{harness.sip_port}", 20)
        await refused.wait_for_output("488", 15)
        await refused.hang_up()
        told = Baresip(tmp_path, tone, name="told")
        await told.dial(f"sip:{pin}@127.0.0.1:{harness.sip_port}", 40)
        await told.wait_for_output("Call established", 15)
        await told.wait_for_output("closed", 30)  # the bridge's BYE, after the prompt
        await told.hang_up()
        heard = audio.read_wav(told.heard())
        assert not [e for e in harness.events if isinstance(e, LegJoined)]
        assert harness.bridge.calls_refused().get("srtp_required") == 2
        secure = Baresip(tmp_path, tone, name="secure", cafile=ca.cert_file, mediaenc="srtp-mand")
        secure_leg = await _joins(
            harness, secure, f"sip:{number}@127.0.0.1:{harness.sip_tls_port};transport=tls"
        )
        assert harness.bridge.media_encrypted_of(secure_leg) is True
        await secure.hang_up()
    # The told caller heard a spoken reason (more than a second of sound) before the BYE.
    loud = [w for w in audio.windows(heard) if audio.rms_dbfs(w) > -40]
    assert len(loud) >= 2, describe(heard)
