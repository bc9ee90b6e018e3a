"""The conferences in progress on this node, and the one way a call enters or leaves one.

A :class:`Room` is a :class:`Conference` (the owner of who is on the call) with what the
media side needs beside it: a mixer, hold music, tones waiting to be played. :class:`Rooms`
admits calls into rooms, carries out what the conference asks after every change (prompts,
tones, hang-ups) and publishes its events on the bus, and ends calls, tidying the room
behind them. Inbound, outbound and browser calls all go through it.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from callroster.bridge.admission import Admission
from callroster.bridge.calls import Call, CallState, CallTable, CallTrigger
from callroster.bridge.recorder import Recorder
from callroster.bridge.signalling import Signalling
from callroster.bus import EventBus
from callroster.clock import Clock
from callroster.conference.conference import Conference
from callroster.conference.events import HangUp, PlayPrompt, PlayTone
from callroster.conference.leg import Leg, LegRole, LegStatus
from callroster.media.mixer import Mixer
from callroster.media.talk import TalkDetector
from callroster.media.tones import hold_music, join_tone, leave_tone

log = logging.getLogger(__name__)
# What a dialled call's end means for its call detail record.
CALL_OUTCOMES = frozenset({"answered", "busy", "no_answer", "declined", "failed", "cancelled"})


@dataclass
class Room:
    """A conference in progress on this node, with its mixer and sounds."""

    conference: Conference
    mixer: Mixer = field(default_factory=Mixer)
    music: Iterator[NDArray[np.int16]] = field(default_factory=hold_music)
    tones: deque[NDArray[np.int16]] = field(default_factory=deque)


class Rooms:
    def __init__(
        self,
        calls: CallTable,
        signalling: Signalling,
        bus: EventBus,
        recorder: Recorder,
        clock: Clock,
    ) -> None:
        self._calls = calls
        self._signalling = signalling
        self._bus = bus
        self._recorder = recorder
        self._clock = clock
        self._rooms: dict[str, Room] = {}

    def get(self, conference_id: str | None) -> Room | None:
        return self._rooms.get(conference_id or "")

    def __iter__(self) -> Iterator[Room]:
        return iter(list(self._rooms.values()))

    def __len__(self) -> int:
        return len(self._rooms)

    def ids(self) -> list[str]:
        return list(self._rooms)

    def open(self, match: Admission) -> Room:
        """The room of ``match``'s conference, opened if nobody is on it yet."""
        room = self._rooms.get(match.conference_id)
        if room is None:
            room = Room(Conference(match.conference_id, locked=match.locked))
            self._rooms[match.conference_id] = room
        return room

    # -- entering -------------------------------------------------------------------------
    def admit(self, call: Call, match: Admission, name: str | None = None) -> bool:
        """Put a call that may join (right PIN, direct dial, a browser) into its conference.
        Returns False when the conference turned it away (locked): it then hears why and
        is hung up."""
        room = self.open(match)
        call.role = LegRole.HOST if match.as_host else LegRole.GUEST
        call.account_id = match.account_id
        call.talk = TalkDetector(sensitivity=match.talk_sensitivity)
        call.conference_id = match.conference_id
        call.prompts.interrupt()
        leg = Leg(
            id=call.leg_id,
            role=call.role,
            joined_via=call.joined_via,
            number=call.caller.number,
            withheld=call.caller.withheld,
            number_verified=call.caller.verified,
            encrypted=call.encrypted,
            name=name,
            name_source="entered" if name else None,
        )
        admitted = room.conference.admit(leg, self._clock.time())
        if admitted:
            call.fire(CallTrigger.ADMIT)
            room.mixer.add_leg(call.leg_id, call.rtp.codec)
            call.prompts.say(("joining",))
            self._keep_dialog(call)
        self.after_change(room)
        return admitted

    def accept(self, call: Call) -> None:
        """A call we placed accepted the invitation (pressed 1, or needed not): it is on."""
        room = self.get(call.conference_id)
        if room is None:
            return
        call.fire(CallTrigger.ADMIT)
        call.prompts.interrupt()
        if call.press_to_accept:
            call.prompts.say(("joining",))
        room.conference.accept(call.leg_id, self._clock.time(), encrypted=call.encrypted)
        room.mixer.add_leg(call.leg_id, call.rtp.codec)
        self._keep_dialog(call)
        self.after_change(room)

    def _keep_dialog(self, call: Call) -> None:
        """A phone is on the call: its dialog goes to the store, so that a BYE can end it
        even if this process dies first (bridge/restart.py). A browser has no dialog."""
        snapshot = self._signalling.endpoint.dialog_snapshot(call.call_id)
        if snapshot is not None and call.account_id:
            self._recorder.dialog_opened(call.leg_id, call.account_id, snapshot)

    # -- after every change ---------------------------------------------------------------
    def after_change(self, room: Room) -> None:
        """Carry out what the conference asked for, then publish what happened."""
        for effect in room.conference.effects():
            if isinstance(effect, PlayPrompt):
                target = self._calls.for_leg(effect.leg_id)
                if target is not None:
                    target.prompts.say(effect.prompts)
            elif isinstance(effect, PlayTone):
                room.tones.extend(join_tone() if effect.tone == "join" else leave_tone())
            elif isinstance(effect, HangUp):
                target = self._calls.for_leg(effect.leg_id)
                if target is not None:
                    self.farewell(target)
        for event in room.conference.events():
            self._bus.publish(event)

    def farewell(self, call: Call) -> None:
        """Hang ``call`` up once the prompts it is hearing have played (see
        :meth:`hang_up_when_told`); out of the mix at once."""
        if call.state is CallState.ENDED:
            return
        call.fire(CallTrigger.FAREWELL)
        room = self.get(call.conference_id)
        if room is not None and call.leg_id in room.mixer.leg_ids:
            room.mixer.remove_leg(call.leg_id)

    def hang_up_when_told(self, call: Call) -> None:
        """The media tick's turn for a call told to leave: BYE once its prompts are over."""
        if call.state is CallState.LEAVING and not call.prompts.playing:
            self.hang_up(call, call.leaving_reason)

    # -- leaving --------------------------------------------------------------------------
    def hang_up(self, call: Call, reason: str) -> None:
        """Our side ends the call: BYE (or CANCEL while it rings), then :meth:`end`."""
        self._signalling.hangup(call.call_id)
        self.end(call, reason)

    def end(self, call: Call, reason: str) -> None:
        """The call is over, whoever ended it: close its media, take it off the conference
        and the table, and close the room when nobody is left."""
        if call.state is CallState.ENDED:
            return
        if reason == "hangup" and call.never_joined_invitation:
            reason = "declined"  # hanging up while it rings or is asked to press 1
        call.fire(CallTrigger.END)
        if call.joined_via == "dial_out":
            outcome = "answered" if call.answered else reason
            self._recorder.call_finished(
                call.leg_id,
                outcome if outcome in CALL_OUTCOMES else "failed",
                200 if call.answered else call.sip_status,
                self._clock.wall(),
            )
        call.port.close()
        self._calls.remove(call)
        room = self.get(call.conference_id)
        if room is not None:
            self._leave_room(room, call, reason)
        # Last, after its leg row and call record are closed (the same queue): a crash
        # before this leaves the leg for the next start to close (bridge/restart.py). Only
        # a call that reached a conference (or was dialled for one) has a row: a caller who
        # never got past the PIN prompt (a flood's thousands) costs the store nothing here.
        if call.conference_id is not None:
            self._recorder.leg_closed(call.leg_id)

    def _leave_room(self, room: Room, call: Call, reason: str) -> None:
        conference = room.conference
        if any(leg.id == call.leg_id for leg in conference.legs):
            if conference.leg(call.leg_id).status != LegStatus.LEFT:
                conference.leave(call.leg_id, reason)
            if call.leg_id in room.mixer.leg_ids:
                room.mixer.remove_leg(call.leg_id)
            self.after_change(room)
        if not conference.present():
            del self._rooms[conference.id]
            self._recorder.room_closed(conference.id)
