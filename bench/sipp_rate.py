"""SIP signalling rate with sipp: ``scenarios/call_rate.xml`` (INVITE to a PIN, ACK, 1 s, BYE)
at a given call rate, summarised from sipp's ``-trace_stat`` CSV (its last line)."""

from __future__ import annotations

import asyncio
import csv
import shutil
import socket
from pathlib import Path
from typing import Any

SCENARIO = Path(__file__).with_name("scenarios") / "call_rate.xml"


def free_port(pair: bool = False) -> int:
    """A free even loopback UDP port (with the odd one above it free too when ``pair``)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port % 2 or port > 65000:
            continue
        if not pair:
            return port
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as odd:
                odd.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no free UDP port")


def _seconds(value: str) -> float:
    """sipp durations: ``HH:MM:SS`` or ``HH:MM:SS:uuuuuu``."""
    parts = value.strip().split(":")
    try:
        hours, minutes, seconds = (int(p) for p in parts[:3])
        micro = int(parts[3]) if len(parts) > 3 else 0
    except ValueError:
        return 0.0
    return hours * 3600 + minutes * 60 + seconds + micro / 1e6


def _epoch(value: str) -> float:
    """sipp timestamps: ``date<TAB>time<TAB>epoch``."""
    try:
        return float(value.split("\t")[-1])
    except ValueError:
        return 0.0


def summarise(stat_csv: Path) -> dict[str, Any]:
    rows = list(csv.reader(stat_csv.read_text(errors="replace").splitlines(), delimiter=";"))
    if len(rows) < 2:
        return {"error": "no statistics written"}
    row = dict(zip(rows[0], rows[-1], strict=False))

    def count(name: str) -> int:
        try:
            return int(row.get(name, "0") or 0)
        except ValueError:
            return 0

    elapsed = _epoch(row.get("CurrentTime", "")) - _epoch(row.get("StartTime", ""))
    call_length = _seconds(row.get("CallLength(C)", ""))
    successful = count("SuccessfulCall(C)")
    creating = max(elapsed - call_length, 1e-3)
    return {
        "created": count("TotalCallCreated"),
        "successful": successful,
        "failed": count("FailedCall(C)"),
        "retransmissions": count("Retransmissions(C)"),
        "elapsed_s": round(elapsed, 2),
        "achieved_calls_per_s": round(successful / creating, 1),
        "invite_to_200_ms": round(_seconds(row.get("ResponseTime1(C)", "")) * 1000, 1),
        "call_length_s": round(call_length, 3),
    }


async def run_rate(sip_port: int, pin: str, rate: int, count: int, workdir: Path) -> dict[str, Any]:
    sipp = shutil.which("sipp")
    if sipp is None:
        return {"rate": rate, "error": "sipp not installed (apt-get install sip-tester)"}
    stat = workdir / f"rate{rate}.csv"
    args = [
        sipp,
        "-sf",
        str(SCENARIO),
        f"127.0.0.1:{sip_port}",
        "-s",
        pin,
        "-r",
        str(rate),
        "-m",
        str(count),
        "-l",
        str(rate * 3 + 20),
        "-i",
        "127.0.0.1",
        "-p",
        str(free_port()),
        "-mp",
        str(free_port(pair=True)),
        "-nostdin",
        "-timeout",
        "60s",
        "-trace_stat",
        "-stf",
        str(stat),
        "-fd",
        "1",
    ]
    proc = await asyncio.create_subprocess_exec(
        *args,
        cwd=workdir,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), 75.0)
    except TimeoutError:
        proc.kill()
        _, err = await proc.communicate()
    result: dict[str, Any] = {"rate": rate, "count": count, "returncode": proc.returncode}
    if stat.exists():
        result.update(summarise(stat))
    else:
        result["error"] = err.decode(errors="replace")[-500:] or "no statistics written"
    return result
