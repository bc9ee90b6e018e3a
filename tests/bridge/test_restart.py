"""The bridge's side of surviving a crash (bridge/restart.py), on a fake clock and network:
what it writes to its ledger while a phone is on the call, the BYEs its start sends to the
calls a killed process left open (over UDP at once, over TCP through a new connection), and
the graceful stop: the prompt, then the BYE, and new calls refused meanwhile."""

from __future__ import annotations

import asyncio

import numpy as np
from tests.support.bridge_rig import GUEST_PIN, answered, bridge_rig
from tests.support.fake_network import Phone
from tests.support.waiting import wait_until

from callroster.bridge.service import STOPPING_PROMPT
from callroster.media.prompt_library import prompt_frames
from callroster.rtp import g711
from callroster.sip.message import Request, Response, parse_message
from callroster.sip.snapshot import CSEQ_MARGIN, DialogSnapshot


class LedgerTable:
    """:class:`~callroster.bridge.restart.RestartLedger` as a list of what was written."""

    def __init__(self, orphans: list[DialogSnapshot] | None = None) -> None:
        self.orphans = orphans or []
        self.writes: list[tuple[str, ...]] = []
        self.snapshots: dict[str, DialogSnapshot] = {}

    def recover(self) -> list[DialogSnapshot]:
        self.writes.append(("recover",))
        return self.orphans

    def beat(self) -> None:
        self.writes.append(("beat",))

    def leg_opened(self, leg_id: str, account_id: str | None) -> None:
        self.writes.append(("leg_opened", leg_id))

    def dialog_opened(self, leg_id: str, account_id: str, snapshot: DialogSnapshot) -> None:
        self.snapshots[leg_id] = snapshot
        self.writes.append(("dialog_opened", leg_id, account_id))

    def leg_closed(self, leg_id: str) -> None:
        self.writes.append(("leg_closed", leg_id))


def _orphan(call_id: str, transport: str, destination: tuple[str, int]) -> DialogSnapshot:
    return DialogSnapshot(
        call_id=call_id,
        role="uas",
        local_tag="ours",
        remote_tag="theirs",
        local_party=f"<sip:{GUEST_PIN}@127.0.0.1:5060>",
        remote_party="<sip:+447700900123@127.0.1.9:5070>",
        remote_target=f"sip:sipp@{destination[0]}:{destination[1]};transport={transport}",
        route_set=(),
        local_cseq=0,
        transport=transport,  # type: ignore[arg-type]
        destination=destination,
    )


async def test_a_phone_on_the_call_is_kept_in_the_ledger_until_it_leaves() -> None:
    ledger = LedgerTable()
    async with bridge_rig(ledger=ledger) as rig:
        phone = Phone(1, GUEST_PIN)
        await answered(rig, phone)
        await wait_until(lambda: len(ledger.writes) >= 4, 5, "the ledger's writes", 0.002)
        [leg_id] = [w[1] for w in ledger.writes if w[0] == "leg_opened"]
        assert ledger.writes[:2] == [("recover",), ("beat",)]
        assert ("dialog_opened", leg_id, "acct-1") in ledger.writes
        snapshot = ledger.snapshots[leg_id]
        assert (snapshot.call_id, snapshot.destination) == (phone.call_id, phone.source)
        phone.send(rig.bridge, phone.in_dialog("BYE"))
        await wait_until(lambda: ledger.writes[-1] == ("leg_closed", leg_id), 5, "closed", 0.002)


async def test_a_caller_who_never_got_past_the_pin_prompt_costs_the_ledger_nothing() -> None:
    ledger = LedgerTable()
    async with bridge_rig(ledger=ledger) as rig:
        wrong = Phone(2, "00000000")  # a wrong PIN dialled: answered, then asked again
        await answered(rig, wrong)
        wrong.send(rig.bridge, wrong.in_dialog("BYE"))
        await wait_until(lambda: rig.bridge.call_count() == 0, 5, "the call to end", 0.002)
        right = Phone(3, GUEST_PIN)  # the control: one that joins is written, then closed
        await answered(rig, right)
        right.send(rig.bridge, right.in_dialog("BYE"))
        await wait_until(lambda: ledger.writes[-1][0] == "leg_closed", 5, "closed", 0.002)
        assert [w[0] for w in ledger.writes].count("leg_closed") == 1


async def test_the_start_ends_the_calls_a_killed_process_left_open() -> None:
    udp = _orphan("left-over-udp", "udp", ("127.0.1.9", 5070))
    tcp = _orphan("left-over-tcp", "tcp", ("127.0.1.10", 5070))
    gone = _orphan("left-over-gone", "tcp", ("127.0.1.11", 5070))
    async with bridge_rig(ledger=LedgerTable([udp, tcp, gone])) as rig:
        rig.network.unreachable.add(gone.destination)
        await wait_until(lambda: len(rig.network.sip) >= 2, 5, "two BYEs", 0.002)
        await asyncio.sleep(0.05)  # let a third, which must not come, have its chance
        sent = {parse_message(out.data).get("Call-ID"): out for out in rig.network.sip}
        assert set(sent) == {"left-over-udp", "left-over-tcp"}  # the unreachable one: none
        for snapshot in (udp, tcp):
            out = sent[snapshot.call_id]
            bye = parse_message(out.data)
            assert isinstance(bye, Request) and bye.method == "BYE"
            assert (out.destination, out.transport) == (snapshot.destination, snapshot.transport)
            assert bye.get("CSeq") == f"{CSEQ_MARGIN} BYE"


def _loud(packets: list[bytes]) -> int:
    return sum(1 for payload in packets if np.abs(g711.decode("PCMU", payload)).mean() >= 500)


async def test_a_graceful_stop_says_why_then_hangs_up() -> None:
    async with bridge_rig(ledger=LedgerTable()) as rig:
        phone = Phone(1, GUEST_PIN)
        port = await answered(rig, phone)
        for _ in range(250):  # the "joining" prompt plays out
            rig.clock.advance(0.02)
        port.packets()
        rig.network.take_sip()
        stopping = asyncio.create_task(rig.bridge.stop(grace=30.0))
        await asyncio.sleep(0)
        late = Phone(2, GUEST_PIN)
        late.dial(rig.bridge)  # a call while stopping: refused, to call again later
        heard: list[bytes] = []
        for _ in range(400):
            rig.clock.advance(0.02)
            heard += [packet.payload for packet in port.packets()]
            if rig.bridge.call_count() == 0:
                break
        await asyncio.wait_for(stopping, 5)
        messages = rig.network.take_sip()
        byes = [m for m in messages if isinstance(m, Request) and m.method == "BYE"]
        finals = {
            (m.get("Call-ID"), m.status)
            for m in messages
            if isinstance(m, Response) and m.status >= 200
        }
        assert [bye.get("Call-ID") for bye in byes] == [phone.call_id]
        assert finals == {(late.call_id, 503)}  # (re-sent until an ACK, as any final)
        prompt = len(prompt_frames(STOPPING_PROMPT))
        assert prompt - 5 <= len(heard) <= prompt + 5  # the prompt, then at once the BYE
        assert _loud(heard) >= prompt // 3
