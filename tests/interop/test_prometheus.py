"""An operator's monitoring, as it would run: Debian's ``prometheus`` scrapes a running
``callroster serve`` at ``/metrics`` (from loopback, so without a token) and a metric is read
back through Prometheus' own HTTP API; the call made meanwhile left one JSON line when it
started and one when it ended, with ids, duration and outcome and never the PIN, the number
or an address."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.guesser import Caller
from tests.support.scan import holds
from tests.support.service import running_service
from tests.support.waiting import wait_until_sync

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(shutil.which("prometheus") is None, reason="needs Debian's prometheus"),
]
CALLER = "127.0.0.77"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def prometheus(target: str, folder: Path) -> Iterator[str]:
    """Prometheus on 127.0.0.1 scraping ``target`` (host:port) every second; its API's URL.
    Stopped by its own pid."""
    folder.mkdir()
    config = folder / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: callroster\n"
        f"    static_configs:\n      - targets: ['{target}']\n"
    )
    port = free_port()
    log = (folder / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            try:
                return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
            except httpx.HTTPError:
                return process.poll() is not None

        wait_until_sync(ready, 30, "Prometheus ready")
        assert process.poll() is None, (folder / "prometheus.log").read_text()
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def query(url: str, promql: str) -> list[dict[str, Any]]:
    """The vector Prometheus' API answers for ``promql`` now."""
    answer = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=5).json()
    assert answer["status"] == "success", answer
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def value(url: str, promql: str) -> float | None:
    result = query(url, promql)
    return float(result[0]["value"][1]) if result else None


def call_lines(stderr: Path) -> list[dict[str, Any]]:
    """The call log's lines among the service's JSON log lines."""
    lines = []
    for line in stderr.read_text().splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("logger") == "callroster.calls":
                lines.append(record)
    return lines


async def test_prometheus_reads_the_services_figures_and_the_call_is_logged_as_json(
    tmp_path: Path,
) -> None:
    with running_service(tmp_path / "data") as service:
        demo = service.demo()
        target = f"127.0.0.1:{service.http_port}"
        with prometheus(target, tmp_path / "prometheus") as url:
            wait_until_sync(
                lambda: value(url, 'up{job="callroster"}') == 1, 30, "Prometheus scraping"
            )
            assert value(url, "callroster_bridge_up") == 1
            async with Caller(("127.0.0.1", service.sip_port), CALLER) as caller:
                assert await caller.call(demo["pin"], 1.5) == 200  # on the call, then BYE

            def counted() -> bool:
                checked = value(url, "callroster_pin_checks_total")
                return checked is not None and checked >= 1

            wait_until_sync(counted, 30, "the PIN check, read back through Prometheus")
            sent = value(url, "callroster_rtp_packets_sent_total")
            assert sent is not None and sent > 0  # 1.5 s on the call: about 75 packets
            routes = {
                r["metric"]["route"]
                for r in query(url, "callroster_http_request_duration_seconds_count")
            }
            assert "/metrics" in routes

        lines = call_lines(service.process.stderr_path)
        ended = [line for line in lines if line.get("call") == "ended"]
        assert [line["call"] for line in lines] == ["started", "ended"], lines
        assert ended[0]["outcome"] == "hangup"
        assert ended[0]["via"] == "dial_in"
        assert 1.0 <= ended[0]["duration_s"] < 10
        assert ended[0]["leg_id"] == lines[0]["leg_id"]
        assert ended[0]["level"] == "info" and "timestamp" in ended[0]
        text = json.dumps(lines)
        secrets = [demo["pin"], CALLER, demo["dial_in_number"]]
        assert [secret for secret in secrets if holds(text, secret)] == []
        # The scan's positive control: planted in the text, each is found.
        planted = text + " ".join(secrets)
        assert [secret for secret in secrets if holds(planted, secret)] == secrets
