"""The SIP listener in a running service: OPTIONS answered on UDP and TCP; garbage and
oversized datagrams are dropped without harming what follows."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

OPTIONS = (
    "OPTIONS sip:2000@127.0.0.1 SIP/2.0\r\n"
    "Via: SIP/2.0/{transport} 127.0.0.1:5999;branch=z9hG4bK{branch}\r\n"
    "From: <sip:probe@127.0.0.1>;tag=p1\r\n"
    "To: <sip:2000@127.0.0.1>\r\n"
    "Call-ID: {branch}@probe\r\n"
    "CSeq: 1 OPTIONS\r\n"
    "Max-Forwards: 70\r\n"
    "Content-Length: 0\r\n\r\n"
)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    data = tmp_path_factory.mktemp("sip")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLROSTER_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "callroster.cli", "serve", "--data", str(data), "--sip-port",
         "0", "--http-port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"SIP udp\+tcp 127\.0\.0\.1:(\d+)", line)
    assert match, line + (proc.stderr.read() if proc.stderr else "")
    yield int(match.group(1))
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=15) == 0


def _udp(port: int, payload: bytes, timeout: float = 2.0) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(payload, ("127.0.0.1", port))
        try:
            return sock.recv(65536)
        except TimeoutError:
            return None


def test_options_over_udp(service: int) -> None:
    reply = _udp(service, OPTIONS.format(transport="UDP", branch="u1").encode())
    assert reply is not None and reply.startswith(b"SIP/2.0 200 OK\r\n")
    assert b"branch=z9hG4bKu1" in reply and b"CSeq: 1 OPTIONS" in reply


def test_options_over_tcp(service: int) -> None:
    with socket.create_connection(("127.0.0.1", service), timeout=3) as sock:
        sock.sendall(OPTIONS.format(transport="TCP", branch="t1").encode())
        reply = sock.recv(65536)
    assert reply.startswith(b"SIP/2.0 200 OK\r\n")


def test_garbage_and_oversized_datagrams_do_not_harm_the_listener(service: int) -> None:
    assert _udp(service, b"\x00\xff garbage \r\n\r\n", timeout=0.3) is None
    assert _udp(service, b"INVITE sip:x SIP/2.0\r\nVia: nothing\r\n\r\n", timeout=0.3) is None
    assert _udp(service, b"X" * 60000, timeout=0.3) is None
    reply = _udp(service, OPTIONS.format(transport="UDP", branch="u2").encode())
    assert reply is not None and reply.startswith(b"SIP/2.0 200 OK")


def test_invite_is_refused_until_the_bridge_exists(service: int) -> None:
    invite = OPTIONS.replace("OPTIONS", "INVITE").format(transport="UDP", branch="i1")
    reply = _udp(service, invite.encode())
    assert reply is not None and reply.startswith(b"SIP/2.0 480 ")


def test_sipp_gets_200_for_options(service: int, tmp_path: Path) -> None:
    """A real SIP peer (sipp) sends OPTIONS and expects 200."""
    if not Path("/usr/bin/sipp").exists():
        pytest.fail("sipp is not installed; run `make test`, which installs sip-tester")
    scenario = tmp_path / "options.xml"
    scenario.write_text("""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="options">
  <send><![CDATA[
OPTIONS sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 OPTIONS
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200"/>
</scenario>
""")
    result = subprocess.run(
        ["sipp", "-sf", str(scenario), f"127.0.0.1:{service}", "-s", "2000", "-m", "3",
         "-i", "127.0.0.1", "-p", "0", "-nostdin", "-timeout", "10s", "-recv_timeout", "3000"],
        capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
