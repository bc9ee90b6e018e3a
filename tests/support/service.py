"""Run ``callroster serve`` as a real subprocess on free loopback ports, for tests that talk
to it as a user or a peer would; stopped by its own pid with SIGINT."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.cli import runner as cli_runner


@dataclass
class RunningService:
    process: subprocess.Popen[str]
    data: Path
    sip_port: int
    http_port: int
    banner: str

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def demo(self) -> dict[str, Any]:
        """The demo details, re-read through the CLI (which reuses the running store)."""
        result = cli_runner().run(["demo", "--json", "--data", str(self.data)], clean_env())
        assert result.returncode == 0, result.stderr
        details: dict[str, Any] = json.loads(result.stdout)
        for key in ("web_url", "dial_in_uri", "direct_uri"):
            details[key] = (
                details[key]
                .replace(":8000", f":{self.http_port}")
                .replace(":5060", f":{self.sip_port}")
            )
        return details


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CALLROSTER_")}


@contextmanager
def running_service(data: Path, *, demo: bool = True) -> Iterator[RunningService]:
    args = [
        sys.executable,
        "-m",
        "callroster.cli",
        "serve",
        "--data",
        str(data),
        "--sip-port",
        "0",
        "--http-port",
        "0",
    ]
    if demo:
        args.append("--demo")
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        for line in proc.stdout:
            lines.append(line)
            if "Ctrl-C" in line:
                break
        banner = "".join(lines)
        match = re.search(r"web http://127\.0\.0\.1:(\d+), SIP udp\+tcp 127\.0\.0\.1:(\d+)", banner)
        if match is None:
            proc.kill()
            stderr = proc.stderr.read() if proc.stderr else ""
            raise RuntimeError(f"service did not start:\n{banner}\n{stderr}")
        yield RunningService(proc, data, int(match.group(2)), int(match.group(1)), banner)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
