"""The whole bridge on a fake clock and an in-memory network (tests/support/clock.py,
tests/support/fake_network.py), with a table for a directory: a conference with a guest
and a host PIN and an access number. Shared by the bridge's socket-free tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from tests.support.clock import FakeClock
from tests.support.fake_network import FakeNetwork, FakePort, Phone, TableDirectory, phone_sdp
from tests.support.waiting import wait_until

from callroster.bridge.call_limits import CallLimits
from callroster.bridge.restart import RestartLedger
from callroster.bridge.service import BridgeService
from callroster.bridge.web_legs import PeerFactory
from callroster.bridge.web_pending import WebJoinLimits
from callroster.bus import EventBus
from callroster.conference.events import Event
from callroster.conference.pin_entry import PinState
from callroster.sdp.session import parse_sdp
from callroster.sip.message import Request, Response, response_to, serialise
from callroster.store.conferences import PinMatch

GUEST_PIN = "12345678"
HOST_PIN = "87654321"
ACCESS_NUMBER = "2000"
CONFERENCE = "conf-1"
GUEST = PinMatch(CONFERENCE, "acct-1", as_host=False, locked=False)
HOST = PinMatch(CONFERENCE, "acct-1", as_host=True, locked=False)
CALLEE = ("127.0.2.1", 5070)
CALLEE_MEDIA = ("127.0.2.1", 9000)


@dataclass
class Rig:
    bridge: BridgeService
    clock: FakeClock
    network: FakeNetwork
    directory: TableDirectory
    bus: EventBus
    events: list[Event] = field(default_factory=list)

    def of(self, kind: type) -> list[Event]:
        return [event for event in self.events if isinstance(event, kind)]

    def responses(self, call_id: str | None = None) -> list[Response]:
        """The responses the bridge sent since last asked (all of them are taken), only
        those of ``call_id`` when given (a 200 is re-sent until its ACK)."""
        return [
            m
            for m in self.network.take_sip()
            if isinstance(m, Response) and call_id in (None, m.get("Call-ID"))
        ]


@asynccontextmanager
async def bridge_rig(
    media_addresses: Sequence[str] = ("127.0.0.1",),
    call_limits: CallLimits | None = None,
    web_limits: WebJoinLimits | None = None,
    web_peers: PeerFactory | None = None,
    ledger: RestartLedger | None = None,
) -> AsyncIterator[Rig]:
    """The bridge on a fake clock and network; ``media_addresses`` as the service's bind
    setting gives them (add ``::1`` for a dual-stack bridge); ``web_peers`` makes the
    browsers' peers (tests/bridge/test_web_legs.py's fakes), aiortc's by default;
    ``ledger`` keeps what a crash would leave open (tests/bridge/test_restart.py)."""
    clock = FakeClock()
    network = FakeNetwork()
    directory = TableDirectory(
        {GUEST_PIN: GUEST, HOST_PIN: HOST},
        dial_in_numbers=[ACCESS_NUMBER],
        names={"+447700900101": ("Ada Lovelace", "contact")},
    )
    bus = EventBus()
    bridge = BridgeService(
        directory,
        bus,
        media_addresses=media_addresses,
        clock=clock,
        network=network,
        call_limits=call_limits,
        web_limits=web_limits,
        web_peers=web_peers,
        ledger=ledger,
    )
    rig = Rig(bridge, clock, network, directory, bus)
    bus.subscribe(rig.events.append)
    await bridge.start(sip_port=5060)
    yield rig
    await bridge.stop()


async def final_answer(rig: Rig, phone: Phone, body: bytes | None = None) -> Response:
    """Dial (with ``body`` as the SDP, or the phone's own), wait for the final answer, and
    ACK a 200; the final answer. A PIN in the URI is checked after it: see :func:`answered`."""
    phone.send(rig.bridge, phone.invite(body=body or phone_sdp(*phone.media)))
    seen: list[Response] = []

    def final() -> bool:
        seen.extend(rig.responses(phone.call_id))
        return any(r.status >= 200 for r in seen)

    await wait_until(final, 5, "a final answer", interval=0.002)
    answer = next(r for r in seen if r.status >= 200)
    if answer.status == 200:
        phone.learn(serialise(answer))
        phone.send(rig.bridge, phone.ack())
    return answer


async def answered(rig: Rig, phone: Phone, body: bytes | None = None) -> FakePort:
    """Dial in (``body`` as in :func:`final_answer`), ACK the 200 OK, and for a PIN in the
    URI wait until it has been checked (in a thread, after the answer; a right one has then
    joined); the port the bridge said to send media to."""
    answer = await final_answer(rig, phone, body)
    assert answer.status == 200, f"answered {answer.status}"
    await wait_until(
        lambda: rig.bridge.pin_entry_state(phone.call_id) is not PinState.CHECKING,
        5,
        "the dialled PIN to be checked",
        interval=0.002,
    )
    return rig.network.ports[parse_sdp(answer.body).media[0].port]


def reply(
    rig: Rig,
    invite: Request,
    status: int,
    reason: str,
    body: bytes = b"",
    peer: tuple[str, int] = CALLEE,
) -> None:
    """The phone we called at ``peer`` answers our INVITE (To tag ``callee1``)."""
    response = response_to(
        invite,
        status,
        reason,
        to_tag="callee1",
        extra_headers=[("Contact", f"<sip:bob@{peer[0]}:{peer[1]}>")],
        body=body,
        content_type="application/sdp" if body else None,
    )
    rig.bridge.on_sip(serialise(response), peer, "udp")


def far_end_bye(invite: Request, peer: tuple[str, int] = CALLEE) -> bytes:
    """The BYE of a phone we called (its dialog: the To tag ``callee1`` it answered with)."""

    def header(name: str) -> str:
        return invite.get(name) or ""

    headers = [
        ("Via", f"SIP/2.0/UDP {peer[0]}:{peer[1]};branch=z9hG4bK-bye-{header('Call-ID')[:8]}"),
        ("From", f"{header('To')};tag=callee1"),
        ("To", header("From")),
        ("Call-ID", header("Call-ID")),
        ("CSeq", "1 BYE"),
        ("Max-Forwards", "70"),
    ]
    contact = header("Contact").strip("<>").split(">")[0]
    return serialise(Request("BYE", contact, headers, b""))
