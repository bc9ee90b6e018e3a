"""Crashes and restarts lose nothing and leave nothing hanging (issue 13), with real sipp
callers against `callroster serve` as a process of its own.

- ``kill -9`` with three callers on the demo conference, then a start on the same data and
  ports: the three legs end at the last heartbeat (no later than the kill) with reason
  ``service_restart``, and each caller gets a BYE (its scenario fails without one).
- SIGTERM with three callers: each hears the "service is restarting" prompt (loud RTP after
  the signal), then a BYE; every leg is closed and no dialog is left before the process
  has gone, so the next start finds nothing to close.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from tests.support.peers import PeerResult, free_udp_port, sipp_command
from tests.support.service import RunningService, running_service
from tests.support.waiting import wait_until

from callroster.bridge.restart import GRACEFUL_STOP_SECONDS, HEARTBEAT_SECONDS
from callroster.config import load_settings
from callroster.rtp import g711
from callroster.store.models import Leg, OpenLeg
from callroster.store.store import Store, open_store

pytestmark = pytest.mark.interop

CALLERS = ("+447700900301", "+447700900302", "+447700900303")
LOUD = 500.0  # mean |sample| of a frame of speech; the mix of three silent callers is ~0


class RtpListener:
    """The media port a sipp caller advertises: notes when each RTP packet came, and how
    loud it was (G.711 u-law decoded)."""

    def __init__(self) -> None:
        self.port = free_udp_port()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", self.port))
        self._sock.settimeout(0.2)
        self.packets: list[tuple[float, float]] = []  # (time.time(), mean |sample|)
        self._running = True
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while self._running:
            try:
                data = self._sock.recv(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            if len(data) > 12:
                samples = g711.decode("PCMU", data[12:])
                self.packets.append((time.time(), float(np.abs(samples).mean())))

    def loud_after(self, moment: float) -> int:
        return sum(1 for at, level in self.packets if at >= moment and level >= LOUD)

    def close(self) -> None:
        self._running = False
        self._thread.join(timeout=2)
        self._sock.close()


@contextmanager
def listeners(count: int) -> Iterator[list[RtpListener]]:
    made = [RtpListener() for _ in range(count)]
    try:
        yield made
    finally:
        for listener in made:
            listener.close()


def free_ports() -> tuple[int, int]:
    """A SIP port free on UDP and TCP, and a web port, to start the service on twice."""
    for _ in range(50):
        sip = free_udp_port()
        with socket.socket() as tcp, socket.socket() as web:
            try:
                tcp.bind(("127.0.0.1", sip))
                web.bind(("127.0.0.1", 0))
            except OSError:
                continue
            return sip, web.getsockname()[1]
    raise RuntimeError("no free ports")


async def start_callers(
    service: RunningService, pin: str, workdir: Path, ears: list[RtpListener]
) -> list[asyncio.subprocess.Process]:
    """Each caller dials the PIN directly and waits (120 s at most) for the bridge's BYE."""
    procs = []
    for number, ear in zip(CALLERS, ears, strict=True):
        folder = workdir / f"caller{number[-1]}"
        folder.mkdir()
        args = sipp_command(
            "until_bye",
            service.sip_port,
            pin,
            folder,
            keys={"caller": number, "listen_host": "127.0.0.1", "listen_port": str(ear.port)},
            fill={"WAIT": "120000"},
            timeout=150,
        )
        procs.append(
            await asyncio.create_subprocess_exec(
                *args,
                cwd=folder,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        )
    return procs


async def finished(proc: asyncio.subprocess.Process, timeout: float) -> PeerResult:
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return PeerResult(proc.returncode or 0, out.decode()[-2000:], err.decode()[-2000:])


def open_legs(store: Store) -> int:
    """Legs the service has written as connected and not ended."""
    with store.sessions() as session:
        rows = session.scalars(select(Leg).where(Leg.left_at.is_(None))).all()
        return sum(1 for row in rows if row.status == "connected")


def beat_since_joined(store: Store) -> bool:
    """Whether a heartbeat was written after the last leg joined."""
    with store.sessions() as session:
        joined = max(session.scalars(select(Leg.joined_at)).all())
    last_alive = store.restart.last_alive(load_settings().resolved_node_name)
    return last_alive is not None and last_alive > joined


@contextmanager
def stored(data: Path) -> Iterator[Store]:
    store = open_store(load_settings(data=data))
    try:
        yield store
    finally:
        store.close()


async def test_a_killed_service_ends_its_calls_and_closes_its_legs_on_restart(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    sip_port, http_port = free_ports()
    with listeners(3) as ears:
        with running_service(data, sip_port=sip_port, http_port=http_port) as service:
            pin = service.demo()["pin"]
            callers = await start_callers(service, pin, tmp_path, ears)
            with stored(data) as store:
                await wait_until(lambda: open_legs(store) == 3, 30, "three legs connected")
                # A heartbeat since they joined, so that the end time is the heartbeat's.
                await wait_until(lambda: beat_since_joined(store), 15, "a heartbeat")
                killed_at = dt.datetime.now(dt.UTC)
                service.process.kill()
                service.process.wait(timeout=10)
                assert all(proc.returncode is None for proc in callers)  # no BYE came
                assert open_legs(store) == 3  # ...and the store still says connected
        with running_service(data, demo=False, sip_port=sip_port, http_port=http_port):
            results = [await finished(proc, 30) for proc in callers]
    for result in results:
        assert result.returncode == 0, result.stdout + result.stderr  # its BYE came
    with stored(data) as store, store.sessions() as session:
        legs = session.scalars(select(Leg)).all()
        assert len(legs) == 3
        for leg in legs:
            assert leg.status == "left" and leg.end_reason == "service_restart"
            assert leg.left_at is not None and leg.joined_at <= leg.left_at <= killed_at
            # the last heartbeat: at most one interval (and a little) before the kill
            assert killed_at - leg.left_at < dt.timedelta(seconds=HEARTBEAT_SECONDS + 2)
        assert session.scalars(select(OpenLeg)).all() == []


async def test_sigterm_tells_callers_ends_their_calls_and_closes_every_record(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    with listeners(3) as ears, running_service(data) as service:
        pin = service.demo()["pin"]
        callers = await start_callers(service, pin, tmp_path, ears)
        with stored(data) as store:
            await wait_until(lambda: open_legs(store) == 3, 30, "three legs connected")
            await wait_until(
                lambda: all(ear.loud_after(time.time() - 0.5) == 0 for ear in ears),
                15,
                "the joining prompts to end",
            )
            with store.sessions() as session:
                kept = session.scalars(select(OpenLeg)).all()
                assert [row.dialog_enc is not None for row in kept] == [True] * 3  # while on
        terminated_at = time.time()
        service.process.send_signal(15)  # SIGTERM, as systemd sends
        results = [await finished(proc, 30) for proc in callers]
        service.process.wait(timeout=GRACEFUL_STOP_SECONDS + 10)
        gone_after = time.time() - terminated_at
    for result in results:
        assert result.returncode == 0, result.stdout + result.stderr  # its BYE came
    for ear in ears:
        # The prompt (3.5 s, 105 loud frames measured): at least 1.2 s of speech after the
        # signal, before the BYE; three silent callers' mix has none.
        assert ear.loud_after(terminated_at) >= 60, ear.loud_after(terminated_at)
    assert gone_after < GRACEFUL_STOP_SECONDS + 10
    with stored(data) as store:
        with store.sessions() as session:
            legs = session.scalars(select(Leg)).all()
            assert [leg.status for leg in legs] == ["left"] * 3
            assert all(leg.left_at is not None and leg.end_reason is None for leg in legs)
            assert session.scalars(select(OpenLeg)).all() == []
        # What the next start would find to close: nothing.
        recovery = store.restart.recover(load_settings().resolved_node_name)
        assert (recovery.legs_closed, recovery.records_closed, recovery.dialogs) == (0, 0, ())
