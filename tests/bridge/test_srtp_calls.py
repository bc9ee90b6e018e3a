"""SRTP on the bridge (bridge/srtp_policy.py): a caller over TLS that offers RTP/SAVP gets
SRTP and hears, and is heard by, a clear-text caller in the same conference; keys are never
given over clear signalling; an account that requires SRTP keeps clear-text callers out;
a re-INVITE with new keys re-keys both directions without losing the call. Socket-free, on
the fake clock (tests/support/bridge_rig.py); the phones' SRTP is libsrtp's."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import numpy as np
import pytest
from numpy.typing import NDArray
from tests.support.bridge_rig import (
    ACCESS_NUMBER,
    CALLEE,
    CALLEE_MEDIA,
    GUEST,
    GUEST_PIN,
    Rig,
    answered,
    bridge_rig,
    final_answer,
)
from tests.support.fake_network import FakePort, Phone, phone_sdp
from tests.support.waiting import wait_until

from callroster.bridge.calls import CallState
from callroster.bridge.dial_target import DialTarget
from callroster.rtp import g711
from callroster.rtp.packet import parse_rtp
from callroster.rtp.srtp import SrtpContext
from callroster.sdp.crypto import KEY_SALT_LENGTHS, parse_crypto
from callroster.sdp.offer_answer import SrtpKeys
from callroster.sdp.session import parse_sdp
from callroster.sip.message import Request, Response, response_to, serialise

RATE = 8000
SUITES = ["AES_CM_128_HMAC_SHA1_80", "AEAD_AES_128_GCM"]


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with bridge_rig() as rig:
        yield rig


def savp_sdp(phone: Phone, suite: str, key: bytes, *, proto: str = "RTP/SAVP") -> bytes:
    inline = base64.b64encode(key).decode()
    return phone_sdp(*phone.media, extra=f"a=crypto:1 {suite} inline:{inline}\r\n").replace(
        b"RTP/AVP", proto.encode()
    )


def _tone(frequency: float, start: int) -> NDArray[np.int16]:
    t = (np.arange(160) + start) / RATE
    noise = np.random.default_rng(start).normal(0, 30, 160)
    return (8000 * np.sin(2 * np.pi * frequency * t) * (t >= 2.0) + noise).astype(np.int16)


def _peak(payloads: list[bytes]) -> float:
    pcm = np.concatenate([g711.decode("PCMU", p) for p in payloads]).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(pcm * np.hanning(len(pcm))))
    return float(np.fft.rfftfreq(len(pcm), 1 / RATE)[np.argmax(spectrum)])


class SecurePhone:
    """A phone over TLS with SRTP: its key in the offer, the bridge's from the answer."""

    def __init__(self, rig: Rig, number: int, suite: str, dialled: str = GUEST_PIN) -> None:
        self.rig = rig
        self.phone = Phone(number, dialled)
        self.phone.arrives_over = "tls"
        self.suite = suite
        self.key = bytes([number]) * KEY_SALT_LENGTHS[suite]
        self.srtp: SrtpContext | None = None
        self.port: FakePort | None = None

    async def call(self) -> Response:
        answer = await final_answer(
            self.rig, self.phone, savp_sdp(self.phone, self.suite, self.key)
        )
        if answer.status == 200:
            self.learn(answer)
        return answer

    def learn(self, answer: Response) -> None:
        media = parse_sdp(answer.body).media[0]
        assert media.proto == "RTP/SAVP"
        [line] = [parse_crypto(v) for v in media.attribute_values("crypto")]
        assert line.suite == self.suite and line.tag == 1
        keys = SrtpKeys(self.suite, self.key, line.key, 1)
        if self.srtp is None:
            self.srtp = SrtpContext(keys)
        else:
            self.srtp.rekey(keys)
        self.port = self.rig.network.ports[media.port]

    def send(self, pcm: NDArray[np.int16]) -> bytes:
        assert self.srtp is not None and self.port is not None
        wire = self.srtp.protect(self.phone.audio(pcm))
        self.port.deliver(wire, self.phone.media)
        return wire

    def heard(self) -> tuple[list[bytes], int, list[bytes]]:
        """Payloads of what the bridge sent, unprotected; how many failed to; the datagrams
        as they came."""
        assert self.srtp is not None and self.port is not None
        sent, self.port.sent = self.port.sent, []
        plain = [self.srtp.unprotect(data) for data, _ in sent]
        payloads = [parse_rtp(p).payload for p in plain if p is not None]
        return payloads, plain.count(None), [data for data, _ in sent]


async def _joined(rig: Rig, phone: Phone) -> None:
    await wait_until(
        lambda: any(
            c.state is CallState.JOINED and c.call_id == phone.call_id for c in rig.bridge._calls
        ),
        5,
        "the caller to join",
        interval=0.002,
    )


@pytest.mark.parametrize("suite", SUITES)
async def test_an_srtp_caller_over_tls_and_a_clear_caller_hear_each_other(
    rig: Rig, suite: str
) -> None:
    secure = SecurePhone(rig, 1, suite)
    answer = await secure.call()
    assert answer.status == 200
    await _joined(rig, secure.phone)
    clear = Phone(2, GUEST_PIN)
    clear_port = await answered(rig, clear)
    for tick in range(200):
        secure.send(_tone(700.0, tick * 160))
        clear_port.deliver(clear.audio(_tone(1200.0, tick * 160)), clear.media)
        rig.clock.advance(0.02)
    clear_raw = [data for data, _ in clear_port.sent]
    to_clear = [p.payload for p in clear_port.packets()]
    to_secure, undecryptable, wire = secure.heard()
    assert _peak(to_clear[-50:]) == pytest.approx(700.0, abs=15)
    assert _peak(to_secure[-50:]) == pytest.approx(1200.0, abs=15)
    assert undecryptable == 0 and len(to_secure) == len(wire)
    # The datagrams do not carry the audio in the clear (the control: the clear leg's do).
    assert not any(payload in data for payload, data in zip(to_secure, wire, strict=True))
    assert clear_raw[-1][12:] == to_clear[-1]  # the control: clear RTP shows its audio
    legs = {c.call_id: c for c in rig.bridge._calls}
    assert legs[secure.phone.call_id].rtp.encrypted
    assert not legs[clear.call_id].rtp.encrypted


def _warning(response: Response) -> str:
    return response.get("Warning") or ""


async def test_srtp_offered_over_clear_signalling_is_refused_with_a_reason(rig: Rig) -> None:
    phone = Phone(3, GUEST_PIN)  # over UDP
    answer = await final_answer(rig, phone, savp_sdp(phone, SUITES[0], bytes(30)))
    assert answer.status == 488
    assert '"SRTP keys are exchanged only over TLS (sips:)"' in _warning(answer)
    assert rig.bridge.call_count() == 0


async def test_crypto_on_a_plain_offer_over_clear_signalling_is_answered_as_plain_rtp(
    rig: Rig,
) -> None:
    phone = Phone(4, GUEST_PIN)
    body = savp_sdp(phone, SUITES[0], bytes(30), proto="RTP/AVP")
    answer = await final_answer(rig, phone, body)
    assert answer.status == 200
    media = parse_sdp(answer.body).media[0]
    assert media.proto == "RTP/AVP" and media.attribute_values("crypto") == []
    [call] = list(rig.bridge._calls)
    assert not call.rtp.encrypted


async def test_a_line_that_requires_srtp_refuses_a_clear_caller_before_the_pin(
    rig: Rig,
) -> None:
    rig.directory.srtp_required_numbers.add(ACCESS_NUMBER)
    clear = Phone(5, ACCESS_NUMBER)
    answer = await final_answer(rig, clear)
    assert answer.status == 488
    assert "Encrypted media required" in _warning(answer)
    secure = SecurePhone(rig, 6, SUITES[1], dialled=ACCESS_NUMBER)
    assert (await secure.call()).status == 200  # (the positive control)


async def test_a_clear_caller_is_told_and_hung_up_once_the_pin_shows_srtp_is_required(
    rig: Rig,
) -> None:
    rig.directory.srtp_required_accounts.add("acct-1")
    clear = Phone(7, GUEST_PIN)  # the PIN in the URI: answered as if keyed (no oracle)
    answer = await final_answer(rig, clear)
    assert answer.status == 200
    port = rig.network.ports[parse_sdp(answer.body).media[0].port]
    await wait_until(
        lambda: all(c.state is CallState.LEAVING for c in rig.bridge._calls),
        10,
        "the PIN checked and the caller told to leave",
        interval=0.002,
    )
    rig.network.take_sip()
    heard = 0
    for _ in range(40 * 50):
        rig.clock.advance(0.02)
        heard += len(port.packets())
        if rig.bridge.call_count() == 0:
            break
    assert rig.bridge.call_count() == 0
    assert [m.method for m in rig.network.take_sip() if isinstance(m, Request)] == ["BYE"]
    assert heard > 50  # it heard why first (a second or more of prompt)
    assert rig.bridge.calls_refused()["srtp_required"] == 1
    assert not any(w[0] == "leg_joined" for w in rig.directory.writes)  # never joined
    # An SRTP caller over TLS to the same account joins (the control).
    secure = SecurePhone(rig, 8, SUITES[0])
    assert (await secure.call()).status == 200
    await _joined(rig, secure.phone)


@pytest.mark.parametrize("suite", SUITES)
async def test_a_reinvite_with_a_new_key_rekeys_both_directions_mid_call(
    rig: Rig, suite: str
) -> None:
    secure = SecurePhone(rig, 9, suite)
    assert (await secure.call()).status == 200
    await _joined(rig, secure.phone)
    clear = Phone(10, GUEST_PIN)
    clear_port = await answered(rig, clear)
    old_bridge_key = secure.srtp.keys.remote_key if secure.srtp else b""
    tick = 0

    def talk(frames: int) -> None:
        nonlocal tick
        for _ in range(frames):
            secure.send(_tone(700.0, tick * 160))
            clear_port.deliver(clear.audio(_tone(1200.0, tick * 160)), clear.media)
            rig.clock.advance(0.02)
            tick += 1

    talk(150)
    # New key from the phone, in a re-INVITE.
    secure.key = bytes([99]) * KEY_SALT_LENGTHS[suite]
    phone = secure.phone
    phone.send(
        rig.bridge,
        phone.in_dialog(
            "INVITE", body=savp_sdp(phone, suite, secure.key), content_type="application/sdp"
        ),
    )
    seen: list[Response] = []

    def ok() -> bool:
        seen.extend(r for r in rig.responses(phone.call_id) if r.status == 200)
        return bool(seen)

    await wait_until(ok, 5, "the 200 to the re-INVITE", interval=0.002)
    secure.learn(seen[-1])
    phone.send(rig.bridge, phone.ack(cseq=phone.cseq))
    assert secure.srtp is not None and secure.srtp.keys.remote_key != old_bridge_key
    secure.heard()
    clear_port.packets()
    talk(100)
    to_secure, undecryptable, _ = secure.heard()
    to_clear = [p.payload for p in clear_port.packets()]
    assert undecryptable == 0
    assert _peak(to_secure[-50:]) == pytest.approx(1200.0, abs=15)
    assert _peak(to_clear[-50:]) == pytest.approx(700.0, abs=15)
    [call] = [c for c in rig.bridge._calls if c.call_id == phone.call_id]
    assert call.state is CallState.JOINED and call.rtp.srtp is not None
    assert call.rtp.srtp.counters.rekeys == 1


async def test_a_reinvite_may_not_turn_srtp_off(rig: Rig) -> None:
    secure = SecurePhone(rig, 11, SUITES[0])
    assert (await secure.call()).status == 200
    phone = secure.phone
    phone.send(
        rig.bridge,
        phone.in_dialog("INVITE", body=phone_sdp(*phone.media), content_type="application/sdp"),
    )
    seen: list[Response] = []

    def final() -> bool:
        seen.extend(r for r in rig.responses(phone.call_id) if r.status >= 400)
        return bool(seen)

    await wait_until(final, 5, "the refusal of the re-INVITE", interval=0.002)
    assert seen[0].status == 488
    [call] = [c for c in rig.bridge._calls if c.call_id == phone.call_id]
    assert call.rtp.encrypted


@pytest.mark.parametrize(("srtp", "proto"), [(None, "RTP/AVP"), ("require", "RTP/SAVP")])
async def test_a_call_we_place_over_tls_offers_srtp_and_gets_it(
    rig: Rig, srtp: str | None, proto: str
) -> None:
    target = DialTarget(
        number="+447700900555", host=CALLEE[0], port=CALLEE[1], transport="tls", srtp=srtp
    )  # type: ignore[arg-type]
    await rig.bridge.dial_out(GUEST, target, "Bob", 30.0, press_to_accept=False)
    [invite] = [m for m in rig.network.take_sip() if isinstance(m, Request)]
    offer = parse_sdp(invite.body).media[0]
    assert offer.proto == proto
    lines = [parse_crypto(v) for v in offer.attribute_values("crypto")]
    assert [c.suite for c in lines] == SUITES
    # The callee answers with GCM (tag 2) and its own key.
    theirs = bytes([42]) * 28
    body = phone_sdp(
        *CALLEE_MEDIA,
        extra=f"a=crypto:2 AEAD_AES_128_GCM inline:{base64.b64encode(theirs).decode()}\r\n",
    )
    response = response_to(
        invite,
        200,
        "OK",
        to_tag="callee1",
        extra_headers=[("Contact", f"<sip:bob@{CALLEE[0]}:{CALLEE[1]};transport=tls>")],
        body=body.replace(b"RTP/AVP", proto.encode()),
        content_type="application/sdp",
    )
    rig.bridge.on_sip(serialise(response), CALLEE, "tls")
    [call] = [c for c in rig.bridge._calls if c.call_id == invite.get("Call-ID")]
    assert call.rtp.srtp is not None and call.rtp.srtp.suite == "AEAD_AES_128_GCM"
    assert call.rtp.srtp.keys.remote_key == theirs
    assert call.rtp.srtp.keys.local_key == lines[1].key


async def test_a_call_we_place_over_udp_never_offers_keys(rig: Rig) -> None:
    target = DialTarget(number="+447700900555", host=CALLEE[0], port=CALLEE[1], srtp="require")
    await rig.bridge.dial_out(GUEST, target, "Bob", 30.0)
    [invite] = [m for m in rig.network.take_sip() if isinstance(m, Request)]
    offer = parse_sdp(invite.body).media[0]
    assert offer.proto == "RTP/AVP" and offer.attribute_values("crypto") == []


async def test_forged_and_replayed_srtp_is_dropped_counted_and_harms_no_one(rig: Rig) -> None:
    secure = SecurePhone(rig, 12, SUITES[0])
    assert (await secure.call()).status == 200
    await _joined(rig, secure.phone)
    assert secure.port is not None
    assert secure.srtp is not None
    good = secure.send(_tone(700.0, 0))
    forged = bytearray(secure.srtp.protect(secure.phone.audio(_tone(700.0, 160))))
    forged[40] ^= 0xFF  # a packet never delivered, damaged: authentication fails
    secure.port.deliver(bytes(forged), secure.phone.media)
    secure.port.deliver(good, secure.phone.media)  # a replay
    secure.port.deliver(b"\x80\x00" + bytes(2000), secure.phone.media)  # garbage
    for tick in range(2, 60):
        secure.send(_tone(700.0, tick * 160))
        rig.clock.advance(0.02)
    totals = rig.bridge.media_totals()
    assert (totals["srtp_auth_failures"], totals["srtp_replays"]) == (1, 1)
    [call] = [c for c in rig.bridge._calls if c.call_id == secure.phone.call_id]
    assert call.state is CallState.JOINED and call.rtp.counters.received >= 58
    _, undecryptable, _ = secure.heard()
    assert undecryptable == 0  # and it still hears the bridge
