"""Issue 12, finding 6: toll fraud through dial-out.

The block list was a few premium prefixes: satellite (+881/+882/+883), international premium
(+979), Caribbean numbers inside +1 (+1876, +1809, +1473), +252, +239, +7 840 and UK 084x and
076 numbers were all called for the host ("add a guest by number") and for any guest with the
link ("Have the call phone you"); and the guests' limit was checked before an ``await`` and
counted after it, so 30 requests at once placed 5 calls where the limit was 3.

Replayed against a real ``callroster serve``, whose only trunk points at a loopback UDP
listener that counts every datagram (the carrier, never answering): each of the finding's
numbers is refused with 403 saying why, for the host and for a guest, and the listener hears
nothing; an ordinary London number is called (the positive control: the same trunk is
reached). 30 "call me" requests at once, with the default limit of 3 per address, place
exactly 3 calls; 30 of the host's at once, against the account's cap of calls a day, place
exactly what is left of it.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from tests.support.cli import runner as cli_runner
from tests.support.service import RunningService, clean_env, running_service
from tests.support.waiting import wait_until_sync

PER_DAY = 6  # the account's cap: 1 control + 3 guests + 2 of the host's 30

# (as typed, the country of a national number, why it is refused)
ATTACKS = [
    ("+979 1234 56789", "GB", "satellite and international network"),  # intl premium rate
    ("+881 6 1234 5678", "GB", "satellite and international network"),
    ("+882 3421 234", "GB", "satellite and international network"),
    ("+883 5100 12345", "GB", "satellite and international network"),
    ("+870 773 111 632", "GB", "satellite and international network"),
    ("+1 876 210 1234", "GB", "numbers in JM (+1)"),
    ("+1 809 234 5678", "GB", "numbers in DO (+1)"),
    ("+1 473 403 1234", "GB", "numbers in GD (+1)"),
    ("+252 90 7012345", "GB", "numbers in SO (+252)"),
    ("+239 222 1234", "GB", "numbers in ST (+239)"),
    ("+7 840 123 4567", "GB", "numbers in RU (+7)"),
    ("0843 123 4567", "GB", "premium-rate"),
    ("0871 234 5678", "GB", "premium-rate"),
    ("07640 123456", "GB", "pagers"),
    ("07012 345678", "GB", "personal numbers"),
    ("0300 123 4567", "GB", "non-geographic (UAN)"),
    ("0909 879 0000", "GB", "premium-rate"),
    ("900 555 0123", "US", "premium-rate"),
]
ALLOWED = "020 7946 0123"  # a London landline (Ofcom's range for drama: no one's phone)


class Carrier:
    """The trunk's far end: a UDP socket on loopback that counts the INVITEs it receives
    (by Call-ID) and answers nothing."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self.port = int(self._sock.getsockname()[1])
        self.datagrams = 0
        self.calls: dict[str, str] = {}  # Call-ID: the number in the request URI
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, name="carrier", daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            self.datagrams += 1
            text = data.decode("utf-8", "replace")
            call_id = re.search(r"(?im)^(?:Call-ID|i)\s*:\s*(\S+)", text)
            uri = re.match(r"INVITE sip:([^@]+)@", text)
            if call_id and uri:
                self.calls[call_id.group(1)] = uri.group(1)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sock.close()


@contextmanager
def carrier() -> Iterator[Carrier]:
    listener = Carrier()
    try:
        yield listener
    finally:
        listener.close()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningService, Carrier]]:
    data = tmp_path_factory.mktemp("toll-fraud") / "data"
    settings = {"dial_out_per_account_per_day": str(PER_DAY), "call_me_per_address": "3"}
    with carrier() as trunk, running_service(data, settings=settings) as running:
        added = cli_runner().run(
            [
                *["trunk", "add", "carrier", "--uri", f"sip:127.0.0.1:{trunk.port}"],
                *["--data", str(data)],  # no prefix: it serves every number
            ],
            clean_env(),
        )
        assert added.returncode == 0, added.stderr
        yield running, trunk


def _legs(service: RunningService, demo: dict[str, Any]) -> str:
    return f"{service.base_url}/api/v1/conferences/{demo['conference_id']}/legs"


def _as_host(demo: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {demo['host_token']}"}


def _as_guest(demo: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {demo['web_url'].rsplit('/', 1)[1]}"}


def test_the_findings_numbers_are_refused_for_host_and_guest_and_never_reach_the_trunk(
    service: tuple[RunningService, Carrier],
) -> None:
    running, trunk = service
    demo = running.demo()
    refused: list[tuple[str, str, int, str]] = []
    for number, country, why in ATTACKS:
        for who, headers in (("host", _as_host(demo)), ("guest", _as_guest(demo))):
            answer = httpx.post(
                _legs(running, demo),
                json={"number": number, "country": country, "name": "Mallory"},
                headers=headers,
            )
            detail = answer.json().get("detail", "")
            refused.append((number, who, answer.status_code, detail))
            assert answer.status_code == 403 and why in detail, (number, who, answer.text)
    assert len(refused) == 2 * len(ATTACKS) == 36
    # The positive control: an ordinary number goes through the same trunk.
    placed = httpx.post(
        _legs(running, demo), json={"number": ALLOWED, "name": "Ada"}, headers=_as_host(demo)
    )
    assert placed.status_code == 202, placed.text
    wait_until_sync(lambda: len(trunk.calls) == 1, 15, "the control's INVITE at the trunk")
    assert list(trunk.calls.values()) == ["+442079460123"]


async def _at_once(url: str, headers: dict[str, str], count: int) -> list[int]:
    async with httpx.AsyncClient(timeout=30) as client:
        answers = await asyncio.gather(
            *(
                client.post(url, json={"number": ALLOWED, "name": f"Guest {n}"}, headers=headers)
                for n in range(count)
            )
        )
    return [answer.status_code for answer in answers]


def test_thirty_requests_at_once_place_exactly_the_limit(
    service: tuple[RunningService, Carrier],
) -> None:
    running, trunk = service
    demo = running.demo()
    before = len(trunk.calls)  # the control above, when it ran first
    guests = asyncio.run(_at_once(_legs(running, demo), _as_guest(demo), 30))
    assert sorted(guests) == [202] * 3 + [429] * 27, guests
    wait_until_sync(lambda: len(trunk.calls) == before + 3, 15, "3 INVITEs at the trunk")
    # The host is not held to the guests' limit, but to the account's calls a day.
    left_today = PER_DAY - before - 3
    hosts = asyncio.run(_at_once(_legs(running, demo), _as_host(demo), 30))
    assert sorted(hosts) == [202] * left_today + [429] * (30 - left_today), hosts
    wait_until_sync(lambda: len(trunk.calls) == before + 3 + left_today, 15, "the host's INVITEs")
    assert len(trunk.calls) <= PER_DAY
