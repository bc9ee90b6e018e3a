"""What scraping the metrics costs the media clock: the real ``BridgeService`` in its own
process (bench/bridge_node.py) carrying N synthetic G.711 legs (bench/load_gen.py), measured
over two windows of the same calls, one without scraping and one with the exposition built
every second on the event loop (15 times Prometheus' default rate). Per N: tick lateness p50,
p99 and max in each window, and how long a scrape took.

``python -m bench.metrics_scrape`` (BENCH_METRICS_LEGS=100,200 to choose N; one process
carries about 250 legs, bench/results/bridge.md); writes bench/results/metrics.json.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import uvloop

from bench import machine
from bench.bridge_load import BIG_ROOM, SETTLE_S, SETUP_RATE, SMALL_ROOM, TEARDOWN_RATE, _pins_for
from bench.load_gen import Generator
from bench.node_control import NodeProcess

LEGS = tuple(int(n) for n in os.environ.get("BENCH_METRICS_LEGS", "100,200").split(","))
WINDOW_S = 10.0
EVERY_S = 1.0
RESULTS = Path(__file__).with_name("results")


async def _window(node: NodeProcess, scrape: bool) -> dict[str, Any]:
    await node.ask("window_start")
    if scrape:
        await node.ask("scrape_start", every=EVERY_S)
    await asyncio.sleep(WINDOW_S)
    window = await node.ask("window_end")
    row = {
        "late_p50_ms": round(window["late_p50_ms"], 3),
        "late_p99_ms": round(window["late_p99_ms"], 3),
        "late_max_ms": round(window["late_max_ms"], 3),
        "cpu_pct": round(100.0 * window["cpu_s"] / window["wall_s"], 1),
    }
    if scrape:
        scrapes = await node.ask("scrape_end")
        row |= {
            "scrapes": scrapes["scrapes"],
            "scrape_p50_ms": round(scrapes["scrape_p50_ms"], 3),
            "scrape_max_ms": round(scrapes["scrape_max_ms"], 3),
            "exposition_bytes": scrapes["exposition_bytes"],
        }
    return row


async def measure() -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as folder:
        work = Path(folder)
        node = NodeProcess(work / "data", work / "node.log")
        try:
            await node.start()
            for n in LEGS:
                big = BIG_ROOM if n >= BIG_ROOM else 0
                answer = await node.ask("pins", big=big, small=math.ceil((n - big) / SMALL_ROOM))
                generator = Generator(node.sip_port)
                await generator.open()
                try:
                    legs = generator.add_legs(_pins_for(n, answer))
                    await generator.set_up(legs, SETUP_RATE)
                    await asyncio.sleep(SETTLE_S)
                    without = await _window(node, scrape=False)
                    with_scrape = await _window(node, scrape=True)
                    held = sum(1 for leg in legs if leg.up and not leg.ended_by_bridge)
                    failures = sorted({leg.failure for leg in legs if leg.failure})
                    rows.append(
                        {
                            "legs": n,
                            "held": held,
                            "setup_failures": failures,
                            "without": without,
                            "scraped": with_scrape,
                        }
                    )
                    print(json.dumps(rows[-1]), flush=True)
                    await generator.tear_down(TEARDOWN_RATE)
                finally:
                    generator.close()
                for _ in range(60):
                    if (await node.ask("status"))["calls"] == 0:
                        break
                    await asyncio.sleep(0.5)
        finally:
            await node.stop()
    return {"window_s": WINDOW_S, "scrape_every_s": EVERY_S, "rows": rows}


def main() -> None:
    figures = uvloop.run(measure())
    RESULTS.mkdir(exist_ok=True)
    record = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine.describe(),
        "figures": figures,
    }
    (RESULTS / "metrics.json").write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
