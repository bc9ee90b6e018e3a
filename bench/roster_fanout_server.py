"""The Live Call Status server under test, alone in its own process on uvloop:
``python -m bench.roster_fanout_server DIR``.

The real app (``create_app`` with ``services.live_call_status``) served by uvicorn on a
pre-bound loopback socket, configured as ``serve()`` configures it, with a SQLite store in
``DIR`` and the demo seeded. No
bridge: a driver stands in for it and publishes conference events on the bus, 50 legs joining
the demo conference at start, then talk-state changes on demand. Commands (JSON lines on
stdin, one JSON line answered on stdout; the first line says where it listens):

- ``{"cmd": "watching"}``: how many watchers the feed has on the conference.
- ``{"cmd": "sweep", "wait_s": 5}``: after the clients have closed, publish one change so the
  route notices the closed sockets, and wait until no watcher is left.
- ``{"cmd": "run", "rate": 25, "seconds": 20}``: publish TalkingStarted/TalkingStopped at that
  rate; answers ``published`` ([seq, time.time() just before publish] per change), CPU time
  and wall time over the run, and how late each publish was against its schedule (the
  loop's stalls: a bridge on this loop would see its media tick delayed as much).
  ``"profile": true`` runs it under cProfile and answers the top functions instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import json
import logging
import pstats
import random
import resource
import secrets
import socket
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn
import uvloop

from bench.child_process import command_loop, cpu_seconds, percentile, raise_nofile, reply
from callroster.accounts.demo import ensure_demo
from callroster.app import create_app, tune_gc
from callroster.bus import EventBus
from callroster.conference.events import LegDetails, LegJoined, TalkingStarted, TalkingStopped
from callroster.config import load_settings
from callroster.io.roster_feed import RosterFeed
from callroster.roster.roster import Roster
from callroster.services import live_call_status
from callroster.store.store import open_store

LEGS = 50
NOFILE = 8192


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling (as ``callroster.app`` runs it)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Driver:
    """Stands in for the bridge: publishes conference events on the bus."""

    def __init__(
        self,
        bus: EventBus,
        roster: Roster,
        feed: RosterFeed,
        conference: str,
        connections: set[Any],
    ) -> None:
        self.connections = connections  # uvicorn's, to see which are paused for writing
        self.bus = bus
        self.roster = roster
        self.feed = feed
        self.conference = conference
        self.legs: list[str] = []
        self.talking: dict[str, bool] = {}
        self.random = random.Random(20)

    def join_legs(self, count: int) -> None:
        for i in range(count):
            leg = secrets.token_hex(8)
            details = LegDetails(
                role="host" if i == 0 else "guest",
                joined_via="dial_out" if i % 5 == 4 else "dial_in",
                number=None if i % 10 == 9 else f"+4477009{i:05d}",
                withheld=i % 10 == 9,
                name=f"Caller {i:02d}" if i % 2 == 0 else None,
                name_source="directory" if i % 2 == 0 else None,
            )
            self.bus.publish(LegJoined(self.conference, leg, details))
            self.legs.append(leg)
            self.talking[leg] = False

    def seq(self) -> int:
        conference = self.roster.get(self.conference)
        return conference.seq if conference is not None else 0

    def change(self) -> list[float]:
        """One talk-state change; returns [seq, publish time]."""
        leg = self.random.choice(self.legs)
        talking = self.talking[leg] = not self.talking[leg]
        event = (TalkingStarted if talking else TalkingStopped)(self.conference, leg)
        at = time.time()
        self.bus.publish(event)
        return [self.seq(), at]

    async def run(self, rate: float, seconds: float) -> dict[str, Any]:
        count = max(1, round(rate * seconds))
        published: list[list[float]] = []
        late: list[float] = []
        usage0 = resource.getrusage(resource.RUSAGE_SELF)
        paused: list[int] = []
        sampler = asyncio.create_task(self._sample_paused(paused))
        cpu0 = cpu_seconds()
        start = time.perf_counter() + 0.01
        for i in range(count):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            late.append(max(0.0, time.perf_counter() - due) * 1000.0)
            published.append(self.change())
        # One more interval so the last change's fan-out falls inside the window.
        await asyncio.sleep(max(0.0, start + count / rate - time.perf_counter()))
        wall = time.perf_counter() - start
        sampler.cancel()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        late.sort()
        return {
            "published": published,
            "cpu_s": cpu_seconds() - cpu0,
            "wall_s": wall,
            "publish_late_p50_ms": percentile(late, 0.50),
            "publish_late_p99_ms": percentile(late, 0.99),
            "publish_late_max_ms": late[-1],
            "watching": self.feed.watching(self.conference),
            "voluntary_switches": usage.ru_nvcsw - usage0.ru_nvcsw,
            "involuntary_switches": usage.ru_nivcsw - usage0.ru_nivcsw,
            "paused_max": max(paused, default=0),
            "paused_samples": sum(1 for p in paused if p),
            "samples": len(paused),
        }

    async def _sample_paused(self, paused: list[int]) -> None:
        """Every 50 ms: how many connections uvicorn holds back because the client does not
        read fast enough (transport above its high-water mark)."""
        while True:
            paused.append(
                sum(
                    1
                    for c in self.connections
                    if getattr(c, "writable", None) is not None and not c.writable.is_set()
                )
            )
            await asyncio.sleep(0.05)

    async def sweep(self, wait_s: float) -> dict[str, Any]:
        """Rid the feed of watchers whose clients have gone (the route notices a closed
        WebSocket at once; publish one change, not counted, in case one did not) and wait
        until nobody is left watching."""
        stale = self.feed.watching(self.conference)
        if stale:
            self.change()
        started = time.perf_counter()
        while self.feed.watching(self.conference) and time.perf_counter() - started < wait_s:
            await asyncio.sleep(0.05)
        return {"stale": stale, "left": self.feed.watching(self.conference)}

    async def profile(self, rate: float, seconds: float) -> dict[str, Any]:
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            await self.run(rate, seconds)
        finally:
            profiler.disable()
        stats = pstats.Stats(profiler)
        raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
        total = sum(entry[2] for entry in raw.values()) or 1.0
        rows: list[dict[str, Any]] = []
        for (file, line, name), (_, calls, tottime, cumtime, _) in sorted(
            raw.items(), key=lambda item: -item[1][2]
        )[:20]:
            where = f"{Path(file).parent.name}/{Path(file).name}:{line}" if line else ""
            rows.append(
                {
                    "function": f"{where}({name})" if where else name,
                    "calls": calls,
                    "tottime_s": round(tottime, 3),
                    "cumtime_s": round(cumtime, 3),
                    "share_pct": round(100.0 * tottime / total, 1),
                }
            )
        return {"seconds": seconds, "profiled_s": round(total, 3), "top": rows}


def encoding_costs(driver: Driver) -> dict[str, Any]:
    """What one delivery costs in JSON encoding (as Starlette's ``send_json``) and in
    permessage-deflate (as uvicorn's websockets: window 12 bits, memLevel 5, one compressor
    per connection), measured on talk-state messages of every leg in turn."""
    conference = driver.roster.get(driver.conference)
    assert conference is not None
    messages = [
        {"type": "event", "seq": 1000 + i, "event": "talking", "leg": {**vars(leg), "talking": t}}
        for i, (leg, t) in enumerate(
            (leg, t) for leg in conference.legs.values() for t in (True, False)
        )
    ]
    rounds = 200
    start = time.perf_counter()
    texts = [
        json.dumps(m, separators=(",", ":"), ensure_ascii=False)
        for _ in range(rounds)
        for m in messages
    ]
    dumps_us = (time.perf_counter() - start) / len(texts) * 1e6
    data = [text.encode() for text in texts]
    compressor = zlib.compressobj(wbits=-12, memLevel=5)
    sizes = 0
    start = time.perf_counter()
    for chunk in data:
        sizes += len(compressor.compress(chunk) + compressor.flush(zlib.Z_SYNC_FLUSH)) - 4
    deflate_us = (time.perf_counter() - start) / len(data) * 1e6
    snapshot = json.dumps(conference.snapshot(), separators=(",", ":"), ensure_ascii=False)
    return {
        "message_bytes": round(sum(len(chunk) for chunk in data) / len(data)),
        "message_deflated_bytes": round(sizes / len(data)),
        "snapshot_bytes": len(snapshot.encode()),
        "json_dumps_us": round(dumps_us, 2),
        "deflate_us": round(deflate_us, 2),
    }


async def serve(data: Path) -> None:
    limits = raise_nofile(NOFILE)
    settings = load_settings(data=data, sip_port=0, http_port=0)
    store = open_store(settings)
    demo = ensure_demo(store, settings)
    services = live_call_status(store)  # no bridge: only the control routes use it
    bus, roster, feed = services.bus, services.roster, services.feed
    app = create_app(store, settings, services)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    # As `callroster serve` runs it: no per-message compression.
    config = uvicorn.Config(
        app, log_level="warning", lifespan="off", access_log=False, ws_per_message_deflate=False
    )
    server = _Server(config)
    web = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started and not web.done():
            await asyncio.sleep(0.01)
        if web.done():
            await web
            raise RuntimeError("uvicorn stopped before it started")
        driver = Driver(bus, roster, feed, demo.conference_id, server.server_state.connections)
        driver.join_legs(LEGS)
        tune_gc()  # as `callroster serve` does once it is up
        reply(
            {
                "port": sock.getsockname()[1],
                "conference_id": demo.conference_id,
                "token": demo.host_token,
                "legs": LEGS,
                "seq": driver.seq(),
                "costs": encoding_costs(driver),
                **limits,
            }
        )

        async def handle(name: str, args: dict[str, Any]) -> dict[str, Any]:
            if name == "watching":
                return {"watching": feed.watching(demo.conference_id)}
            if name == "sweep":
                return await driver.sweep(float(args["wait_s"]))
            if name == "run":
                rate, seconds = float(args["rate"]), float(args["seconds"])
                if args.get("profile"):
                    return await driver.profile(rate, seconds)
                return await driver.run(rate, seconds)
            return {"error": f"unknown command {name!r}"}

        await command_loop(handle)
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await web
        sock.close()
        store.close()


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    uvloop.run(serve(Path(sys.argv[1])))


if __name__ == "__main__":
    main()
