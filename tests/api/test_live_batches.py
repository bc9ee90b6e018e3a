"""The live roster WebSocket, served by uvicorn as ``callroster serve`` serves it and read by
a real WebSocket client: every message is a JSON array of roster messages; changes that
happen while a watcher is still busy reach it together in one message, in order, none lost
or repeated; resume (``?since=``) and the snapshot on connect are unchanged; guests of an
account that hides numbers never receive one. No bridge: events are published on the bus
where the bridge would publish them."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import websockets

from callroster.accounts.demo import DemoDetails, ensure_demo
from callroster.app import create_app
from callroster.bus import EventBus
from callroster.conference.events import LegDetails, LegJoined, TalkingStarted, TalkingStopped
from callroster.config import load_settings
from callroster.io.roster_feed import BATCH_LIMIT
from callroster.roster.roster import Roster
from callroster.services import live_call_status
from callroster.store.store import Store, open_store

NUMBER = "+447700900321"


@dataclass
class Served:
    store: Store
    demo: DemoDetails
    bus: EventBus
    roster: Roster
    base: str
    talking: bool = False

    def change(self, count: int = 1) -> list[int]:
        """Talk-state changes of the caller, published as the bridge would; their seqs."""
        seqs = []
        for _ in range(count):
            self.talking = not self.talking
            event = TalkingStarted if self.talking else TalkingStopped
            self.bus.publish(event(self.demo.conference_id, "leg-1"))
            conference = self.roster.get(self.demo.conference_id)
            assert conference is not None
            seqs.append(conference.seq)
        return seqs


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    settings = load_settings(data=tmp_path / "data", sip_port=0, http_port=0)
    store = open_store(settings)
    demo = ensure_demo(store, settings)
    services = live_call_status(store)
    bus, roster = services.bus, services.roster
    app = create_app(store, settings, services)
    bus.publish(
        LegJoined(
            demo.conference_id,
            "leg-1",
            LegDetails("guest", "dial_in", NUMBER, False, name="Ada", name_source="directory"),
        )
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app, log_level="warning", lifespan="off", access_log=False, ws_per_message_deflate=False
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    port = sock.getsockname()[1]
    base = f"ws://127.0.0.1:{port}/api/v1/conferences/{demo.conference_id}/live"
    try:
        yield Served(store, demo, bus, roster, base)
    finally:
        server.should_exit = True
        await serving
        sock.close()
        store.close()


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


async def _receive(ws: Any) -> tuple[str, list[dict[str, Any]]]:
    text = await asyncio.wait_for(ws.recv(), 5)
    assert isinstance(text, str)
    messages = json.loads(text)
    assert isinstance(messages, list) and messages
    return text, messages


async def _nothing_more(ws: Any) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ws.recv(), 0.3)


async def test_changes_while_a_watcher_is_busy_arrive_together_in_order(
    served: Served,
) -> None:
    async with websockets.connect(
        served.base, additional_headers=bearer(served.demo.host_token)
    ) as ws:
        _, [snapshot] = await _receive(ws)
        assert (snapshot["type"], snapshot["seq"]) == ("snapshot", 1)
        assert [(leg["name"], leg["number"]) for leg in snapshot["legs"]] == [("Ada", NUMBER)]
        # Five changes before the server gets to send any: one message with all five.
        seqs = served.change(5)
        _, batch = await _receive(ws)
        assert [(m["type"], m["seq"]) for m in batch] == [("event", s) for s in seqs]
        assert [m["leg"]["talking"] for m in batch] == [True, False, True, False, True]
        # One change when the watcher keeps up: a message of its own, at once.
        [one] = served.change()
        _, [alone] = await _receive(ws)
        assert (alone["seq"], alone["event"], alone["leg"]["talking"]) == (one, "talking", False)
        await _nothing_more(ws)
        last = one
    # Gone for a while; on return with ?since= only what was missed, in one message.
    missed = served.change(3)
    headers = {"Authorization": f"Bearer {served.demo.host_token}"}
    async with websockets.connect(f"{served.base}?since={last}", additional_headers=headers) as ws:
        _, resumed = await _receive(ws)
        assert [m["seq"] for m in resumed] == missed
        assert all(m["type"] == "event" for m in resumed)
        more = served.change(2)
        _, after = await _receive(ws)
        assert [m["seq"] for m in after] == more
    # Nothing missed: nothing on connect, then the next change.
    async with websockets.connect(
        f"{served.base}?since={more[-1]}", additional_headers=headers
    ) as ws:
        await _nothing_more(ws)
        [next_seq] = served.change()
        _, [change] = await _receive(ws)
        assert change["seq"] == next_seq
    # A long absence: what was missed comes in messages of at most BATCH_LIMIT, in order.
    long_gone = served.change(2 * BATCH_LIMIT + 50)
    async with websockets.connect(
        f"{served.base}?since={next_seq}", additional_headers=headers
    ) as ws:
        got: list[int] = []
        sizes = []
        while len(got) < len(long_gone):
            _, part = await _receive(ws)
            got += [m["seq"] for m in part]
            sizes.append(len(part))
        assert got == long_gone and sizes == [BATCH_LIMIT, BATCH_LIMIT, 50]
        next_seq = long_gone[-1]
    # Too far ahead (a roster that restarted): a fresh snapshot instead.
    async with websockets.connect(f"{served.base}?since=99999", additional_headers=headers) as ws:
        _, [fresh] = await _receive(ws)
        assert (fresh["type"], fresh["seq"]) == ("snapshot", next_seq)


async def test_guests_of_an_account_that_hides_numbers_never_receive_one(
    served: Served,
) -> None:
    # Hiding numbers from guests is a new account's default (issue 12, finding 10).
    link = served.demo.web_url.rsplit("/", 1)[1]
    async with (
        websockets.connect(served.base, additional_headers=bearer(link)) as guest,
        websockets.connect(served.base, additional_headers=bearer(served.demo.host_token)) as host,
    ):
        text, [snapshot] = await _receive(guest)
        assert NUMBER not in text
        assert [(leg["name"], leg["number"]) for leg in snapshot["legs"]] == [("Ada", None)]
        _, [host_snapshot] = await _receive(host)
        assert host_snapshot["legs"][0]["number"] == NUMBER
        seqs = served.change(4)
        text, batch = await _receive(guest)
        assert [m["seq"] for m in batch] == seqs and NUMBER not in text
        assert {m["leg"]["number"] for m in batch} == {None}
        _, host_batch = await _receive(host)
        assert [m["seq"] for m in host_batch] == seqs
        assert {m["leg"]["number"] for m in host_batch} == {NUMBER}
    # Resuming shows the guest no number either.
    missed = served.change(2)
    async with websockets.connect(
        f"{served.base}?since={seqs[-1]}", additional_headers=bearer(link)
    ) as guest:
        text, resumed = await _receive(guest)
        assert [m["seq"] for m in resumed] == missed and NUMBER not in text
