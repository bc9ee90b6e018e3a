"""Real SIP peers as subprocesses: sipp with our scenarios, and baresip headless (aufile in,
sndfile recording out), configured as shared/notes/real-peers.md measured."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import shutil
import socket
import subprocess
import tempfile
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support import audio
from tests.support.waiting import until, wait_until

SCENARIOS = Path(__file__).resolve().parents[1] / "interop" / "scenarios"


_HANDED_OUT: collections.deque[range] = collections.deque(maxlen=256)


def free_udp_port(pair: bool = False, span: int = 2) -> int:
    """A free even UDP port for a peer (with the ``span - 1`` ports above it free too when
    ``pair``), chosen below the kernel's ephemeral range (32768 and up), so that sockets the
    bridge opens on port 0 meanwhile can never take it. A port range handed out recently in
    this process is never handed out again, even if its peer has not bound it yet."""
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(20000, 32000 - span, 2)
        wanted = range(port, port + (span if pair else 1))
        if any(wanted.start < given.stop and given.start < wanted.stop for given in _HANDED_OUT):
            continue
        sockets = []
        try:
            for offset in range(span if pair else 1):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sockets.append(sock)
                sock.bind(("127.0.0.1", port + offset))
            _HANDED_OUT.append(wanted)
            return port
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no free port below the ephemeral range")


def udp_port_bound(port: int) -> bool:
    """Has some process bound this UDP port on 127.0.0.1 (or any address)? Read from
    /proc/net/udp, so that looking never takes the port from the peer that is starting."""
    wanted = f":{port:04X}"
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        with contextlib.suppress(FileNotFoundError), open(table) as rows:
            for row in list(rows)[1:]:
                local = row.split()[1]
                if local.endswith(wanted):
                    return True
    return False


async def wait_listening(port: int, what: str = "the peer", timeout: float = 10.0) -> None:
    """Wait until a peer we started (sipp as a carrier) has bound its SIP port."""
    await wait_until(lambda: udp_port_bound(port), timeout, f"{what} listening on {port}")


def require(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise RuntimeError(f"{program} is not installed; run `make test`, which installs it")
    return path


def sipp_tone_file(workdir: Path, frequency: float = 1000.0, seconds: float = 30.0) -> Path:
    """A speech-like tone as the raw u-law stream file (``tone.ulaw``) that sipp's scenarios
    play from ``workdir``; returns its path."""
    wav = workdir / f"tone{int(frequency)}.wav"
    audio.speech_like_tone(wav, frequency, seconds)
    raw = workdir / "tone.ulaw"
    subprocess.run(
        ["sox", str(wav), "-r", "8000", "-c", "1", "-e", "u-law", "-t", "raw", str(raw)], check=True
    )
    return raw


def pin_keys(pin: str) -> dict[str, str]:
    """The PIN as the ``p1``..``pN`` keys of the scenarios that send it by SIP INFO."""
    return {f"p{i}": digit for i, digit in enumerate(pin, start=1)}


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
    host: str = "127.0.0.1",
    local_ip: str = "127.0.0.1",
) -> list[str]:
    """The command line for one sipp call with ``tests/interop/scenarios/<scenario>.xml``.

    ``keys`` become sipp's ``[key]`` substitutions in messages; ``fill`` replaces ``@NAME@``
    in the file itself (sipp does not substitute inside ``exec`` actions, e.g. play_dtmf).
    The scenario streams ``tone.ulaw`` from ``workdir``, where sipp must run. sipp calls the
    bridge at ``host`` from ``local_ip``, the address it binds and writes in its messages.
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
        f"{host}:{sip_port}",
        "-s",
        service,
        "-m",
        "1",
        "-i",
        local_ip,
        "-p",
        str(free_udp_port()),
        "-mp",
        # sipp binds audio RTP at this port and video RTP two above it (with RTCP beside each)
        str(free_udp_port(pair=True, span=4)),
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
    prefix: Sequence[str] = (),
    **options: Any,
) -> PeerResult:
    """Run one sipp call (see ``sipp_command``) and wait for it; ``prefix`` goes before
    the command line (``ip netns exec <namespace>``: see :mod:`tests.support.netns`)."""
    args = sipp_command(scenario, sip_port, service, workdir, timeout=timeout, **options)
    proc = await asyncio.create_subprocess_exec(
        *prefix,
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
    """One headless baresip: plays ``source`` as its microphone, records what it hears.

    It binds and advertises ``address`` (127.0.0.1 by default); ``prefix`` goes before its
    command line, e.g. ``ip netns exec <namespace>`` to run it behind a NAT
    (:mod:`tests.support.netns`) with that network's private address.

    SIP over TLS (its libre has it): ``certificate`` (certificate and key in one PEM, from
    tests/support/certs.py) makes it listen for TLS on ``tls_port`` (its SIP port + 1, as
    baresip does it) too; ``cafile`` is what it trusts as a TLS client. ``mediaenc``: its
    account's media encryption (``srtp-mand``: RTP/SAVP with SDES keys, its srtp module;
    ``srtp``: RTP/AVP with ``a=crypto``, best effort)."""

    def __init__(
        self,
        workdir: Path,
        source: Path,
        name: str = "bob",
        *,
        address: str = "127.0.0.1",
        prefix: Sequence[str] = (),
        certificate: Path | None = None,
        cafile: Path | None = None,
        mediaenc: str | None = None,
    ) -> None:
        self.prefix = tuple(prefix)
        self.dir = workdir / f"baresip-{name}"
        self.dir.mkdir(parents=True, exist_ok=True)
        # baresip's sndfile module builds each recording's file name (this folder, the call's
        # SIP addresses) in a fixed-size buffer and silently records nothing when it does not
        # fit: a deep pytest folder (a pytest-xdist worker's) was enough. So a short folder,
        # removed with this object.
        self.records = Path(tempfile.mkdtemp(prefix="bsrec-"))
        weakref.finalize(self, shutil.rmtree, self.records, True)
        self.port = free_udp_port()
        self.tls_port = self.port + 1
        tls = f"sip_certificate {certificate}\n" if certificate else ""
        tls += f"sip_cafile {cafile}\n" if cafile else ""
        (self.dir / "config").write_text(f"""{tls}
sip_listen {address}:{self.port}
net_interface {address}
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
{"module srtp.so" if mediaenc else ""}
module_app account.so
module_app menu.so
snd_path {self.records}
""")
        (self.dir / "accounts").write_text(
            f"<sip:{name}@{address}:{self.port}>;regint=0;answermode=auto;"
            f"audio_codecs=PCMU;dtmfmode=rtpevent{f';mediaenc={mediaenc}' if mediaenc else ''}\n"
        )
        self.proc: asyncio.subprocess.Process | None = None
        self._output = bytearray()
        self._reader: asyncio.Task[None] | None = None

    async def dial(self, uri: str, seconds: float) -> None:
        await self._start("-e", f"/dial {uri}", "-t", str(int(seconds) + 5))

    async def answer_calls(self, seconds: float) -> None:
        """Start without dialling: baresip answers the call that comes (answermode=auto)."""
        await self._start("-t", str(int(seconds) + 5))
        await self.wait_for_output("baresip is ready.")  # listening on its SIP port

    async def _start(self, *args: str) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *self.prefix,
            require("baresip"),
            "-f",
            str(self.dir),
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=self.dir,
        )
        self._output = bytearray()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while chunk := await self.proc.stdout.read(4096):
            self._output += chunk

    @property
    def output(self) -> str:
        """What baresip has printed so far."""
        return self._output.decode(errors="replace")

    async def wait_for_output(self, text: str, timeout: float = 10.0) -> None:
        """Wait until baresip has printed ``text``, e.g. ``Call established``."""
        proc = self.proc

        def printed() -> bool:
            if text in self.output:
                return True
            if proc is not None and proc.returncode is not None:
                raise AssertionError(f"baresip has exited: {self.output[-2000:]}")
            return False

        await wait_until(printed, timeout, f"baresip to print {text!r}")

    async def media_up(self, timeout: float = 10.0) -> None:
        """The call is answered and the far end's audio is arriving (so key presses sent as
        RFC 4733 events now reach a bridge that is listening)."""
        await self.wait_for_output("incoming rtp for 'audio' established", timeout)

    async def keys(self, keys: str, gap: float = 0.4) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        for key in keys:
            try:
                self.proc.stdin.write(key.encode())
                await self.proc.stdin.drain()
            except (BrokenPipeError, ConnectionResetError) as exc:
                raise AssertionError(f"baresip has exited: {self.output[-2000:]}") from exc
            # baresip's own timing: a key sent while the previous one's RFC 4733 event is
            # still going out is lost, so key presses are spaced as a person would space them.
            await asyncio.sleep(gap)

    async def hang_up(self) -> str:
        """Hang up (``b``), then quit once the call is over (``q``); returns all its output."""
        proc = self.proc
        assert proc is not None and proc.stdin is not None
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            proc.stdin.write(b"b")
            await proc.stdin.drain()
            # Quit once the call is over (its recording then complete): ended by us
            # ("terminated") or already by the far end ("session closed"); at most 2 s.
            if "Call established" in self.output:
                await until(
                    lambda: (
                        any(end in self.output for end in ("terminated", "session closed"))
                        or proc.returncode is not None
                    ),
                    2,
                )
            proc.stdin.write(b"q")
            await proc.stdin.drain()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        if self._reader is not None:
            await self._reader
        return self.output

    def heard(self) -> Path:
        """The recording of what baresip heard (the decoded stream)."""
        found = sorted(self.records.glob("dump-*-dec.wav"))
        if not found:
            raise AssertionError(f"baresip recorded nothing in {self.records}")
        return found[-1]
