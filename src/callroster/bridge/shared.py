"""What the parts of the bridge share, handed to each in one value: the call table, the
rooms, SIP, the network, the clock, background tasks, how a leg's media socket delivers
its packets, and the address we tell the other end in each family we have media in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from callroster.bridge.calls import CallTable
from callroster.bridge.ports import Network, OnError, Receive
from callroster.bridge.rooms import Rooms
from callroster.bridge.signalling import Signalling
from callroster.clock import Clock
from callroster.io.tasks import BackgroundTasks


@dataclass(frozen=True)
class Shared:
    calls: CallTable
    rooms: Rooms
    signalling: Signalling
    network: Network
    clock: Clock
    tasks: BackgroundTasks
    # leg id -> the receiver of its media socket, and of the errors the socket reports
    inlet: Callable[[str], tuple[Receive, OnError]]
    # The address we tell the other end, by media family (IP4 | IP6): one entry per family
    # the bridge has media sockets in, so the families it can send to; the first is the
    # default (for calls we offer, and for the Warning header).
    advertised: dict[str, str]

    @property
    def default_family(self) -> str:
        return next(iter(self.advertised))
