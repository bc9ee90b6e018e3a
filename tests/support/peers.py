"""Real SIP peers as subprocesses: sipp with our scenarios, and baresip headless (aufile in,
sndfile recording out), configured as shared/notes/real-peers.md measured."""

from __future__ import annotations

import asyncio
import random
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCENARIOS = Path(__file__).resolve().parents[1] / "interop" / "scenarios"


def free_udp_port(pair: bool = False, span: int = 2) -> int:
    """A free even UDP port for a peer (with the ``span - 1`` ports above it free too when
    ``pair``), chosen below the kernel's ephemeral range (32768 and up), so that sockets the
    bridge opens on port 0 meanwhile can never take it."""
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(20000, 32000 - span, 2)
        sockets = []
        try:
            for offset in range(span if pair else 1):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sockets.append(sock)
                sock.bind(("127.0.0.1", port + offset))
            return port
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no free port below the ephemeral range")


def require(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise RuntimeError(f"{program} is not installed; run `make test`, which installs it")
    return path


@dataclass
class PeerResult:
    returncode: int
    stdout: str
    stderr: str


def sipp_command(
    scenario: str,
    sip_port: int,
    service: str,
    workdir: Path,
    *,
    keys: dict[str, str] | None = None,
    fill: dict[str, str] | None = None,
    transport: str = "u1",
    duration_ms: int = 3000,
    timeout: float = 40.0,
) -> list[str]:
    """The command line for one sipp call with ``tests/interop/scenarios/<scenario>.xml``.

    ``keys`` become sipp's ``[key]`` substitutions in messages; ``fill`` replaces ``@NAME@``
    in the file itself (sipp does not substitute inside ``exec`` actions, e.g. play_dtmf).
    The scenario streams ``tone.ulaw`` from ``workdir``, where sipp must run.
    """
    text = (SCENARIOS / f"{scenario}.xml").read_text()
    for name, value in (fill or {}).items():
        text = text.replace(f"@{name}@", value)
    scenario_file = workdir / f"{scenario}.xml"
    scenario_file.write_text(text)
    args = [
        require("sipp"),
        "-sf",
        str(scenario_file),
        f"127.0.0.1:{sip_port}",
        "-s",
        service,
        "-m",
        "1",
        "-i",
        "127.0.0.1",
        "-p",
        str(free_udp_port()),
        "-mp",
        str(free_udp_port(pair=True)),
        "-t",
        transport,
        "-nostdin",
        "-d",
        str(duration_ms),
        "-timeout",
        f"{int(timeout)}s",
        "-timeout_error",
        "-trace_err",
        "-error_file",
        str(workdir / f"{scenario}-errors.log"),
    ]
    for key, value in {"caller": "+447700900101", **(keys or {})}.items():
        args += ["-key", key, value]
    return args


async def run_sipp(
    scenario: str,
    sip_port: int,
    service: str,
    workdir: Path,
    *,
    timeout: float = 40.0,
    **options: Any,
) -> PeerResult:
    """Run one sipp call (see ``sipp_command``) and wait for it."""
    args = sipp_command(scenario, sip_port, service, workdir, timeout=timeout, **options)
    proc = await asyncio.create_subprocess_exec(
        *args,
        cwd=workdir,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout + 10)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
    errors = workdir / f"{scenario}-errors.log"
    detail = errors.read_text(errors="replace")[-3000:] if errors.exists() else ""
    return PeerResult(
        proc.returncode or 0,
        out.decode(errors="replace")[-3000:],
        err.decode(errors="replace")[-2000:] + detail,
    )


class Baresip:
    """One headless baresip: plays ``source`` as its microphone, records what it hears."""

    def __init__(self, workdir: Path, source: Path, name: str = "bob") -> None:
        self.dir = workdir / f"baresip-{name}"
        self.records = self.dir / "rec"
        self.records.mkdir(parents=True, exist_ok=True)
        self.port = free_udp_port()
        (self.dir / "config").write_text(f"""
sip_listen 127.0.0.1:{self.port}
net_interface 127.0.0.1
audio_source aufile,{source}
audio_player aubridge,sink
ausrc_srate 8000
auplay_srate 8000
ausrc_channels 1
auplay_channels 1
rtp_ports {(rtp := free_udp_port(pair=True, span=40))}-{rtp + 39}
module_path /usr/lib/baresip/modules
module stdio.so
module g711.so
module aufile.so
module aubridge.so
module sndfile.so
module_app account.so
module_app menu.so
snd_path {self.records}
""")
        (self.dir / "accounts").write_text(
            f"<sip:{name}@127.0.0.1:{self.port}>;regint=0;answermode=auto;"
            "audio_codecs=PCMU;dtmfmode=rtpevent\n"
        )
        self.proc: asyncio.subprocess.Process | None = None

    async def dial(self, uri: str, seconds: float) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            require("baresip"),
            "-f",
            str(self.dir),
            "-e",
            f"/dial {uri}",
            "-t",
            str(int(seconds) + 5),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=self.dir,
        )

    async def answer_calls(self, seconds: float) -> None:
        """Start without dialling: baresip answers the call that comes (answermode=auto)."""
        self.proc = await asyncio.create_subprocess_exec(
            require("baresip"),
            "-f",
            str(self.dir),
            "-t",
            str(int(seconds) + 5),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=self.dir,
        )

    async def keys(self, keys: str, gap: float = 0.4) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        for key in keys:
            try:
                self.proc.stdin.write(key.encode())
                await self.proc.stdin.drain()
            except (BrokenPipeError, ConnectionResetError) as exc:
                out = await self.proc.stdout.read() if self.proc.stdout else b""
                raise AssertionError(f"baresip has exited: {out.decode()[-2000:]}") from exc
            await asyncio.sleep(gap)

    async def hang_up(self) -> str:
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(b"b")
            await self.proc.stdin.drain()
            await asyncio.sleep(0.5)
            self.proc.stdin.write(b"q")
            await self.proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            out, _ = await asyncio.wait_for(self.proc.communicate(), 10)
        except TimeoutError:
            self.proc.kill()
            out, _ = await self.proc.communicate()
        return out.decode(errors="replace")

    def heard(self) -> Path:
        """The recording of what baresip heard (the decoded stream)."""
        found = sorted(self.records.glob("dump-*-dec.wav"))
        if not found:
            raise AssertionError(f"baresip recorded nothing in {self.records}")
        return found[-1]
