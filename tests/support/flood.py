"""A flood of calls and a caller who must still get in, for the flood's security test and
its benchmark: sipp's ``flood`` scenario at a rate from one address to the access number,
the sign-in page's answer time, and how long a caller dialling the right PIN takes to be on
the roster (read through the API with the host's token)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.guesser import Caller
from tests.support.peers import sipp_command
from tests.support.service import RunningService
from tests.support.waiting import until_sync

FLOOD_SOURCE = "127.0.0.60"


def start_flood(
    service: RunningService, demo: dict[str, Any], workdir: Path, *, calls: int, rate: int = 100
) -> subprocess.Popen[bytes]:
    """sipp calling the access number ``rate`` times a second from :data:`FLOOD_SOURCE`,
    ``calls`` calls in all, each staying 10 s at the PIN prompt; stop it by its pid."""
    workdir.mkdir(parents=True, exist_ok=True)
    args = sipp_command(
        "flood",
        service.sip_port,
        demo["dial_in_number"],
        workdir,
        local_ip=FLOOD_SOURCE,
        duration_ms=10_000,
        timeout=60,
    )
    args[args.index("-m") + 1] = str(calls)
    args += ["-r", str(rate), "-l", str(min(calls, 10 * rate + 200))]
    return subprocess.Popen(
        args,
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def legs(service: RunningService, demo: dict[str, Any]) -> list[dict[str, Any]]:
    request = urllib.request.Request(
        f"{service.base_url}/api/v1/conferences/{demo['conference_id']}/legs",
        headers={"Authorization": f"Bearer {demo['host_token']}"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        found: list[dict[str, Any]] = json.load(response)["legs"]
    return found


def page_seconds(service: RunningService) -> float:
    """How long the sign-in page takes to arrive."""
    started = time.monotonic()
    with urllib.request.urlopen(f"{service.base_url}/login", timeout=10) as response:
        response.read()
    return time.monotonic() - started


def right_pin_joins(service: RunningService, demo: dict[str, Any]) -> float | None:
    """Dials the right PIN from 127.0.0.1 (in a thread) and returns how long until the
    roster shows the leg (None: not within 10 s)."""
    bridge = ("127.0.0.1", service.sip_port)

    def call() -> None:
        async def one() -> None:
            async with Caller(bridge, "127.0.0.1") as caller:
                await caller.call(demo["pin"], 6.0)

        asyncio.run(one())

    started = time.monotonic()
    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    shown = until_sync(lambda: legs(service, demo), 10, interval=0.05)
    took = time.monotonic() - started if shown else None
    thread.join(timeout=15)
    return took
