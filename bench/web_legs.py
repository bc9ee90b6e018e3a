"""Browsers on the call: what each WebRTC leg costs the service.

A real ``callroster serve`` runs as its own process. This process joins N browser legs to
its demo conference through the API, each a real aiortc peer sending a speech-like tone and
recording what it hears. Over a measured window it reads the service's CPU time from
/proc and counts the audio each leg received (20 ms frames expected against frames heard),
so a service that cannot keep up shows as missing audio, not only as CPU.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import httpx
from tests.support.service import running_service
from tests.support.web_client import RATE, WebClient

from bench import machine

LADDER = [int(n) for n in os.environ.get("BENCH_WEB_LADDER", "0,5,10,20").split(",")]
WINDOW_S = float(os.environ.get("BENCH_WEB_WINDOW_S", "15"))
TICKS = os.sysconf("SC_CLK_TCK")
# Every leg joins from this one address, within a minute: the caps on joins per address
# (bridge/web_pending.py, api/web_join.py) are lifted, as this measures cost, not them.
UNCAPPED = {
    "web_join_pending_per_address": "1000",
    "web_join_pending_per_conference": "1000",
    "web_joins_per_address_per_minute": "1000",
}


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


async def _rung(base_url: str, demo: dict[str, Any], pid: int, legs: int) -> dict[str, Any]:
    link = demo["web_url"].rsplit("/", 1)[1]
    clients: list[WebClient] = []
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        try:
            for i in range(legs):
                client = WebClient(400.0 + 50 * i)
                clients.append(client)
                response = await http.post(
                    f"/api/v1/conferences/{demo['conference_id']}/web-legs",
                    json={"name": f"Bench Browser {i + 1}", "sdp": await client.offer()},
                    headers={"Authorization": f"Bearer {link}"},
                )
                response.raise_for_status()
                await client.accept(response.json()["sdp"])
            await asyncio.sleep(3)  # connected, joining prompts played
            heard_before = [len(c.heard()) for c in clients]
            cpu_before = _cpu_seconds(pid)
            await asyncio.sleep(WINDOW_S)
            cpu = _cpu_seconds(pid) - cpu_before
            heard = [len(c.heard()) - b for c, b in zip(clients, heard_before, strict=True)]
        finally:
            for client in clients:
                await client.close()
    expected = WINDOW_S * RATE
    received = [h / expected for h in heard]
    return {
        "browser_legs": legs,
        "service_cpu_percent": round(100 * cpu / WINDOW_S, 1),
        "audio_received_min_percent": round(100 * min(received), 1) if received else None,
        "audio_received_mean_percent": (
            round(100 * sum(received) / len(received), 1) if received else None
        ),
    }


async def measure() -> list[dict[str, Any]]:
    rows = []
    with (
        tempfile.TemporaryDirectory() as work,
        running_service(Path(work) / "data", settings=UNCAPPED) as service,
    ):
        demo = service.demo()
        for legs in LADDER:
            row = await _rung(service.base_url, demo, service.process.pid, legs)
            print(
                f"  {row['browser_legs']:>3} browser legs: service CPU "
                f"{row['service_cpu_percent']:>5} %, audio received "
                f"{row['audio_received_mean_percent']} % (min {row['audio_received_min_percent']})"
            )
            rows.append(row)
            await asyncio.sleep(3)  # everyone has left before the next rung
    return rows


def markdown(record: dict[str, Any]) -> str:
    lines = [
        "# Browser legs (WebRTC, PCMU) on one service process",
        "",
        f"Measured {record['when']} on {record['machine'].get('cpu', 'this machine')}. "
        f"Each rung: N aiortc peers join the demo conference through the API, then "
        f"{WINDOW_S:.0f} s are measured. The peers run in the benchmark's own process, on the "
        "same two cores as the service.",
        "",
        "| browser legs | service CPU | audio received (mean) | audio received (worst leg) |",
        "|---|---|---|---|",
    ]
    for row in record["figures"]:
        mean, worst = row["audio_received_mean_percent"], row["audio_received_min_percent"]
        lines.append(
            f"| {row['browser_legs']} | {row['service_cpu_percent']} % | "
            f"{'-' if mean is None else f'{mean} %'} | {'-' if worst is None else f'{worst} %'} |"
        )
    return "\n".join(lines) + "\n"


def run_and_report(results: Path) -> dict[str, Any]:
    print("browser legs:")
    record = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine.describe(),
        "figures": asyncio.run(measure()),
    }
    (results / "web.json").write_text(json.dumps(record, indent=2) + "\n")
    (results / "web.md").write_text(markdown(record))
    return record
