"""The call figures of the metrics (callroster/metrics.py) follow a real call over UDP: while a
caller is on the demo conference there is one call, one leg, in a conference of size 1, with
RTP flowing; once it has hung up the gauges are back at 0 and the RTP it was sent still
counts (the counters are the process's, not the call's)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from tests.support.bridge import running_bridge
from tests.support.guesser import Caller
from tests.support.waiting import wait_until

from callroster.metrics import Metrics

pytestmark = pytest.mark.interop


def sample(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match is not None, f"{name} is not in:\n{text}"
    return float(match.group(1))


async def test_a_call_shows_in_the_gauges_and_its_packets_stay_counted(tmp_path: Path) -> None:
    async with running_bridge(tmp_path / "data") as harness:
        metrics = Metrics()
        metrics.watch(harness.bridge, harness.feed, harness.services.call_log)

        def scrape() -> str:
            return metrics.exposition().decode()

        async with Caller(("127.0.0.1", harness.sip_port), "127.0.0.1") as caller:
            call = asyncio.create_task(caller.call(harness.demo.pin, 2.0))
            await wait_until(
                lambda: sample(scrape(), "callroster_legs") == 1, 5, "the caller on the call"
            )
            during = scrape()
            assert sample(during, "callroster_calls") == 1
            assert sample(during, "callroster_conferences") == 1
            assert sample(during, 'callroster_legs_by_conference_size{size="1"}') == 1
            assert sample(during, 'callroster_legs_by_conference_size{size="2"}') == 0
            assert await call == 200

        await wait_until(lambda: sample(scrape(), "callroster_calls") == 0, 5, "the call gone")
        after = scrape()
        assert sample(after, "callroster_legs") == 0
        # Most of 2 s of the bridge's audio (50 packets a second) to the caller, counted
        # after the call has gone.
        assert sample(after, "callroster_rtp_packets_sent_total") >= 50
        assert sample(after, "callroster_pin_checks_total") == 1
        ticks = sample(after, 'callroster_media_tick_lateness_seconds_bucket{le="+Inf"}')
        assert ticks >= 100  # at least the 2 s the call lasted
