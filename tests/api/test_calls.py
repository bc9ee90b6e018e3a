"""Click-to-call through the API: a host with a phone on their profile asks to be connected
to a number; both phones are real (baresip behind trunks). The call log with the notes is
handed to the reporter when the call ends. Who may, and what is refused."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from tests.crm.receiver import Receiver, Reply, serving
from tests.support import audio
from tests.support.bridge import BridgeHarness, running_bridge
from tests.support.peers import Baresip
from tests.support.waiting import wait_until

from callroster.accounts.actor import Role, operator_cli
from callroster.api.calls import call_log, crm_reporter
from callroster.app import create_app
from callroster.bridge.click_to_call import CallSummary
from callroster.crm.destination import DestinationPolicy
from callroster.crm.webhook import WebhookSender

pytestmark = pytest.mark.interop
OPERATOR = operator_cli("test")
HOST = "+442079460111"
TARGET = "+442079460222"


@pytest.fixture
async def live(
    tmp_path: Path,
) -> AsyncIterator[tuple[BridgeHarness, httpx.AsyncClient, list[tuple[CallSummary, str]]]]:
    async with running_bridge(tmp_path / "data") as harness:
        reported: list[tuple[CallSummary, str]] = []
        services = replace(
            harness.services,
            call_reporter=lambda summary, notes: reported.append((summary, notes)),
        )
        app = create_app(harness.store, harness.settings, services)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://callroster.test"
        ) as client:
            yield harness, client, reported


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _host_with_phone(harness: BridgeHarness, phone: str | None) -> str:
    user = harness.store.accounts.create_user(
        OPERATOR, harness.demo.account_id, Role.HOST, "Hilary Host", phone=phone
    )
    return harness.store.tokens.issue(
        OPERATOR, harness.demo.account_id, user, {"roster:read", "legs:control"}, "t"
    )


async def test_a_host_is_connected_to_a_number_and_the_call_is_logged_with_notes(
    live: tuple[BridgeHarness, httpx.AsyncClient, list[tuple[CallSummary, str]]],
    tmp_path: Path,
) -> None:
    harness, client, reported = live
    phones = []
    for number, frequency in ((HOST, 700.0), (TARGET, 1000.0)):
        source = tmp_path / f"{number}.wav"
        audio.speech_like_tone(source, frequency, 40)
        phone = Baresip(tmp_path, source, name=number)
        harness.store.trunks.add(
            OPERATOR, f"to-{number[1:]}", f"sip:127.0.0.1:{phone.port}", prefixes=[number]
        )
        await phone.answer_calls(30)  # returns once the phone listens
        phones.append(phone)
    token = _host_with_phone(harness, "020 7946 0111")
    response = await client.post(
        "/api/v1/calls",
        json={"number": "02079460222", "notes": "Renewal: wants the annual plan"},
        headers=_bearer(token),
    )
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "calling_you"
    call_id = response.json()["call_id"]

    def connected() -> bool:
        room = harness.bridge.conference(call_id)
        return room is not None and len(room.connected()) == 2

    await wait_until(connected, 10, "the two phones to be connected")
    # Real timing, the thing tested: the call lasts, and its duration is logged.
    await asyncio.sleep(3)
    await phones[1].hang_up()  # the target hangs up
    await wait_until(lambda: reported, 10, "the call log")
    await phones[0].hang_up()
    [(summary, notes)] = reported
    assert notes == "Renewal: wants the annual plan"
    assert (summary.outcome, summary.target_number) == ("answered", TARGET)
    assert summary.duration_s >= 2 and summary.call_id == response.json()["call_id"]
    # The same log reaches the account's CRM: signed, once, with the notes.
    secret = harness.store.accounts.set_crm_webhook(
        OPERATOR, harness.demo.account_id, "http://127.0.0.1:1/placeholder", None
    )
    assert secret is not None
    async with serving(Receiver(secret.encode(), script=[Reply(500), Reply(200)])) as crm:
        harness.store.accounts.set_crm_webhook(OPERATOR, harness.demo.account_id, crm.url, secret)
        # The CRM listens on 127.0.0.1: as where the operator allows private targets.
        loopback_allowed = DestinationPolicy(allow_private=True)
        sender = WebhookSender(base_delay=0.05, jitter=0.0, destinations=loopback_allowed)
        crm_reporter(harness.store, sender)(summary, notes)
        await wait_until(lambda: crm.processed, 5, "the CRM's delivery")
        await sender.aclose()
    [delivered] = crm.processed
    assert [r.signature_ok for r in crm.requests] == [True, True]  # a 500, then retried
    assert len({r.headers["idempotency-key"] for r in crm.requests}) == 1
    log = json.loads(delivered)
    assert log == call_log(summary, notes)
    assert (log["to"], log["notes"], log["outcome"]) == (TARGET, notes, "answered")
    actions = [e.action for e in harness.store.audit.entries(harness.demo.account_id, 50)]
    assert "click_to_call.start" in actions


async def test_who_may_click_to_call(
    live: tuple[BridgeHarness, httpx.AsyncClient, list[tuple[CallSummary, str]]],
) -> None:
    harness, client, _ = live
    body = {"number": "+442079460222"}
    assert (await client.post("/api/v1/calls", json=body)).status_code == 401
    link = harness.demo.web_url.rsplit("/", 1)[1]
    guest = await client.post("/api/v1/calls", json=body, headers=_bearer(link))
    assert guest.status_code == 403
    no_phone = await client.post(
        "/api/v1/calls", json=body, headers=_bearer(_host_with_phone(harness, None))
    )
    assert no_phone.status_code == 422 and "your own phone number" in no_phone.json()["detail"]
    with_phone = _bearer(_host_with_phone(harness, "+442079460111"))
    no_trunk = await client.post("/api/v1/calls", json=body, headers=with_phone)
    assert no_trunk.status_code == 422 and "cannot call" in no_trunk.json()["detail"]
    blocked = await client.post(
        "/api/v1/calls", json={"number": "+19005550100"}, headers=with_phone
    )
    assert blocked.status_code == 403
    # The host's own phone is rung first: a premium-rate one is refused as well.
    premium = _bearer(_host_with_phone(harness, "+449098790000"))
    refused = await client.post("/api/v1/calls", json=body, headers=premium)
    assert refused.status_code == 403 and "not allowed" in refused.json()["detail"]
    assert not harness.bridge.call_count()
