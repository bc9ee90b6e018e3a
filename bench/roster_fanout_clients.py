"""Many Live Call Status watchers in one process on uvloop:
``python -m bench.roster_fanout_clients PORT``.

Each watcher is a minimal WebSocket client on a raw asyncio protocol (the handshake checked,
permessage-deflate offered as browsers offer it, pings answered, every message inflated and
parsed as JSON), so that a thousand of them cost this process little and the latency measured
is the server's. A message is an array of roster messages (the server batches the changes a
watcher has not yet been sent); each change in it counts as one delivery, with its own
latency. ``time.time()`` is read as each read arrives; the parsing is deferred until
every read of that loop iteration has been stamped, so one watcher's parsing never delays
another's stamp. Commands (JSON lines on stdin, one JSON line answered on stdout):

- ``{"cmd": "connect", "conference_id": ..., "token": ..., "n": 1000, "rate": 200,
  "deflate": true}``: open n watchers at that rate, each waiting for its snapshot.
- ``{"cmd": "window_start"}`` / ``{"cmd": "window_end"}``: CPU time over the window.
- ``{"cmd": "drain", "seq": N, "wait_s": 10}``: wait until every open watcher has seq N.
- ``{"cmd": "report", "published": [[seq, t], ...]}``: deliveries and latencies of those.
- ``{"cmd": "close"}``: close every watcher (close handshake, then abort the rest).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import hashlib
import json
import logging
import os
import sys
import time
import zlib
from array import array
from typing import Any, cast

import uvloop

from bench.child_process import command_loop, cpu_seconds, percentile, raise_nofile, reply

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SNAPSHOT_TIMEOUT_S = 30.0
NOFILE = 8192


class Fleet:
    """Every watcher, and the reads waiting to be parsed."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.path = ""
        self.token = ""  # sent in Authorization: a token in the URL is refused
        self.watchers: list[Watcher] = []
        self._pending: list[tuple[Watcher, bytes, float]] = []
        self._scheduled = False
        self._window: tuple[float, float] = (0.0, 0.0)

    def received(self, watcher: Watcher, data: bytes, at: float) -> None:
        self._pending.append((watcher, data, at))
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._parse)

    def _parse(self) -> None:
        self._scheduled = False
        pending, self._pending = self._pending, []
        for watcher, data, at in pending:
            watcher.feed(data, at)

    async def _open(self, deflate: bool) -> tuple[Watcher | None, float, str]:
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        watcher = Watcher(self, deflate)
        try:
            await loop.create_connection(lambda: watcher, "127.0.0.1", self.port)
            await asyncio.wait_for(asyncio.shield(watcher.snapshot), SNAPSHOT_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - counted by kind and reported
            watcher.abort()
            return None, 0.0, f"{type(exc).__name__}: {exc}"[:120]
        return watcher, time.perf_counter() - started, ""

    async def connect(self, path: str, n: int, rate: float, deflate: bool) -> dict[str, Any]:
        self.path = path
        started = time.perf_counter()
        tasks = []
        for i in range(n):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(self._open(deflate)))
        results = await asyncio.gather(*tasks)
        took = sorted(t * 1000.0 for w, t, _ in results if w is not None)
        errors = collections.Counter(e for w, _, e in results if w is None)
        self.watchers = [w for w, _, _ in results if w is not None]
        return {
            "connected": len(self.watchers),
            "failed": n - len(self.watchers),
            "errors": dict(errors.most_common(5)),
            "connect_s": round(time.perf_counter() - started, 2),
            "snapshot_p50_ms": round(percentile(took, 0.50), 1),
            "snapshot_p99_ms": round(percentile(took, 0.99), 1),
            "deflate_negotiated": sum(1 for w in self.watchers if w.inflater is not None),
        }

    def window_start(self) -> dict[str, Any]:
        self._window = (cpu_seconds(), time.perf_counter())
        return {}

    def window_end(self) -> dict[str, Any]:
        cpu0, wall0 = self._window
        return {"cpu_s": cpu_seconds() - cpu0, "wall_s": time.perf_counter() - wall0}

    async def drain(self, seq: int, timeout: float) -> dict[str, Any]:
        started = time.perf_counter()
        while time.perf_counter() - started < timeout:
            if all(w.last_seq >= seq for w in self.watchers if not w.lost):
                break
            await asyncio.sleep(0.05)
        behind = sum(1 for w in self.watchers if not w.lost and w.last_seq < seq)
        return {"behind": behind, "waited_s": round(time.perf_counter() - started, 2)}

    def report(self, published: list[list[float]]) -> dict[str, Any]:
        sent = {int(seq): at for seq, at in published}
        latencies: list[float] = []
        slowest: dict[int, float] = {}
        fastest: dict[int, float] = {}
        out_of_order = 0
        messages = 0  # WebSocket messages that brought those changes
        for watcher in self.watchers:
            out_of_order += watcher.out_of_order
            last_batch = -1
            for seq, at, batch in zip(watcher.seqs, watcher.times, watcher.batches, strict=True):
                published_at = sent.get(seq)
                if published_at is None:
                    continue
                if batch != last_batch:
                    messages, last_batch = messages + 1, batch
                latency = (at - published_at) * 1000.0
                latencies.append(latency)
                if latency > slowest.get(seq, -1e9):
                    slowest[seq] = latency
                if latency < fastest.get(seq, 1e9):
                    fastest[seq] = latency
        latencies.sort()
        last = sorted(slowest.values())
        first = sorted(fastest.values())
        closes = collections.Counter(
            str(w.close_code) if w.close_code is not None else "lost"
            for w in self.watchers
            if w.lost or w.close_code is not None
        )
        expected = len(self.watchers) * len(sent)
        mean = sum(latencies) / len(latencies) if latencies else None
        return {
            "watchers": len(self.watchers),
            "events": len(sent),
            "deliveries": len(latencies),
            "messages": messages,
            "missing": expected - len(latencies),
            "out_of_order": out_of_order,
            "closed": dict(closes),
            # Over every expected delivery, a missing one counting as later than any: None
            # when the percentile falls among the missing.
            "p50_ms": _rank(latencies, expected, 0.50),
            "p90_ms": _rank(latencies, expected, 0.90),
            "p99_ms": _rank(latencies, expected, 0.99),
            "max_ms": _rank(latencies, expected, 1.0),
            "mean_ms": mean if len(latencies) == expected else None,
            # Over the deliveries received only.
            "received_p50_ms": percentile(latencies, 0.50),
            "received_p99_ms": percentile(latencies, 0.99),
            "received_max_ms": latencies[-1] if latencies else 0.0,
            "first_p50_ms": percentile(first, 0.50),
            "last_p50_ms": percentile(last, 0.50),
            "last_p99_ms": percentile(last, 0.99),
        }

    async def close(self) -> dict[str, Any]:
        for watcher in self.watchers:
            watcher.close()
        started = time.perf_counter()
        while time.perf_counter() - started < 5.0:
            if all(w.lost for w in self.watchers):
                break
            await asyncio.sleep(0.05)
        aborted = 0
        for watcher in self.watchers:
            if not watcher.lost:
                watcher.abort()
                aborted += 1
        return {"closed": len(self.watchers) - aborted, "aborted": aborted}


def _rank(received: list[float], expected: int, fraction: float) -> float | None:
    """Nearest-rank percentile of ``expected`` values of which ``received`` (sorted) are the
    lowest and the rest are missing; None when it falls among the missing."""
    if expected == 0:
        return 0.0
    rank = min(expected - 1, max(0, int(round(fraction * expected + 0.5)) - 1))
    return received[rank] if rank < len(received) else None


class Watcher(asyncio.Protocol):
    """One WebSocket client of ``/api/v1/conferences/{id}/live``."""

    def __init__(self, fleet: Fleet, deflate: bool) -> None:
        self.fleet = fleet
        self.deflate = deflate
        self.key = base64.b64encode(os.urandom(16))
        self.transport: asyncio.Transport | None = None
        self.snapshot: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.upgraded = False
        self.head = b""
        self.buffer = bytearray()
        self.inflater: Any = None  # zlib's decompress object, once deflate is agreed
        self.fragments: list[bytes] = []
        self.compressed = False
        self.seqs = array("q")
        self.times = array("d")
        self.batches = array("q")  # per change: the number of the message that brought it
        self.received_messages = 0
        self.last_seq = 0
        self.out_of_order = 0
        self.close_code: int | None = None
        self.lost = False

    # -- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        lines = [
            f"GET {self.fleet.path} HTTP/1.1",
            f"Host: 127.0.0.1:{self.fleet.port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {self.key.decode()}",
            "Sec-WebSocket-Version: 13",
            f"Authorization: Bearer {self.fleet.token}",
        ]
        if self.deflate:
            lines.append("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    def data_received(self, data: bytes) -> None:
        self.fleet.received(self, data, time.time())

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self.snapshot.done():
            self.snapshot.set_exception(ConnectionError(f"closed before the snapshot: {exc}"))

    # -- WebSocket -------------------------------------------------------------------------
    def feed(self, data: bytes, at: float) -> None:
        if not self.upgraded:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            head, data = self.head[:end].decode("latin-1"), self.head[end + 4 :]
            if not self._handshake(head):
                return
        buffer = self.buffer
        buffer += data
        pos = 0
        while len(buffer) - pos >= 2:
            first, second = buffer[pos], buffer[pos + 1]
            length, header = second & 0x7F, 2
            if length == 126:
                if len(buffer) - pos < 4:
                    break
                length, header = int.from_bytes(buffer[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if len(buffer) - pos < 10:
                    break
                length, header = int.from_bytes(buffer[pos + 2 : pos + 10], "big"), 10
            if len(buffer) - pos < header + length:
                break
            payload = bytes(buffer[pos + header : pos + header + length])
            pos += header + length
            self._frame(first, payload, at)
        del buffer[:pos]

    def _handshake(self, head: str) -> bool:
        status, *header_lines = head.split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        expected = base64.b64encode(hashlib.sha1(self.key + GUID).digest()).decode()
        if status.split(" ")[1:2] != ["101"] or headers.get("sec-websocket-accept") != expected:
            self._fail(ConnectionError(f"handshake refused: {status}"))
            return False
        extensions = headers.get("sec-websocket-extensions", "")
        if "permessage-deflate" in extensions:
            bits = 15
            for parameter in extensions.split(";"):
                name, _, value = parameter.strip().partition("=")
                if name == "server_max_window_bits" and value:
                    bits = int(value.strip('"'))
            self.inflater = zlib.decompressobj(wbits=-bits)
        self.upgraded = True
        self.head = b""
        return True

    def _frame(self, first: int, payload: bytes, at: float) -> None:
        opcode = first & 0x0F
        if opcode in (1, 2):
            self.compressed = bool(first & 0x40)
            self.fragments = [payload]
        elif opcode == 0:
            self.fragments.append(payload)
        elif opcode == 9:
            self._send(0xA, payload)
            return
        elif opcode == 8:
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self._send(0x8, payload[:2])
            return
        else:
            return
        if not first & 0x80:
            return
        message = b"".join(self.fragments)
        self.fragments = []
        if self.compressed:
            message = self.inflater.decompress(message + b"\x00\x00\xff\xff")
        # One WebSocket message is a batch: every change in it counts, each with its own
        # latency (this receipt minus its own publish time).
        self.received_messages += 1
        for roster_message in json.loads(message):
            self._message(roster_message, at)

    def _message(self, message: dict[str, Any], at: float) -> None:
        seq = int(message["seq"])
        if message.get("type") == "snapshot":
            self.last_seq = seq
            if not self.snapshot.done():
                self.snapshot.set_result(seq)
            return
        if seq <= self.last_seq:
            self.out_of_order += 1
            return
        self.last_seq = seq
        self.seqs.append(seq)
        self.times.append(at)
        self.batches.append(self.received_messages)

    def _send(self, opcode: int, payload: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
        self.transport.write(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)

    def _fail(self, exc: Exception) -> None:
        if not self.snapshot.done():
            self.snapshot.set_exception(exc)
        self.abort()

    def close(self) -> None:
        if not self.lost:
            self._send(0x8, (1000).to_bytes(2, "big"))

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


async def main_async(port: int) -> None:
    limits = raise_nofile(NOFILE)
    fleet = Fleet(port)
    reply(limits)

    async def handle(name: str, args: dict[str, Any]) -> dict[str, Any]:
        if name == "connect":
            path = f"/api/v1/conferences/{args['conference_id']}/live"
            fleet.token = args["token"]
            n, rate, deflate = int(args["n"]), float(args["rate"]), bool(args["deflate"])
            return await fleet.connect(path, n, rate, deflate)
        if name == "window_start":
            return fleet.window_start()
        if name == "window_end":
            return fleet.window_end()
        if name == "drain":
            return await fleet.drain(int(args["seq"]), float(args["wait_s"]))
        if name == "report":
            return fleet.report(args["published"])
        if name == "close":
            return await fleet.close()
        return {"error": f"unknown command {name!r}"}

    try:
        await command_loop(handle)
    finally:
        for watcher in fleet.watchers:
            watcher.abort()


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    uvloop.run(main_async(int(sys.argv[1])))


if __name__ == "__main__":
    main()
