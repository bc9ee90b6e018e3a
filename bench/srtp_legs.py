"""What SRTP costs per leg: the bridge's CPU for N legs with plain RTP and with SRTP (both
suites), in the same run, on the same code.

First the whole bridge process under synthetic load (bench/srtp_bridge.py): the figure that
answers "what does a leg cost". Then, to see where the cost goes, the bridge's own work alone:

The real ``BridgeService`` on the test rig's fake clock and in-memory network
(tests/support/bridge_rig.py): N phones join rooms of five (the PIN in the URI; the SRTP
phones over "tls" with RTP/SAVP), then for each window every phone sends one 20 ms packet
per tick while the bridge ticks, and the process CPU time of the window is divided by its
media seconds and legs. The phones' packets (and their SRTP protection) are made before the
window, so only the bridge's work is timed: receive (unprotect), jitter buffer, level, mix,
encode, packetise (protect). Two figures per mode: the CPU time of that work alone (no
sockets: an upper bound of the relative extra), and the time of the same work with each
packet really received from and sent on loopback UDP sockets (the bridge's side only: the
phones' sends and the sink's reads are not timed), closer to a leg in production.

Also the per-packet path alone (``RtpSession.receive`` plus ``packet``), in ns per packet.

``python -m bench.srtp_legs`` (BENCH_SRTP_LEGS=100 by default); writes
bench/results/srtp.json and srtp.md.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

import numpy as np
import uvloop
from tests.support.bridge_rig import Rig, bridge_rig, final_answer
from tests.support.fake_network import FakePort, Phone, phone_sdp

from bench import machine, srtp_bridge
from callroster.bridge.calls import CallState
from callroster.bridge.rtp_session import RtpSession
from callroster.rtp import g711
from callroster.rtp.packet import RtpSender
from callroster.rtp.srtp import SrtpContext
from callroster.sdp.crypto import KEY_SALT_LENGTHS, parse_crypto
from callroster.sdp.offer_answer import SrtpKeys
from callroster.sdp.session import parse_sdp
from callroster.store.conferences import PinMatch

LEGS = int(os.environ.get("BENCH_SRTP_LEGS", "100"))
ROOM = 5
SECONDS = 10.0
ROUNDS = 3
MODES = ("clear", "AES_CM_128_HMAC_SHA1_80", "AEAD_AES_128_GCM")
TARGET_PCT = 20.0
RESULTS = Path(__file__).with_name("results")


def _pin(room: int) -> str:
    return f"{10_000_000 + room}"


async def _join(rig: Rig, number: int, mode: str) -> tuple[Phone, FakePort, SrtpContext | None]:
    phone = Phone(number, _pin(number // ROOM), host=f"127.1.{number // 250}.{number % 250 + 1}")
    body = phone_sdp(*phone.media)
    key = b""
    if mode != "clear":
        phone.arrives_over = "tls"
        key = bytes([number % 251 + 1]) * KEY_SALT_LENGTHS[mode]
        inline = base64.b64encode(key).decode()
        body = phone_sdp(*phone.media, extra=f"a=crypto:1 {mode} inline:{inline}\r\n").replace(
            b"RTP/AVP", b"RTP/SAVP"
        )
    answer = await final_answer(rig, phone, body)
    assert answer.status == 200, answer.status
    media = parse_sdp(answer.body).media[0]
    srtp = None
    if mode != "clear":
        [line] = [parse_crypto(v) for v in media.attribute_values("crypto")]
        srtp = SrtpContext(SrtpKeys(mode, key, line.key, 1))
    return phone, rig.network.ports[media.port], srtp


async def _window(mode: str, legs: int) -> dict[str, Any]:
    async with bridge_rig() as rig:
        for room in range(legs // ROOM + 1):
            rig.directory.pins[_pin(room)] = PinMatch(
                f"conf-{room}", "acct-1", as_host=False, locked=False
            )
        phones = [await _join(rig, n, mode) for n in range(legs)]
        calls = rig.bridge._calls

        async def all_joined() -> None:
            while sum(c.state is CallState.JOINED for c in calls) < legs:
                await asyncio.sleep(0.005)

        await asyncio.wait_for(all_joined(), 60)
        ticks = int(SECONDS / 0.02)
        rng = np.random.default_rng(1)
        speech = [
            g711.encode("PCMU", (rng.normal(0, 3000, 160)).astype(np.int16)) for _ in range(50)
        ]
        # Every packet of the window made (and protected) beforehand: the phones' work.
        wire: list[list[bytes]] = []
        for phone, _, srtp in phones:
            packets = [phone.sender.next_packet(speech[t % 50], 160) for t in range(2 * ticks + 50)]
            wire.append([p if srtp is None else srtp.protect(p) for p in packets])
        ports = [port for _, port, _ in phones]
        sources = [phone.media for phone, _, _ in phones]

        def run(start: int, count: int) -> None:
            for t in range(start, start + count):
                for i, port in enumerate(ports):
                    port.deliver(wire[i][t], sources[i])
                rig.clock.advance(0.02)
                for port in ports:
                    port.sent.clear()

        run(0, 50)  # a second to settle (jitter buffers fill, prompts end)
        cpu = time.process_time()
        run(50, ticks)
        cpu = time.process_time() - cpu
        with_sockets = _with_sockets(rig, ports, sources, wire, ticks)
        encrypted = sum(c.rtp.encrypted for c in calls)
        dropped = sum(
            c.rtp.srtp.counters.auth_failures + c.rtp.srtp.counters.replays
            for c in calls
            if c.rtp.srtp is not None
        )
        return {
            "cpu_s": cpu,
            "per_leg_pct": 100.0 * cpu / SECONDS / legs,
            "sockets_s": with_sockets,
            "per_leg_sockets_pct": 100.0 * with_sockets / SECONDS / legs,
            "encrypted_legs": encrypted,
            "dropped": dropped,
        }


def _with_sockets(
    rig: Rig,
    ports: list[FakePort],
    sources: list[tuple[str, int]],
    wire: list[list[bytes]],
    ticks: int,
) -> float:
    """Seconds the bridge's side took for the window with real UDP on loopback: each
    packet read from a socket before it is delivered, each one the bridge sends written to
    one (a sink that is drained untimed)."""
    phone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    inbox = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    outbox = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for sock in (inbox, sink):
        sock.bind(("127.0.0.1", 0))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sink.setblocking(False)
    to_inbox, to_sink = inbox.getsockname(), sink.getsockname()
    spent = 0.0
    try:
        for t in range(ticks + 50, ticks + 50 + ticks):
            for i in range(len(ports)):
                phone.sendto(wire[i][t % len(wire[i])], to_inbox)  # the phones: untimed
            start = time.perf_counter()
            for i, port in enumerate(ports):
                port.deliver(inbox.recv(2048), sources[i])
            rig.clock.advance(0.02)
            for port in ports:
                for data, _ in port.sent:
                    outbox.sendto(data, to_sink)
                port.sent.clear()
            spent += time.perf_counter() - start
            while True:  # the far ends read what they were sent: untimed
                try:
                    sink.recv(2048)
                except BlockingIOError:
                    break
    finally:
        for sock in (phone, inbox, sink, outbox):
            sock.close()
    return spent


def _per_packet(mode: str, n: int = 20_000) -> float:
    """ns for one packet in and one out through RtpSession."""
    sender = RtpSender(ssrc=7, initial_sequence=1, initial_timestamp=0)
    session = RtpSession(
        codec="PCMU",
        payload_type=0,
        telephone_event_pt=101,
        remote=("192.0.2.1", 4000),
        sender=RtpSender(ssrc=9, initial_sequence=1, initial_timestamp=0),
    )
    phone: SrtpContext | None = None
    if mode != "clear":
        length = KEY_SALT_LENGTHS[mode]
        theirs, ours = b"\x01" * length, b"\x02" * length
        session.srtp = SrtpContext(SrtpKeys(mode, ours, theirs, 1))
        phone = SrtpContext(SrtpKeys(mode, theirs, ours, 1))
    payload = bytes(160)
    packets = [sender.next_packet(payload, 160) for _ in range(n)]
    if phone is not None:
        packets = [phone.protect(p) for p in packets]
    source = ("192.0.2.1", 4000)
    start = time.perf_counter()
    for i, packet in enumerate(packets):
        session.receive(packet, source, i * 0.02)
        session.packet(payload)
        if i % 50 == 0:
            session.jitter.pop(i * 0.02)
    return (time.perf_counter() - start) / n * 1e9


async def measure(legs: int = LEGS) -> dict[str, Any]:
    windows: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    for _ in range(ROUNDS):  # interleaved, so drift in the machine's load hits every mode
        for mode in MODES:
            windows[mode].append(await _window(mode, legs))
    best = {mode: min(rows, key=lambda r: r["cpu_s"]) for mode, rows in windows.items()}
    clear = best["clear"]["per_leg_pct"]
    clear_sockets = min(r["per_leg_sockets_pct"] for r in windows["clear"])
    figures: dict[str, Any] = {"legs": legs, "room": ROOM, "seconds": SECONDS, "rounds": ROUNDS}
    for mode in MODES:
        row = best[mode]
        sockets = min(r["per_leg_sockets_pct"] for r in windows[mode])
        figures[mode] = {
            "per_leg_pct_of_a_core": round(row["per_leg_pct"], 4),
            "extra_over_clear_pct": round(100.0 * (row["per_leg_pct"] / clear - 1.0), 1),
            "per_leg_with_sockets_pct": round(sockets, 4),
            "extra_with_sockets_pct": round(100.0 * (sockets / clear_sockets - 1.0), 1),
            "encrypted_legs": row["encrypted_legs"],
            "dropped": row["dropped"],
            "per_packet_ns": round(min(_per_packet(mode) for _ in range(3))),
        }
    figures["target_extra_pct"] = TARGET_PCT
    return figures


def markdown(record: dict[str, Any]) -> str:
    f = record["figures"]
    p = record["process"]
    lines = [
        "# SRTP against plain RTP, per leg",
        "",
        f"{record['when']}, {record['machine']['cpu']} ({record['machine']['cores']} cores),"
        f" Python {record['machine']['python']}.",
        "",
        "## The bridge process",
        "",
        f"The bridge in its own process (uvloop, real UDP), {p['legs']} synthetic legs in"
        f" conferences of {p['room']}, {p['window_s']:.0f} s windows, plain and SRTP"
        " interleaved, the best window of each kept (bench/srtp_bridge.py).",
        "",
        "| media | process CPU (% of a core) | per leg | extra over clear | tick p99 ms"
        " | RTP in | returned |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode in MODES:
        row = p[mode]
        lines.append(
            f"| {mode} | {row['cpu_pct']:.1f} | {row['per_leg_pct']:.3f} |"
            f" {row['extra_over_clear_pct']:+.1f} % | {row['late_p99_ms']:.2f} |"
            f" {row['rtp_received']:,.0f} | {row['returned_pct']:.1f} % |"
        )
    lines += [
        "",
        "## The bridge's own work",
        "",
        "The bridge's own work on the rig's fake"
        f" network (no sockets), {f['legs']} legs in rooms of {f['room']}, {f['seconds']:.0f} s"
        f" windows, the best of {f['rounds']} interleaved rounds per mode"
        " (bench/srtp_legs.py).",
        "",
        "| media | CPU per leg, no sockets (% of a core) | extra over clear"
        " | with UDP sockets (% of a core) | extra over clear | per packet in+out (ns) |",
        "|---|---|---|---|---|---|",
    ]
    for mode in MODES:
        row = f[mode]
        lines.append(
            f"| {mode} | {row['per_leg_pct_of_a_core']:.3f} | {row['extra_over_clear_pct']:+.1f} %"
            f" | {row['per_leg_with_sockets_pct']:.3f} | {row['extra_with_sockets_pct']:+.1f} %"
            f" | {row['per_packet_ns']:,} |"
        )
    lines += [
        "",
        f"Target: no more than {f['target_extra_pct']:.0f} % extra. Without sockets the"
        " bridge's Python work is all there is, so SRTP's share looks largest; with a read and"
        " a write per packet (as the bridge does; its event loop's own cost is still left"
        " out) it is nearer what a leg in production pays. For scale, bench/results/bridge.md"
        " measured about 0.3 % of a core per clear leg for the whole bridge process.",
        "",
    ]
    return "\n".join(lines)


def run_and_report(results: Path) -> dict[str, Any]:
    results.mkdir(exist_ok=True)
    print("SRTP per leg:", flush=True)
    process = uvloop.run(srtp_bridge.measure())
    figures = asyncio.run(measure())
    record = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine.describe(),
        "process": process,
        "figures": figures,
    }
    (results / "srtp.json").write_text(json.dumps(record, indent=2) + "\n")
    (results / "srtp.md").write_text(markdown(record))
    print(markdown(record))
    return figures


if __name__ == "__main__":
    run_and_report(RESULTS)
