"""What an operator's monitoring scrapes: counts of what the service is doing and of the
abuse it is turning away, in Prometheus' text format, for the operator only.

Counts only: never a number, an address, a PIN or a name (a blocked source is counted, not
named; the audit log names its network). Each scrape builds a fresh registry from the running
bridge's counters, so nothing here keeps state of its own. The counters are the process's:
they start at 0 when the service starts and are per process.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from callroster.accounts.actor import Actor
from callroster.api.auth import operator
from callroster.api.credentials_first import CredentialsFirst
from callroster.bridge.service import BridgeService

router = APIRouter(prefix="/api/v1/operator", tags=["operator"], route_class=CredentialsFirst)


class BridgeCollector(Collector):
    """The bridge's figures, read when scraped."""

    def __init__(self, bridge: BridgeService) -> None:
        self._bridge = bridge

    def collect(self) -> Iterator[Metric]:
        bridge, guard = self._bridge, self._bridge.pin_guard
        yield GaugeMetricFamily(
            "callroster_calls", "SIP calls in progress on this node", value=bridge.call_count()
        )
        refused = CounterMetricFamily(
            "callroster_calls_refused",
            "Calls refused or ended before their PIN was checked, by reason",
            labels=["reason"],
        )
        for reason, count in sorted(bridge.calls_refused().items()):
            refused.add_metric([reason], count)
        yield refused
        yield CounterMetricFamily(
            "callroster_pin_checks", "PINs checked (keyed or dialled)", value=guard.checks
        )
        yield CounterMetricFamily(
            "callroster_pin_failures", "PINs checked that opened nothing", value=guard.failures
        )
        yield CounterMetricFamily(
            "callroster_pin_sources_blocked",
            "Times a source was blocked for guessing PINs",
            value=guard.blocks,
        )
        yield CounterMetricFamily(
            "callroster_pin_blocked_calls",
            "Calls refused because their source was blocked",
            value=guard.blocked_calls,
        )
        yield CounterMetricFamily(
            "callroster_pin_guessing_alarms",
            "Times the system-wide PIN guessing alarm went up",
            value=guard.alarms,
        )
        yield GaugeMetricFamily(
            "callroster_pin_guessing_alarm",
            "1 while the system-wide PIN guessing alarm is up",
            value=int(bridge.pin_guessing_alarm()),
        )
        yield GaugeMetricFamily(
            "callroster_pin_checks_queued", "PIN checks waiting their turn", value=guard.pending
        )


@router.get("/metrics", response_class=Response)
async def metrics(request: Request, caller: Annotated[Actor, Depends(operator)]) -> Response:
    """The service's figures in Prometheus' text format (operator token)."""
    registry = CollectorRegistry(auto_describe=False)
    bridge = getattr(request.app.state, "bridge", None)
    if isinstance(bridge, BridgeService):
        registry.register(BridgeCollector(bridge))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
