"""The event bus: conference events fan out to subscribers (the store writer now, Live Call
Status next). In-process and synchronous; a subscriber that raises is logged and skipped, so
one bad consumer never stops the bridge.

Erasures travel on it too, apart from conference events (``DataErased``): whoever keeps
personal data in memory (a cached data key, a name) drops it when one is published. Today the
bus is one process's: another node learns of a shred from the database
(``KeyStore.forget_destroyed``, polled), not from this bus."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from callroster.conference.events import Event

log = logging.getLogger(__name__)
Subscriber = Callable[[Event], None]


@dataclass(frozen=True)
class DataErased:
    """Personal data was destroyed: the data keys of ``accounts`` (a crypto-shred, noticed
    by this process), or one person's rows (an erasure, ``people`` of them)."""

    accounts: tuple[str, ...] = ()
    people: int = 0


ErasureSubscriber = Callable[[DataErased], None]


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._erasure_subscribers: list[ErasureSubscriber] = []

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    def publish(self, event: Event) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber(event)
            except Exception:  # noqa: BLE001 - isolate consumers from the bridge
                log.exception("event subscriber failed on %s", type(event).__name__)

    def subscribe_erasures(self, subscriber: ErasureSubscriber) -> Callable[[], None]:
        self._erasure_subscribers.append(subscriber)
        return lambda: self._erasure_subscribers.remove(subscriber)

    def publish_erasure(self, erased: DataErased) -> None:
        for subscriber in list(self._erasure_subscribers):
            try:
                subscriber(erased)
            except Exception:  # noqa: BLE001 - one consumer never stops the others
                log.exception("erasure subscriber failed")
