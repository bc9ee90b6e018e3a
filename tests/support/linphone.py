"""Debian's linphonec (linphone-cli) headless as a real SIP peer: a WAV as its microphone, a
WAV of what it hears, commands piped on its stdin, configured as shared/notes/real-peers.md
measured. Use it as ``async with Linphone(...) as phone``: the process is stopped, by its own
pid, whatever the test did.

What a failing test should show is ``phone.diagnostics()``: the tail of what linphonec printed
and of its debug log (``-d 6``), both kept in ``<workdir>/linphone-<name>/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import weakref
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from tests.support.peers import free_udp_port, require
from tests.support.waiting import until


class Linphone:
    """One headless linphonec: plays ``source`` (8 kHz mono WAV) as its microphone, records
    what it hears. Key presses go as SIP INFO (``application/dtmf-relay``) when ``info``, and
    as RFC 4733 events in its RTP when ``rfc4733``: each its own setting in linphone, and
    both on sends every press twice. Their defaults are linphone's own.

    With ``tls_ca`` it also speaks SIP over TLS (a ``;transport=tls`` URI), checking the
    server's certificate and name against that CA (tests/support/certs.py)."""

    def __init__(
        self,
        workdir: Path,
        source: Path,
        *,
        info: bool = False,
        rfc4733: bool = True,
        name: str = "linphone",
        tls_ca: Path | None = None,
    ) -> None:
        self.dir = workdir / f"linphone-{name}"
        self.dir.mkdir(parents=True, exist_ok=True)
        # Its HOME (linphone keeps a database and caches there) and the recording, in a short
        # folder of its own, removed with this object.
        self.home = Path(tempfile.mkdtemp(prefix="lph-"))
        weakref.finalize(self, shutil.rmtree, self.home, True)
        (self.home / ".local" / "share" / "linphone").mkdir(parents=True)  # or it will not start
        self.source = source
        self.recording = self.home / "heard.wav"
        self.log = self.dir / "linphonec.log"
        self.sip_port = free_udp_port()
        self.rtp_port = free_udp_port(pair=True)
        self.config = self.dir / "linphonerc"
        # Everything on 127.0.0.1 and advertised as such, so that it is heard without the
        # bridge having to learn where its RTP really comes from. Without bind_address it
        # offered the host's global IPv6 address (c=IN IP6, use_ipv6=0 notwithstanding),
        # which an IPv4 bridge refuses (488, Warning 301); with it, 127.0.0.1. nat_address
        # with firewall_policy 1 ("use the NAT address") pins what its SDP says to that same
        # address should its guess ever differ.
        self.config.write_text(f"""[sip]
use_ipv6=0
sip_port={self.sip_port}
sip_tcp_port=0
sip_tls_port={free_udp_port() if tls_ca else 0}
{f"root_ca={tls_ca}" if tls_ca else ""}
verify_server_certs={int(tls_ca is not None)}
verify_server_cn={int(tls_ca is not None)}
contact=sip:linphone@127.0.0.1
use_info={int(info)}
use_rfc2833={int(rfc4733)}
register_only_when_network_is_up=0
auto_net_state_mon=0
inc_timeout=30
[rtp]
bind_address=127.0.0.1
audio_rtp_port={self.rtp_port}
audio_jitt_comp=60
[net]
nat_address=127.0.0.1
firewall_policy=1
mtu=1300
[sound]
echocancellation=0
[video]
enabled=0
capture=0
display=0
""")
        self.proc: asyncio.subprocess.Process | None = None
        self._output = bytearray()
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Linphone:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.stop()

    async def call(self, uri: str) -> None:
        """Start linphonec with files as its sound card and call ``uri``."""
        environment = {
            **os.environ,
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "XDG_DATA_HOME": str(self.home / ".local" / "share"),
            "XDG_CACHE_HOME": str(self.home / ".cache"),
        }
        self.proc = await asyncio.create_subprocess_exec(
            require("linphonec"),
            "-c",
            str(self.config),
            "-d",
            "6",
            "-l",
            str(self.log),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=self.dir,
            env=environment,
        )
        self._output = bytearray()
        self._reader = asyncio.create_task(self._read())
        await self._command("soundcard use files")
        await self._command(f"play {self.source}")
        await self._command(f"record {self.recording}")
        await self._command(f"call {uri}")

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while chunk := await self.proc.stdout.read(4096):
            self._output += chunk

    async def _command(self, line: str) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(line.encode() + b"\n")
            await self.proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise AssertionError(f"linphonec has exited:\n{self.diagnostics()}") from exc

    @property
    def output(self) -> str:
        """What linphonec has printed so far."""
        return self._output.decode(errors="replace")

    def diagnostics(self, chars: int = 4000) -> str:
        """The tails of its output and of its debug log: what a failing test shows."""
        log = self.log.read_text(errors="replace") if self.log.exists() else "(no log)"
        return f"linphonec printed:\n{self.output[-chars:]}\nits log ({self.log}):\n{log[-chars:]}"

    async def wait_for_output(self, text: str, timeout: float = 10.0) -> None:
        """Wait until linphonec has printed ``text``."""
        proc = self.proc

        def printed() -> bool:
            if text in self.output:
                return True
            if proc is not None and proc.returncode is not None:
                raise AssertionError(f"linphonec has exited:\n{self.diagnostics()}")
            return False

        await self.wait_until(printed, timeout, f"linphonec to print {text!r}")

    async def wait_until(self, predicate: Callable[[], object], timeout: float, what: str) -> None:
        """As ``waiting.wait_until``, but failing with linphonec's output and log."""
        if not await until(predicate, timeout):
            raise AssertionError(f"waited {timeout} s for {what}\n{self.diagnostics()}")

    async def connected(self, timeout: float = 10.0) -> None:
        """The call is answered and its media streams are up (so keys sent now are heard)."""
        await self.wait_for_output("Media streams established", timeout)

    async def keys(self, keys: str, gap: float = 1.1) -> None:
        """Key ``keys`` one by one (a digit typed on a line of its own, during a call).

        linphonec sleeps a second after sending each key, reading neither SIP nor its input
        meanwhile: a key typed sooner waits its turn, and an INFO sent behind one whose 200
        it has not read yet is held back until its input is empty. So keys go a little over
        a second apart, each INFO answered before the next."""
        for key in keys:
            await self._command(key)
            await asyncio.sleep(gap)

    async def hang_up(self) -> str:
        """Hang up and quit once the call is over (its recording then complete); returns
        what it printed."""
        proc = self.proc
        assert proc is not None
        with contextlib.suppress(AssertionError):
            await self._command("terminate")
            await until(lambda: "ended" in self.output or proc.returncode is not None, 3)
            await self._command("quit")
        await self.stop()
        return self.output

    async def stop(self) -> None:
        """Make sure linphonec is gone: asked to quit, then killed by its pid."""
        proc = self.proc
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(AssertionError):
                await self._command("quit")
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if self._reader is not None:
            await self._reader
            self._reader = None

    def heard(self) -> Path:
        """The recording of what linphonec heard."""
        if not self.recording.exists() or self.recording.stat().st_size <= 44:
            raise AssertionError(f"linphonec recorded nothing:\n{self.diagnostics()}")
        return self.recording
