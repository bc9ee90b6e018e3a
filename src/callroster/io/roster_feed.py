"""Fan-out of roster messages to the watchers of each conference (WebSocket clients).

Each message is encoded to JSON once (and once more without numbers, for guests of an
account that hides them), not once per watcher. Each watcher has a bounded queue; one that
falls too far behind is cut off rather than allowed to hold memory, and resumes from its last
sequence number when it reconnects.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict

from callroster.roster.roster import Message, without_numbers

QUEUE_LIMIT = 1000


def encode(message: Message) -> str:
    return json.dumps(message, separators=(",", ":"))


class Delivery:
    """One roster message on its way to many watchers, with its JSON text made once."""

    __slots__ = ("_texts", "message", "seq")

    def __init__(self, message: Message) -> None:
        self.message = message
        self.seq: int = message["seq"]
        self._texts: dict[bool, str] = {}

    def text(self, hide_numbers: bool) -> str:
        cached = self._texts.get(hide_numbers)
        if cached is None:
            shown = without_numbers(self.message) if hide_numbers else self.message
            cached = self._texts[hide_numbers] = encode(shown)
        return cached


class Watcher:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[Delivery | None] = asyncio.Queue(QUEUE_LIMIT)
        self.overflowed = False

    def offer(self, delivery: Delivery) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(delivery)
        except asyncio.QueueFull:
            self.overflowed = True
            # Drop what it has not read; the consumer sees the end and reconnects.
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(None)

    def close(self) -> None:
        """The client went away: end the watcher's loop now, not at the next change."""
        try:
            self.queue.put_nowait(None)
        except asyncio.QueueFull:
            self.overflowed = True


class RosterFeed:
    def __init__(self) -> None:
        self._watchers: defaultdict[str, set[Watcher]] = defaultdict(set)

    def watch(self, conference_id: str) -> Watcher:
        watcher = Watcher()
        self._watchers[conference_id].add(watcher)
        return watcher

    def unwatch(self, conference_id: str, watcher: Watcher) -> None:
        watchers = self._watchers.get(conference_id)
        if watchers is not None:
            watchers.discard(watcher)
            if not watchers:
                del self._watchers[conference_id]

    def publish(self, conference_id: str, message: Message) -> None:
        watchers = self._watchers.get(conference_id)
        if not watchers:
            return
        delivery = Delivery(message)
        for watcher in list(watchers):
            watcher.offer(delivery)

    def watching(self, conference_id: str) -> int:
        return len(self._watchers.get(conference_id, ()))
