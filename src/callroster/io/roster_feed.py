"""Fan-out of roster messages to the watchers of each conference (WebSocket clients).

Each watcher has a bounded queue. One that falls too far behind is cut off rather than
allowed to hold memory; it reconnects and resumes from its last sequence number.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

from callroster.roster.roster import Message

QUEUE_LIMIT = 1000


class Watcher:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[Message | None] = asyncio.Queue(QUEUE_LIMIT)
        self.overflowed = False

    def offer(self, message: Message) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.overflowed = True
            # Room was made by nobody; the consumer sees the end after what it has.
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(None)


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
        for watcher in list(self._watchers.get(conference_id, ())):
            watcher.offer(message)

    def watching(self, conference_id: str) -> int:
        return len(self._watchers.get(conference_id, ()))
