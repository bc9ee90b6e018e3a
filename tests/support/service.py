"""Run ``callroster serve`` as a process of its own on free loopback ports, for tests that
talk to it as a user or a peer would; stopped by its own pid with SIGINT. (It is forked from
the warm CLI helper, tests/support/cli.py; tests/test_cli.py starts ``python -m callroster.cli
serve`` itself, as ``make run`` does.)"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.cli import SpawnedCommand
from tests.support.cli import runner as cli_runner
from tests.support.waiting import wait_until_sync


@dataclass
class RunningService:
    process: SpawnedCommand
    data: Path
    sip_port: int
    http_port: int
    banner: str
    scheme: str = "http"  # "https" with tls_cert_file
    redirect_port: int | None = None  # the plain-HTTP port that redirects to HTTPS

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.http_port}"

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
                .replace("http://", f"{self.scheme}://")  # `demo` is run without the TLS files
            )
        return details


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CALLROSTER_")}


@contextmanager
def running_service(
    data: Path,
    *,
    demo: bool = True,
    settings: Mapping[str, str] | None = None,
    sip_port: int = 0,
    http_port: int = 0,
) -> Iterator[RunningService]:
    """``settings`` are given as the environment would (``{"trusted_proxies": "127.0.0.1"}``
    becomes ``CALLROSTER_TRUSTED_PROXIES``). The ports are any free ones unless given (a
    service started again where its phones know it)."""
    env = clean_env() | {f"CALLROSTER_{k.upper()}": v for k, v in (settings or {}).items()}
    args = [
        "serve",
        "--data",
        str(data),
        "--sip-port",
        str(sip_port),
        "--http-port",
        str(http_port),
    ]
    if demo:
        args.append("--demo")
    # Forked from the warm CLI helper (tests/support/cli.py): the same command and process
    # of its own, without 1.7 s of imports per start.
    proc = cli_runner().spawn(args, env, data.parent / f"{data.name}-serve")
    try:
        wait_until_sync(
            lambda: "Ctrl-C" in proc.stdout_path.read_text() or proc.poll() is not None,
            60,
            "the service's banner",
        )
        lines: list[str] = []
        for line in proc.stdout:  # the banner; the log scan reads the rest once it stops
            lines.append(line)
            if "Ctrl-C" in line:
                break
        banner = "".join(lines)
        match = re.search(
            r"web (https?)://127\.0\.0\.1:(\d+)(?: \(plain http port (\d+) redirects\))?, "
            r"SIP udp\+tcp 127\.0\.0\.1:(\d+)",
            banner,
        )
        if match is None:
            proc.kill()
            stderr = proc.stderr.read() if proc.stderr else ""
            raise RuntimeError(f"service did not start:\n{banner}\n{stderr}")
        scheme, http, redirect, sip = match.groups()
        yield RunningService(
            proc, data, int(sip), int(http), banner, scheme, int(redirect) if redirect else None
        )
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
