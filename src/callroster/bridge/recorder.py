"""Every store write the bridge makes, in one place: leg rows follow the conference events
on the bus, call detail records are told by the dial-out side. Writes go through one queue
to a thread (``StoreWriter``), so a slow database never delays a 20 ms tick."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import partial

from callroster.bridge.directory import CallAttempt, ConferenceDirectory, LegRecord
from callroster.bridge.restart import RestartLedger
from callroster.bridge.store_writer import StoreWriter
from callroster.bus import EventBus
from callroster.conference.events import (
    Event,
    LegHeld,
    LegInvited,
    LegJoined,
    LegLeft,
    LegRenamed,
    LegResumed,
)
from callroster.sip.snapshot import DialogSnapshot

_STATUS = {LegHeld: "on_hold", LegResumed: "connected", LegLeft: "left"}


class Recorder:
    def __init__(
        self, directory: ConferenceDirectory, bus: EventBus, ledger: RestartLedger | None = None
    ) -> None:
        self._directory = directory
        self._ledger = ledger  # each call's dialog, for a BYE after a crash (restart.py)
        self._writer = StoreWriter()
        self._unstored: set[str] = set()  # rooms that are no conference of the store
        self._ringing: set[str] = set()  # legs written as joining, until they accept
        bus.subscribe(self._on_event)

    def start(self) -> None:
        self._writer.start()

    async def drain_and_stop(self) -> None:
        """Finish every queued write, then stop."""
        await self._writer.drain_and_stop()

    # -- leg rows, from the conference's events -------------------------------------------
    def unstored(self, conference_id: str) -> None:
        """Write no leg rows for this room (a click-to-call's two legs)."""
        self._unstored.add(conference_id)

    def room_closed(self, conference_id: str) -> None:
        self._unstored.discard(conference_id)

    def _on_event(self, event: Event) -> None:
        if event.conference_id in self._unstored:
            return
        directory, submit = self._directory, self._writer.submit
        if isinstance(event, LegInvited | LegJoined):
            if isinstance(event, LegJoined) and event.leg_id in self._ringing:
                self._ringing.discard(event.leg_id)  # a dialled leg accepted
                submit(partial(directory.leg_status, event.leg_id, "connected", False))
                return
            details = event.details
            if details is None:
                return
            invited = isinstance(event, LegInvited)
            if invited:
                self._ringing.add(event.leg_id)
            record = LegRecord(
                event.leg_id,
                event.conference_id,
                details.number,
                details.withheld,
                details.joined_via,
                "joining" if invited else "connected",
            )
            submit(partial(directory.leg_joined, record))
            leg_id = event.leg_id
            self._ledger_write(lambda ledger: ledger.leg_opened(leg_id, None))
            if details.name:
                submit(
                    partial(directory.leg_renamed, event.leg_id, details.name, details.name_source)
                )
        elif isinstance(event, LegHeld | LegResumed | LegLeft):
            if isinstance(event, LegLeft):
                self._ringing.discard(event.leg_id)
            left = isinstance(event, LegLeft)
            submit(partial(directory.leg_status, event.leg_id, _STATUS[type(event)], left))
        elif isinstance(event, LegRenamed):
            submit(partial(directory.leg_renamed, event.leg_id, event.name, event.name_source))

    # -- what a crash would leave open, for the next start (bridge/restart.py) -----------
    def dialog_opened(self, leg_id: str, account_id: str, snapshot: DialogSnapshot) -> None:
        self._ledger_write(lambda ledger: ledger.dialog_opened(leg_id, account_id, snapshot))

    def leg_closed(self, leg_id: str) -> None:
        self._ledger_write(lambda ledger: ledger.leg_closed(leg_id))

    def _ledger_write(self, write: Callable[[RestartLedger], None]) -> None:
        """A write to the ledger, in the queue after the leg and call writes before it."""
        ledger = self._ledger
        if ledger is not None:
            self._writer.submit(lambda: write(ledger))

    # -- call detail records, told by the dial-out side -----------------------------------
    def call_started(self, attempt: CallAttempt) -> None:
        self._writer.submit(partial(self._directory.call_started, attempt))
        self._ledger_write(lambda ledger: ledger.leg_opened(attempt.leg_id, attempt.account_id))

    def call_answered(self, leg_id: str, at: dt.datetime) -> None:
        self._writer.submit(partial(self._directory.call_answered, leg_id, at))

    def call_finished(
        self, leg_id: str, outcome: str, sip_status: int | None, at: dt.datetime
    ) -> None:
        self._writer.submit(partial(self._directory.call_finished, leg_id, outcome, sip_status, at))
