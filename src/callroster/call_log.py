"""One log line when a call starts and one when it ends, from the conference events on the
bus, for an operator to follow calls and count their outcomes.

A line names the conference and the leg by id, how the leg came (``dial_in``, ``dial_out``,
``web``), its role, and at the end its duration and outcome (the reason it left: ``hangup``,
``dropped``, ``busy``, ``no_answer``...). Never a number, an address or a name: the events
carry them (``LegDetails``), and they are left out here on purpose. A call that never
reached a conference (a wrong PIN, refused) has no line; it is counted by the metrics.

The lines go to the ``callroster.calls`` logger at INFO, with the figures both in the
message and as fields (``extra``), so the JSON log (callroster/logs.py) has them as keys.

Dial-out outcomes are counted here too (``answered`` when the callee joins, else the reason
the leg left), for ``callroster_dial_outs_total`` (callroster/metrics.py).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from callroster.conference.events import Event, LegInvited, LegJoined, LegLeft

log = logging.getLogger("callroster.calls")


@dataclass
class _Started:
    at: float
    via: str
    role: str
    invited: bool  # dialled by us and not yet joined


class CallLog:
    """The bus subscriber. ``now`` is a monotonic clock in seconds (the loop's)."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._legs: dict[str, _Started] = {}
        self.dial_outs: Counter[str] = Counter()  # by outcome

    def __call__(self, event: Event) -> None:
        if isinstance(event, LegInvited):
            self._start(
                event.conference_id,
                event.leg_id,
                event.details.joined_via,
                event.details.role,
                invited=True,
            )
        elif isinstance(event, LegJoined):
            started = self._legs.get(event.leg_id)
            if started is not None and started.invited:
                started.invited = False
                self.dial_outs["answered"] += 1
                return  # its start was logged when it was dialled
            details = event.details
            self._start(
                event.conference_id,
                event.leg_id,
                details.joined_via if details else "unknown",
                details.role if details else "unknown",
                invited=False,
            )
        elif isinstance(event, LegLeft):
            self._end(event)

    def _start(
        self, conference_id: str, leg_id: str, via: str, role: str, *, invited: bool
    ) -> None:
        self._legs[leg_id] = _Started(self._now(), via, role, invited)
        log.info(
            "call started: conference %s leg %s via %s as %s",
            conference_id,
            leg_id,
            via,
            role,
            extra={
                "call": "started",
                "conference_id": conference_id,
                "leg_id": leg_id,
                "via": via,
                "role": role,
            },
        )

    def _end(self, event: LegLeft) -> None:
        started = self._legs.pop(event.leg_id, None)
        if started is None:
            return  # started before this process did
        if started.invited:
            self.dial_outs[event.reason] += 1
        duration = round(self._now() - started.at, 3)
        log.info(
            "call ended: conference %s leg %s via %s after %.3f s: %s",
            event.conference_id,
            event.leg_id,
            started.via,
            duration,
            event.reason,
            extra={
                "call": "ended",
                "conference_id": event.conference_id,
                "leg_id": event.leg_id,
                "via": started.via,
                "role": started.role,
                "duration_s": duration,
                "outcome": event.reason,
            },
        )
