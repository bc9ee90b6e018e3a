"""The operator sees the abuse being turned away (issue 12, finding 1: "with an audit entry
and a metric"): against a real ``callroster serve``, wrong PINs dialled from 127.0.0.88
raise the PIN counters of ``GET /api/v1/operator/metrics``, which only an operator token
opens, and of ``GET /metrics``, the same figures for a scraper on loopback (issue 13); neither
names an address, PIN or number (a scan with a positive control)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from tests.support.guesser import Caller
from tests.support.scan import holds
from tests.support.service import running_service
from tests.support.waiting import wait_until_sync

from callroster.accounts.actor import operator_cli
from callroster.config import load_settings
from callroster.store.store import open_store

pytestmark = pytest.mark.interop
METRICS = "/api/v1/operator/metrics"
GUESSER = "127.0.0.88"


def figure(text: str, name: str) -> float:
    """The value of one un-labelled sample in Prometheus' text format."""
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match is not None, f"{name} is not in:\n{text}"
    return float(match.group(1))


def names_anything_personal(text: str, secrets: list[str]) -> list[str]:
    return [secret for secret in secrets if holds(text, secret)]


async def test_wrong_pins_show_in_the_operators_metrics_and_nothing_personal(
    tmp_path: Path,
) -> None:
    with running_service(tmp_path / "data") as service:
        store = open_store(load_settings(data=service.data))
        try:
            _, token = store.operator_tokens.issue(operator_cli("metrics test"), "monitoring")
        finally:
            store.close()
        demo = service.demo()
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=service.base_url, timeout=10) as web:
            assert web.get(METRICS).status_code == 401
            before = web.get(METRICS, headers=headers)
            assert before.status_code == 200
            assert before.headers["content-type"].startswith("text/plain")
            assert figure(before.text, "callroster_pin_failures_total") == 0

            wrong = "".join(str((int(d) + 1) % 10) for d in demo["pin"])
            async with Caller(("127.0.0.1", service.sip_port), GUESSER) as guesser:
                for _ in range(3):
                    assert await guesser.call(wrong, 1.5) == 200  # answered, then asked again

            def failures() -> float:
                return figure(
                    web.get(METRICS, headers=headers).text, "callroster_pin_failures_total"
                )

            wait_until_sync(lambda: failures() >= 3, 10, "three failures counted")
            after = web.get(METRICS, headers=headers).text
            scraped = web.get("/metrics")  # from loopback: no token needed
            assert scraped.status_code == 200
            assert figure(scraped.text, "callroster_pin_failures_total") >= 3
            # Through a proxy the service does not trust, loopback is not enough.
            assert web.get("/metrics", headers={"X-Forwarded-For": GUESSER}).status_code == 401
            after += scraped.text
            assert figure(after, "callroster_pin_checks_total") >= 3
            assert figure(after, "callroster_pin_guessing_alarm") == 0
            assert "callroster_calls " in after
            secrets = [GUESSER, "127.0.0.0/24", demo["pin"], wrong, demo["dial_in_number"]]
            assert names_anything_personal(after, secrets) == []
            # The scan's positive control: the same secrets planted in the text are found.
            assert names_anything_personal(after + " ".join(secrets), secrets) == secrets
