"""SIP over TLS with real peers (baresip: its libre speaks TLS; Debian's sipp is built
without it). A phone over TLS joins by its PIN and talks with a clear-text UDP caller, each
hearing the other's tone; a sips: trunk to a baresip "carrier" on TLS with a test-CA
certificate places the call and audio flows; the same trunk with another CA's certificate
is refused with one clear log line and nothing is sent to it, in TLS or in clear. Every
certificate is a tests/support/certs.py TestCa's."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from tests.support import audio
from tests.support.audio import describe, tone_windows
from tests.support.bridge import BridgeHarness, running_bridge
from tests.support.certs import Issued, TestCa
from tests.support.linphone import Linphone
from tests.support.peers import Baresip
from tests.support.waiting import until, wait_until

from callroster.accounts.actor import operator_cli
from callroster.api.dial_out import route_target
from callroster.bridge.dial_target import CERTIFICATE_REFUSED
from callroster.conference.events import LegJoined, LegLeft
from callroster.store.conferences import PinMatch

pytestmark = pytest.mark.interop

CALLEE = "+447700900777"


def _joined(harness: BridgeHarness) -> list[str]:
    return [e.leg_id for e in harness.events if isinstance(e, LegJoined)]


def _tone(workdir: Path, name: str, frequency: float, seconds: float = 40.0) -> Path:
    path = workdir / f"{name}.wav"
    audio.speech_like_tone(path, frequency, seconds)
    return path


def _bridge_certificate(tmp_path: Path) -> tuple[TestCa, Issued]:
    ca = TestCa(tmp_path / "ca")
    return ca, ca.issue(tmp_path / "certs", "bridge")


async def _phone_joins(
    harness: BridgeHarness, phone: Baresip, uri: str, seconds: float
) -> tuple[str, float]:
    """``phone`` dials ``uri``, keys the demo PIN and is on the call; its leg and how long
    the call took to be answered (the TLS connection, its handshake and the INVITE)."""
    before = len(_joined(harness))
    started = time.perf_counter()
    await phone.dial(uri, seconds)
    await phone.wait_for_output("Call established", 15)
    answered = time.perf_counter() - started
    await phone.media_up()
    await phone.keys(harness.demo.pin + "#")
    await wait_until(lambda: len(_joined(harness)) > before, 10, "the phone to join")
    return _joined(harness)[-1], answered


async def test_a_phone_over_tls_joins_by_pin_and_talks_with_a_clear_text_caller(
    tmp_path: Path,
) -> None:
    ca, bridge_cert = _bridge_certificate(tmp_path)
    async with running_bridge(
        tmp_path / "data",
        sip_tls_cert_file=bridge_cert.cert_file,
        sip_tls_key_file=bridge_cert.key_file,
    ) as harness:
        assert harness.sip_tls_port is not None
        secure = Baresip(
            tmp_path, _tone(tmp_path, "secure", 700), name="secure", cafile=ca.cert_file
        )
        clear = Baresip(tmp_path, _tone(tmp_path, "clear", 1000), name="clear")
        number = harness.demo.dial_in_number
        secure_leg, answered = await _phone_joins(
            harness,
            secure,
            f"sip:{number}@127.0.0.1:{harness.sip_tls_port};transport=tls",
            seconds=30,
        )
        clear_leg, _ = await _phone_joins(
            harness, clear, f"sip:{number}@127.0.0.1:{harness.sip_port}", seconds=30
        )
        # The bridge's record of each call says how it was signalled.
        assert harness.bridge.signalling_of(secure_leg) == "tls"
        assert harness.bridge.signalling_of(clear_leg) == "udp"
        await asyncio.sleep(6)  # both talk (real time: heard and recorded by each)
        await secure.hang_up()
        await clear.hang_up()
        secure_heard = audio.read_wav(secure.heard())
        clear_heard = audio.read_wav(clear.heard())
    logging.getLogger(__name__).info("TLS phone's call answered in %.3f s", answered)
    # Each heard the other's tone, at its frequency.
    for heard, frequency in ((secure_heard, 1000), (clear_heard, 700)):
        tone = tone_windows(heard, frequency)
        assert len(tone) >= 6, describe(heard)
        peak = float(np.median([audio.peak_frequency(w) for w in tone]))
        assert abs(peak - frequency) < 10, describe(heard)
    # Positive control of the measure: neither "hears" its own tone back.
    assert len(tone_windows(secure_heard, 700)) == 0 and len(tone_windows(clear_heard, 1000)) == 0


def _so_far(path: Path | None) -> np.ndarray:
    """A recording still being written: its samples so far."""
    if path is None or not path.exists():
        return np.zeros(0)
    raw = path.read_bytes()[44:]
    return np.frombuffer(raw[: len(raw) // 2 * 2], dtype="<i2").astype(np.float64) / 32768.0


async def test_linphonec_over_tls_checks_our_certificate_and_keys_the_pin_by_info(
    tmp_path: Path,
) -> None:
    """linphonec verifies the bridge's certificate and name (its mbedtls matches names, not
    IP addresses: the certificate names localhost), keys the PIN by SIP INFO, in-dialog
    requests on its TLS connection, and talks with a clear-text phone."""
    ca = TestCa(tmp_path / "ca")
    bridge_cert = ca.issue(tmp_path / "certs", "bridge", hosts=("localhost", "127.0.0.1"))
    async with running_bridge(
        tmp_path / "data",
        sip_tls_cert_file=bridge_cert.cert_file,
        sip_tls_key_file=bridge_cert.key_file,
    ) as harness:
        clear = Baresip(tmp_path, _tone(tmp_path, "clear", 700), name="clear")
        await _phone_joins(
            harness, clear, f"sip:{harness.demo.dial_in_number}@127.0.0.1:{harness.sip_port}", 40
        )
        source = _tone(tmp_path, "linphone", 1000)
        async with Linphone(tmp_path, source, info=True, rfc4733=False, tls_ca=ca.cert_file) as lp:
            await lp.call(
                f"sip:{harness.demo.dial_in_number}@localhost:{harness.sip_tls_port};transport=tls"
            )
            await lp.connected()
            await lp.keys(harness.demo.pin)  # no '#': tried after the keypad's pause
            await lp.wait_until(lambda: len(_joined(harness)) == 2, 10, "linphonec to join")
            leg = _joined(harness)[-1]
            assert harness.bridge.signalling_of(leg) == "tls"

            def both_heard() -> bool:
                by_clear = _so_far(next(iter(sorted(clear.records.glob("dump-*-dec.wav"))), None))
                return (
                    len(tone_windows(by_clear, 1000)) >= 4
                    and len(tone_windows(_so_far(lp.recording), 700)) >= 4
                )

            await until(both_heard, 10, interval=0.25)
            await lp.hang_up()
            heard_by_linphone = audio.read_wav(lp.heard())
            log = lp.log.read_text(errors="replace")
        await clear.hang_up()
        heard_by_clear = audio.read_wav(clear.heard())
    assert "SSL handshake finished, SSL version is [TLSv1.2]" in log or "[TLSv1.3]" in log
    for heard, frequency in ((heard_by_clear, 1000), (heard_by_linphone, 700)):
        tone = tone_windows(heard, frequency)
        assert len(tone) >= 4, describe(heard)
        assert abs(float(np.median([audio.peak_frequency(w) for w in tone])) - frequency) < 10


# -- trunks over TLS ----------------------------------------------------------------------

OPERATOR = operator_cli("test")


def _match(harness: BridgeHarness) -> PinMatch:
    match = harness.store.conferences.open_for_web(harness.demo.conference_id, as_host=False)
    assert match is not None
    return match


def _left_reason(harness: BridgeHarness, leg_id: str) -> str | None:
    for event in harness.events:
        if isinstance(event, LegLeft) and event.leg_id == leg_id:
            return event.reason
    return None


class LoopbackCapture:
    """Every IPv4 TCP/UDP payload on ``lo`` to one of ``ports`` while it runs (a raw
    AF_PACKET socket: the tests run as root), read in a thread."""

    def __init__(self, ports: set[int]) -> None:
        self.ports = ports
        self.payloads: list[tuple[str, int, bytes]] = []  # (tcp|udp, port, payload)
        self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        self._sock.bind(("lo", 0))
        self._sock.settimeout(0.2)
        self._running = True
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while self._running:
            try:
                frame = self._sock.recv(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            ip = frame[14:]
            if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] not in (6, 17):
                continue
            body = ip[(ip[0] & 0x0F) * 4 :]
            port = struct.unpack("!H", body[2:4])[0]
            if port not in self.ports:
                continue
            offset = (body[12] >> 4) * 4 if ip[9] == 6 else 8
            if payload := body[offset:]:
                self.payloads.append(("tcp" if ip[9] == 6 else "udp", port, payload))

    def stop(self) -> None:
        self._running = False
        self._thread.join(2)
        self._sock.close()


async def test_a_sips_trunk_places_the_call_with_the_carriers_certificate_checked(
    tmp_path: Path,
) -> None:
    ca, bridge_cert = _bridge_certificate(tmp_path)
    carrier_cert = ca.issue(tmp_path / "certs", "carrier")
    async with running_bridge(
        tmp_path / "data",
        sip_tls_cert_file=bridge_cert.cert_file,
        sip_tls_key_file=bridge_cert.key_file,
        sip_tls_ca_file=ca.cert_file,
    ) as harness:
        talker = Baresip(tmp_path, _tone(tmp_path, "talker", 1000), name="talker")
        await _phone_joins(
            harness, talker, f"sip:{harness.demo.dial_in_number}@127.0.0.1:{harness.sip_port}", 30
        )
        callee = Baresip(
            tmp_path,
            _tone(tmp_path, "callee", 700),
            name=CALLEE,
            certificate=carrier_cert.combined_file,
            cafile=ca.cert_file,
        )
        await callee.answer_calls(30)
        harness.store.trunks.add(OPERATOR, "secure-carrier", f"sips:127.0.0.1:{callee.tls_port}")
        target = route_target(harness.store, CALLEE)
        assert (target.transport, target.port) == ("tls", callee.tls_port)
        started = time.perf_counter()
        leg_id = await harness.bridge.dial_out(
            _match(harness), target, "Carol", ring_seconds=20, press_to_accept=False
        )
        roster = harness.roster.get(harness.demo.conference_id)
        assert roster is not None
        assert await until(lambda: roster.legs[leg_id].status == "connected", 10), (
            roster.legs[leg_id].status,
            callee.output[-3000:],
        )
        connected = time.perf_counter() - started
        assert harness.bridge.signalling_of(leg_id) == "tls"
        await asyncio.sleep(6)
        harness.bridge.control(harness.demo.conference_id, "drop", leg_id)
        assert await until(lambda: roster.legs[leg_id].status == "left", 5)
        carrier_log = await callee.hang_up()
        await talker.hang_up()
        callee_heard = audio.read_wav(callee.heard())
        talker_heard = audio.read_wav(talker.heard())
    logging.getLogger(__name__).info("TLS trunk call connected in %.3f s", connected)
    assert "transport=tls" in carrier_log or "TLS" in carrier_log, carrier_log[-2000:]
    for heard, frequency in ((callee_heard, 1000), (talker_heard, 700)):
        tone = tone_windows(heard, frequency)
        assert len(tone) >= 6, describe(heard)
        assert abs(float(np.median([audio.peak_frequency(w) for w in tone])) - frequency) < 10


async def test_a_sips_trunk_with_another_cas_certificate_is_refused_and_nothing_is_sent(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ca, bridge_cert = _bridge_certificate(tmp_path)
    stranger = TestCa(tmp_path / "other-ca", "Some Other CA")
    carrier_cert = stranger.issue(tmp_path / "certs", "carrier")
    async with running_bridge(
        tmp_path / "data",
        sip_tls_cert_file=bridge_cert.cert_file,
        sip_tls_key_file=bridge_cert.key_file,
        sip_tls_ca_file=ca.cert_file,  # ours: the carrier's is not signed by it
    ) as harness:
        callee = Baresip(
            tmp_path,
            audio.silence_file(tmp_path),
            name=CALLEE,
            certificate=carrier_cert.combined_file,
        )
        await callee.answer_calls(20)
        carrier_ports = {callee.port, callee.tls_port}
        harness.store.trunks.add(OPERATOR, "wrong-carrier", f"sips:127.0.0.1:{callee.tls_port}")
        capture = LoopbackCapture(carrier_ports)
        try:
            leg_id = await harness.bridge.dial_out(
                _match(harness),
                route_target(harness.store, CALLEE),
                "Carol",
                ring_seconds=20,
                press_to_accept=False,
            )
            await wait_until(lambda: _left_reason(harness, leg_id), 10, "the leg to leave")
        finally:
            capture.stop()
        carrier_log = await callee.hang_up()
    assert _left_reason(harness, leg_id) == CERTIFICATE_REFUSED
    records = harness.store.call_records.for_account(OPERATOR, harness.demo.account_id)
    [record] = [r for r in records if r.leg_id == leg_id]
    assert (record.outcome, record.sip_status) == ("failed", None)
    # One log line naming the trunk and why.
    refused = [r.getMessage() for r in caplog.records if "certificate refused" in r.getMessage()]
    assert len(refused) == 1, refused
    assert "wrong-carrier" in refused[0] and "unable to get local issuer certificate" in refused[0]
    # Nothing reached the carrier but a TLS handshake: no SIP in clear, on any of its ports.
    assert "Incoming call" not in carrier_log and "INVITE" not in carrier_log
    sent = [payload for _, _, payload in capture.payloads]
    assert any(p.startswith(b"\x16\x03") for p in sent), capture.payloads  # the ClientHello
    assert not any(b"SIP/2.0" in p or b"INVITE" in p for p in sent), capture.payloads
