"""What the bridge asks the store, behind a small interface (so the bridge never touches the
database, and tests can give it a table)."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from callroster.accounts.actor import system
from callroster.bridge.admission import Admission
from callroster.bridge.pin_guard import GuardEvent, network_of
from callroster.privacy import normalise
from callroster.privacy.directory import Directory
from callroster.sip.snapshot import DialogSnapshot
from callroster.store.accounts import PinLengths
from callroster.store.conferences import PinMatch
from callroster.store.store import Store

# How old the PIN lengths in use may be before they are read again (in the background). A
# PIN written by this process is noticed at once (the repository's change counter); one
# written by another process within this many seconds (see docs/architecture.md).
PIN_LENGTHS_MAX_AGE = 5.0
# How long an access number's "every account here requires SRTP" answer is reused: the
# question scans the accounts, and a flood of clear-text INVITEs to one number asks it for
# each; a policy change reaches calls to the number within this many seconds.
SRTP_ON_NUMBER_MAX_AGE = 5.0


@dataclass(frozen=True)
class LegRecord:
    leg_id: str
    conference_id: str
    number: str | None
    withheld: bool
    joined_via: str
    status: str = "connected"  # joining for a leg we dial, until it accepts


@dataclass(frozen=True)
class CallAttempt:
    """An outbound call as it starts, for its call detail record."""

    account_id: str
    conference_id: str | None
    leg_id: str
    number: str
    trunk_id: str | None
    requested_by: str  # a user id, or "guest"
    started_at: dt.datetime


log = logging.getLogger(__name__)


class ConferenceDirectory(Protocol):
    def is_dial_in_number(self, user: str) -> bool: ...

    def open_with_pin(self, pin: str, through: str | None = None) -> Admission | None:
        """The conference a PIN opens, as guest or host; ``through``: the access number
        dialled, which the conference's account must be allowed to use."""
        ...

    def pin_lengths(self) -> frozenset[int]:
        """The lengths of the PINs in use (never empty), for the keypad (PinEntry): answered
        from memory, never by a query on the caller's thread."""
        ...

    def srtp_required(self, account_id: str) -> bool:
        """Whether the account lets only encrypted calls on (bridge/srtp_policy.py)."""
        ...

    def srtp_required_on(self, access_number: str) -> bool:
        """Whether every account that answers on this access number requires SRTP (so a
        clear-text call to it can be refused before its PIN)."""
        ...

    def leg_joined(self, record: LegRecord) -> None: ...

    def leg_status(self, leg_id: str, status: str, left: bool) -> None: ...

    def resolve_name(self, account_id: str, number: str) -> tuple[str, str] | None: ...

    def leg_renamed(self, leg_id: str, name: str | None, source: str | None) -> None: ...

    def call_started(self, attempt: CallAttempt) -> None: ...

    def security_event(self, event: GuardEvent) -> None:
        """PIN guessing: a source blocked, or the system-wide alarm raised (audit log)."""
        ...

    def call_answered(self, leg_id: str, at: dt.datetime) -> None: ...

    def call_finished(
        self, leg_id: str, outcome: str, sip_status: int | None, at: dt.datetime
    ) -> None: ...


class StoreDirectory:
    """The directory backed by the store; every write is audit-logged as the bridge."""

    def __init__(
        self,
        store: Store,
        directory: Directory | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        in_background: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        """``monotonic`` and ``in_background`` (how a refresh of the PIN lengths in use is
        run; a daemon thread by default) are seams for tests."""
        self._store = store
        self._directory = directory
        self._actor = system("conference bridge")
        self._records: dict[str, str] = {}  # leg id -> its call detail record, while it lasts
        self._monotonic = monotonic
        self._in_background = in_background or _in_a_thread
        self._lengths_lock = threading.Lock()
        self._refreshing = False
        self._lengths_seen = store.conferences.pins_written
        self._lengths_at = monotonic()
        self._lengths = _never_empty(store.conferences.pin_lengths_in_use())
        self._srtp_on: dict[str, tuple[float, bool]] = {}  # number -> (when read, answer)

    def is_dial_in_number(self, user: str) -> bool:
        return self._store.conferences.is_dial_in_number(user)

    def open_with_pin(self, pin: str, through: str | None = None) -> PinMatch | None:
        match = self._store.conferences.open_with_pin(pin)
        if match is None or through is None:
            return match
        return match if self._store.numbers.answers_on(match.account_id, through) else None

    def srtp_required(self, account_id: str) -> bool:
        return self._store.accounts.requires_srtp(account_id)

    def srtp_required_on(self, access_number: str) -> bool:
        now = self._monotonic()
        cached = self._srtp_on.get(access_number)
        if cached is not None and now - cached[0] < SRTP_ON_NUMBER_MAX_AGE:
            return cached[1]
        required = self._store.numbers.requires_srtp_on(access_number)
        if len(self._srtp_on) > 10_000:  # numbers are the operator's few; never unbounded
            self._srtp_on.clear()
        self._srtp_on[access_number] = (now, required)
        return required

    def pin_lengths(self) -> frozenset[int]:
        """The lengths in use as last read; read again in the background when a PIN was
        written here since, or the reading is older than PIN_LENGTHS_MAX_AGE."""
        with self._lengths_lock:
            lengths = self._lengths
            stale = (
                self._store.conferences.pins_written != self._lengths_seen
                or self._monotonic() - self._lengths_at >= PIN_LENGTHS_MAX_AGE
            )
            start = stale and not self._refreshing
            if start:
                self._refreshing = True
        if start:
            self._in_background(self._refresh_pin_lengths)
        return lengths

    def _refresh_pin_lengths(self) -> None:
        seen = self._store.conferences.pins_written
        try:
            lengths = _never_empty(self._store.conferences.pin_lengths_in_use())
        except Exception:  # noqa: BLE001 - keep the lengths known; try again next time
            log.exception("could not read the PIN lengths in use")
            with self._lengths_lock:
                self._refreshing = False
            return
        with self._lengths_lock:
            self._lengths, self._lengths_seen = lengths, seen
            self._lengths_at = self._monotonic()
            self._refreshing = False

    def leg_joined(self, record: LegRecord) -> None:
        self._store.conferences.add_leg(
            self._actor,
            record.conference_id,
            joined_via=record.joined_via,
            name=None,
            name_source=None,
            number=record.number,
            withheld=record.withheld,
            leg_id=record.leg_id,
            status=record.status,
        )

    def leg_status(self, leg_id: str, status: str, left: bool) -> None:
        self._store.conferences.set_leg_status(self._actor, leg_id, status, left=left)

    def resolve_name(self, account_id: str, number: str) -> tuple[str, str] | None:
        """The back-end look-up, in the policy's order, inside the conference's own account
        only: a registered user of ``account_id``, then its contact list, then the
        third-party directory where the caller's country allows it. Returns (name, source)
        or None. The bridge asks only for verified numbers (bridge/caller_id.py)."""
        actor = system("name resolution")
        name = self._store.accounts.name_for_number(actor, account_id, number)
        if name:
            return name, "user"
        name = self._store.contacts.name_for_number(actor, account_id, number)
        if name:
            return name, "contact"
        if self._directory is not None:
            try:
                e164 = normalise.phone_e164(number)
            except normalise.InvalidValueError:
                return None
            name = self._directory.lookup(e164)
            if name:
                return name, "directory"
        return None

    def leg_renamed(self, leg_id: str, name: str | None, source: str | None) -> None:
        self._store.conferences.set_leg_name(self._actor, leg_id, name, source)

    def security_event(self, event: GuardEvent) -> None:
        subject = "system" if event.source is None else f"network:{network_of(event.source)}"
        self._store.conferences.record_security_event(
            self._actor, f"pin_guard.{event.kind}", subject
        )

    # -- call detail records (outbound) ---------------------------------------------------
    def call_started(self, attempt: CallAttempt) -> None:
        self._records[attempt.leg_id] = self._store.call_records.start(
            attempt.account_id,
            attempt.conference_id,
            attempt.leg_id,
            attempt.number,
            attempt.trunk_id,
            attempt.requested_by,
            attempt.started_at,
        )

    def call_answered(self, leg_id: str, at: dt.datetime) -> None:
        record = self._records.get(leg_id)
        if record is not None:
            self._store.call_records.answered(record, at)

    def call_finished(
        self, leg_id: str, outcome: str, sip_status: int | None, at: dt.datetime
    ) -> None:
        record = self._records.pop(leg_id, None)
        if record is None:
            log.warning("no call record for leg %s", leg_id)
            return
        self._store.call_records.finish(record, outcome, sip_status, at)


class StoreRestartLedger:
    """The bridge's :class:`~callroster.bridge.restart.RestartLedger` in the store, for the
    node named ``node``: its heartbeat, the legs open on it, and each phone's dialog encrypted
    under its account's key (store/restart.py)."""

    def __init__(self, store: Store, node: str) -> None:
        self._store = store
        self._node = node

    def recover(self) -> list[DialogSnapshot]:
        """Close the legs and records a killed process of this node left open; its dialogs,
        to end (an unreadable one is logged and skipped)."""
        snapshots = []
        for dialog in self._store.restart.recover(self._node).dialogs:
            try:
                snapshots.append(DialogSnapshot.from_json(dialog.snapshot))
            except ValueError:
                log.warning("restart: the dialog of leg %s cannot be read; no BYE", dialog.leg_id)
        return snapshots

    def beat(self) -> None:
        self._store.restart.beat(self._node)

    def leg_opened(self, leg_id: str, account_id: str | None) -> None:
        self._store.restart.leg_opened(leg_id, self._node, account_id)

    def dialog_opened(self, leg_id: str, account_id: str, snapshot: DialogSnapshot) -> None:
        self._store.restart.dialog_opened(leg_id, self._node, account_id, snapshot.to_json())

    def leg_closed(self, leg_id: str) -> None:
        self._store.restart.leg_closed(leg_id)


def _never_empty(lengths: frozenset[int]) -> frozenset[int]:
    """With no conference yet, the default guest length (any PIN keyed opens nothing)."""
    return lengths or frozenset({PinLengths().guest})


def _in_a_thread(work: Callable[[], None]) -> None:
    threading.Thread(target=work, name="pin-lengths", daemon=True).start()
