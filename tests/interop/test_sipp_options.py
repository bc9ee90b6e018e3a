"""sipp, a real SIP peer, against the running service."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.service import running_service


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with running_service(tmp_path_factory.mktemp("sipp"), demo=False) as running:
        yield running.sip_port


@pytest.mark.interop
@pytest.mark.parametrize("transport", ["u1", "t1"])
def test_sipp_options_get_200(service: int, tmp_path: Path, transport: str) -> None:
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
        [
            "sipp",
            "-sf",
            str(scenario),
            f"127.0.0.1:{service}",
            "-s",
            "2000",
            "-m",
            "3",
            "-i",
            "127.0.0.1",
            "-p",
            "0",
            "-t",
            transport,
            "-nostdin",
            "-timeout",
            "10s",
            "-recv_timeout",
            "3000",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
