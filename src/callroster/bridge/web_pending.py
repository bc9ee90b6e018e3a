"""Browser joins answered but not yet connected: how many each conference and each address
may hold at once, and when each must have connected. Pure: the time is given.

A browser's ``POST …/web-legs`` costs the bridge a WebRTC peer (sockets for ICE, a DTLS
certificate) before anything proves that a browser is there. Such a join is *pending*: it
is on no roster and in no mix, and it becomes a leg only when its first audio arrives
(``bridge/web_legs.py``). Pending joins are bounded three ways (issue 12, finding 10):

- **per conference**: at most :attr:`WebJoinLimits.per_conference` at once, so a flood
  with one guest link keeps a conference's joins to a handful of peers;
- **per address** (an IPv4 address, an IPv6 /64: ``bridge/pin_guard.py``'s ``source_key``):
  at most :attr:`WebJoinLimits.per_address` at once, across all conferences;
- **in time**: a join that has not connected within :attr:`WebJoinLimits.connect_within`
  seconds is dropped, and leaves no trace on the roster.

A refused join learns which bound refused it and when a place frees up at the latest (the
earliest deadline among the joins that fill it).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from callroster.bridge.pin_guard import source_key

PendingRefusal = Literal["per_conference", "per_address"]


@dataclass(frozen=True)
class WebJoinLimits:
    per_conference: int = 10
    per_address: int = 5
    # Chromium on loopback connects and sends its first audio in about 0.1 s (measured in
    # tests/browser/test_web_join.py); over the Internet ICE and DTLS take a few round trips
    # more, and an ICE check lost on the way is sent again after 0.5, 1 and 2 s.
    connect_within: float = 10.0


@dataclass(frozen=True)
class PendingJoin:
    leg_id: str
    conference_id: str
    source: str  # its source_key
    deadline: float


@dataclass(frozen=True)
class Refused:
    """Why a join may not start now, and in how many seconds (at the latest) it may."""

    reason: PendingRefusal
    retry_after: float

    @property
    def retry_after_header(self) -> str:
        return str(max(1, math.ceil(self.retry_after)))


class PendingJoins:
    """The browser joins waiting for their first audio, by leg id."""

    def __init__(self, limits: WebJoinLimits) -> None:
        self.limits = limits
        self._joins: dict[str, PendingJoin] = {}
        self._by_conference: Counter[str] = Counter()
        self._by_source: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self._joins)

    def __contains__(self, leg_id: object) -> bool:
        return leg_id in self._joins

    def in_conference(self, conference_id: str) -> int:
        return self._by_conference.get(conference_id, 0)

    def from_source(self, source: str) -> int:
        return self._by_source.get(source_key(source), 0)

    def refuse(self, conference_id: str, source: str, now: float) -> Refused | None:
        """Why a new join of ``conference_id`` from ``source`` may not start now (None: it
        may)."""
        key = source_key(source)
        if self._by_source.get(key, 0) >= self.limits.per_address:
            return Refused("per_address", self._wait(now, lambda j: j.source == key))
        if self._by_conference.get(conference_id, 0) >= self.limits.per_conference:
            return Refused(
                "per_conference", self._wait(now, lambda j: j.conference_id == conference_id)
            )
        return None

    def reserve(self, leg_id: str, conference_id: str, source: str, now: float) -> Refused | None:
        """Check and count a new join in one step (call it with no ``await`` between, so
        joins arriving together cannot all pass the check). Returns the refusal, if any;
        otherwise the join is pending until :meth:`discard`, due at ``now`` plus
        :attr:`WebJoinLimits.connect_within`."""
        refused = self.refuse(conference_id, source, now)
        if refused is not None:
            return refused
        join = PendingJoin(
            leg_id, conference_id, source_key(source), now + self.limits.connect_within
        )
        self._joins[leg_id] = join
        self._by_conference[conference_id] += 1
        self._by_source[join.source] += 1
        return None

    def discard(self, leg_id: str) -> PendingJoin | None:
        """The join connected, failed or left: it no longer counts (idempotent)."""
        join = self._joins.pop(leg_id, None)
        if join is None:
            return None
        for counter, key in (
            (self._by_conference, join.conference_id),
            (self._by_source, join.source),
        ):
            counter[key] -= 1
            if counter[key] <= 0:
                del counter[key]
        return join

    def overdue(self, now: float) -> list[str]:
        """The joins whose time to connect is over (still counted until discarded). Every
        join gets the same time and ``now`` only grows, so the joins are in deadline order:
        this looks no further than the first one not yet due (it runs every media tick)."""
        due: list[str] = []
        for join in self._joins.values():
            if now < join.deadline:
                break
            due.append(join.leg_id)
        return due

    def _wait(self, now: float, filling: Callable[[PendingJoin], bool]) -> float:
        deadlines = [join.deadline for join in self._joins.values() if filling(join)]
        return max(0.0, min(deadlines, default=now) - now)
