"""A flood of calls to the access number: sipp at 100 calls a second from one address, each
call staying 10 s at the PIN prompt, against a real ``callroster serve``; how long a caller
from another address dialling the right PIN takes to be on the roster, and how slow the
sign-in page gets meanwhile. Run with the per-address cap (``sip_calls_per_source``, 20) and
with it lifted (as a flood from many addresses would get past it). The finding it answers
(issue 12, 7): 1,416 calls, the web 10 ms -> 2.3 s, and no answer for the caller in 8 s.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.support.flood import page_seconds, right_pin_joins, start_flood
from tests.support.service import running_service

from bench import machine

RATE = 100


def _one(folder: Path, per_source: str) -> dict[str, Any]:
    settings = {"sip_calls_per_source": per_source}
    with running_service(folder / "data", settings=settings) as service:
        demo = service.demo()
        quiet = [page_seconds(service) for _ in range(5)]
        flood = start_flood(service, demo, folder / "flood", calls=1500, rate=RATE)
        try:
            time.sleep(5.0)  # the flood builds up (500 calls by now)
            pages = [page_seconds(service) for _ in range(10)]
            joined = right_pin_joins(service, demo)
        finally:
            flood.terminate()
            flood.wait(timeout=30)
    return {
        "sip_calls_per_source": per_source,
        "right_pin_on_roster_s": None if joined is None else round(joined, 3),
        "sign_in_page_quiet_max_ms": round(max(quiet) * 1000, 1),
        "sign_in_page_flood_max_ms": round(max(pages) * 1000, 1),
    }


def measure() -> dict[str, Any]:
    rows = []
    for per_source in ("20", "100000"):
        with tempfile.TemporaryDirectory(prefix="bench-flood-") as folder:
            rows.append(_one(Path(folder), per_source))
    return {"rate_per_s": RATE, "runs": rows}


def markdown(record: dict[str, Any]) -> str:
    lines = [
        "# A flood of calls",
        "",
        f"Run {record['when']} on {record['machine']['cpu']}, {record['machine']['cores']} "
        f"cores. sipp at {record['figures']['rate_per_s']} calls a second from 127.0.0.60 to "
        "the access number, each call staying 10 s at the PIN prompt; 5 s in, a caller from "
        "127.0.0.1 dials the right PIN directly. Target: on the roster within 3 s.",
        "",
        "| per-address cap | right PIN on the roster, s | sign-in page quiet, max ms | "
        "during the flood, max ms |",
        "|---|---|---|---|",
    ]
    for row in record["figures"]["runs"]:
        cap = "20" if row["sip_calls_per_source"] == "20" else "lifted"
        lines.append(
            f"| {cap} | {row['right_pin_on_roster_s']} | {row['sign_in_page_quiet_max_ms']} | "
            f"{row['sign_in_page_flood_max_ms']} |"
        )
    return "\n".join([*lines, ""])


def run_and_report(results: Path) -> dict[str, Any]:
    results.mkdir(exist_ok=True)
    print("call flood:", flush=True)
    figures = measure()
    record = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine.describe(),
        "figures": figures,
    }
    (results / "call_flood.json").write_text(json.dumps(record, indent=2) + "\n")
    (results / "call_flood.md").write_text(markdown(record))
    for row in figures["runs"]:
        print(f"  {row}")
    return figures


if __name__ == "__main__":
    run_and_report(Path(__file__).with_name("results"))
