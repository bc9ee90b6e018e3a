"""The parent's handle on ``bench.bridge_node``: start it, ask it things, stop it by its pid."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from pathlib import Path
from typing import Any, BinaryIO


class NodeError(RuntimeError):
    pass


class NodeProcess:
    def __init__(self, data: Path, log_path: Path, module: str = "bench.bridge_node") -> None:
        self._module = module
        self._data = data
        self._log_path = log_path
        self._log: BinaryIO | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self.sip_port = 0
        self.rss_start_kib = 0

    async def start(self) -> None:
        self._log = self._log_path.open("wb")
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            self._module,
            str(self._data),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=self._log,
            cwd=Path(__file__).resolve().parents[1],
        )
        hello = await self._read(60.0)
        self.sip_port = int(hello["sip_port"])
        self.rss_start_kib = int(hello["rss_kib"])

    @property
    def pid(self) -> int:
        return self._proc.pid if self._proc else 0

    async def _read(self, timeout: float) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdout is not None
        line = await asyncio.wait_for(self._proc.stdout.readline(), timeout)
        if not line:
            raise NodeError(f"bridge node exited; see {self._log_path}:\n{self.log_tail()}")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise NodeError(f"bridge node: {answer['error']}")
        return answer

    async def ask(self, cmd: str, timeout: float = 120.0, **args: Any) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write((json.dumps({"cmd": cmd, **args}) + "\n").encode())
        await self._proc.stdin.drain()
        return await self._read(timeout)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self._log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    async def stop(self) -> None:
        """Ask it to quit (it hangs up every call); kill it by its pid if it will not."""
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(Exception):
                assert proc.stdin is not None
                proc.stdin.write(b'{"cmd": "quit"}\n')
                await proc.stdin.drain()
                proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), 30.0)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if self._log is not None:
            self._log.close()
        self._proc = None
