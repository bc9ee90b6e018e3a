"""Live Call Status fan-out: how late roster changes reach the WebSocket watchers of one
conference, from the moment the bridge publishes an event on the bus to the moment each
watcher has the message.

The server (``bench.roster_fanout_server``: the real app on uvicorn, uvloop, SQLite store, no
bridge) holds one conference with 50 legs and publishes 25 talk-state changes per second, as
a lively call does. The watchers (``bench.roster_fanout_clients``) are another process on the
same cores: N WebSocket clients opened at up to 200/s with the demo host's token,
permessage-deflate offered as browsers offer it. Both processes stamp with ``time.time()``
(one clock), so each delivery's latency is receipt - publish. Only changes published after
every watcher has its snapshot count. A ladder of N (250, 500, 1000); a rung that does not
hold every watcher, or loses deliveries, stops it. The last rung ends with a short cProfile
of the server; then the top rung that held runs once more without permessage-deflate. The
target reported against: p99 < 100 ms.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import uvloop

from bench import machine
from bench.child_process import Child

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
    ("changes_per_message", "per msg", "{:.2f}"),
    ("missing", "missing", "{:,}"),
    ("p50_ms", "p50 ms", "{:.1f}"),
    ("p99_ms", "p99 ms", "{:.1f}"),
    ("max_ms", "max ms", "{:.1f}"),
    ("last_p50_ms", "span ms", "{:.1f}"),
    ("server_cpu_pct", "srv CPU%", "{:.0f}"),
    ("client_cpu_pct", "cli CPU%", "{:.0f}"),
    ("other_cpu_pct", "other CPU%", "{:.0f}"),
    ("server_us_per_delivery", "us/deliv", "{:.1f}"),
    ("loop_late_p99_ms", "stall ms", "{:.1f}"),
    ("target", "p99<100", "{}"),
)
LATENCIES = (
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "max_ms",
    "mean_ms",
    "received_p50_ms",
    "received_p99_ms",
    "received_max_ms",
    "first_p50_ms",
    "last_p50_ms",
    "last_p99_ms",
)


def _cpu_ticks() -> tuple[int, int]:
    """Machine-wide (busy, total) CPU ticks from /proc/stat."""
    # user nice system idle iowait irq softirq steal (guest time is already in user)
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


async def _rung(
    server: Child, n: int, deflate: bool, work: Path, profile: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One run: n watchers connect, WINDOW_S of changes, deliveries counted; with
    ``profile``, then PROFILE_S more of changes under cProfile (not counted)."""
    hello = server.hello
    log = work / f"clients_{n}_{'deflate' if deflate else 'plain'}.log"
    clients = Child("bench.roster_fanout_clients", [str(hello["port"])], log)
    profiled: dict[str, Any] = {}
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
        busy0, total0 = _cpu_ticks()
        run = await server.ask("run", timeout=WINDOW_S + 120.0, rate=RATE, seconds=WINDOW_S)
        busy1, total1 = _cpu_ticks()
        client_window = await clients.ask("window_end")
        drain = await clients.ask(
            "drain", timeout=DRAIN_S + 30.0, seq=run["published"][-1][0], wait_s=DRAIN_S
        )
        got = await clients.ask("report", timeout=120.0, published=run["published"])
        if profile:
            profiled = await server.ask(
                "run", timeout=PROFILE_S + 120.0, rate=RATE, seconds=PROFILE_S, profile=True
            )
            profiled["watchers"] = n
        await clients.ask("close", timeout=30.0)
    finally:
        await clients.stop()
    swept = await server.ask("sweep", timeout=30.0, wait_s=10.0)
    cores = machine.describe()["cores"]
    machine_pct = 100.0 * int(cores) * (busy1 - busy0) / max(1, total1 - total0)
    server_pct = 100.0 * run["cpu_s"] / run["wall_s"]
    client_pct = 100.0 * client_window["cpu_s"] / client_window["wall_s"]
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
        "achieved_changes_per_s": round(got["events"] / run["wall_s"], 1),
        "deliveries": got["deliveries"],
        "messages": got["messages"],
        "changes_per_message": round(got["deliveries"] / max(1, got["messages"]), 2),
        "missing": got["missing"],
        "out_of_order": got["out_of_order"],
        "closed_during_run": got["closed"],
        "behind_after_drain": drain["behind"],
        "drain_s": drain["waited_s"],
        **{key: None if got[key] is None else round(got[key], 2) for key in LATENCIES},
        "server_cpu_pct": round(server_pct, 1),
        "server_us_per_delivery": round(
            1e6 * run["cpu_s"] / max(1, connect["connected"] * len(run["published"])), 2
        ),
        "client_cpu_pct": round(client_pct, 1),
        "machine_cpu_pct": round(machine_pct, 1),
        "other_cpu_pct": round(max(0.0, machine_pct - server_pct - client_pct), 1),
        "server_involuntary_switches": run["involuntary_switches"],
        "server_paused_max": run["paused_max"],
        "window_s": round(run["wall_s"], 1),
        "loop_late_p50_ms": round(run["publish_late_p50_ms"], 2),
        "loop_late_p99_ms": round(run["publish_late_p99_ms"], 2),
        "loop_late_max_ms": round(run["publish_late_max_ms"], 2),
        "client_nofile": limits["nofile"],
        "stale_after_close": swept["stale"],
        "left_after_sweep": swept["left"],
        "target": "yes" if got["p99_ms"] is not None and got["p99_ms"] < TARGET_P99_MS else "NO",
    }
    return row, profiled


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
        figures["server_pid"] = server.pid
        figures["settings"]["legs"] = hello["legs"]
        figures["costs"] = hello["costs"]
        figures["server_nofile"] = {k: v for k, v in hello.items() if k.startswith("nofile")}
        held: int | None = None
        for i, n in enumerate(LADDER):
            last = i == len(LADDER) - 1
            row, profile = await _rung(server, n, True, work, profile=last)
            figures["rows"].append(row)
            if profile:
                figures["profile"] = profile
            print(table([row], header=i == 0), flush=True)
            reason = _not_held(row)
            if reason:
                figures["stopped"] = {"at": n, "reason": reason}
                break
            held = n
        if held is not None:
            # The top rung that held, once more without permessage-deflate: what it costs.
            row, _ = await _rung(server, held, False, work)
            figures["rows"].append(row)
            print(table([row], header=False), flush=True)
    finally:
        await server.stop()
    figures["load_average_after"] = list(os.getloadavg())
    return figures


def _cell(fmt: str, value: Any) -> str:
    """A figure; a latency that fell among the missing deliveries shows as "lost"."""
    return "lost" if value is None else fmt.format(value)


def table(rows: list[dict[str, Any]], header: bool = True) -> str:
    lines = []
    if header:
        lines.append(" ".join(f"{title:>10}" for _, title, _ in COLUMNS))
    for row in rows:
        lines.append(" ".join(f"{_cell(fmt, row[key]):>10}" for key, _, fmt in COLUMNS))
    return "\n".join(lines)


def _md_table(headings: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(headings) + " |", "|" + "---|" * len(headings)]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def _best(rows: list[dict[str, Any]], deflate: str) -> str:
    meeting = [r["watchers"] for r in rows if r["deflate"] == deflate and r["target"] == "yes"]
    return str(max(meeting)) if meeting else "none measured"


def markdown(record: dict[str, Any]) -> str:
    figures = record["figures"]
    m = record["machine"]
    s = figures["settings"]
    rows = figures["rows"]
    costs = figures.get("costs", {})
    load = " ".join(f"{x:.2f}" for x in figures["load_average_before"])
    load_after = " ".join(f"{x:.2f}" for x in figures.get("load_average_after", []))
    stopped = figures["stopped"]
    lines = [
        "# Live Call Status fan-out",
        "",
        f"Run {record['when']} on {m['cpu']}, {m['cores']} cores, Python {m['python']}, "
        f"{m['system']}. Server and watchers are separate processes (both uvloop) sharing "
        f"these cores; other CPU % shows whatever else ran meanwhile. Load average "
        f"before/after: {load} / {load_after}.",
        "",
        f"One conference, {s['legs']} legs, {s['changes_per_s']:.0f} talk-state changes/s "
        f"published on the bus for {s['window_s']:.0f} s. N WebSocket watchers (demo host "
        f"token) opened at up to {s['connect_per_s']:.0f}/s before the window; only changes "
        "published after every watcher has its snapshot count. The server is the real app "
        "(`create_app` + `wire_roster`) on uvicorn configured as `serve()` configures it "
        "(no permessage-deflate, pings every 20 s), without a bridge: a driver on "
        "the same event loop publishes where the bridge would. The watchers offer "
        "permessage-deflate as browsers do (deflate = no: they do not offer it). Target: p99 "
        f"< {s['target_p99_ms']:.0f} ms.",
        "",
    ]
    lines += _md_table(
        [title for _, title, _ in COLUMNS],
        [[_cell(fmt, row[key]) for key, _, fmt in COLUMNS] for row in rows],
    )
    lines += [
        "",
        f"Stopped: {'at N = ' + str(stopped['at']) + ': ' if stopped['at'] else ''}"
        f"{stopped['reason']}. Largest N within the target: {_best(rows, 'yes')} with "
        f"deflate, {_best(rows, 'no')} without.",
        "",
        "How to read it. Latency: the watcher's receipt time minus `time.time()` just "
        "before `EventBus.publish` (one machine, one clock), one value per delivery (watcher "
        "x change; every change in a batch counts, with its own latency). delivered should "
        "be held x events; per msg: changes per WebSocket message (the server sends a "
        "watcher everything it has not been sent yet in one message, so 1.00 means every "
        "change went alone and more means watchers had fallen behind); missing: not received "
        f"{s['drain_s']:.0f} s after the last change. p50/p99/max count every expected "
        'delivery, a missing one as later than any ("lost" when the percentile falls among '
        "them; the detail table gives them over the received ones). span: per change, the "
        "latency of the last watcher to get it (median over changes), i.e. how long the "
        "server takes to write one change to all N. srv CPU %: the server process over the "
        "window (100 % = one core; its event loop is one thread, so near 100 % it is "
        "saturated and latency grows with the backlog). cli CPU %: the watchers' process. "
        "other CPU %: the rest of the machine meanwhile (/proc/stat). us/deliv: server CPU "
        "per delivery. stall: p99 of how late the driver's publishes ran against their "
        "schedule: the loop was busy fanning out. In `serve()` the bridge shares this loop, "
        "so its 20 ms media tick would be that late too; and when the loop saturates the "
        "driver falls behind (achieved changes/s below), so the latencies, measured from the "
        "actual publish, understate what the bridge's events would see.",
        "",
        "Detail per run (snapshot: connect until the snapshot arrived, while the others "
        "connect; paused: most connections uvicorn held back at once because a client was not "
        "reading; stale after close: watchers still in the feed once every client had closed "
        "- the route notices a closed socket at once, so this should be 0):",
        "",
    ]
    lines += _md_table(
        [
            "N",
            "deflate (agreed)",
            "connect s",
            "snapshot p50/p99 ms",
            "changes/s",
            "p90 ms",
            "mean ms",
            "received p99/max ms",
            "first p50 ms",
            "span p99 ms",
            "stall max ms",
            "machine CPU %",
            "invol. switches",
            "paused",
            "out of order",
            "closed",
            "stale after close",
        ],
        [
            [
                str(r["watchers"]),
                f"{r['deflate']} ({r['deflate_negotiated']})",
                str(r["connect_s"]),
                f"{r['snapshot_p50_ms']:.0f} / {r['snapshot_p99_ms']:.0f}",
                f"{r['achieved_changes_per_s']:.1f}",
                _cell("{:.1f}", r["p90_ms"]),
                _cell("{:.1f}", r["mean_ms"]),
                f"{r['received_p99_ms']:.1f} / {r['received_max_ms']:.1f}",
                f"{r['first_p50_ms']:.1f}",
                f"{r['last_p99_ms']:.1f}",
                f"{r['loop_late_max_ms']:.1f}",
                f"{r['machine_cpu_pct']:.0f}",
                f"{r['server_involuntary_switches']:,}",
                str(r["server_paused_max"]),
                str(r["out_of_order"]),
                json.dumps(r["closed_during_run"]) if r["closed_during_run"] else "-",
                str(r["stale_after_close"]),
            ]
            for r in rows
        ],
    )
    if costs:
        lines += [
            "",
            "## What one delivery costs",
            "",
            f"A talk-state message is {costs['message_bytes']} bytes of JSON (about "
            f"{costs['message_deflated_bytes']} deflated, the compressor keeping its context "
            f"between messages); the snapshot with {s['legs']} legs is "
            f"{costs['snapshot_bytes']:,} bytes. Measured alone in the server process: "
            f"`json.dumps` as Starlette's `send_json` does it {costs['json_dumps_us']} us, "
            "permessage-deflate as uvicorn's websockets does it (12-bit window, memLevel 5, "
            f"one compressor per connection) {costs['deflate_us']} us. The route pays neither "
            "per watcher: each change is encoded once for all watchers (once more without "
            "numbers, for guests who may not see them), a batch is those texts joined, and "
            "nothing is compressed. What remains per watcher is the send; compare with "
            "us/deliv above.",
        ]
    profile = figures.get("profile") or {}
    if profile:
        lines += [
            "",
            f"## Where the server's time goes at N = {profile['watchers']} with deflate",
            "",
            f"cProfile, {profile['seconds']:.0f} s of changes after the window, by own time "
            "(profiling slows the loop: compare shares only; time inside uvloop's Cython, "
            "such as `transport.write` and its send(2), counts to the Python caller).",
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
