"""UPDATE with an offer (RFC 3311) changes a call's media as a re-INVITE does: a phone that
holds by UPDATE is shown on hold and resumes the same way, and one that moves its media by
UPDATE is sent its audio at the new address. Socket-free, on the fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tests.support.bridge_rig import GUEST_PIN, Rig, answered, bridge_rig
from tests.support.fake_network import Phone, phone_sdp
from tests.support.waiting import wait_until

from callroster.conference.events import LegHeld, LegResumed
from callroster.sdp.session import parse_sdp
from callroster.sip.message import Response


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with bridge_rig() as rig:
        yield rig


async def _update(rig: Rig, phone: Phone, body: bytes) -> Response:
    before = len(rig.responses(phone.call_id))
    update = phone.in_dialog("UPDATE", body=body, content_type="application/sdp")
    phone.send(rig.bridge, update)
    found: list[Response] = []

    def answered_it() -> bool:
        found[:] = [
            r
            for r in rig.responses(phone.call_id)[before:]
            if (r.get("CSeq") or "").endswith("UPDATE")
        ]
        return bool(found)

    await wait_until(answered_it, 5, "the answer to the UPDATE", 0.002)
    return found[-1]


async def test_hold_and_resume_by_update(rig: Rig) -> None:
    phone = Phone(1, GUEST_PIN)
    port = await answered(rig, phone)
    rig.clock.advance(0.5)
    held = await _update(rig, phone, phone_sdp(*phone.media, extra="a=sendonly\r\n"))
    assert held.status == 200
    assert "a=recvonly" in held.body.decode()  # our answer to its hold
    rig.clock.advance(0.1)
    assert [e.by for e in rig.of(LegHeld)] == ["phone"]
    port.packets()
    rig.clock.advance(0.5)
    assert port.packets() == []  # it said sendonly: we send it nothing
    resumed = await _update(rig, phone, phone_sdp(*phone.media))
    assert resumed.status == 200 and "a=sendrecv" in resumed.body.decode()
    rig.clock.advance(0.5)
    assert len(rig.of(LegResumed)) == 1
    assert len(port.packets()) >= 20


async def test_media_moved_by_update_goes_to_the_new_address(rig: Rig) -> None:
    phone = Phone(1, GUEST_PIN)
    port = await answered(rig, phone)
    rig.clock.advance(0.5)
    moved = ("127.0.1.1", 7100)
    ok = await _update(rig, phone, phone_sdp(*moved))
    assert ok.status == 200 and parse_sdp(ok.body).media[0].port == port.number
    port.sent.clear()
    rig.clock.advance(0.5)
    assert {address for _, address in port.sent} == {moved}


async def test_an_unusable_offer_in_an_update_is_refused_and_the_call_goes_on(rig: Rig) -> None:
    phone = Phone(1, GUEST_PIN)
    port = await answered(rig, phone)
    refused = await _update(rig, phone, phone_sdp("::1", 7002))
    assert refused.status == 488 and (refused.get("Warning") or "").startswith("301 ")
    port.sent.clear()
    rig.clock.advance(0.5)
    assert {address for _, address in port.sent} == {phone.media}
    assert rig.bridge.call_count() == 1
