"""Issue 12, finding 3: one unauthenticated request could take the server's memory.

A 300 MB ``PATCH /api/v1/me`` without credentials was read whole and parsed as JSON before
the credential was checked: it answered 422 after 2.6 s and the service grew by 800 MB here
(1.2 GB in the report), which it kept. Replayed against a real ``callroster serve``: 300 MB
streamed chunked from a generator, declared in ``Content-Length``, and sent behind a
``Content-Length`` that lies (says 1,000 bytes); without credentials, and with them. Each must
be answered (401 or 413) within ``MAX_ANSWER_S`` while the service's peak resident memory
grows by less than ``MAX_GROWTH_MB``. Positive controls: a small authenticated body is served,
a body of exactly the limit is accepted and one byte more refused (64 KiB, and the contact
list's 2 MiB).
"""

from __future__ import annotations

import json
import logging
import select
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.service import RunningService, running_service

MB = 1024 * 1024
ATTACK_BYTES = 300 * MB
CHUNK = 64 * 1024
MAX_ANSWER_S = 1.0  # unfixed: 2.6 s, and then only after all 300 MB had been read
MAX_GROWTH_MB = 20.0  # unfixed: 800 MB
ANSWER_DEADLINE_S = 10.0  # how long an attacker's socket waits for any answer at all
LIMIT = 64 * 1024
CONTACTS_LIMIT = 2 * MB
log = logging.getLogger(__name__)  # the figures: run with --log-cli-level=INFO to see them


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    with running_service(tmp_path_factory.mktemp("flood") / "data") as running:
        yield running


@pytest.fixture(scope="module")
def demo(service: RunningService) -> dict[str, Any]:
    return service.demo()


# -- the service's memory --------------------------------------------------------------------
def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


@contextmanager
def peak_growth(pid: int) -> Iterator[dict[str, float]]:
    """How far the process's resident memory rose above where it started, in MB, at its peak
    (VmHWM, reset before: writing 5 to clear_refs) and at the end (VmRSS)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    before = _status_kb(pid, "VmRSS")
    figures: dict[str, float] = {}
    yield figures
    figures["peak_mb"] = (_status_kb(pid, "VmHWM") - before) / 1024
    figures["end_mb"] = (_status_kb(pid, "VmRSS") - before) / 1024


# -- an attacker's socket --------------------------------------------------------------------
@dataclass
class Answer:
    status: int
    seconds: float  # from the first byte sent to the answer's first byte
    bytes_sent: int  # after the head, before the answer came (or the server hung up)


def attack(port: int, head: bytes, body_bytes: int, *, chunked: bool) -> Answer:
    """Send ``head``, then ``body_bytes`` of body (chunked, or as they are), reading all the
    while, as a client that keeps sending for as long as the server takes it."""
    frames = _frames(body_bytes, chunked)
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setblocking(False)
    started = time.monotonic()
    sock.sendall(head)
    sent, pending, answer, hung_up = 0, b"", b"", False
    try:
        while b"\r\n" not in answer and time.monotonic() - started < ANSWER_DEADLINE_S:
            if not pending and not hung_up:
                pending = next(frames, b"")
            readable, writable, _ = select.select([sock], [sock] if pending else [], [], 0.5)
            if readable:
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    data = b""
                if not data:
                    break
                answer += data
            elif writable:
                try:
                    written = sock.send(pending)
                except (BrokenPipeError, ConnectionResetError):
                    hung_up, pending = True, b""  # what the server said is still to be read
                else:
                    sent, pending = sent + written, pending[written:]
        seconds = time.monotonic() - started
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 "), (
        f"no answer within {seconds:.1f} s, after {sent / MB:.1f} MB sent: {answer[:200]!r}"
    )
    return Answer(int(answer.split()[1]), seconds, sent)


def _frames(size: int, chunked: bool) -> Iterator[bytes]:
    block = b"x" * CHUNK
    for _ in range(size // CHUNK):
        yield f"{CHUNK:x}\r\n".encode() + block + b"\r\n" if chunked else block
    if chunked:
        yield b"0\r\n\r\n"


def head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def bearer(demo: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {demo['host_token']}"}


JSON = {"Content-Type": "application/json"}


# -- the attacks -----------------------------------------------------------------------------
def test_300_mb_streamed_without_credentials_is_refused_at_once(service: RunningService) -> None:
    """As the report sent it: chunked, from a generator, through an ordinary client."""
    yielded = 0

    def body() -> Iterator[bytes]:
        nonlocal yielded
        chunk = b"x" * CHUNK
        while yielded < ATTACK_BYTES:
            yielded += CHUNK
            yield chunk

    with peak_growth(service.process.pid) as growth:
        started = time.monotonic()
        answer = httpx.patch(f"{service.base_url}/api/v1/me", content=body(), headers=JSON)
        seconds = time.monotonic() - started
    log.info(
        "chunked from a generator, no credentials: %d in %.3f s after %.1f MB offered; %s",
        answer.status_code,
        seconds,
        yielded / MB,
        growth,
    )
    assert answer.status_code == 401
    assert answer.headers["connection"] == "close"
    assert seconds < MAX_ANSWER_S
    assert growth["peak_mb"] < MAX_GROWTH_MB and growth["end_mb"] < MAX_GROWTH_MB


@pytest.mark.parametrize(
    ("framing", "declared", "status"),
    [
        ("chunked", None, 401),  # counted as it streams; refused before a byte is read
        ("declared", ATTACK_BYTES, 413),  # refused on its Content-Length alone
        ("lying", 1_000, 401),  # says 1,000 bytes, sends 300 MB
    ],
)
def test_300_mb_without_credentials_is_answered_before_it_is_read(
    service: RunningService, framing: str, declared: int | None, status: int
) -> None:
    headers = {**JSON}
    if declared is None:
        headers["Transfer-Encoding"] = "chunked"
    else:
        headers["Content-Length"] = str(declared)
    with peak_growth(service.process.pid) as growth:
        answer = attack(
            service.http_port,
            head("PATCH", "/api/v1/me", headers),
            ATTACK_BYTES,
            chunked=framing == "chunked",
        )
    log.info("%s, no credentials: %s; %s", framing, answer, growth)
    assert answer.status == status
    assert answer.seconds < MAX_ANSWER_S
    assert answer.bytes_sent < ATTACK_BYTES
    assert growth["peak_mb"] < MAX_GROWTH_MB and growth["end_mb"] < MAX_GROWTH_MB


@pytest.mark.parametrize(
    ("framing", "declared", "status"),
    [
        ("chunked", None, 413),  # cut as soon as it passes 64 KiB
        ("declared", ATTACK_BYTES, 413),
        # Says 60,000 bytes (under the limit), sends 300 MB: the first 60,000 are the body
        # (not JSON: 422); the rest is no request at all (400), and the connection is closed.
        ("lying", 60_000, 422),
    ],
)
def test_300_mb_with_credentials_is_cut_at_the_limit(
    service: RunningService, demo: dict[str, Any], framing: str, declared: int | None, status: int
) -> None:
    headers = {**JSON, **bearer(demo)}
    if declared is None:
        headers["Transfer-Encoding"] = "chunked"
    else:
        headers["Content-Length"] = str(declared)
    with peak_growth(service.process.pid) as growth:
        answer = attack(
            service.http_port,
            head("PATCH", "/api/v1/me", headers),
            ATTACK_BYTES,
            chunked=framing == "chunked",
        )
    log.info("%s, the host's token: %s; %s", framing, answer, growth)
    assert answer.status == status
    assert answer.seconds < MAX_ANSWER_S
    assert answer.bytes_sent < ATTACK_BYTES
    assert growth["peak_mb"] < MAX_GROWTH_MB and growth["end_mb"] < MAX_GROWTH_MB


# -- positive controls -----------------------------------------------------------------------
def padded(document: dict[str, str], size: int) -> bytes:
    """``document`` as JSON, padded with spaces to exactly ``size`` bytes."""
    text = json.dumps(document).encode()
    return text + b" " * (size - len(text))


@pytest.mark.parametrize("framing", ["declared", "chunked"])
def test_bodies_up_to_the_limit_are_served_and_one_byte_more_is_not(
    service: RunningService, demo: dict[str, Any], framing: str
) -> None:
    def patch(body: bytes) -> httpx.Response:
        content: bytes | Iterator[bytes] = body if framing == "declared" else iter([body])
        return httpx.patch(
            f"{service.base_url}/api/v1/me", content=content, headers={**JSON, **bearer(demo)}
        )

    small = patch(json.dumps({"name": "Hana Host"}).encode())
    assert small.status_code == 200 and small.json()["name"] == "Hana Host"
    at_limit = patch(padded({"name": "Hana Limit"}, LIMIT))
    assert at_limit.status_code == 200 and at_limit.json()["name"] == "Hana Limit"
    over = patch(padded({"name": "Hana Over"}, LIMIT + 1))
    assert over.status_code == 413, over.text
    # The refused change was not made.
    me = httpx.get(f"{service.base_url}/api/v1/me", headers=bearer(demo))
    assert me.json()["name"] == "Hana Limit"


def test_the_contact_list_may_be_2_mib_and_no_more(
    service: RunningService, demo: dict[str, Any]
) -> None:
    def upload(size: int) -> httpx.Response:
        return httpx.post(
            f"{service.base_url}/api/v1/contacts",
            content=b"x" * size,
            headers={"Content-Type": "text/plain", **bearer(demo)},
        )

    # Read whole, then refused for what it is (not CSV or vCard), not for its size.
    assert upload(CONTACTS_LIMIT).status_code == 415
    assert upload(CONTACTS_LIMIT + 1).status_code == 413
