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

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.flood import page_seconds, right_pin_joins, start_flood
from tests.support.service import RunningService, running_service

pytestmark = pytest.mark.interop


@pytest.fixture(params=["20", "100000"], ids=["per-address cap", "cap lifted"])
def service(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[RunningService]:
    settings = {"sip_calls_per_source": str(request.param)}
    with running_service(tmp_path / "data", settings=settings) as running:
        yield running


def test_a_flood_from_one_address_keeps_nobody_else_out(
    service: RunningService, tmp_path: Path
) -> None:
    demo = service.demo()
    flood = start_flood(service, demo, tmp_path / "flood", calls=800)
    try:
        time.sleep(3.0)  # (the flood's real time is the point: 300 calls by now)
        assert flood.poll() is None, "the flood ended early"
        slowest_page = max(page_seconds(service) for _ in range(5))
        joined = right_pin_joins(service, demo)
        slowest_page = max(slowest_page, page_seconds(service))
    finally:
        flood.terminate()
        flood.wait(timeout=20)
    assert joined is not None and joined < 3.0, joined
    assert slowest_page < 0.5, slowest_page
