"""A loopback TCP listener that nothing may reach: it counts every connection it accepts and
closes it at once. A test points what must be refused at it and asserts ``reached == 0``;
``prove_reachable`` is the positive control (the test connects itself and sees it counted),
so a trap that was never listening cannot make a test pass. And ``LoopbackOnly``, a network
backend for the webhook sender that reaches nothing but loopback, so that a test whose
defence is broken fails before a packet leaves this machine."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import pytest
from tests.support.waiting import wait_until_sync


class Trap:
    def __init__(self, host: str = "127.0.0.1") -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.host = host
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.bind((host, 0))
        self._sock.listen(16)
        self._sock.settimeout(0.1)
        self.port = int(self._sock.getsockname()[1])
        self.reached = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="trap", daemon=True)
        self._thread.start()

    @property
    def authority(self) -> str:
        """``host:port``, the host bracketed when it is IPv6."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.reached += 1
            connection.close()

    def prove_reachable(self) -> None:
        """The positive control: connect as a client would and see the connection counted."""
        before = self.reached
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as client:
            client.settimeout(5)
            client.connect((self.host, self.port))
        wait_until_sync(lambda: self.reached > before, 5, "the trap to count a connection")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()


@contextmanager
def trapping(host: str = "127.0.0.1") -> Iterator[Trap]:
    trap = Trap(host)
    try:
        yield trap
    finally:
        trap.close()


class LoopbackOnly(httpcore.AsyncNetworkBackend):
    """httpcore's own network backend, for loopback addresses only: the guard below a webhook
    sender hands it addresses, never names, and an address off this machine fails the test
    before any packet is sent (``pytest.fail`` is not an ``Exception``: no sender catches it)."""

    def __init__(self) -> None:
        self._network = httpcore.AnyIOBackend()
        self.connected: list[str] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            pytest.fail(f"a name reached the network unchecked: {host!r}")
        if not address.is_loopback:
            pytest.fail(f"a connection to {address} was attempted: only loopback may be reached")
        self.connected.append(host)
        return await self._network.connect_tcp(
            host, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def sleep(self, seconds: float) -> None:
        await self._network.sleep(seconds)
