"""How many phones one bridge process carries: a ladder of synthetic G.711 legs against the
real ``BridgeService`` (its own process, uvloop, SQLite store), then sipp's call rate.

Per rung: N calls set up at 50 calls/s (100 legs in one conference from N = 100, the rest in
conferences of 5; every tenth leg a talker), 2 s to settle, then a 10 s window measured on both
sides. The ladder stops at the first rung losing > 5 % of the packets the legs should get back,
with tick lateness p99 > 50 ms, or with fewer than 95 % of the calls held. The bridge and the
generator share the machine's cores; the generator's own CPU and tick lateness are reported.
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
from bench.bridge_node import percentile
from bench.load_gen import FRAMES_PER_S, Generator
from bench.node_control import NodeProcess
from bench.report import markdown, table
from bench.sipp_rate import run_rate

# BENCH_BRIDGE_LADDER=50,100 runs a shorter ladder (for trying the benchmark out).
LADDER = tuple(
    int(n)
    for n in os.environ.get("BENCH_BRIDGE_LADDER", "50,100,150,200,300,400,600,800,1000").split(",")
)
BIG_ROOM = 100
SMALL_ROOM = 5
SETUP_RATE = 50.0
TEARDOWN_RATE = 200.0
SETTLE_S = 2.0
WINDOW_S = 10.0
PROFILE_S = 5.0
PROFILE_AT = 400
MAX_LOSS_PCT = 5.0
MAX_P99_MS = 50.0
MIN_HELD = 0.95
SIPP_RATES = tuple(
    int(r) for r in os.environ.get("BENCH_BRIDGE_SIPP_RATES", "20,50,100").split(",") if r
)
SIPP_CALLS = 300


def _pins_for(n: int, answer: dict[str, Any]) -> list[str]:
    pins: list[str] = []
    if answer["big"]:
        pins += [answer["big"]] * min(n, BIG_ROOM)
    small: list[str] = answer["small"]
    while len(pins) < n:
        pins.append(small[(len(pins) - (BIG_ROOM if answer["big"] else 0)) // SMALL_ROOM])
    return pins


async def _rung(
    node: NodeProcess, n: int, baseline_kib: int, results: Path
) -> tuple[dict[str, Any], dict[str, Any]]:
    loop = asyncio.get_running_loop()
    big = BIG_ROOM if n >= BIG_ROOM else 0
    answer = await node.ask("pins", big=big, small=math.ceil((n - big) / SMALL_ROOM))
    idle = await node.ask("status")
    generator = Generator(node.sip_port)
    await generator.open()
    try:
        legs = generator.add_legs(_pins_for(n, answer))
        started = loop.time()
        await generator.set_up(legs, SETUP_RATE)
        setup_s = loop.time() - started
        await asyncio.sleep(SETTLE_S)
        await node.ask("window_start")
        generator.lateness.clear()
        g0, t0 = generator.totals(), loop.time()
        await asyncio.sleep(WINDOW_S)
        bridge = await node.ask("window_end")
        g1, wall = generator.totals(), loop.time() - t0
        gen_late = [x * 1000.0 for x in generator.lateness]
        held = sum(1 for leg in legs if leg.up and not leg.ended_by_bridge)
        failures = sorted({leg.failure for leg in legs if leg.failure})
        expected = held * FRAMES_PER_S * wall
        received = g1["received"] - g0["received"]
        row: dict[str, Any] = {
            "legs": n,
            "held": held,
            "bridge_joined": bridge["joined"],
            "setup_s": round(setup_s, 1),
            "setup_failures": failures,
            "late_p50_ms": round(bridge["late_p50_ms"], 2),
            "late_p99_ms": round(bridge["late_p99_ms"], 2),
            "late_max_ms": round(bridge["late_max_ms"], 2),
            "ticks": bridge["ticks"],
            "ticks_skipped": bridge["ticks_skipped"],
            "bridge_cpu_pct": round(100.0 * bridge["cpu_s"] / bridge["wall_s"], 1),
            "cpu_per_leg_pct": round(100.0 * bridge["cpu_s"] / bridge["wall_s"] / n, 3),
            "rss_idle_kib": idle["rss_kib"],
            "rss_load_kib": bridge["rss_kib"],
            "mem_per_leg_kib": round((bridge["rss_kib"] - baseline_kib) / n, 1),
            "bridge_pps_in": round(bridge["rtp_received"] / bridge["wall_s"]),
            "bridge_pps_out": round(bridge["rtp_sent"] / bridge["wall_s"]),
            "jitter_lost": int(bridge["jitter_lost"]),
            "jitter_late": int(bridge["jitter_late"]),
            "gen_sent": int(g1["sent"] - g0["sent"]),
            "gen_received": int(received),
            "loss_pct": round(100.0 * max(0.0, 1.0 - received / expected), 2)
            if expected
            else 100.0,
            "gen_cpu_pct": round(100.0 * (g1["cpu"] - g0["cpu"]) / wall, 1),
            "gen_late_p99_ms": round(percentile(gen_late, 0.99), 2),
            "gen_late_max_ms": round(max(gen_late, default=0.0), 2),
        }
        profile: dict[str, Any] = {}
        if n == PROFILE_AT or _why_stop(row) or n == LADDER[-1]:
            path = results / f"bridge_profile_{n}.txt"
            answer = await node.ask("profile", seconds=PROFILE_S, path=str(path))
            profile = {"top": answer["top"], "entry_points": answer["entry_points"]}
        row["bye_ok"] = await generator.tear_down(TEARDOWN_RATE)
    finally:
        generator.close()
    for _ in range(60):  # let the bridge finish every call before the next rung
        if (await node.ask("status"))["calls"] == 0:
            break
        await asyncio.sleep(0.5)
    return row, profile


def _why_stop(row: dict[str, Any]) -> str:
    reasons = []
    if row["loss_pct"] > MAX_LOSS_PCT:
        reasons.append(f"loss {row['loss_pct']} % > {MAX_LOSS_PCT} %")
    if row["late_p99_ms"] > MAX_P99_MS:
        reasons.append(f"tick lateness p99 {row['late_p99_ms']} ms > {MAX_P99_MS} ms")
    if row["held"] < MIN_HELD * row["legs"]:
        reasons.append(f"only {row['held']} of {row['legs']} calls held")
    return "; ".join(reasons)


async def measure(results: Path) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "settings": {
            "ladder": list(LADDER),
            "setup_calls_per_s": SETUP_RATE,
            "window_s": WINDOW_S,
            "big_room": BIG_ROOM,
            "small_room": SMALL_ROOM,
            "talkers": "every tenth leg",
            "stop_when": f"loss > {MAX_LOSS_PCT} %, p99 > {MAX_P99_MS} ms, held < 95 %",
        },
        "ladder": [],
        "profiles": {},
        "stopped": {"at": None, "reason": "completed the ladder"},
        "sipp": [],
        "load_average_before": list(os.getloadavg()),
    }
    with tempfile.TemporaryDirectory(prefix="bench-bridge-") as folder:
        work = Path(folder)
        node = NodeProcess(work / "data", work / "node.log")
        try:
            await node.start()
            figures["bridge_pid"] = node.pid
            figures["rss_start_kib"] = node.rss_start_kib
            # Every conference is created before the first call: the store's audit log cannot
            # take a conference write while the bridge writes leg records (see the report).
            top = max(LADDER)
            big = BIG_ROOM if top >= BIG_ROOM else 0
            await node.ask("pins", big=big, small=math.ceil((top - big) / SMALL_ROOM))
            pin = (await node.ask("pin"))["pin"]
            baseline = int((await node.ask("status"))["rss_kib"])
            figures["rss_before_calls_kib"] = baseline
            for n in LADDER:
                row, profile = await _rung(node, n, baseline, results)
                figures["ladder"].append(row)
                if profile:
                    figures["profiles"][str(n)] = profile
                print(table([row], header=n == LADDER[0]), flush=True)
                reason = _why_stop(row)
                if reason:
                    figures["stopped"] = {"at": n, "reason": reason}
                    break
            for rate in SIPP_RATES:
                result = await run_rate(node.sip_port, pin, rate, SIPP_CALLS, work)
                figures["sipp"].append(result)
                print(f"  sipp {rate}/s: done", flush=True)
                await asyncio.sleep(2.0)
        finally:
            await node.stop()
    figures["load_average_after"] = list(os.getloadavg())
    return figures


def run_and_report(results: Path) -> dict[str, Any]:
    results.mkdir(exist_ok=True)
    for stale in results.glob("bridge_profile_*.txt"):
        stale.unlink()
    figures = uvloop.run(measure(results))
    record = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine.describe(),
        "figures": figures,
    }
    (results / "bridge.json").write_text(json.dumps(record, indent=2) + "\n")
    (results / "bridge.md").write_text(markdown(record))
    return figures


if __name__ == "__main__":
    run_and_report(Path(__file__).with_name("results"))
