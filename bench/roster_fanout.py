"""Live Call Status fan-out: how late roster changes reach the WebSocket watchers of one
conference, from the moment the bridge publishes an event on the bus to the moment each
watcher has the message.

The server (``bench.roster_fanout_server``: the real app on uvicorn, uvloop, SQLite store, no
bridge) holds one conference with 50 legs and publishes 25 talk-state changes per second, as
a lively call does. The watchers (``bench.roster_fanout_clients``) are another process on the
same cores: N WebSocket clients opened at 200/s with the demo host's token, permessage-deflate
offered as browsers offer it. Both processes stamp with ``time.time()`` (one clock), so each
delivery's latency is receipt - publish. Only changes published after every watcher has its
snapshot count. A ladder of N (250, 500, 1000); a rung that does not hold every watcher, or
loses deliveries, stops it. Then the top rung once more without permessage-deflate, and a
short cProfile of the server at the top rung. The target reported against: p99 < 100 ms.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import uvloop

from bench import machine
from bench.roster_fanout_proc import Child

# BENCH_ROSTER_LADDER=100,200 and BENCH_ROSTER_WINDOW_S=5 give a quick try-out.
LADDER = tuple(int(n) for n in os.environ.get("BENCH_ROSTER_LADDER", "250,500,1000").split(","))
WINDOW_S = float(os.environ.get("BENCH_ROSTER_WINDOW_S", "20"))
RATE = 25.0  # talk-state changes per second
CONNECT_RATE = 200.0  # watchers opened per second
DRAIN_S = 10.0  # how long after the last change the watchers may take to get it
PROFILE_S = 5.0
TARGET_P99_MS = 100.0

COLUMNS = (
    ("watchers", "N", "{}"),
    ("deflate", "deflate", "{}"),
    ("connected", "held", "{}"),
    ("events", "events", "{}"),
    ("deliveries", "delivered", "{:,}"),
    ("missing", "missing", "{:,}"),
    ("p50_ms", "p50 ms", "{:.1f}"),
    ("p99_ms", "p99 ms", "{:.1f}"),
    ("max_ms", "max ms", "{:.1f}"),
    ("last_p50_ms", "span ms", "{:.1f}"),
    ("server_cpu_pct", "srv CPU %", "{:.0f}"),
    ("client_cpu_pct", "cli CPU %", "{:.0f}"),
    ("server_us_per_delivery", "us/deliv", "{:.1f}"),
    ("loop_late_p99_ms", "stall ms", "{:.1f}"),
    ("target", "p99<100", "{}"),
)


async def _rung(server: Child, n: int, deflate: bool, work: Path) -> dict[str, Any]:
    hello = server.hello
    log = work / f"clients_{n}_{'deflate' if deflate else 'plain'}.log"
    clients = Child("bench.roster_fanout_clients", [str(hello["port"])], log)
    try:
        limits = await clients.start()
        connect = await clients.ask(
            "connect",
            timeout=n / CONNECT_RATE + 60.0,
            conference_id=hello["conference_id"],
            token=hello["token"],
            n=n,
            rate=CONNECT_RATE,
            deflate=deflate,
        )
        watching = (await server.ask("watching"))["watching"]
        await clients.ask("window_start")
        run = await server.ask("run", timeout=WINDOW_S + 120.0, rate=RATE, seconds=WINDOW_S)
        drain = await clients.ask(
            "drain", timeout=DRAIN_S + 30.0, seq=run["published"][-1][0], wait_s=DRAIN_S
        )
        client_window = await clients.ask("window_end")
        got = await clients.ask("report", timeout=120.0, published=run["published"])
        await clients.ask("close", timeout=30.0)
    finally:
        await clients.stop()
    await _all_gone(server)
    server_cpu = run["cpu_s"] / run["wall_s"]
    row: dict[str, Any] = {
        "watchers": n,
        "deflate": "yes" if deflate else "no",
        "deflate_negotiated": connect["deflate_negotiated"],
        "connected": connect["connected"],
        "connect_failed": connect["failed"],
        "connect_errors": connect["errors"],
        "connect_s": connect["connect_s"],
        "snapshot_p50_ms": connect["snapshot_p50_ms"],
        "snapshot_p99_ms": connect["snapshot_p99_ms"],
        "server_watching": watching,
        "events": got["events"],
        "deliveries": got["deliveries"],
        "missing": got["missing"],
        "out_of_order": got["out_of_order"],
        "closed_during_run": got["closed"],
        "behind_after_drain": drain["behind"],
        "drain_s": drain["waited_s"],
        **{
            key: round(got[key], 2)
            for key in (
                "p50_ms",
                "p90_ms",
                "p99_ms",
                "max_ms",
                "mean_ms",
                "first_p50_ms",
                "last_p50_ms",
                "last_p99_ms",
            )
        },
        "server_cpu_pct": round(100.0 * server_cpu, 1),
        "server_us_per_delivery": round(
            1e6 * run["cpu_s"] / max(1, connect["connected"] * len(run["published"])), 2
        ),
        "client_cpu_pct": round(100.0 * client_window["cpu_s"] / client_window["wall_s"], 1),
        "client_window_s": round(client_window["wall_s"], 1),
        "loop_late_p50_ms": round(run["publish_late_p50_ms"], 2),
        "loop_late_p99_ms": round(run["publish_late_p99_ms"], 2),
        "loop_late_max_ms": round(run["publish_late_max_ms"], 2),
        "client_nofile": limits["nofile"],
        "target": "yes" if got["p99_ms"] < TARGET_P99_MS else "NO",
    }
    return row


async def _all_gone(server: Child) -> None:
    """Wait until the server has no watcher left (before the next run)."""
    for _ in range(100):
        if (await server.ask("watching"))["watching"] == 0:
            return
        await asyncio.sleep(0.1)


def _not_held(row: dict[str, Any]) -> str:
    reasons = []
    if row["connected"] < row["watchers"]:
        errors = ", ".join(f"{k} x{v}" for k, v in row["connect_errors"].items())
        reasons.append(
            f"only {row['connected']} of {row['watchers']} watchers connected ({errors})"
        )
    if row["closed_during_run"]:
        reasons.append(f"watchers closed during the run: {row['closed_during_run']}")
    if row["missing"]:
        reasons.append(
            f"{row['missing']:,} deliveries missing {DRAIN_S:.0f} s after the last change"
        )
    return "; ".join(reasons)


async def measure(work: Path) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "settings": {
            "ladder": list(LADDER),
            "legs": 0,
            "changes_per_s": RATE,
            "window_s": WINDOW_S,
            "connect_per_s": CONNECT_RATE,
            "drain_s": DRAIN_S,
            "target_p99_ms": TARGET_P99_MS,
        },
        "rows": [],
        "profile": {},
        "stopped": {"at": None, "reason": "completed the ladder"},
        "load_average_before": list(os.getloadavg()),
    }
    server = Child("bench.roster_fanout_server", [str(work / "data")], work / "server.log")
    try:
        hello = await server.start()
        figures["settings"]["legs"] = hello["legs"]
        figures["costs"] = hello["costs"]
        figures["server_nofile"] = {k: v for k, v in hello.items() if k.startswith("nofile")}
        held: int | None = None
        for i, n in enumerate(LADDER):
            row = await _rung(server, n, True, work)
            figures["rows"].append(row)
            print(table([row], header=i == 0), flush=True)
            reason = _not_held(row)
            if reason:
                figures["stopped"] = {"at": n, "reason": reason}
                break
            held = n
        if held is not None:
            # The top rung that held, once more without permessage-deflate (what compression
            # costs), then a short profile of the server with deflate watchers.
            row = await _rung(server, held, False, work)
            figures["rows"].append(row)
            print(table([row], header=False), flush=True)
            figures["profile"] = await _profile(server, held, work)
    finally:
        await server.stop()
    figures["load_average_after"] = list(os.getloadavg())
    return figures


async def _profile(server: Child, n: int, work: Path) -> dict[str, Any]:
    """cProfile the server for a few seconds with n deflate watchers (not counted above)."""
    hello = server.hello
    clients = Child("bench.roster_fanout_clients", [str(hello["port"])], work / "clients_prof.log")
    try:
        await clients.start()
        await clients.ask(
            "connect",
            timeout=n / CONNECT_RATE + 60.0,
            conference_id=hello["conference_id"],
            token=hello["token"],
            n=n,
            rate=CONNECT_RATE,
            deflate=True,
        )
        profile = await server.ask(
            "run", timeout=PROFILE_S + 120.0, rate=RATE, seconds=PROFILE_S, profile=True
        )
        profile["watchers"] = n
        await clients.ask("close", timeout=30.0)
    finally:
        await clients.stop()
    await _all_gone(server)
    return profile


def table(rows: list[dict[str, Any]], header: bool = True) -> str:
    lines = []
    if header:
        lines.append(" ".join(f"{title:>9}" for _, title, _ in COLUMNS))
    for row in rows:
        lines.append(" ".join(f"{fmt.format(row[key]):>9}" for key, _, fmt in COLUMNS))
    return "\n".join(lines)


def _md_table(headings: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(headings) + " |", "|" + "---|" * len(headings)]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def markdown(record: dict[str, Any]) -> str:
    figures = record["figures"]
    m = record["machine"]
    s = figures["settings"]
    costs = figures.get("costs", {})
    load = " ".join(f"{x:.2f}" for x in figures["load_average_before"])
    load_after = " ".join(f"{x:.2f}" for x in figures.get("load_average_after", []))
    lines = [
        "# Live Call Status fan-out",
        "",
        f"Run {record['when']} on {m['cpu']}, {m['cores']} cores, Python {m['python']}, "
        f"{m['system']}. Server and watchers are separate processes (both uvloop) sharing "
        f"these cores. Load average before/after: {load} / {load_after}.",
        "",
        f"One conference, {s['legs']} legs, {s['changes_per_s']:.0f} talk-state changes/s "
        f"published on the bus for {s['window_s']:.0f} s. N WebSocket watchers (demo host "
        f"token) opened at {s['connect_per_s']:.0f}/s before the window; only changes "
        "published after every watcher has its snapshot count. The server is the real app "
        "(`create_app` + `wire_roster`) on uvicorn configured as `serve()` does (default "
        "permessage-deflate on, pings every 20 s) with no bridge; the driver publishes where "
        "the bridge would. Target: p99 < "
        f"{s['target_p99_ms']:.0f} ms.",
        "",
    ]
    lines += _md_table(
        [title for _, title, _ in COLUMNS],
        [[fmt.format(row[key]) for key, _, fmt in COLUMNS] for row in figures["rows"]],
    )
    stopped = figures["stopped"]
    lines += [
        "",
        f"Stopped: {'at N = ' + str(stopped['at']) + ': ' if stopped['at'] else ''}"
        f"{stopped['reason']}.",
        "",
        "How to read it: latency = the watcher's receipt time - `time.time()` just before "
        "`EventBus.publish` (same machine, same clock), one value per delivery (watcher x "
        "change). delivered should be held x events; missing = deliveries not received "
        f"{s['drain_s']:.0f} s after the last change. span: per change, the latency of the "
        "last watcher to get it (median over changes): the time the server takes to write one "
        "change to every watcher. srv CPU %: server process user+sys over the window (100 % "
        "= one core; the loop is one thread, so near 100 % it is saturated and latency "
        "grows without bound). us/deliv: server CPU per delivery. stall: how late the driver's "
        "publishes ran against their schedule (p99): the loop was busy fanning out; a bridge "
        "on the same loop (as in `serve()`) would see its 20 ms media tick that late. cli CPU "
        "%: the watchers' process (if near 100 % its own queueing would show as latency).",
        "",
        "Detail per run:",
        "",
    ]
    lines += _md_table(
        [
            "N",
            "deflate",
            "connect s",
            "snapshot p99 ms",
            "p90 ms",
            "mean ms",
            "first p50 ms",
            "span p99 ms",
            "stall max ms",
            "out of order",
            "closed",
        ],
        [
            [
                str(r["watchers"]),
                f"{r['deflate']} ({r['deflate_negotiated']})",
                str(r["connect_s"]),
                str(r["snapshot_p99_ms"]),
                f"{r['p90_ms']:.1f}",
                f"{r['mean_ms']:.1f}",
                f"{r['first_p50_ms']:.1f}",
                f"{r['last_p99_ms']:.1f}",
                f"{r['loop_late_max_ms']:.1f}",
                str(r["out_of_order"]),
                json.dumps(r["closed_during_run"]) if r["closed_during_run"] else "-",
            ]
            for r in figures["rows"]
        ],
    )
    if costs:
        lines += [
            "",
            "## What one delivery costs",
            "",
            f"A talk-state message is {costs['message_bytes']} bytes of JSON "
            f"({costs['message_deflated_bytes']} deflated); the snapshot with "
            f"{s['legs']} legs is {costs['snapshot_bytes']:,} bytes. Measured alone in the "
            f"server process: `json.dumps` as Starlette's `send_json` does it "
            f"{costs['json_dumps_us']} us, permessage-deflate as uvicorn's websockets does it "
            f"(12-bit window, memLevel 5, a compressor per connection) {costs['deflate_us']} "
            "us. Both are paid per watcher per change; compare with us/deliv above.",
        ]
    profile = figures.get("profile") or {}
    if profile:
        lines += [
            "",
            f"## Where the server's time goes at N = {profile['watchers']} with deflate "
            f"(cProfile, {profile['seconds']:.0f} s, tottime; profiling slows the loop, "
            "compare shares only)",
            "",
        ]
        lines += _md_table(
            ["function", "calls", "tottime s", "share %"],
            [
                [f"`{t['function']}`", str(t["calls"]), str(t["tottime_s"]), str(t["share_pct"])]
                for t in profile["top"][:15]
            ],
        )
    return "\n".join(lines) + "\n"


def run_and_report(results: Path) -> dict[str, Any]:
    """Run it, write roster.json and roster.md, print the table."""
    results.mkdir(exist_ok=True)
    print("roster fan-out:", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-roster-") as folder:
        figures = uvloop.run(measure(Path(folder)))
    record = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine.describe(),
        "figures": figures,
    }
    (results / "roster.json").write_text(json.dumps(record, indent=2) + "\n")
    (results / "roster.md").write_text(markdown(record))
    stopped = figures["stopped"]
    print(f"  stopped: {stopped['reason']}" + (f" (N = {stopped['at']})" if stopped["at"] else ""))
    return figures


if __name__ == "__main__":
    run_and_report(Path(__file__).with_name("results"))
