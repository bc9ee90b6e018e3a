"""PIN guessing by phone, replayed over real UDP against the running bridge (the store, the
demo conference, real SIP): guesses dialled directly from 127.0.0.77 are all answered 200
(no oracle), checked ever more slowly, then the source is refused 403, with an entry in the
audit log; meanwhile a caller from 127.0.0.1 with the right PIN joins within 3 s.

The guard's policy is compressed here (tenths of seconds where the service waits seconds) so
the whole sequence fits in a test; its figures at the real pace are in the pure tests
(tests/bridge/test_pin_guard.py) and the benchmark (bench/pin_guessing.py)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from tests.support.bridge import running_bridge
from tests.support.guesser import Caller, guess
from tests.support.waiting import wait_until

from callroster.bridge.pin_guard import GuardPolicy
from callroster.conference.events import LegJoined

pytestmark = pytest.mark.interop

FAST = GuardPolicy(
    spacing=0.1, backoff=0.2, backoff_max=1.0, block_after=10, block_for=60.0, alarm_failures=1000
)


async def test_a_guesser_learns_nothing_from_the_answer_and_is_blocked(tmp_path: Path) -> None:
    async with running_bridge(tmp_path / "data") as harness:
        guard = harness.bridge.pin_guard
        guard.policy = FAST
        bridge = ("127.0.0.1", harness.sip_port)
        stats = await guess(bridge, "127.0.0.77", 10.0, parallel=4, listen=3.0)
        # Every guess answered 200 until the block, then 403: never a 404.
        assert stats.answered >= 10 and stats.refused >= 3 and stats.other == {}
        assert guard.checks == FAST.block_after and guard.failures == FAST.block_after
        async with Caller(bridge, "127.0.0.77") as blocked:
            assert await blocked.call(harness.demo.pin, 0.1) == 403  # the right PIN too
        # Someone with the right PIN, from elsewhere, is not held up.
        joined = sum(isinstance(e, LegJoined) for e in harness.events)
        async with Caller(bridge, "127.0.0.1") as someone:
            started = time.monotonic()
            call = asyncio.create_task(someone.call(harness.demo.pin, 3.0))
            await wait_until(
                lambda: sum(isinstance(e, LegJoined) for e in harness.events) > joined,
                3,
                "the caller with the right PIN to join",
            )
            took = time.monotonic() - started
            assert await call == 200
        assert took < 3.0
        await wait_until(
            lambda: any(e.action == "pin_guard.blocked" for e in harness.store.audit.entries()),
            5,
            "the audit entry",
        )
        [entry] = [e for e in harness.store.audit.entries() if e.action == "pin_guard.blocked"]
        assert entry.subject == "network:127.0.0.0/24"
