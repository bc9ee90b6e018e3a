"""A browser guest's public profile through the API, against the bridge in-process with
real WebRTC peers (aiortc): shown only with consent, hidden by its own browser only, and an
address given without consent goes nowhere (no roster, no event, no audit, no file)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from tests.support.bridge import BridgeHarness, running_bridge
from tests.support.web_client import WebClient

from callroster.app import create_app

pytestmark = pytest.mark.interop
SHOWN = "https://social.example/in/ada-shown-7f3a"
UNCONSENTED = "https://social.example/in/cyd-never-9b2e"


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[tuple[BridgeHarness, httpx.AsyncClient, Path]]:
    async with running_bridge(tmp_path / "data") as harness:
        app = create_app(harness.store, harness.settings, harness.services)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://callroster.test"
        ) as client:
            yield harness, client, tmp_path / "data"


async def test_shown_with_consent_hidden_by_its_own_browser_only(
    live: tuple[BridgeHarness, httpx.AsyncClient, Path],
) -> None:
    harness, client, data = live
    conference = harness.demo.conference_id
    base = f"/api/v1/conferences/{conference}"
    link = {"Authorization": f"Bearer {harness.demo.web_url.rsplit('/', 1)[1]}"}
    host = {"Authorization": f"Bearer {harness.demo.host_token}"}
    browsers: list[WebClient] = []

    async def join(name: str, **profile: object) -> dict[str, str]:
        browser = WebClient(1000.0)
        browsers.append(browser)
        body = {"name": name, "sdp": await browser.offer(), **profile}
        response = await client.post(f"{base}/web-legs", json=body, headers=link)
        assert response.status_code == 201, response.text
        await browser.accept(response.json()["sdp"])
        joined: dict[str, str] = response.json()
        return joined

    roster: dict[str, dict[str, object]] = {}

    async def read_roster() -> None:
        got = await client.get(f"{base}/legs", headers=host)
        roster.clear()
        roster.update({leg["id"]: leg for leg in got.json()["legs"]})

    # A bad address with consent is refused with the reason, and nothing is started.
    bad = await client.post(
        f"{base}/web-legs",
        json={
            "name": "Eve",
            "sdp": "v=0",
            "profile_url": "javascript:alert(1)",
            "show_profile": True,
        },
        headers=link,
    )
    assert bad.status_code == 422 and "https://" in bad.json()["detail"]

    ada = await join("Ada", profile_url=SHOWN, show_profile=True)
    bea = await join("Bea")
    cyd = await join("Cyd", profile_url=UNCONSENTED)  # no consent: the address is dropped
    try:

        async def everyone_on() -> bool:
            await read_roster()
            return len(roster) == 3 and roster[ada["leg_id"]]["profile_url"] == SHOWN

        for _ in range(200):
            if await everyone_on():
                break
            await asyncio.sleep(0.05)  # polled: on the roster once its audio arrives
        assert await everyone_on()
        assert roster[bea["leg_id"]]["profile_url"] is None
        assert roster[cyd["leg_id"]]["profile_url"] is None

        # Another participant's key cannot hide (or show) Ada's profile; a guess neither.
        ada_profile = f"{base}/web-legs/{ada['leg_id']}/profile"
        for key in (bea["key"], "guess"):
            refused = await client.delete(ada_profile, headers={"X-Leg-Key": key})
            assert refused.status_code == 404
            taken = await client.put(
                ada_profile, json={"url": UNCONSENTED}, headers={"X-Leg-Key": key}
            )
            assert taken.status_code == 404
        await read_roster()
        assert roster[ada["leg_id"]]["profile_url"] == SHOWN

        # Ada's own browser hides it: gone from the roster at once (the same turn).
        hidden = await client.delete(ada_profile, headers={"X-Leg-Key": ada["key"]})
        assert hidden.status_code == 200 and hidden.json() == {"profile_url": None}
        await read_roster()
        assert roster[ada["leg_id"]]["profile_url"] is None
        # Shown again by her, with a check of what she sends.
        wrong = await client.put(
            ada_profile, json={"url": "https://user@x.example/"}, headers={"X-Leg-Key": ada["key"]}
        )
        assert wrong.status_code == 422 and "user name" in wrong.json()["detail"]
        again = await client.put(
            ada_profile, json={"url": SHOWN}, headers={"X-Leg-Key": ada["key"]}
        )
        assert again.json() == {"profile_url": SHOWN}
        await read_roster()
        assert roster[ada["leg_id"]]["profile_url"] == SHOWN

        # Consent given and withdrawn are audit-logged, never with the address.
        audited = harness.store.audit.entries(harness.demo.account_id, 100)
        actions = [(e.action, e.subject) for e in audited]
        subject = f"leg:{ada['leg_id']}"
        assert actions.count(("profile.shown", subject)) == 2
        assert actions.count(("profile.hidden", subject)) == 1
        assert "social.example" not in json.dumps([vars(e) for e in audited], default=str)

        # The address given without consent is nowhere: in no event on the bus, nowhere in
        # the roster, in no file of the data directory. Ada's, while shown, is found by the
        # same scans (positive control).
        events = repr(harness.events)
        assert SHOWN in events and UNCONSENTED not in events
        roster_text = (await client.get(f"{base}/legs", headers=host)).text
        assert SHOWN in roster_text and UNCONSENTED not in roster_text
        stored = b"".join(p.read_bytes() for p in data.rglob("*") if p.is_file())
        assert b"SQLite format 3" in stored  # the scan reads the database itself
        assert UNCONSENTED.encode() not in stored
        assert SHOWN.encode() not in stored  # shown addresses are not stored either
    finally:
        for browser in browsers:
            await browser.close()
