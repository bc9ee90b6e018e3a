"""Speaking indicator: how soon after a caller starts to talk the Live Call Status page shows
it (target: within 300 ms), and how soon after they stop it goes dark.

A real ``callroster serve`` (its own process, SQLite, the demo conference), a caller placed by
sipp with the PIN in the request URI, and Debian's chromium showing the conference page as a
guest. The caller's RTP comes from this process (tests/support/talker.py): G.711 µ-law every
20 ms, 3 s of noise at -50 dBFS so the adaptive noise floor settles, then talk spurts of a
1 kHz tone at -12 dBFS for 1.5 s, each followed by 2 s of the noise. ``time.time()`` is
stamped just before the first tone packet of each spurt is sent; the page stamps
``performance.timeOrigin + performance.now()`` when the leg's list item gains the
``talking`` class (a MutationObserver) and when the roster's WebSocket message arrives. One
machine, one clock: latency = page time - send time. Going dark is measured from the first
noise packet after the spurt and includes the detector's 400 ms hang-over by design.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import random
import statistics
import tempfile
from pathlib import Path
from typing import Any

from tests.support.browser import chromium
from tests.support.service import running_service
from tests.support.talker import (
    PTIME,
    Plan,
    SpurtResult,
    TalkRun,
    open_roster,
    run_talk,
    spurt_results,
)

from bench import machine
from bench.child_process import percentile

# BENCH_SPEAKING_CALLS=1 BENCH_SPEAKING_SPURTS=3 gives a quick try-out.
CALLS = int(os.environ.get("BENCH_SPEAKING_CALLS", "5"))
SPURTS_PER_CALL = int(os.environ.get("BENCH_SPEAKING_SPURTS", "3"))
TARGET_MS = 300.0
HANGOVER_MS = 400.0


def _summary(values: list[float | None]) -> dict[str, Any]:
    """p50/p95/max in ms (nearest rank) of the values that exist, and how many are missing."""
    present = sorted(v * 1000 for v in values if v is not None)
    return {
        "count": len(present),
        "missing": len(values) - len(present),
        "p50_ms": round(percentile(present, 0.50), 1),
        "p95_ms": round(percentile(present, 0.95), 1),
        "max_ms": round(present[-1], 1) if present else 0.0,
        "min_ms": round(present[0], 1) if present else 0.0,
        "mean_ms": round(statistics.fmean(present), 1) if present else 0.0,
    }


def _difference(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


def figures_of(runs: list[TalkRun]) -> dict[str, Any]:
    spurts: list[SpurtResult] = []
    first: list[float | None] = []  # lights up, the first spurt of each call
    later: list[float | None] = []
    per_spurt: list[dict[str, Any]] = []
    for call, run in enumerate(runs):
        for index, result in enumerate(spurt_results(run).spurts):
            spurts.append(result)
            (later if index else first).append(result.lit_after)
            per_spurt.append(
                {
                    "call": call,
                    "index": index,
                    "lit": _ms(result.lit_after),
                    "message_lit": _ms(result.message_lit_after),
                    "heard": _ms(result.heard_after),
                    "dark": _ms(result.dark_after),
                    "extra_lights": result.extra_lights,
                    "sender_late_ms": round(result.sender_late_ms, 1),
                }
            )
    late = sorted(x for run in runs for x in run.send.late_ms)
    offsets = [run.clock_offset_s * 1000 for run in runs]
    lights_up = _summary([s.lit_after for s in spurts])
    plan = runs[0].plan
    return {
        "plan": {
            "calls": len(runs),
            "spurts_per_call": plan.spurts,
            "settle_s": plan.settle_s,
            "talk_s": plan.talk_s,
            "pause_s": plan.pause_s,
            "noise_dbfs": plan.noise_dbfs,
            "tone_dbfs": plan.tone_dbfs,
            "tone_hz": plan.tone_hz,
        },
        "target_ms": TARGET_MS,
        "within_target": lights_up["missing"] == 0 and lights_up["p95_ms"] <= TARGET_MS,
        "lights_up": lights_up,
        "lights_up_first_spurt": _summary(first),
        "lights_up_later_spurts": _summary(later),
        "goes_dark": _summary([s.dark_after for s in spurts]),
        "heard": _summary([s.heard_after for s in spurts]),
        "heard_to_message": _summary(
            [_difference(s.message_lit_after, s.heard_after) for s in spurts]
        ),
        "message_lights_up": _summary([s.message_lit_after for s in spurts]),
        "message_goes_dark": _summary([s.message_dark_after for s in spurts]),
        "page_handling": _summary([_difference(s.lit_after, s.message_lit_after) for s in spurts]),
        "per_spurt_ms": per_spurt,
        "false_lights_before_first_spurt": sum(
            spurt_results(run).lit_before_first_spurt for run in runs
        ),
        "extra_lights_between_spurts": sum(s.extra_lights for s in spurts),
        "clock_offset_ms": [round(x, 2) for x in offsets],
        "clock_uncertainty_ms": round(max(run.clock_uncertainty_s for run in runs) * 1000, 2),
        "packets_sent": sum(run.send.packets for run in runs),
        "packets_received": sum(run.send.received for run in runs),
        "send_late_p50_ms": round(percentile(late, 0.50), 2),
        "send_late_p99_ms": round(percentile(late, 0.99), 2),
        "send_late_max_ms": round(late[-1], 2) if late else 0.0,
        "sipp_status": [run.sipp_status for run in runs],
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def measure(workdir: Path, calls: int = CALLS, spurts: int = SPURTS_PER_CALL) -> dict[str, Any]:
    """``calls`` calls one after another, each of ``spurts`` spurts, each starting its 20 ms
    grid at a random point of the bridge's (a call keeps its phase against the bridge's media
    clock for its whole length, so one call would sample only one)."""
    rng = random.Random()
    runs = []
    with running_service(workdir / "data") as service:
        demo = service.demo()
        with chromium() as browser:
            page = open_roster(browser, demo["web_url"])
            for call in range(calls):
                runs.append(
                    run_talk(
                        service,
                        demo,
                        page,
                        workdir / f"call-{call}",
                        Plan(spurts=spurts),
                        caller=f"+4477009007{10 + call:02d}",
                        phase_s=rng.uniform(0.0, PTIME),
                        listen=True,
                    )
                )
    return figures_of(runs)


def _row(name: str, s: dict[str, Any]) -> str:
    return (
        f"| {name} | {s['count']} | {s['missing']} | {s['p50_ms']:.0f} | {s['p95_ms']:.0f} | "
        f"{s['max_ms']:.0f} | {s['min_ms']:.0f} |"
    )


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def markdown(record: dict[str, Any]) -> str:
    f = record["figures"]
    m = record["machine"]
    plan = f["plan"]
    up = f["lights_up"]
    verdict = "within" if f["within_target"] else "NOT within"
    offsets = ", ".join(f"{x:+.2f}" for x in f["clock_offset_ms"])
    spurts = plan["calls"] * plan["spurts_per_call"]
    lines = [
        "# Speaking indicator latency",
        "",
        f"Run {record['when']} on {m['cpu']}, {m['cores']} cores, Python {m['python']}, "
        f"{m['system']}. The service, sipp, chromium and the benchmark's RTP sender share "
        f"these cores (load average after: {' '.join(str(x) for x in f['load_average'])}).",
        "",
        f"{plan['calls']} calls one after another to the demo conference of a running "
        "`callroster serve` (sipp, PIN in the request URI), each caller's RTP sent by the "
        f"benchmark from the port its SDP offered: {plan['settle_s']:.0f} s of noise at "
        f"{plan['noise_dbfs']:.0f} dBFS (the adaptive noise floor settles), then "
        f"{plan['spurts_per_call']} talk spurts of a {plan['tone_hz']:.0f} Hz tone at "
        f"{plan['tone_dbfs']:.0f} dBFS for {plan['talk_s']} s, each followed by "
        f"{plan['pause_s']} s of the noise; {spurts} spurts in all. Each call starts its "
        "20 ms grid at a random point of the bridge's media clock. The conference page "
        "(`/c/<link>`, guest view) in chromium stamps, with a MutationObserver, when the "
        "leg's list item gains and loses the `talking` class, and when the roster's "
        "WebSocket message arrives; the sender stamps the first tone packet of each spurt "
        "and the first noise packet after it. Same machine, same wall clock (page minus "
        f"Python, per call: {offsets} ms, +/- {f['clock_uncertainty_ms']:.2f} ms). A second "
        "caller only listens: the bridge mixes only legs it has found talking, so the tone "
        "reaches it from the media tick on which talk was detected.",
        "",
        f"**Lights up: p50 {up['p50_ms']:.0f} ms, p95 {up['p95_ms']:.0f} ms, max "
        f"{up['max_ms']:.0f} ms: {verdict} the {f['target_ms']:.0f} ms target.**",
        "",
        "| ms | spurts | missing | p50 | p95 | max | min |",
        "|---|---|---|---|---|---|---|",
        _row("**lights up** (send to `talking` class on the page)", up),
        _row("bridge: send to the listener hearing the tone (talk detected)", f["heard"]),
        _row(
            "roster: listener heard it to the WebSocket message at the page", f["heard_to_message"]
        ),
        _row("page: WebSocket message to `talking` class", f["page_handling"]),
        _row("send to WebSocket message at the page", f["message_lights_up"]),
        _row(f"**goes dark** (includes the {HANGOVER_MS:.0f} ms hang-over)", f["goes_dark"]),
        _row("goes dark: WebSocket message at the page", f["message_goes_dark"]),
        "",
        f"Percentiles are nearest rank over the spurts (with {spurts} spurts, p95 is the "
        f"{math.ceil(0.95 * spurts)}th of {spurts}). missing: it did not happen before the "
        "next spurt began. The bridge and roster rows are stamped by different threads and "
        "processes, so each is good to a few ms (the roster row can come out slightly "
        "negative).",
        "",
        "## Where the time goes",
        "",
        f"The bridge's detection takes p50 {f['heard']['p50_ms']:.0f} ms of the "
        f"{up['p50_ms']:.0f} ms; after it, the roster and the WebSocket add p50 "
        f"{f['heard_to_message']['p50_ms']:.1f} ms and the page "
        f"{f['page_handling']['p50_ms']:.1f} ms. The bridge's share is the jitter buffer's "
        "play-out delay (a new stream starts with 60 ms; the target falls by 10 ms a second "
        "to 20 ms on a clean line, and the buffer drops a frame to catch up only once it is a "
        "whole frame above the target), the wait for the next 20 ms media tick (0-20 ms, the "
        "same for a whole call) and the talk detector's 40 ms attack (two frames above the "
        "threshold: the spurt's second frame decides, one tick after the first). By position "
        f"in the call: first spurts p50 {f['lights_up_first_spurt']['p50_ms']:.0f} ms, max "
        f"{f['lights_up_first_spurt']['max_ms']:.0f} ms; later ones p50 "
        f"{f['lights_up_later_spurts']['p50_ms']:.0f} ms, max "
        f"{f['lights_up_later_spurts']['max_ms']:.0f} ms. Going dark is the 400 ms "
        "hang-over plus the same play-out delay.",
        "",
        f"False lights on the noise before the first spurt: "
        f"{f['false_lights_before_first_spurt']}; extra lights between spurts: "
        f"{f['extra_lights_between_spurts']}. RTP sent {f['packets_sent']:,} packets "
        f"(send lateness against the 20 ms grid p50 {f['send_late_p50_ms']:.2f} ms, p99 "
        f"{f['send_late_p99_ms']:.2f} ms, max {f['send_late_max_ms']:.2f} ms); the bridge "
        f"sent {f['packets_received']:,} back.",
        "",
        "Per spurt. sender late: the benchmark's own worst send lateness from 3 s before the "
        "spurt until 0.5 s into it. A stall of the sender (the machine is shared) sends a "
        "burst of packets, which the bridge's jitter buffer takes for network jitter: it "
        "raises its play-out delay at once and lowers it by 10 ms a second, so that spurt "
        "and the next few light later. A real phone on a jittery line gets the same.",
        "",
        "| call | spurt | lights up ms | WebSocket ms | heard ms | goes dark ms | sender late ms |",
        "|---|---|---|---|---|---|---|",
    ]
    counts: dict[int, int] = {}
    for spurt in f["per_spurt_ms"]:
        counts[spurt["call"]] = counts.get(spurt["call"], 0) + 1
        lines.append(
            f"| {spurt['call'] + 1} | {counts[spurt['call']]} | {_cell(spurt['lit'])} | "
            f"{_cell(spurt['message_lit'])} | {_cell(spurt['heard'])} | "
            f"{_cell(spurt['dark'])} | {spurt['sender_late_ms']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def run_and_report(results: Path) -> dict[str, Any]:
    """Run it, write speaking.json and speaking.md, print the headline."""
    results.mkdir(exist_ok=True)
    print("speaking indicator:", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-speaking-") as folder:
        figures = measure(Path(folder))
    record = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine.describe(),
        "figures": figures,
    }
    (results / "speaking.json").write_text(json.dumps(record, indent=2) + "\n")
    (results / "speaking.md").write_text(markdown(record))
    for key in ("lights_up", "message_lights_up", "goes_dark"):
        s = figures[key]
        print(
            f"  {key:20} p50 {s['p50_ms']:7.1f} ms  p95 {s['p95_ms']:7.1f} ms  "
            f"max {s['max_ms']:7.1f} ms  missing {s['missing']}"
        )
    print(f"  within {TARGET_MS:.0f} ms target: {figures['within_target']}")
    return figures


if __name__ == "__main__":
    run_and_report(Path(__file__).with_name("results"))
