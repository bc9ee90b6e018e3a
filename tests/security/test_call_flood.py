"""Issue 12, finding 7: a flood of calls. 100 calls a second to the access number from one
address reached 1,416 calls, each with its media socket and its PIN prompt; the web slowed
from 10 ms to 2.3 s and a caller with the right PIN got no answer within 8 s.

Replayed against a real ``callroster serve`` with sipp: 100 calls a second from 127.0.0.60,
each staying at the PIN prompt for 10 s. The service answers 20 of them (its
``sip_calls_per_source``) and refuses the rest 503 at once; meanwhile a caller from 127.0.0.1
dialling the right PIN is on the roster within 3 s, and the sign-in page answers within
half a second. Run again with the per-address cap lifted, as a flood from many addresses
would get past it: the PIN prompt's share fills, each new call takes the place of the one
longest there, and the caller with the right PIN still joins within 3 s."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.guesser import Caller
from tests.support.peers import sipp_command
from tests.support.service import RunningService, running_service
from tests.support.waiting import until_sync

pytestmark = pytest.mark.interop


@pytest.fixture(params=["20", "100000"], ids=["per-address cap", "cap lifted"])
def service(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[RunningService]:
    settings = {"sip_calls_per_source": str(request.param)}
    with running_service(tmp_path / "data", settings=settings) as running:
        yield running


def _legs(service: RunningService, demo: dict[str, Any]) -> list[dict[str, Any]]:
    request = urllib.request.Request(
        f"{service.base_url}/api/v1/conferences/{demo['conference_id']}/legs",
        headers={"Authorization": f"Bearer {demo['host_token']}"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        legs: list[dict[str, Any]] = json.load(response)["legs"]
    return legs


def _page_seconds(service: RunningService) -> float:
    started = time.monotonic()
    with urllib.request.urlopen(f"{service.base_url}/login", timeout=10) as response:
        response.read()
    return time.monotonic() - started


def test_a_flood_from_one_address_keeps_nobody_else_out(
    service: RunningService, tmp_path: Path
) -> None:
    demo = service.demo()
    workdir = tmp_path / "flood"
    workdir.mkdir()
    args = sipp_command(
        "flood",
        service.sip_port,
        demo["dial_in_number"],
        workdir,
        local_ip="127.0.0.60",
        duration_ms=10_000,
        timeout=60,
    )
    args[args.index("-m") + 1] = "800"  # calls in all
    args += ["-r", "100", "-l", "600", "-trace_stat", "-stf", str(workdir / "stat.csv")]
    flood = subprocess.Popen(
        args,
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        time.sleep(3.0)  # (the flood's real time is the point: 300 calls by now)
        assert flood.poll() is None, "the flood ended early"
        slowest_page = max(_page_seconds(service) for _ in range(5))
        joined = _right_pin_joins(service, demo, time.monotonic())
        slowest_page = max(slowest_page, _page_seconds(service))
    finally:
        flood.terminate()
        flood.wait(timeout=20)
    assert joined is not None and joined < 3.0, joined
    assert slowest_page < 0.5, slowest_page


def _right_pin_joins(service: RunningService, demo: dict[str, Any], started: float) -> float | None:
    """Dials the right PIN from 127.0.0.1 (in a thread) and returns how long until the
    roster shows the leg (None: not within 10 s)."""
    bridge = ("127.0.0.1", service.sip_port)

    def call() -> None:
        async def one() -> None:
            async with Caller(bridge, "127.0.0.1") as caller:
                await caller.call(demo["pin"], 6.0)

        asyncio.run(one())

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    shown = until_sync(lambda: _legs(service, demo), 10, interval=0.05)
    took = time.monotonic() - started if shown else None
    thread.join(timeout=15)
    return took
