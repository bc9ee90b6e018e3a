"""PIN guessing by phone: how many answers a guesser learns a minute, from one source address
and from fifty (``127.0.0.x``), against the bridge with its real guard (bridge/pin_guard.py);
target: at most 10 a minute per address and 60 a minute system-wide. Also how long a caller
from another address with the right PIN waits to join while fifty addresses guess.

The bridge runs in this process on real UDP (tests/support/bridge.py: the store, the demo
conference); the guesser (tests/support/guesser.py) dials random PINs directly, stays on each
call until it could have heard whether it joined, and hangs up. An answer learnt is a PIN
check the bridge made for it (right or wrong, the caller hears which).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.support.bridge import running_bridge
from tests.support.guesser import Caller, GuessStats, guess

from bench import machine
from callroster.conference.events import LegJoined

MINUTE = 60.0


async def _scenario(folder: Path, sources: list[str], parallel: int) -> dict[str, Any]:
    async with running_bridge(folder) as harness:
        guard = harness.bridge.pin_guard
        bridge = ("127.0.0.1", harness.sip_port)
        stats = GuessStats()
        attack = asyncio.gather(
            *(
                guess(bridge, source, MINUTE, parallel=parallel, listen=35.0, stats=stats)
                for source in sources
            )
        )
        await asyncio.sleep(MINUTE / 2)
        wait = await _right_pin_wait(harness, bridge)
        await attack
        per_source = [guard.checks_from(s) for s in sources]
        return {
            "sources": len(sources),
            "calls_per_source": parallel,
            "answers_per_minute": sum(per_source),  # the guessers' (not the caller's)
            "max_answers_per_address": max(per_source),
            "answered_200": stats.answered,
            "refused_403": stats.refused,
            "other": stats.other,
            "blocked_calls": guard.blocked_calls,
            "alarm": guard.alarmed(asyncio.get_running_loop().time()),
            "right_pin_join_s": wait,
        }


async def _right_pin_wait(harness: Any, bridge: tuple[str, int]) -> float | None:
    """Seconds until a caller from 127.0.0.1 with the right PIN joins (None: not in 60 s)."""
    before = sum(isinstance(e, LegJoined) for e in harness.events)
    async with Caller(bridge, "127.0.0.1") as caller:
        started = time.monotonic()
        call = asyncio.create_task(caller.call(harness.demo.pin, 60.0))
        while time.monotonic() - started < 60:
            if sum(isinstance(e, LegJoined) for e in harness.events) > before:
                took = time.monotonic() - started
                call.cancel()
                return round(took, 2)
            await asyncio.sleep(0.05)
        call.cancel()
        return None


async def measure(folder: Path) -> dict[str, Any]:
    one = await _scenario(folder / "one", ["127.0.0.77"], parallel=5)
    fifty = await _scenario(folder / "fifty", [f"127.0.0.{n}" for n in range(100, 150)], 2)
    return {"one_source": one, "fifty_sources": fifty}


def markdown(record: dict[str, Any]) -> str:
    rows = []
    for name, key in (("1 address", "one_source"), ("50 addresses", "fifty_sources")):
        f = record["figures"][key]
        rows.append(
            f"| {name} | {f['answers_per_minute']} | {f['max_answers_per_address']} | "
            f"{f['answered_200']} | {f['refused_403']} | {f['right_pin_join_s']} |"
        )
    return "\n".join(
        [
            "# PIN guessing by phone",
            "",
            f"Run {record['when']} on {record['machine']['cpu']}, "
            f"{record['machine']['cores']} cores. A one-minute attack "
            "per row, against the bridge with its real guard; targets: at most 10 answers a "
            "minute per address, 60 system-wide.",
            "",
            "| guessers | answers learnt in the minute | most from one address | "
            "INVITEs answered 200 | refused 403 (blocked) | right PIN from elsewhere joins, s |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
            "An answer learnt is a PIN check the bridge made for the guesser; every guess is "
            "answered 200 (or 403 once its source is blocked), so the answer to the INVITE "
            "itself tells nothing.",
            "",
        ]
    )


def run_and_report(results: Path) -> dict[str, Any]:
    results.mkdir(exist_ok=True)
    print("PIN guessing:", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-pins-") as folder:
        figures = asyncio.run(measure(Path(folder)))
    record = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine.describe(),
        "figures": figures,
    }
    (results / "pin_guessing.json").write_text(json.dumps(record, indent=2) + "\n")
    (results / "pin_guessing.md").write_text(markdown(record))
    for key, value in figures.items():
        print(f"  {key}: {value}")
    return figures


if __name__ == "__main__":
    run_and_report(Path(__file__).with_name("results"))
