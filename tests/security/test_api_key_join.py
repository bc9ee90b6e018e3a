"""Issue 12, finding 2: an API key that may only read the roster joined a locked call with
audio, as "host", under any name (``POST …/web-legs``), and read the PIN from
``GET /conferences/{id}``. Replayed against a real ``callroster serve``:

- the account's administrator makes a ``roster:read`` key through the account API, as an
  integration would be given one; the host joins from a browser (a real WebRTC peer) and
  locks the call;
- the key posts a browser's offer under the host's name: refused 403, saying that joining is
  for people, and the roster still shows the host alone; a key with every scope is refused
  the same way;
- the key reads the conference: its title and numbers, but no PIN, host PIN or guest link
  anywhere in the body; the host's token (the positive control) sees all three;
- the key still reads the roster (its job), and the guest link, refused while the call is
  locked, joins as a guest once the host unlocks it.

Before the fix the key's join was answered 201 and a second leg with the role "host" stood
on the locked call, and the conference's body held the PIN.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from tests.support.service import RunningService, running_service
from tests.support.web_client import WebClient

pytestmark = pytest.mark.interop
IMPERSONATED = "Harriet Host"  # the demo host's own name


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    with running_service(tmp_path_factory.mktemp("api-key-join") / "data") as running:
        yield running


@pytest.fixture
async def browsers() -> AsyncIterator[list[WebClient]]:
    opened: list[WebClient] = []
    yield opened
    for browser in opened:
        await browser.close()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _make_key(client: httpx.AsyncClient, admin_token: str, scopes: list[str]) -> str:
    made = await client.post(
        "/api/v1/account/api-keys",
        json={"label": "roster dashboard", "scopes": scopes},
        headers=_bearer(admin_token),
    )
    assert made.status_code == 201, made.text
    key = made.json()["key"]
    assert isinstance(key, str)
    return key


async def _join(
    client: httpx.AsyncClient,
    conference: str,
    credential: str,
    name: str,
    browsers: list[WebClient],
) -> httpx.Response:
    browser = WebClient(700.0)
    browsers.append(browser)
    response = await client.post(
        f"/api/v1/conferences/{conference}/web-legs",
        json={"name": name, "sdp": await browser.offer()},
        headers=_bearer(credential),
    )
    if response.status_code == 201:
        await browser.accept(response.json()["sdp"])
        leg_id = response.json()["leg_id"]
        # On the roster once its audio arrives (bridge/web_legs.py).
        for _ in range(200):
            if leg_id in {leg["id"] for leg in await _legs(client, conference, credential)}:
                break
            await asyncio.sleep(0.05)
    return response


async def _legs(client: httpx.AsyncClient, conference: str, token: str) -> list[dict[str, Any]]:
    roster = await client.get(f"/api/v1/conferences/{conference}/legs", headers=_bearer(token))
    assert roster.status_code == 200, roster.text
    legs: list[dict[str, Any]] = roster.json()["legs"]
    return legs


def _who(legs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((leg["name"], leg["role"]) for leg in legs)


async def test_a_roster_read_key_neither_joins_a_locked_call_nor_reads_its_pin(
    service: RunningService, browsers: list[WebClient]
) -> None:
    demo = service.demo()
    conference, host = demo["conference_id"], demo["host_token"]
    link = demo["web_url"].rsplit("/", 1)[1]
    async with httpx.AsyncClient(base_url=service.base_url, timeout=20) as client:
        reader = await _make_key(client, demo["admin_token"], ["roster:read"])
        every_scope = await _make_key(
            client, demo["admin_token"], ["roster:read", "legs:control", "recordings:read", "admin"]
        )
        hosted = await _join(client, conference, host, IMPERSONATED, browsers)
        assert hosted.status_code == 201, hosted.text
        locked = await client.post(f"/api/v1/conferences/{conference}/lock", headers=_bearer(host))
        assert locked.status_code == 200 and locked.json()["locked"], locked.text
        before = _who(await _legs(client, conference, host))
        assert before == [(IMPERSONATED, "host")]

        # The attack: the read-only key joins the locked call with audio, as the host.
        for key in (reader, every_scope):
            attack = await _join(client, conference, key, IMPERSONATED, browsers)
            assert attack.status_code == 403, attack.text
            assert attack.json()["detail"].startswith("an API key cannot join a call"), attack.text
        # Nobody joined: the roster, read by the host and by the key itself (its job).
        assert _who(await _legs(client, conference, host)) == before
        assert _who(await _legs(client, conference, reader)) == before

        # The key reads the conference, but none of what admits to it.
        read = await client.get(f"/api/v1/conferences/{conference}", headers=_bearer(reader))
        assert read.status_code == 200, read.text
        body = read.json()
        assert (body["pin"], body["host_pin"], body["web_url"]) == (None, None, None)
        for secret in (demo["pin"], demo["host_pin"], link):
            assert secret not in read.text
        assert body["title"] == demo["conference_title"] and body["dial_in_numbers"]
        # Positive control: the host's own token sees them.
        own = await client.get(f"/api/v1/conferences/{conference}", headers=_bearer(host))
        assert own.status_code == 200, own.text
        mine = own.json()
        assert (mine["pin"], mine["host_pin"]) == (demo["pin"], demo["host_pin"])
        assert mine["web_url"].endswith(f"/c/{link}")

        # Positive control: the guest link is refused while locked, joins as guest after.
        refused = await _join(client, conference, link, "Gina Guest", browsers)
        assert refused.status_code == 423, refused.text
        unlocked = await client.post(
            f"/api/v1/conferences/{conference}/unlock", headers=_bearer(host)
        )
        assert unlocked.status_code == 200, unlocked.text
        guest = await _join(client, conference, link, "Gina Guest", browsers)
        assert guest.status_code == 201, guest.text
        assert _who(await _legs(client, conference, host)) == [
            ("Gina Guest", "guest"),
            (IMPERSONATED, "host"),
        ]
