"""Click-to-call (the policy's CallEffect): the service phones the host first and, once the
host answers, phones the target and bridges the two. When the call ends, a summary goes to
whoever asked (the API turns it into the CRM webhook).

It drives the bridge only through its commands (``dial_out``, ``control``) and follows the
call only through conference events on the bus: each click-to-call is a private two-leg
room that is no conference of the store.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from callroster.bridge.dial_target import DialTarget
from callroster.bridge.service import BridgeService
from callroster.bus import EventBus
from callroster.clock import utc_now
from callroster.conference.conference import ConferenceError
from callroster.conference.events import Event, LegJoined, LegLeft

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallSummary:
    """How a click-to-call went, for the CRM's call log."""

    call_id: str
    account_id: str
    requested_by: str
    target_number: str
    outcome: str  # answered | busy | no_answer | declined | failed | cancelled
    failed_leg: str | None  # host | target: whose call did not connect
    started_at: dt.datetime
    answered_at: dt.datetime | None  # when the target answered
    ended_at: dt.datetime
    duration_s: int  # from the target's answer to the end; 0 if never connected


@dataclass(frozen=True)
class PrivateRoom:
    """A click-to-call's room: two legs, no conference of the store (an ``Admission``)."""

    conference_id: str
    account_id: str
    as_host: bool = False
    locked: bool = False
    talk_sensitivity: float = 0.5


@dataclass
class _Call:
    call_id: str
    account_id: str
    requested_by: str
    target: DialTarget
    ring_seconds: float
    on_end: Callable[[CallSummary], None]
    started_at: dt.datetime
    host_leg: str | None = None
    target_leg: str | None = None
    answered_at: dt.datetime | None = None
    outcome: str | None = None
    failed_leg: str | None = None
    left: set[str] = field(default_factory=set)


class ClickToCall:
    def __init__(
        self,
        bridge: BridgeService,
        bus: EventBus,
        wall: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self._bridge = bridge
        self._wall = wall
        self._calls: dict[str, _Call] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        bus.subscribe(self._on_event)

    async def start(
        self,
        account_id: str,
        host: DialTarget,
        target: DialTarget,
        requested_by: str,
        ring_seconds: float,
        on_end: Callable[[CallSummary], None],
    ) -> str:
        """Phone the host; the target follows when the host answers. Returns the call's id.

        Raises:
            TooManyCalls: the bridge is at its call limit.
        """
        call_id = f"call-{uuid.uuid4()}"
        call = _Call(call_id, account_id, requested_by, target, ring_seconds, on_end, self._wall())
        self._calls[call_id] = call
        try:
            call.host_leg = await self._bridge.dial_out(
                self._room(call),
                host,
                "You",
                ring_seconds,
                requested_by,
                press_to_accept=False,
                stored=False,
            )
        except BaseException:
            del self._calls[call_id]
            raise
        return call_id

    def in_progress(self) -> int:
        return len(self._calls)

    @staticmethod
    def _room(call: _Call) -> PrivateRoom:
        return PrivateRoom(call.call_id, call.account_id)

    def _on_event(self, event: Event) -> None:
        call = self._calls.get(event.conference_id)
        if call is None or not isinstance(event, LegJoined | LegLeft):
            return
        # Bus events arrive while the bridge is inside a change: act after it.
        # The time is taken now, when it happened.
        asyncio.get_running_loop().call_soon(self._react, call, event, self._wall())

    def _react(self, call: _Call, event: LegJoined | LegLeft, at: dt.datetime) -> None:
        if isinstance(event, LegJoined):
            if event.leg_id == call.host_leg and call.target_leg is None:
                self._spawn(self._dial_target(call))
            elif event.leg_id == call.target_leg:
                call.answered_at = at
                call.outcome = "answered"
            return
        call.left.add(event.leg_id)
        if event.leg_id == call.host_leg and call.outcome is None:
            # The host never answered, or hung up before the target did.
            call.outcome, call.failed_leg = (
                (event.reason, "host") if call.target_leg is None else ("cancelled", "host")
            )
        elif event.leg_id == call.target_leg and call.outcome is None:
            call.outcome, call.failed_leg = event.reason, "target"
        # One end gone: end the other; the call is over when both are.
        for other in (call.host_leg, call.target_leg):
            if other is not None and other not in call.left:
                self._drop(call, other)
        if {leg for leg in (call.host_leg, call.target_leg) if leg} <= call.left:
            self._finish(call, at)

    async def _dial_target(self, call: _Call) -> None:
        try:
            call.target_leg = await self._bridge.dial_out(
                self._room(call),
                call.target,
                None,
                call.ring_seconds,
                call.requested_by,
                press_to_accept=False,
                stored=False,
            )
        except Exception:  # noqa: BLE001 - the host is told by being hung up
            log.exception("click-to-call %s: the target could not be dialled", call.call_id)
            call.outcome, call.failed_leg = "failed", "target"
            if call.host_leg is not None:
                self._drop(call, call.host_leg)

    def _drop(self, call: _Call, leg_id: str) -> None:
        try:
            self._bridge.control(call.call_id, "drop", leg_id)
        except (KeyError, ValueError, ConferenceError):
            pass  # the room or the leg is already gone

    def _finish(self, call: _Call, ended: dt.datetime) -> None:
        if self._calls.pop(call.call_id, None) is None:
            return
        answered = call.answered_at
        summary = CallSummary(
            call_id=call.call_id,
            account_id=call.account_id,
            requested_by=call.requested_by,
            target_number=call.target.number,
            outcome=call.outcome or "failed",
            failed_leg=None if call.outcome == "answered" else call.failed_leg,
            started_at=call.started_at,
            answered_at=answered,
            ended_at=ended,
            duration_s=0 if answered is None else max(0, round((ended - answered).total_seconds())),
        )
        try:
            call.on_end(summary)
        except Exception:  # noqa: BLE001 - a failing listener must not break the bridge
            log.exception("click-to-call %s: reporting the end failed", call.call_id)

    def _spawn(self, coroutine: object) -> None:
        assert asyncio.iscoroutine(coroutine)
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
