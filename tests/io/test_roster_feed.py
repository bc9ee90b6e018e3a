"""The roster fan-out: every watcher gets every change once, in order; a watcher that keeps
up gets each change alone, one that fell behind gets what it missed in one batch; guests of
an account that hides numbers never get a number."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

from callroster.conference.events import LegDetails, LegJoined, TalkingStarted, TalkingStopped
from callroster.io.roster_feed import (
    BATCH_LIMIT,
    BEHIND_LIMIT,
    Delivery,
    RosterFeed,
    Watcher,
    batch_text,
)
from callroster.roster.roster import ConferenceRoster, Message

AT = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)
NUMBER = "+447700900123"


class Call:
    """A conference with one caller whose talk state changes, published on a feed."""

    def __init__(self, feed: RosterFeed) -> None:
        self.feed = feed
        self.roster = ConferenceRoster("c1")
        self.talking = False
        self.publish(LegJoined("c1", "a", LegDetails("guest", "dial_in", NUMBER, False)))

    def publish(self, event: Any) -> Message:
        message = self.roster.apply(event, AT)
        assert message is not None
        self.feed.publish("c1", message)
        return message

    def change(self, count: int = 1) -> list[int]:
        """Talk-state changes; returns their sequence numbers."""
        seqs = []
        for _ in range(count):
            self.talking = not self.talking
            event = TalkingStarted if self.talking else TalkingStopped
            seqs.append(self.publish(event("c1", "a"))["seq"])
        return seqs


async def _next(watcher: Watcher) -> list[int] | None:
    """The sequence numbers of the watcher's next batch, as its client would get them."""
    batch = await asyncio.wait_for(watcher.changes(), 1)
    if batch is None:
        return None
    return [message["seq"] for message in json.loads(batch_text(batch, False))]


async def test_a_watcher_that_keeps_up_gets_each_change_alone() -> None:
    feed = RosterFeed()
    call = Call(feed)
    watcher = feed.watch("c1")
    for _ in range(3):
        waiting = asyncio.ensure_future(_next(watcher))
        await asyncio.sleep(0)  # it waits for the next change
        seqs = call.change()
        assert await waiting == seqs


async def test_a_slow_watcher_gets_what_it_missed_in_one_batch_in_order() -> None:
    feed = RosterFeed()
    call = Call(feed)
    fast, slow = feed.watch("c1"), feed.watch("c1")
    first = call.change()
    assert await _next(fast) == first
    # The slow watcher is still busy sending while five more changes happen.
    later = call.change(5)
    assert await _next(slow) == first + later  # one batch: nothing lost, nothing twice
    assert await _next(fast) == later
    again = call.change()
    assert await _next(slow) == again and await _next(fast) == again


async def test_a_long_backlog_comes_in_batches_of_at_most_the_limit() -> None:
    feed = RosterFeed()
    call = Call(feed)
    watcher = feed.watch("c1")
    seqs = call.change(BATCH_LIMIT * 2 + 7)
    got: list[int] = []
    sizes = []
    while len(got) < len(seqs):
        batch = await _next(watcher)
        assert batch is not None
        got += batch
        sizes.append(len(batch))
    assert got == seqs
    assert sizes == [BATCH_LIMIT, BATCH_LIMIT, 7]


async def test_a_watcher_gets_only_changes_after_it_started_watching() -> None:
    feed = RosterFeed()
    call = Call(feed)
    call.change(3)
    late = feed.watch("c1")
    seqs = call.change(2)
    assert await _next(late) == seqs


async def test_a_watcher_too_far_behind_is_cut_off_and_others_are_not() -> None:
    feed = RosterFeed()
    call = Call(feed)
    behind, keeping_up = feed.watch("c1"), feed.watch("c1")
    got: list[int] = []
    for _ in range(BEHIND_LIMIT + 1):
        seqs = call.change()
        batch = await _next(keeping_up)
        assert batch is not None
        got += batch
        assert batch == seqs
    assert await _next(behind) is None and behind.overflowed
    assert not keeping_up.overflowed and len(got) == BEHIND_LIMIT + 1
    # Exactly at the limit it is still served everything.
    at_limit = feed.watch("c1")
    seqs = call.change(BEHIND_LIMIT)
    collected: list[int] = []
    while len(collected) < len(seqs):
        batch = await _next(at_limit)
        assert batch is not None
        collected += batch
    assert collected == seqs and not at_limit.overflowed


async def test_close_ends_a_waiting_watcher_at_once() -> None:
    feed = RosterFeed()
    Call(feed)
    watcher = feed.watch("c1")
    waiting = asyncio.ensure_future(watcher.changes())
    await asyncio.sleep(0)
    watcher.close()
    assert await asyncio.wait_for(waiting, 1) is None and not watcher.overflowed


async def test_watchers_come_and_go() -> None:
    feed = RosterFeed()
    call = Call(feed)
    a, b = feed.watch("c1"), feed.watch("c1")
    assert feed.watching("c1") == 2 and feed.watching("other") == 0
    feed.unwatch("c1", a)
    seqs = call.change(2)
    assert await _next(b) == seqs
    feed.unwatch("c1", b)
    assert feed.watching("c1") == 0
    call.change()  # nobody watching: nothing is kept for anyone
    c = feed.watch("c1")
    later = call.change()
    assert await _next(c) == later


async def test_a_waiting_watcher_cancelled_does_not_hold_back_the_others() -> None:
    feed = RosterFeed()
    call = Call(feed)
    gone, staying = feed.watch("c1"), feed.watch("c1")
    waiting = asyncio.ensure_future(gone.changes())
    await asyncio.sleep(0)
    waiting.cancel()
    feed.unwatch("c1", gone)
    seqs = call.change(3)
    assert await _next(staying) == seqs


def test_a_batch_is_one_json_array_encoded_once_and_hides_numbers_from_guests() -> None:
    roster = ConferenceRoster("c1")
    messages = [
        roster.apply(LegJoined("c1", "a", LegDetails("guest", "dial_in", NUMBER, False)), AT),
        roster.apply(TalkingStarted("c1", "a"), AT),
    ]
    deliveries = [Delivery(m) for m in messages if m is not None]
    shown = json.loads(batch_text(deliveries, False))
    assert shown == messages and shown[1]["leg"]["number"] == NUMBER
    hidden = json.loads(batch_text(deliveries, True))
    assert [m["seq"] for m in hidden] == [1, 2]
    assert [m["leg"]["number"] for m in hidden] == [None, None]
    assert NUMBER not in batch_text(deliveries, True)
    assert NUMBER not in batch_text(deliveries[1:], True)
    assert json.loads(batch_text(deliveries[1:], False)) == messages[1:]
    # One text per message, shared by every watcher's batch.
    assert deliveries[1].alone(False) is batch_text(deliveries[1:], False)
