"""Fan-out of roster messages to the watchers of each conference (WebSocket clients).

Each message is encoded to JSON once (and once more without numbers, for guests of an
account that hides them), not once per watcher, and kept once per conference, not once per
watcher: a conference's channel holds the recent deliveries and each watcher only its
position in them. Publishing appends and wakes the watchers that are waiting; a watcher that
is still busy sending costs nothing per change.

A watcher that wakes takes everything published since its last turn as one batch (adaptive
coalescing). A watcher that keeps up gets each change alone, with no added delay; one that
falls behind catches up in fewer, larger WebSocket messages, so the cost of sending falls
just when the server is busiest. One that falls ``BEHIND_LIMIT`` changes behind is cut off
and resumes from its last sequence number when it reconnects.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Sequence

from callroster.roster.roster import Message, without_numbers

BEHIND_LIMIT = 1000  # changes a watcher may have not taken yet before it is cut off
BATCH_LIMIT = 200  # changes in one batch (one WebSocket message) at most


def encode(message: Message | list[Message]) -> str:
    return json.dumps(message, separators=(",", ":"))


class Delivery:
    """One roster message on its way to many watchers, with its JSON text made once."""

    __slots__ = ("_alone", "_texts", "message", "seq")

    def __init__(self, message: Message) -> None:
        self.message = message
        self.seq: int = message["seq"]
        self._texts: dict[bool, str] = {}
        self._alone: dict[bool, str] = {}

    def text(self, hide_numbers: bool) -> str:
        """The message as JSON; without numbers when ``hide_numbers``."""
        cached = self._texts.get(hide_numbers)
        if cached is None:
            shown = without_numbers(self.message) if hide_numbers else self.message
            cached = self._texts[hide_numbers] = encode(shown)
        return cached

    def alone(self, hide_numbers: bool) -> str:
        """The message as a batch of one (a JSON array), made once for every watcher."""
        cached = self._alone.get(hide_numbers)
        if cached is None:
            cached = self._alone[hide_numbers] = f"[{self.text(hide_numbers)}]"
        return cached


def batch_text(deliveries: Sequence[Delivery], hide_numbers: bool) -> str:
    """Deliveries as one JSON array, in order, joined from the texts each encoded once."""
    if len(deliveries) == 1:
        return deliveries[0].alone(hide_numbers)
    return "[" + ",".join(delivery.text(hide_numbers) for delivery in deliveries) + "]"


class _Channel:
    """The watchers of one conference and the deliveries some of them have not taken yet."""

    __slots__ = ("log", "published", "waiting", "watchers")

    def __init__(self) -> None:
        self.log: deque[Delivery] = deque(maxlen=BEHIND_LIMIT)
        self.published = 0  # deliveries ever published here; the last is log[-1]
        self.watchers: set[Watcher] = set()
        # The watchers that have taken everything and wait for the next change.
        self.waiting: dict[Watcher, asyncio.Future[None]] = {}

    def publish(self, delivery: Delivery) -> None:
        if len(self.waiting) == len(self.watchers):
            self.log.clear()  # every watcher has taken every earlier delivery
        self.log.append(delivery)
        self.published += 1
        waiting, self.waiting = self.waiting, {}
        for waiter in waiting.values():
            if not waiter.done():
                waiter.set_result(None)


class Watcher:
    """One client's place in its conference's feed."""

    def __init__(self, channel: _Channel) -> None:
        self._channel = channel
        self._next = channel.published  # the index of the first delivery not yet taken
        self.closed = False
        self.overflowed = False

    async def changes(self) -> list[Delivery] | None:
        """Wait for changes, then take every one published since the last call (up to
        ``BATCH_LIMIT``), oldest first.

        Returns:
            At least one delivery, or None once the watcher is closed or has fallen more
            than ``BEHIND_LIMIT`` changes behind (then ``overflowed`` is set).
        """
        channel = self._channel
        while not self.closed:
            behind = channel.published - self._next
            if behind > BEHIND_LIMIT:
                self.overflowed = True
                return None
            if behind:
                log = channel.log
                start = len(log) - behind
                taken = min(behind, BATCH_LIMIT)
                self._next += taken
                return [log[i] for i in range(start, start + taken)]
            waiter = asyncio.get_running_loop().create_future()
            channel.waiting[self] = waiter
            try:
                await waiter
            finally:
                if channel.waiting.get(self) is waiter:
                    del channel.waiting[self]
        return None

    def close(self) -> None:
        """The client went away: end the watcher's loop now, not at the next change."""
        self.closed = True
        waiter = self._channel.waiting.pop(self, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class RosterFeed:
    def __init__(self) -> None:
        self._channels: dict[str, _Channel] = {}

    def watch(self, conference_id: str) -> Watcher:
        """A new watcher of the conference: it gets every change published from now on."""
        channel = self._channels.get(conference_id)
        if channel is None:
            channel = self._channels[conference_id] = _Channel()
        watcher = Watcher(channel)
        channel.watchers.add(watcher)
        return watcher

    def unwatch(self, conference_id: str, watcher: Watcher) -> None:
        channel = self._channels.get(conference_id)
        if channel is not None:
            channel.watchers.discard(watcher)
            channel.waiting.pop(watcher, None)
            if not channel.watchers:
                del self._channels[conference_id]

    def publish(self, conference_id: str, message: Message) -> None:
        channel = self._channels.get(conference_id)
        if channel is not None:
            channel.publish(Delivery(message))

    def watching(self, conference_id: str) -> int:
        channel = self._channels.get(conference_id)
        return len(channel.watchers) if channel is not None else 0

    def watchers(self) -> int:
        """Watchers of every conference, for the metrics."""
        return sum(len(channel.watchers) for channel in self._channels.values())
