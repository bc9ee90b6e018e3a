"""Plumbing shared by the benchmarks' processes: the parent's handle on a child (JSON lines
over stdin/stdout, stopped by its pid), the child's command loop, and small measures (CPU
time, percentiles, the open-files limit)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import resource
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, BinaryIO

LINE_LIMIT = 1 << 24  # a report can be a long line


class ChildError(RuntimeError):
    pass


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values; 0.0 for none."""
    if not values:
        return 0.0
    rank = min(len(values) - 1, max(0, int(round(fraction * len(values) + 0.5)) - 1))
    return values[rank]


def raise_nofile(wanted: int) -> dict[str, int]:
    """Raise the soft open-files limit towards ``wanted`` (never above the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    before = soft
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return {"nofile_before": int(before), "nofile": int(soft), "nofile_hard": int(hard)}


def reply(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


Handler = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


async def command_loop(handle: Handler) -> None:
    """Answer JSON commands from stdin, one line each, until ``quit`` or end of input."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        command: dict[str, Any] = json.loads(line)
        name = str(command.pop("cmd"))
        if name == "quit":
            break
        try:
            answer = await handle(name, command)
        except Exception as exc:  # noqa: BLE001 - report it to the parent, keep serving
            logging.exception("command %s failed", name)
            answer = {"error": repr(exc)}
        reply(answer)


class Child:
    """A benchmark process: ``python -m MODULE ARGS...``; its first line is a hello."""

    def __init__(self, module: str, args: list[str], log_path: Path) -> None:
        self._module = module
        self._args = args
        self._log_path = log_path
        self._log: BinaryIO | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self.hello: dict[str, Any] = {}

    @property
    def pid(self) -> int:
        return self._proc.pid if self._proc else 0

    async def start(self, timeout: float = 60.0) -> dict[str, Any]:
        self._log = self._log_path.open("wb")
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            self._module,
            *self._args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=self._log,
            cwd=Path(__file__).resolve().parents[1],
            limit=LINE_LIMIT,
        )
        self.hello = await self._read(timeout)
        return self.hello

    async def _read(self, timeout: float) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdout is not None
        line = await asyncio.wait_for(self._proc.stdout.readline(), timeout)
        if not line:
            raise ChildError(f"{self._module} exited; see {self._log_path}:\n{self.log_tail()}")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise ChildError(f"{self._module}: {answer['error']}")
        return answer

    async def ask(self, cmd: str, timeout: float = 60.0, **args: Any) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write((json.dumps({"cmd": cmd, **args}) + "\n").encode())
        await self._proc.stdin.drain()
        return await self._read(timeout)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self._log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    async def stop(self, timeout: float = 30.0) -> None:
        """Ask it to quit; kill it by its pid if it will not."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(Exception):
                assert proc.stdin is not None
                proc.stdin.write(b'{"cmd": "quit"}\n')
                await proc.stdin.drain()
                proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                proc.kill()  # this child only, by its pid
                await proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
