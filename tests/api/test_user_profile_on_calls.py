"""A signed-in user's public profile on their calls, in-process against the bridge with real
WebRTC peers (aiortc): saved on /me with consent, it is shown on the leg they join with their
own credential (not on a guest's); unticking the consent on /me hides it at once on the call
they are on, and ticking it again shows the new address there at once, as removing the user
hides it; a bad address is refused with the reason and saves nothing."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from tests.support.bridge import BridgeHarness, running_bridge
from tests.support.web_client import WebClient

from callroster.app import create_app

pytestmark = pytest.mark.interop
URL = "https://social.example/in/hannah-host-5d9a"


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[tuple[BridgeHarness, httpx.AsyncClient]]:
    async with running_bridge(tmp_path / "data") as harness:
        app = create_app(harness.store, harness.settings, harness.services)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("192.0.2.9", 50000)),
            base_url="https://callroster.test",
        ) as client:
            yield harness, client


def _csrf(page: httpx.Response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


async def _sign_in(client: httpx.AsyncClient, email: str, password: str) -> None:
    login = await client.get("/login")
    signed = await client.post(
        "/login", data={"csrf_token": _csrf(login), "email": email, "password": password}
    )
    assert signed.status_code == 303, signed.text


async def test_consent_on_me_shows_it_on_their_leg_and_withdrawing_hides_it_at_once(
    live: tuple[BridgeHarness, httpx.AsyncClient],
) -> None:
    harness, client = live
    demo = harness.demo
    base = f"/api/v1/conferences/{demo.conference_id}"
    host = {"Authorization": f"Bearer {demo.host_token}"}
    await _sign_in(client, demo.host_email, demo.password)
    me = await client.get("/me")
    assert "Public profile" in me.text and 'id="profile-consent"' in me.text
    assert 'id="profile-consent" name="show_profile" checked' not in me.text  # unticked
    csrf = _csrf(me)

    async def save(**fields: str) -> httpx.Response:
        return await client.post("/me/public-profile", data={"csrf_token": csrf, **fields})

    refused = await save(profile_url="javascript:alert(1)", show_profile="on")
    assert refused.status_code == 400 and "starts with https://" in refused.text
    saved = await save(profile_url=URL, show_profile="on")
    assert saved.headers["location"] == "/me?done=public-profile-shown"
    assert 'id="profile-consent" name="show_profile" checked' in (await client.get("/me")).text

    browsers: list[WebClient] = []

    async def join(credential: str, name: str) -> str:
        browser = WebClient(1000.0)
        browsers.append(browser)
        response = await client.post(
            f"{base}/web-legs",
            json={"name": name, "sdp": await browser.offer()},
            headers={"Authorization": f"Bearer {credential}"},
        )
        assert response.status_code == 201, response.text
        await browser.accept(response.json()["sdp"])
        leg_id: str = response.json()["leg_id"]
        return leg_id

    async def profiles() -> dict[str, object]:
        legs = (await client.get(f"{base}/legs", headers=host)).json()["legs"]
        return {leg["id"]: leg["profile_url"] for leg in legs}

    try:
        hers = await join(demo.host_token, "Hannah")  # her own credential: the join knows her
        guest = await join(demo.web_url.rsplit("/", 1)[1], "Gus")  # the link: a guest
        for _ in range(200):  # polled: on the roster once the audio arrives
            if len(await profiles()) == 2:
                break
            await asyncio.sleep(0.05)
        assert await profiles() == {hers: URL, guest: None}

        withdrawn = await save(profile_url=URL)  # the box unticked
        assert withdrawn.headers["location"] == "/me?done=public-profile-withdrawn"
        assert await profiles() == {hers: None, guest: None}  # at once: no waiting
        # Consent given again with a new address: shown on the call she is on, at once.
        again = await save(profile_url=URL + "-new", show_profile="on")
        assert again.headers["location"] == "/me?done=public-profile-shown"
        assert await profiles() == {hers: URL + "-new", guest: None}
        # An administrator removes her: her profile goes from the call she is on, at once
        # (the roster read with the administrator's key now: hers is revoked).
        her_id = (await client.get("/api/v1/me", headers=host)).json()["id"]
        host["Authorization"] = f"Bearer {demo.admin_token}"
        removed = await client.delete(f"/api/v1/account/users/{her_id}", headers=host)
        assert removed.status_code == 204, removed.text
        assert await profiles() == {hers: None, guest: None}
    finally:
        for browser in browsers:
            await browser.close()
    actions = [e.action for e in harness.store.audit.entries(demo.account_id, 200)]
    assert "profile.consent_given" in actions and "profile.consent_withdrawn" in actions


async def test_signed_in_and_joining_by_the_link_shows_their_profile_with_the_csrf_token_only(
    live: tuple[BridgeHarness, httpx.AsyncClient],
) -> None:
    """The conference page of someone signed in joins by the link (as a guest, unless they
    run the call) with the session's CSRF token beside it: their profile consented to on
    /me is shown, and withdrawing it there hides it at once. The same join without the
    token (the cookie alone, as another site could make a browser send) shows nothing."""
    harness, client = live
    demo = harness.demo
    base = f"/api/v1/conferences/{demo.conference_id}"
    await _sign_in(client, demo.host_email, demo.password)
    me = await client.get("/me")
    saved = await client.post(
        "/me/public-profile",
        data={"csrf_token": _csrf(me), "profile_url": URL, "show_profile": "on"},
    )
    assert saved.headers["location"] == "/me?done=public-profile-shown"
    session_csrf = (await client.get("/api/v1/session")).json()["csrf_token"]
    link = {"Authorization": f"Bearer {demo.web_url.rsplit('/', 1)[1]}"}
    host = {"Authorization": f"Bearer {demo.host_token}"}
    browsers: list[WebClient] = []

    async def join(name: str, headers: dict[str, str]) -> dict[str, str]:
        browser = WebClient(1000.0)
        browsers.append(browser)
        response = await client.post(
            f"{base}/web-legs", json={"name": name, "sdp": await browser.offer()}, headers=headers
        )
        assert response.status_code == 201, response.text
        await browser.accept(response.json()["sdp"])
        joined: dict[str, str] = response.json()
        return joined

    async def profiles() -> dict[str, object]:
        legs = (await client.get(f"{base}/legs", headers=host)).json()["legs"]
        return {leg["id"]: leg["profile_url"] for leg in legs}

    try:
        with_token = await join("Hannah", {**link, "X-CSRF-Token": session_csrf})
        cookie_only = await join("Hannah again", link)
        forged = await join("Not Hannah", {**link, "X-CSRF-Token": "crs-forged"})
        assert with_token["profile_url"] == URL
        assert cookie_only["profile_url"] is None and forged["profile_url"] is None
        for _ in range(200):  # polled: on the roster once the audio arrives
            if len(await profiles()) == 3:
                break
            await asyncio.sleep(0.05)
        assert await profiles() == {
            with_token["leg_id"]: URL,
            cookie_only["leg_id"]: None,
            forged["leg_id"]: None,
        }
        roles = {
            leg["id"]: leg["role"]
            for leg in (await client.get(f"{base}/legs", headers=host)).json()["legs"]
        }
        assert roles[with_token["leg_id"]] == "guest"  # by the link: still a guest

        withdrawn = await client.post(
            "/me/public-profile",
            data={"csrf_token": _csrf(await client.get("/me")), "profile_url": URL},
        )
        assert withdrawn.headers["location"] == "/me?done=public-profile-withdrawn"
        assert set((await profiles()).values()) == {None}  # at once on the guest's leg too
    finally:
        for browser in browsers:
            await browser.close()
