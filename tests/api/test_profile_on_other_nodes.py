"""A /me change reaches the user's browser legs on every node sharing the database (issue 16:
"withdrawing consent removes it from every open roster at once"): two nodes, each its own
bridge and app on one database (SQLite and PostgreSQL), the user's browser (a real WebRTC
peer, aiortc) on node B, their /me and their removal on node A.

Without B's poll (io/profile_watch.py) a withdrawal on A leaves the profile on B's roster
(the positive control: what the poll is for); with it, B's roster follows: a withdrawal, a
new address, a removal. How soon is a figure, printed (run with -s), not a bound: the test
waits up to REACHED_WITHIN, as generous as a loaded machine needs (about one poll interval
here). The user's own "Stop showing my profile" on B's leg stays as it is through the polls
while nothing changes on /me. The last test runs node B as ``callroster serve`` does (the
app's lifespan, which starts the poll)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.support.bridge import BridgeHarness, running_bridge
from tests.support.web_client import WebClient

from callroster.accounts.demo import ensure_demo
from callroster.app import Sockets, create_app, running
from callroster.bridge.directory import StoreDirectory
from callroster.config import load_settings
from callroster.io.profile_watch import follow_profiles_once, watch_profiles
from callroster.services import build_services
from callroster.store.store import open_store

pytestmark = pytest.mark.interop
POLL = 0.5  # key_watch_seconds on both nodes
REACHED_WITHIN = 10.0  # seconds: a bound that load cannot break; the times are printed
URL = "https://social.example/in/hannah-host-5d9a"


@dataclass
class Node:
    harness: BridgeHarness
    client: httpx.AsyncClient


@contextlib.asynccontextmanager
async def _node(data: Path, database_url: str, name: str) -> AsyncIterator[Node]:
    async with running_bridge(
        data, database_url=database_url, node_name=name, key_watch_seconds=POLL
    ) as harness:
        app = create_app(harness.store, harness.settings, harness.services)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("192.0.2.9", 50000)),
            base_url="https://callroster.test",
        ) as client:
            yield Node(harness, client)


@pytest.fixture
async def nodes(tmp_path: Path, database_url: str) -> AsyncIterator[tuple[Node, Node]]:
    data = tmp_path / "data"  # one master key, one demo.json: the nodes' shared secrets
    async with _node(data, database_url, "node-a") as a, _node(data, database_url, "node-b") as b:
        yield a, b


def _csrf(page: httpx.Response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


async def _until(
    check: Callable[[], Awaitable[bool]], within: float, every: float = 0.02
) -> float | None:
    """Seconds until ``check()`` holds, or None if it does not within ``within``."""
    started = time.monotonic()
    while True:
        if await check():
            return time.monotonic() - started
        if time.monotonic() - started > within:
            return None
        await asyncio.sleep(every)


async def test_a_change_on_me_on_one_node_reaches_the_leg_on_another_within_a_poll(
    nodes: tuple[Node, Node], backend: str
) -> None:
    a, b = nodes
    demo = a.harness.demo
    assert b.harness.demo.conference_id == demo.conference_id  # one database
    base = f"/api/v1/conferences/{demo.conference_id}"
    reader = {"Authorization": f"Bearer {demo.admin_token}"}  # stays valid after the removal

    login = await a.client.get("/login")
    signed = await a.client.post(
        "/login",
        data={"csrf_token": _csrf(login), "email": demo.host_email, "password": demo.password},
    )
    assert signed.status_code == 303, signed.text
    csrf = _csrf(await a.client.get("/me"))

    async def save_on_a(url: str, consent: bool, phase: bool = True) -> None:
        if phase:  # at a random point of B's poll period: else the saves fall in step with it
            await asyncio.sleep(random.uniform(0, POLL))
        fields = {"csrf_token": csrf, "profile_url": url} | (
            {"show_profile": "on"} if consent else {}
        )
        saved = await a.client.post("/me/public-profile", data=fields)
        assert saved.status_code == 303, saved.text

    async def shown_on_b() -> list[object]:
        legs = (await b.client.get(f"{base}/legs", headers=reader)).json()["legs"]
        return [leg["profile_url"] for leg in legs]

    def showing(url: str | None) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            return await shown_on_b() == [url]

        return check

    figures: dict[str, list[float]] = {"hidden": [], "shown": []}

    async def followed(url: str | None, what: str, figure: str = "") -> None:
        """B's roster shows ``url`` after the save just made on A (how soon: a figure)."""
        took = await _until(showing(url), REACHED_WITHIN)
        assert took is not None, f"{what}: node B still shows {await shown_on_b()}"
        figures.setdefault(figure or ("shown" if url else "hidden"), []).append(took * 1000)

    await save_on_a(URL, consent=True, phase=False)
    browser = WebClient(1000.0)
    watching: asyncio.Task[None] | None = None
    try:
        joined = await b.client.post(
            f"{base}/web-legs",
            json={"name": "Hannah", "sdp": await browser.offer()},
            headers={"Authorization": f"Bearer {demo.host_token}"},
        )
        assert joined.status_code == 201, joined.text
        await browser.accept(joined.json()["sdp"])
        leg = joined.json()
        assert await _until(showing(URL), 10.0) is not None  # on B's roster, with her profile

        # The positive control: with no poll on B, a withdrawal on A does not reach it.
        await save_on_a(URL, consent=False, phase=False)
        assert await _until(lambda: _not(showing(URL)), 2 * POLL) is None
        assert await shown_on_b() == [URL]

        watching = asyncio.create_task(watch_profiles(b.harness.store, b.harness.bridge, POLL))
        await followed(None, "withdrawn on A", "hidden, from the poll's start")
        await save_on_a(URL + "-2", consent=True)  # consent given again, a new address
        await followed(URL + "-2", "given again on A")

        # Her own "Stop showing my profile" on B's leg: a poll leaves it hidden.
        hidden = await b.client.delete(
            f"{base}/web-legs/{leg['leg_id']}/profile", headers={"X-Leg-Key": leg["key"]}
        )
        assert hidden.status_code == 200, hidden.text
        assert await shown_on_b() == [None]
        started = time.monotonic()
        assert await follow_profiles_once(b.harness.store, b.harness.bridge) == 0
        figures["a poll, nothing changed"] = [(time.monotonic() - started) * 1000]
        assert await _until(lambda: _not(showing(None)), 2 * POLL) is None

        for turn in range(2):  # a /me change after it counts again, as on the leg's own node
            await save_on_a(f"{URL}-{turn + 3}", consent=True)
            await followed(f"{URL}-{turn + 3}", "a new address on A")
            await save_on_a(f"{URL}-{turn + 3}", consent=False)
            await followed(None, "withdrawn on A")
        await save_on_a(URL + "-5", consent=True)
        await followed(URL + "-5", "given again on A")

        # An administrator removes her on A: her profile goes from B's roster too.
        her = (
            await a.client.get("/api/v1/me", headers={"Authorization": f"Bearer {demo.host_token}"})
        ).json()["id"]
        await asyncio.sleep(random.uniform(0, POLL))
        removed = await a.client.delete(f"/api/v1/account/users/{her}", headers=reader)
        assert removed.status_code == 204, removed.text
        await followed(None, "removed on A")
    finally:
        if watching is not None:
            watching.cancel()
        await browser.close()
    print(
        f"\n[{backend}] /me save on A to B's roster (ms), poll every {POLL * 1000:.0f} ms:",
        {what: [round(ms) for ms in times] for what, times in figures.items()},
    )
    # B's bridge read the profile it showed (the four addresses), audit-logged as its own.
    reads = [
        entry
        for entry in a.harness.store.audit.entries(demo.account_id, 500)
        if entry.action == "profile.read" and entry.reason == "conference bridge"
    ]
    assert len(reads) == 4
    assert "social.example" not in repr([vars(entry) for entry in reads])


async def _not(check: Callable[[], Awaitable[bool]]) -> bool:
    return not await check()


@contextlib.asynccontextmanager
async def _serving(data: Path, database_url: str, name: str) -> AsyncIterator[httpx.AsyncClient]:
    """A node as ``callroster serve`` runs it (app.py's ``serve``): the app's lifespan starts
    the bridge and everything beside it, the profile poll among them."""
    settings = load_settings(
        data=data,
        sip_port=0,
        http_port=0,
        bind="127.0.0.1",
        database_url=database_url,
        node_name=name,
        key_watch_seconds=POLL,
    )
    store = open_store(settings)
    sockets = Sockets(settings)
    settings = settings.model_copy(update={"sip_port": int(sockets.sip_udp.getsockname()[1])})
    try:
        ensure_demo(store, settings)
        services = build_services(store, settings, StoreDirectory(store))
        app = create_app(store, settings, services, running(services, store, settings, sockets))
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app, client=("192.0.2.9", 50000)),
                base_url="https://callroster.test",
            ) as client:
                yield client
    finally:
        sockets.close()
        store.close()


async def test_a_node_running_as_the_service_follows_a_withdrawal_made_on_another(
    tmp_path: Path, database_url: str
) -> None:
    data = tmp_path / "data"
    async with _node(data, database_url, "node-a") as a, _serving(data, database_url, "b") as b:
        demo = a.harness.demo
        base = f"/api/v1/conferences/{demo.conference_id}"
        login = await a.client.get("/login")
        fields = {"csrf_token": _csrf(login), "email": demo.host_email, "password": demo.password}
        assert (await a.client.post("/login", data=fields)).status_code == 303
        csrf = _csrf(await a.client.get("/me"))
        saved = await a.client.post(
            "/me/public-profile",
            data={"csrf_token": csrf, "profile_url": URL, "show_profile": "on"},
        )
        assert saved.status_code == 303, saved.text

        async def shown(url: str | None) -> bool:
            reader = {"Authorization": f"Bearer {demo.admin_token}"}
            legs = (await b.get(f"{base}/legs", headers=reader)).json()["legs"]
            return [leg["profile_url"] for leg in legs] == [url]

        browser = WebClient(1000.0)
        try:
            joined = await b.post(
                f"{base}/web-legs",
                json={"name": "Hannah", "sdp": await browser.offer()},
                headers={"Authorization": f"Bearer {demo.host_token}"},
            )
            assert joined.status_code == 201, joined.text
            await browser.accept(joined.json()["sdp"])
            assert await _until(lambda: shown(URL), 10.0) is not None
            withdrawn = await a.client.post(
                "/me/public-profile", data={"csrf_token": csrf, "profile_url": URL}
            )
            assert withdrawn.status_code == 303, withdrawn.text
            assert await _until(lambda: shown(None), REACHED_WITHIN) is not None
        finally:
            await browser.close()
