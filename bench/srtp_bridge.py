"""SRTP against plain RTP in the real bridge process: CPU per leg, same node, same run.

The bridge in its own process (bench/bridge_node.py, uvloop, the store, real UDP sockets)
carries N synthetic legs from bench/load_gen.py in conferences of five; one window of plain
RTP legs, then one of SRTP legs for each suite, and again (interleaved rounds, the best
window of each kind kept). The node takes SDES keys over UDP for this (its
``keys_over_udp`` command): in service they travel only over TLS, whose cost is the
signalling's, not the media's. The load generator protects what it sends in its own process.

Run by bench/srtp_legs.py (``make bench``); BENCH_SRTP_BRIDGE_LEGS=100 by default.
"""

from __future__ import annotations

import asyncio
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from bench.bridge_load import SETTLE_S, SETUP_RATE, SMALL_ROOM, TEARDOWN_RATE, _pins_for
from bench.load_gen import Generator
from bench.node_control import NodeProcess

LEGS = int(os.environ.get("BENCH_SRTP_BRIDGE_LEGS", "100"))
WINDOW_S = 10.0
ROUNDS = 3
MODES = ("clear", "AES_CM_128_HMAC_SHA1_80", "AEAD_AES_128_GCM")


async def _window(node: NodeProcess, mode: str, legs: int) -> dict[str, Any]:
    answer = await node.ask("pins", big=0, small=math.ceil(legs / SMALL_ROOM))
    generator = Generator(node.sip_port, srtp_suite=None if mode == "clear" else mode)
    await generator.open()
    try:
        calls = generator.add_legs(_pins_for(legs, answer))
        await generator.set_up(calls, SETUP_RATE)
        await asyncio.sleep(SETTLE_S)
        before = generator.totals()
        await node.ask("window_start")
        await asyncio.sleep(WINDOW_S)
        window = await node.ask("window_end")
        after = generator.totals()
        held = sum(1 for leg in calls if leg.up and not leg.ended_by_bridge)
        if held < 0.95 * legs:  # figures of calls that never got up would mean nothing
            failures = sorted({leg.failure for leg in calls if leg.failure})
            raise RuntimeError(f"{mode}: only {held} of {legs} legs up ({failures}); node.log")
        expected = held * 50 * window["wall_s"]
        row = {
            "held": held,
            "cpu_pct": 100.0 * window["cpu_s"] / window["wall_s"],
            "per_leg_pct": 100.0 * window["cpu_s"] / window["wall_s"] / max(held, 1),
            "late_p99_ms": round(window["late_p99_ms"], 2),
            "rtp_received": window["rtp_received"],
            # What came back to the phones (for SRTP: protected packets, not checked here;
            # the tests check that they decrypt).
            "returned_pct": round(100.0 * (after["received"] - before["received"]) / expected, 1)
            if expected
            else 0.0,
        }
        await generator.tear_down(TEARDOWN_RATE)
    finally:
        generator.close()
    for _ in range(60):
        if (await node.ask("status"))["calls"] == 0:
            break
        await asyncio.sleep(0.5)
    return row


async def measure(legs: int = LEGS) -> dict[str, Any]:
    windows: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory(prefix="bench-srtp-") as folder:
        work = Path(folder)
        node = NodeProcess(work / "data", work / "node.log")
        try:
            await node.start()
            await node.ask("keys_over_udp")
            for _ in range(ROUNDS):
                for mode in MODES:
                    windows[mode].append(await _window(node, mode, legs))
                    print(f"  {mode}: {windows[mode][-1]}", flush=True)
        finally:
            await node.stop()
    best = {mode: min(rows, key=lambda r: r["per_leg_pct"]) for mode, rows in windows.items()}
    clear = best["clear"]["per_leg_pct"]
    figures: dict[str, Any] = {"legs": legs, "room": SMALL_ROOM, "window_s": WINDOW_S}
    for mode in MODES:
        row = best[mode]
        figures[mode] = {
            **row,
            "per_leg_pct": round(row["per_leg_pct"], 4),
            "cpu_pct": round(row["cpu_pct"], 1),
            "extra_over_clear_pct": round(100.0 * (row["per_leg_pct"] / clear - 1.0), 1),
        }
    return figures
