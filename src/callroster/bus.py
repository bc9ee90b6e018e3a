"""The event bus: conference events fan out to subscribers (the store writer now, Live Call
Status next). In-process and synchronous; a subscriber that raises is logged and skipped, so
one bad consumer never stops the bridge."""

from __future__ import annotations

import logging
from collections.abc import Callable

from callroster.conference.events import Event

log = logging.getLogger(__name__)
Subscriber = Callable[[Event], None]


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    def publish(self, event: Event) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber(event)
            except Exception:  # noqa: BLE001 - isolate consumers from the bridge
                log.exception("event subscriber failed on %s", type(event).__name__)
