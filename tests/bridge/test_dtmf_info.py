"""Key presses sent in SIP INFO, as real phones send them: the body read alone, and a call
keying its PIN with the exact INFO linphonec (Debian's linphone-cli 5.1) sends while, its
RFC 4733 setting being on by default, the same presses also go as telephone-events."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tests.support.bridge_rig import ACCESS_NUMBER, GUEST_PIN, Rig, answered, bridge_rig
from tests.support.fake_network import Phone
from tests.support.waiting import until, wait_until

from callroster.bridge.calls import CallState
from callroster.bridge.dtmf_info import digit_from_info
from callroster.sip.message import Request, parse_message

# As linphonec 5.1.65 sent it (its -d 6 log), to the bridge's 200 for an INVITE to the
# access number; only its own address in From (its host's IPv6 address) is ::1 here.
LINPHONEC_INFO = (
    b"INFO sip:callroster@127.0.0.1:5060;transport=udp SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:30720;branch=z9hG4bK.Ly9ZEkVYn;rport\r\n"
    b"From: <sip:linphone@[::1]>;tag=zEVwzZY1U\r\n"
    b"To: <sip:2000@127.0.0.1>;tag=7cf2f9727115cef9\r\n"
    b"CSeq: 21 INFO\r\n"
    b"Call-ID: MADreVgr4q\r\n"
    b"Max-Forwards: 70\r\n"
    b"Content-Length: 24\r\n"
    b"Content-Type: application/dtmf-relay\r\n"
    b"User-Agent: Linphonec/5.1.65\r\n"
    b"\r\n"
    b"Signal=8\r\n"
    b"Duration=250\r\n"
)


def _info(data: bytes) -> Request:
    message = parse_message(data)
    assert isinstance(message, Request)
    return message


def test_linphonecs_info_is_the_key_it_names() -> None:
    assert digit_from_info(_info(LINPHONEC_INFO)) == "8"
    for key in "0123456789*#":
        keyed = LINPHONEC_INFO.replace(b"Signal=8", b"Signal=" + key.encode())
        assert digit_from_info(_info(keyed)) == key


def test_other_bodies_and_types() -> None:
    def info(content_type: str, body: bytes) -> Request:
        head = LINPHONEC_INFO.split(b"Content-Length")[0]
        return _info(
            head
            + f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )

    assert digit_from_info(info("application/dtmf", b"5")) == "5"
    assert digit_from_info(info("application/dtmf", b"11")) == "#"  # an event code
    assert digit_from_info(info("application/dtmf-relay", b"signal= a\r\n")) == "A"
    assert digit_from_info(info("application/dtmf-relay", b"Signal=X\r\n")) is None
    assert digit_from_info(info("application/dtmf-relay", b"Duration=250\r\n")) is None
    assert digit_from_info(info("text/plain", b"Signal=5\r\n")) is None
    assert digit_from_info(info("application/dtmf-relay", b"Signal=\xff\r\n")) is None


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with bridge_rig() as rig:
        yield rig


def _as_linphonec(phone: Phone, cseq: int, key: str) -> bytes:
    """linphonec's INFO for ``key``, in the phone's dialog with the bridge."""
    assert phone.to_tag is not None
    return (
        LINPHONEC_INFO.replace(b"tag=zEVwzZY1U", f"tag={phone.from_tag}".encode())
        .replace(b"tag=7cf2f9727115cef9", f"tag={phone.to_tag}".encode())
        .replace(b"MADreVgr4q", phone.call_id.encode())
        .replace(b"CSeq: 21", f"CSeq: {cseq}".encode())
        .replace(b"branch=z9hG4bK.Ly9ZEkVYn", f"branch=z9hG4bK.lp{cseq}".encode())
        .replace(b"Signal=8", f"Signal={key}".encode())
    )


async def test_a_pin_keyed_both_by_info_and_rfc4733_counts_each_press_once(rig: Rig) -> None:
    """linphonec with ``use_info=1`` (and ``use_rfc2833`` at its default, 1) sends every key
    press twice: a telephone-event in its RTP and an INFO. Taken both ways the PIN doubled
    ("1122...") and was refused: all its INFOs answered 200, and it never joined."""
    phone = Phone(1, ACCESS_NUMBER)
    port = await answered(rig, phone)
    assert rig.bridge.call_states()[phone.call_id] is CallState.PIN
    for cseq, key in enumerate(GUEST_PIN + "#", start=2):
        for packet in phone.key(key):
            port.deliver(packet, phone.media)
        rig.bridge.on_sip(_as_linphonec(phone, cseq, key), phone.source, "udp")
        rig.clock.advance(0.3)
    assert [r.status for r in rig.responses(phone.call_id)] == [200] * 9
    await wait_until(
        lambda: rig.bridge.call_states()[phone.call_id] is CallState.JOINED, 5, "joining", 0.002
    )
    assert rig.bridge.call_history(phone.call_id) == [CallState.PIN, CallState.JOINED]


async def test_a_phone_keying_by_info_alone_still_joins(rig: Rig) -> None:
    phone = Phone(1, ACCESS_NUMBER)
    await answered(rig, phone)
    for cseq, key in enumerate(GUEST_PIN, start=2):
        rig.bridge.on_sip(_as_linphonec(phone, cseq, key), phone.source, "udp")
    assert await until(
        lambda: rig.bridge.call_states()[phone.call_id] is CallState.JOINED, 5, 0.002
    )
