"""One record per call leg on this node, with its life cycle in one table.

A :class:`Call` is what the bridge knows about one phone or browser on the line: its SIP
call id, its media, the prompts it is hearing and where it is in its life. That life is a
state machine in the manner of ``sip/transaction.py``: every move is in :data:`TRANSITIONS`,
goes through one setter that logs it and keeps a ``history``, and an illegal move raises
:class:`CallStateError` (a bug, never the result of bytes from the network)::

    dial-out:  DIALLING ─progress→ RINGING ─answer→ INVITED ─admit→ JOINED
    dial-in:                                   PIN ─admit→ JOINED
    direct dial (PIN in the URI), browser:  ANSWERED ─admit→ JOINED
    delayed offer (no SDP in the INVITE):    OFFERED ─answer→ ANSWERED, or ─prompt→ PIN
    any live state ─farewell→ LEAVING (its last prompts play) ─end→ ENDED
    any live state ─end→ ENDED

What the conference sees of the leg (connected, muted, on hold) is the conference's own
table (``conference/conference.py``); this one is only how the call itself stands.
Facts that used to be loose flags are read from the history: a dialled call was answered
when it passed INVITED, and the far end rang when it passed RINGING.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from callroster.bridge.caller_id import CallerId
from callroster.bridge.pin_guard import source_key
from callroster.bridge.ports import RtpPort
from callroster.bridge.rtp_session import RtpSession
from callroster.conference.leg import LegRole
from callroster.conference.pin_entry import PinEntry
from callroster.media.prompt_library import PromptPlayer
from callroster.media.talk import TalkDetector
from callroster.sdp.session import SessionDescription

log = logging.getLogger(__name__)


class CallStateError(Exception):
    """A move the call's state table does not allow."""


class CallState(StrEnum):
    DIALLING = "dialling"  # we sent the INVITE (dial-out), nothing back yet
    RINGING = "ringing"  # ...and the far end rings (a provisional response came)
    INVITED = "invited"  # answered: hearing who invites them, asked to press 1
    PIN = "pin"  # dialled in: keying the conference's PIN
    ANSWERED = "answered"  # answered, admitted at once (the PIN was in the URI; a browser)
    OFFERED = "offered"  # an INVITE without SDP: our 200 carries the offer, the ACK the answer
    JOINED = "joined"  # in the conference and its mix
    LEAVING = "leaving"  # out of the mix, hearing its last prompt before BYE
    ENDED = "ended"


class CallTrigger(StrEnum):
    PROGRESS = "progress"  # a provisional response to our INVITE
    ANSWER = "answer"  # a 2xx to our INVITE, or the SDP answer in the ACK to our offer
    PROMPT = "prompt"  # the answer came (delayed offer): now asked for the PIN
    ADMIT = "admit"  # into the conference (right PIN, direct dial, browser, pressed 1)
    FAREWELL = "farewell"  # told to hang up once its prompts have played
    END = "end"  # BYE sent or received, CANCEL, failure, shutdown


_S, _T = CallState, CallTrigger
TRANSITIONS: Mapping[CallState, Mapping[CallTrigger, CallState]] = {
    _S.DIALLING: {
        _T.PROGRESS: _S.RINGING,
        _T.ANSWER: _S.INVITED,
        _T.FAREWELL: _S.LEAVING,
        _T.END: _S.ENDED,
    },
    _S.RINGING: {
        _T.PROGRESS: _S.RINGING,
        _T.ANSWER: _S.INVITED,
        _T.FAREWELL: _S.LEAVING,
        _T.END: _S.ENDED,
    },
    _S.INVITED: {_T.ADMIT: _S.JOINED, _T.FAREWELL: _S.LEAVING, _T.END: _S.ENDED},
    _S.PIN: {_T.ADMIT: _S.JOINED, _T.FAREWELL: _S.LEAVING, _T.END: _S.ENDED},
    _S.ANSWERED: {_T.ADMIT: _S.JOINED, _T.FAREWELL: _S.LEAVING, _T.END: _S.ENDED},
    _S.OFFERED: {
        _T.ANSWER: _S.ANSWERED,
        _T.PROMPT: _S.PIN,
        _T.FAREWELL: _S.LEAVING,
        _T.END: _S.ENDED,
    },
    _S.JOINED: {_T.FAREWELL: _S.LEAVING, _T.END: _S.ENDED},
    _S.LEAVING: {_T.FAREWELL: _S.LEAVING, _T.END: _S.ENDED},
    _S.ENDED: {},
}
# Why a call told to hang up after its prompts goes, by where it stood when told.
FAREWELL_REASONS: Mapping[CallState, str] = {
    _S.JOINED: "dropped",
    _S.DIALLING: "cancelled",
    _S.RINGING: "cancelled",
    _S.INVITED: "cancelled",
    _S.PIN: "failed",
    _S.ANSWERED: "failed",
    _S.OFFERED: "failed",
}
RINGING_STATES = frozenset({_S.DIALLING, _S.RINGING, _S.INVITED})


class KeyMethod(StrEnum):
    """How a phone sends its key presses."""

    RFC4733 = "rfc4733"  # telephone-events in its RTP stream
    INFO = "info"  # SIP INFO requests


@dataclass
class Call:
    """One call leg on this node: signalling id, media, prompts, and its state."""

    call_id: str
    leg_id: str
    caller: CallerId
    rtp: RtpSession
    port: RtpPort
    local_port: int  # the media port we told the other end (0 for a browser)
    state: CallState
    family: str = "IP4"  # of its media socket, and so of the addresses it can send to
    joined_via: str = "dial_in"  # dial_in | dial_out | web
    conference_id: str | None = None
    account_id: str = ""  # the conference's account, once it is on one (or dialled for)
    role: LegRole = LegRole.GUEST
    pin: PinEntry | None = None
    prompts: PromptPlayer = field(default_factory=PromptPlayer)
    talk: TalkDetector = field(default_factory=TalkDetector)
    sdp_version: int = 1
    web_key: str = ""  # a browser leg's secret: only the browser that joined may act as it
    user_id: str = ""  # a browser leg's signed-in user, if it joined as one (their profile)
    offer: SessionDescription | None = None  # ours: we dialled, or the INVITE had no offer
    dialled_pin: str | None = None  # the PIN in the request URI, checked once media is up
    access_number: str | None = None  # the access number dialled (E.164), if one was
    source: str = ""  # the host its INVITE came from, for the PIN guard (bridge/pin_guard.py)
    # Of its SIP: udp | tcp | tls (SRTP only with tls: srtp_policy.py); a browser's offer
    # came over http or https.
    transport: str = "udp"
    pin_since: float | None = None  # when it was asked for its PIN (bridge/call_limits.py)
    press_to_accept: bool = True  # dial-out: the callee joins by pressing 1
    invitation: tuple[NDArray[np.int16], ...] | None = None  # "<host> invites you...", spoken
    sip_status: int | None = None  # dial-out: the final failure status, if one came
    deadline: float | None = None  # the present state's time limit (ring, press 1)
    leaving_reason: str = ""  # set with LEAVING: the reason given when the BYE goes
    key_method: KeyMethod | None = None  # the way its first key press came
    history: list[CallState] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.history.append(self.state)

    @property
    def encrypted(self) -> bool:
        """Signalling and media both encrypted (the roster's padlock): SIP over TLS with
        SRTP, or a browser, whose media is always DTLS-SRTP, that sent its offer over HTTPS.
        Each half alone is not enough: SDES keys over clear SIP, or a WebRTC offer over
        clear HTTP, can be read (or changed) on the way."""
        if self.joined_via == "web":
            return self.transport == "https"
        return self.transport == "tls" and self.rtp.encrypted

    def fire(self, trigger: CallTrigger, *, deadline: float | None = None) -> None:
        """Move on ``trigger``, the one way the state changes; ``deadline`` is the new
        state's time limit (none unless given)."""
        try:
            state = TRANSITIONS[self.state][trigger]
        except KeyError:
            raise CallStateError(f"call {self.call_id}: {trigger} in {self.state}") from None
        if trigger is CallTrigger.FAREWELL and self.state is not CallState.LEAVING:
            self.leaving_reason = FAREWELL_REASONS[self.state]
        log.debug("call %s leg %s: %s -> %s", self.call_id, self.leg_id, self.state, state)
        self.state = state
        self.deadline = deadline
        self.history.append(state)

    def takes_key(self, method: KeyMethod) -> bool:
        """Whether a key press that came by ``method`` counts: only those that come the way
        the call's first one did. Some phones send every press both ways (linphone with SIP
        INFO turned on keeps RFC 4733, its default, on too); each press must count once."""
        if self.key_method is None:
            self.key_method = method
        return method is self.key_method

    @property
    def answered(self) -> bool:
        """Whether the far end answered a call we placed."""
        return CallState.INVITED in self.history

    @property
    def rang(self) -> bool:
        """Whether the far end said it was ringing (a provisional response came)."""
        return CallState.RINGING in self.history

    @property
    def ringing(self) -> bool:
        """Placed by us and not yet on the call (ringing, or asked to press 1)."""
        return self.state in RINGING_STATES

    @property
    def never_joined_invitation(self) -> bool:
        """A call we placed that never got onto the conference."""
        return self.joined_via == "dial_out" and CallState.JOINED not in self.history


def add_media_figures(totals: Counter[str], rtp: RtpSession) -> None:
    """Add one call's RTP counters and its jitter buffer's drops to ``totals``, by name."""
    for name, value in vars(rtp.counters).items():
        totals[name] += value
    late, duplicates = rtp.jitter.drops
    totals["late"] += late
    totals["duplicates"] += duplicates
    if rtp.srtp is not None:  # SRTP's drops: forged or damaged packets, and replays
        totals["srtp_auth_failures"] += rtp.srtp.counters.auth_failures
        totals["srtp_replays"] += rtp.srtp.counters.replays


class CallTable:
    """The calls on this node, by SIP call id and by leg id."""

    def __init__(self) -> None:
        self._by_call: dict[str, Call] = {}
        self._by_leg: dict[str, Call] = {}
        self._from: Counter[str] = Counter()  # calls by source (bridge/call_limits.py)
        # The media counters of the calls that ended, summed once each as it leaves, so
        # that the metrics (callroster/metrics.py) count for the life of the process.
        self.retired: Counter[str] = Counter()

    def add(self, call: Call) -> None:
        self._by_call[call.call_id] = call
        self._by_leg[call.leg_id] = call
        if call.source:
            self._from[source_key(call.source)] += 1

    def remove(self, call: Call) -> None:
        if self._by_call.pop(call.call_id, None) is None:
            self._by_leg.pop(call.leg_id, None)
            return
        add_media_figures(self.retired, call.rtp)
        if call.source:
            key = source_key(call.source)
            self._from[key] -= 1
            if self._from[key] <= 0:
                del self._from[key]
        self._by_leg.pop(call.leg_id, None)

    def count_from(self, source: str) -> int:
        """Calls on this node from ``source`` (its address, or its IPv6 /64)."""
        return self._from.get(source_key(source), 0)

    def get(self, call_id: str) -> Call | None:
        return self._by_call.get(call_id)

    def for_leg(self, leg_id: str) -> Call | None:
        return self._by_leg.get(leg_id)

    @property
    def by_leg(self) -> Mapping[str, Call]:
        """Read-only, for the media tick's inner loop."""
        return self._by_leg

    def __iter__(self) -> Iterator[Call]:
        """A copy: the caller may end calls while iterating."""
        return iter(list(self._by_call.values()))

    def __len__(self) -> int:
        return len(self._by_call)

    def __contains__(self, call_id: object) -> bool:
        return call_id in self._by_call
