"""The bridge under test, alone in its own process on uvloop: ``python -m bench.bridge_node DIR``.

It runs a real ``BridgeService`` on free loopback ports with a SQLite store in ``DIR`` and the
demo seeded, and takes commands as JSON lines on stdin, answering each with one JSON line on
stdout (the first line it writes says where SIP listens). Commands:

- ``{"cmd": "pins", "big": 100, "small": 20}``: PINs of one conference for ``big`` legs (when
  ``big`` > 0) and of ``small`` small conferences, created on first use and then reused.
- ``{"cmd": "pin"}``: the PIN of a fresh conference (for sipp).
- ``{"cmd": "status"}``: calls and rooms in progress, RSS.
- ``{"cmd": "window_start"}`` / ``{"cmd": "window_end"}``: the measurement window: tick
  lateness, CPU time, RSS and RTP counters over it.
- ``{"cmd": "profile", "seconds": 5, "path": "..."}``: cProfile the event loop for a while.
- ``{"cmd": "scrape_start", "every": 1.0}`` / ``{"cmd": "scrape_end"}``: build the metrics'
  exposition (callroster/metrics.py, as ``/metrics`` does) on the loop every ``every`` seconds;
  the end says how long each took.
- ``{"cmd": "plant", "rows": 1000000}``: write that many call records of the demo account,
  ended long ago (past retention), in 50,000-row transactions (bench/retention_purge.py).
- ``{"cmd": "purge_start", "batch_rows": 500, "pause_s": 0.02}`` / ``{"cmd": "purge_status"}`` /
  ``{"cmd": "purge_end"}``: the retention purge (store/purge.py) in a worker thread of this
  process, as ``serve`` runs it; the end answers its report.
- ``{"cmd": "quit"}``: hang up every call, stop, exit.
"""

from __future__ import annotations

import asyncio
import cProfile
import datetime as dt
import io
import json
import logging
import pstats
import resource
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import uvloop
from sqlalchemy import insert

from callroster.accounts.actor import operator_cli
from callroster.accounts.demo import DEMO_HOST_EMAIL, ensure_demo
from callroster.app import Sockets
from callroster.bridge.call_limits import CallLimits
from callroster.bridge.calls import CallState
from callroster.bridge.directory import StoreDirectory
from callroster.bridge.pin_guard import GuardPolicy, PinGuard
from callroster.bridge.service import BridgeService
from callroster.bus import EventBus
from callroster.config import load_settings
from callroster.metrics import Metrics
from callroster.store.models import CallRecord, User
from callroster.store.store import Store, open_store

ENTRY_POINTS = ("datagram_received", "_tick", "_mix_rooms", "_pump", "on_sip", "_route")


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, int(round(fraction * len(ordered) + 0.5)) - 1))
    return ordered[rank]


class Node:
    def __init__(self, store: Store, bridge: BridgeService, host_id: str) -> None:
        self.store = store
        self.bridge = bridge
        self.host_id = host_id
        self.big_pin: str | None = None
        self.small_pins: list[str] = []
        self._window: dict[str, float] = {}
        self._scraping: asyncio.Task[None] | None = None
        self._scrapes: list[float] = []
        self._scrape_bytes = 0
        self._purging: asyncio.Task[Any] | None = None

    def scrape_start(self, every: float) -> dict[str, Any]:
        """Scrape the metrics every ``every`` seconds, on the loop, as a scraper would."""
        metrics = Metrics()
        metrics.watch(self.bridge)
        self._scrapes = []

        async def scrape() -> None:
            while True:
                started = time.perf_counter()
                self._scrape_bytes = len(metrics.exposition())
                self._scrapes.append(time.perf_counter() - started)
                await asyncio.sleep(every)

        self._scraping = asyncio.create_task(scrape())
        return {"every": every}

    def scrape_end(self) -> dict[str, Any]:
        if self._scraping is not None:
            self._scraping.cancel()
            self._scraping = None
        ms = [x * 1000.0 for x in self._scrapes]
        return {
            "scrapes": len(ms),
            "scrape_p50_ms": percentile(ms, 0.50),
            "scrape_max_ms": max(ms, default=0.0),
            "exposition_bytes": self._scrape_bytes,
        }

    def plant(self, rows: int) -> dict[str, Any]:
        """``rows`` call records of the demo account that ended in 2020 (long past their six
        months), written directly in 50,000-row transactions: the purge's work."""
        with self.store.sessions() as session:
            account_id = session.get(User, self.host_id).account_id  # type: ignore[union-attr]
        ended = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
        started = time.perf_counter()
        done = 0
        while done < rows:
            chunk = min(50_000, rows - done)
            values = [
                {
                    "id": str(uuid.uuid4()),
                    "account_id": account_id,
                    "conference_id": None,
                    "leg_id": "bench",
                    "direction": "outbound",
                    "number_enc": b"\x00" * 60,
                    "number_index": uuid.uuid4().bytes * 2,
                    "requested_by": self.host_id,
                    "started_at": ended,
                    "ended_at": ended,
                    "outcome": "busy",
                    "duration_s": 0,
                }
                for _ in range(chunk)
            ]
            with self.store.sessions.begin() as session:
                session.execute(insert(CallRecord), values)
            done += chunk
        return {"rows": done, "seconds": time.perf_counter() - started}

    def purge_start(self, batch_rows: int, pause_s: float) -> dict[str, Any]:
        purge = self.store.purge(batch_rows, pause_s)
        self._purging = asyncio.create_task(asyncio.to_thread(purge.run))
        return {"batch_rows": batch_rows, "pause_s": pause_s}

    def purge_status(self) -> dict[str, Any]:
        return {"done": self._purging is not None and self._purging.done()}

    async def purge_end(self) -> dict[str, Any]:
        assert self._purging is not None
        report = await self._purging
        self._purging = None
        return dict(report.as_dict())

    def _new_pin(self, title: str) -> str:
        actor = operator_cli("bridge benchmark")
        conference_id = self.store.conferences.create_conference(actor, self.host_id, title)
        return self.store.conferences.get_conference(actor, conference_id).pin

    def pins(self, big: int, small: int) -> dict[str, Any]:
        if big > 0 and self.big_pin is None:
            self.big_pin = self._new_pin("Bench big room")
        while len(self.small_pins) < small:
            self.small_pins.append(self._new_pin(f"Bench room {len(self.small_pins)}"))
        return {"big": self.big_pin if big > 0 else None, "small": self.small_pins[:small]}

    def _counters(self) -> dict[str, float]:
        totals = {"received": 0.0, "sent": 0.0, "lost": 0.0, "late": 0.0}
        for counters, jitter in self.bridge.media_reports():
            totals["received"] += counters.received
            totals["sent"] += counters.sent
            totals["lost"] += jitter.lost
            totals["late"] += jitter.late
        return totals

    def status(self) -> dict[str, Any]:
        states = self.bridge.call_states().values()
        return {
            "calls": len(states),
            "joined": sum(1 for state in states if state is CallState.JOINED),
            "rooms": len(self.bridge.conferences_in_progress()),
            "rss_kib": rss_kib(),
        }

    def keys_over_udp(self) -> dict[str, Any]:
        """For the SRTP benchmark only: every call is taken as if its SIP came over TLS, so
        that SRTP keys are exchanged with the load generator over UDP (bridge/srtp_policy.py
        forbids that in service). Plain RTP/AVP offers are still answered with plain RTP."""
        inbound = self.bridge._parts.inbound  # noqa: SLF001 - a benchmark's back door
        incoming = inbound.incoming

        def as_tls(
            call_id: str, request: Any, source: str, transport: str = "udp", **more: Any
        ) -> None:
            incoming(call_id, request, source, "tls", **more)

        inbound.incoming = as_tls  # type: ignore[method-assign]
        return {"ok": True}

    def window_start(self) -> dict[str, Any]:
        self.bridge.stats.lateness.clear()
        loop = asyncio.get_running_loop()
        self._window = {
            "cpu": cpu_seconds(),
            "wall": loop.time(),
            "ticks": self.bridge.stats.ticks,
            "skipped": self.bridge.stats.skipped,
        }
        self._window.update({f"c_{k}": v for k, v in self._counters().items()})
        return self.status()

    def window_end(self) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        wall = loop.time() - self._window["wall"]
        cpu = cpu_seconds() - self._window["cpu"]
        late_ms = [x * 1000.0 for x in self.bridge.stats.lateness]
        counters = self._counters()
        deltas = {k: counters[k] - self._window[f"c_{k}"] for k in counters}
        return {
            **self.status(),
            "wall_s": wall,
            "cpu_s": cpu,
            "ticks": self.bridge.stats.ticks - int(self._window["ticks"]),
            "ticks_skipped": self.bridge.stats.skipped - int(self._window["skipped"]),
            "late_p50_ms": percentile(late_ms, 0.50),
            "late_p99_ms": percentile(late_ms, 0.99),
            "late_max_ms": max(late_ms, default=0.0),
            "rtp_received": deltas["received"],
            "rtp_sent": deltas["sent"],
            "jitter_lost": deltas["lost"],
            "jitter_late": deltas["late"],
        }

    async def profile(self, seconds: float, path: str) -> dict[str, Any]:
        profiler = cProfile.Profile()
        profiler.enable()
        await asyncio.sleep(seconds)
        profiler.disable()
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        stats.sort_stats("tottime").print_stats(40)
        Path(path).write_text(text.getvalue())
        rows: list[dict[str, Any]] = []
        raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
        total = sum(entry[2] for entry in raw.values()) or 1.0
        for (file, line, name), (_, calls, tottime, cumtime, _) in sorted(
            raw.items(), key=lambda item: -item[1][2]
        )[:20]:
            rows.append(
                {
                    "function": f"{Path(file).name}:{line}({name})",
                    "calls": calls,
                    "tottime_s": round(tottime, 3),
                    "cumtime_s": round(cumtime, 3),
                    "share_pct": round(100.0 * tottime / total, 1),
                }
            )
        paths = {}  # where the loop's time goes, by entry point (cumulative, % of profiled)
        for (file, _, name), entry in raw.items():
            if name in ENTRY_POINTS and file.endswith("service.py"):
                paths[name] = round(100.0 * entry[3] / total, 1)
        return {"seconds": seconds, "top": rows, "entry_points": paths}


def reply(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def serve(data: Path) -> None:
    settings = load_settings(data=data, sip_port=0, http_port=0)
    store = open_store(settings)
    sockets = Sockets(settings)
    sip_port = int(sockets.sip_udp.getsockname()[1])
    ensure_demo(store, settings.model_copy(update={"sip_port": sip_port}))
    host_id = store.accounts.find_user_ids_by_email(DEMO_HOST_EMAIL)[0]
    # The load generator calls from one address, as a carrier edge in front would: trusted,
    # so the limit of calls per source (bridge/call_limits.py) does not hold it at 20, and its
    # PIN checks are not spaced a second apart (bridge/pin_guard.py; the defences have their
    # own benchmark, bench/pin_guessing.py).
    bridge = BridgeService(
        StoreDirectory(store),
        EventBus(),
        media_addresses=["127.0.0.1"],
        call_limits=CallLimits(trusted=("127.0.0.1",)),
        pin_guard=PinGuard(GuardPolicy(spacing=0.0)),
    )
    await bridge.start(sockets.sip)
    node = Node(store, bridge, host_id)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    reply({"sip_port": sip_port, "rss_kib": rss_kib()})
    try:
        while line := await reader.readline():
            command = json.loads(line)
            name = command["cmd"]
            if name == "quit":
                break
            try:
                if name == "pins":
                    answer = await asyncio.to_thread(node.pins, command["big"], command["small"])
                elif name == "pin":
                    answer = {"pin": await asyncio.to_thread(node._new_pin, "Bench sipp room")}
                elif name == "status":
                    answer = node.status()
                elif name == "window_start":
                    answer = node.window_start()
                elif name == "window_end":
                    answer = node.window_end()
                elif name == "scrape_start":
                    answer = node.scrape_start(float(command["every"]))
                elif name == "scrape_end":
                    answer = node.scrape_end()
                elif name == "plant":
                    answer = await asyncio.to_thread(node.plant, int(command["rows"]))
                elif name == "purge_start":
                    answer = node.purge_start(
                        int(command["batch_rows"]), float(command.get("pause_s", 0.0))
                    )
                elif name == "purge_status":
                    answer = node.purge_status()
                elif name == "purge_end":
                    answer = await node.purge_end()
                elif name == "keys_over_udp":
                    answer = node.keys_over_udp()
                elif name == "profile":
                    answer = await node.profile(float(command["seconds"]), str(command["path"]))
                else:
                    answer = {"error": f"unknown command {name!r}"}
            except Exception as exc:  # noqa: BLE001 - report it to the parent, keep serving
                logging.exception("command %s failed", name)
                answer = {"error": repr(exc)}
            reply(answer)
    finally:
        await bridge.stop()
        sockets.close()
        store.close()
        reply({"stopped": True})


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    uvloop.run(serve(Path(sys.argv[1])))


if __name__ == "__main__":
    main()
