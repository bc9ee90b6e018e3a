"""The service's figures for Prometheus: one registry per app, read when scraped.

What the bridge, the roster feed and the call log already count is read at scrape time by a
custom collector (:class:`ServiceCollector`), so the 20 ms media tick does no work for the
metrics: the RTP counters are each call's own (summed once more when a call ends, see
``CallTable.retired``), and the tick lateness histogram is built from the lateness the tick
already keeps (``TickStats.lateness``, its last 30,000 ticks: ten minutes, more than any
scrape interval; a tick that scrolled out unscraped is counted in
``callroster_media_ticks_total`` but in no bucket). The one figure counted as it happens is
the HTTP request latency (:mod:`callroster.api.request_timing`).

No label holds personal data: labels are reasons, outcomes, size buckets, HTTP methods,
status classes and route templates (``/c/{link}``, never the link). The counters are the
process's: they start at 0 when the service starts.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from callroster.bridge.media_tick import TickStats
from callroster.bridge.service import BridgeService

# Upper bounds (seconds) of the media tick lateness buckets: a tick is 20 ms; over 20 ms
# late, a frame of every call is late.
TICK_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1)
# Conference sizes (legs on the call) the legs are counted by: upper bounds.
SIZE_BUCKETS = (1, 2, 5, 10, 25, 50, 100)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# A page's load time in a browser (web/page_timing.py), with performance consent only.
PAGE_LOAD_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)
# Why an RTP packet was not played or not sent (RtpCounters' and the jitter buffer's names).
DROPPED_IN = {
    "from_strangers": "stranger",
    "malformed": "malformed",
    "wrong_ssrc": "wrong_ssrc",
    "wrong_payload_type": "wrong_payload_type",
    "late": "late",
    "duplicates": "duplicate",
    "srtp_auth_failures": "srtp_auth_failure",  # SRTP that failed authentication
    "srtp_replays": "srtp_replay",
}
DIAL_OUT_OUTCOMES = ("answered", "busy", "no_answer", "declined", "failed", "cancelled")


class Watched(Protocol):
    """The roster feed, as the metrics see it."""

    def watchers(self) -> int: ...


class DialOutCounts(Protocol):
    """The call log, as the metrics see it."""

    @property
    def dial_outs(self) -> dict[str, int]: ...


def size_bucket(legs: int) -> str:
    """The label of the size bucket a conference of ``legs`` legs falls in (``"3-5"``)."""
    lower = 1
    for upper in SIZE_BUCKETS:
        if legs <= upper:
            return str(upper) if lower == upper else f"{lower}-{upper}"
        lower = upper + 1
    return f"{lower}+"


class TickHistogram:
    """The media tick lateness as a cumulative histogram, built from the ticks recorded since
    the previous scrape."""

    def __init__(self) -> None:
        self._seen = 0
        self._counts = [0] * (len(TICK_BUCKETS) + 1)  # per bucket, not cumulative; +Inf last
        self._sum = 0.0

    def update(self, stats: TickStats) -> None:
        new = stats.ticks - self._seen
        self._seen = stats.ticks
        for lateness in itertools.islice(reversed(stats.lateness), min(new, len(stats.lateness))):
            lateness = max(lateness, 0.0)
            self._sum += lateness
            for index, upper in enumerate(TICK_BUCKETS):
                if lateness <= upper:
                    self._counts[index] += 1
                    break
            else:
                self._counts[-1] += 1

    def metric(self) -> HistogramMetricFamily:
        bounds = [str(upper) for upper in TICK_BUCKETS] + ["+Inf"]
        cumulative = list(itertools.accumulate(self._counts))
        return HistogramMetricFamily(
            "callroster_media_tick_lateness_seconds",
            "How late each 20 ms media tick ran",
            buckets=list(zip(bounds, cumulative, strict=True)),
            sum_value=self._sum,
        )


class ServiceCollector(Collector):
    """The bridge's, the roster feed's and the call log's figures, read when scraped."""

    def __init__(
        self,
        bridge: BridgeService | None,
        feed: Watched | None = None,
        call_log: DialOutCounts | None = None,
    ) -> None:
        self._bridge = bridge
        self._feed = feed
        self._call_log = call_log
        self._ticks = TickHistogram()

    def collect(self) -> Iterator[Metric]:
        if self._feed is not None:
            yield GaugeMetricFamily(
                "callroster_roster_watchers",
                "WebSocket watchers of Live Call Status",
                value=self._feed.watchers(),
            )
        if self._call_log is not None:
            outcomes = CounterMetricFamily(
                "callroster_dial_outs",
                "Calls dialled out that ended ringing or were answered, by outcome",
                labels=["outcome"],
            )
            counts = self._call_log.dial_outs
            for outcome in sorted(set(DIAL_OUT_OUTCOMES) | set(counts)):
                outcomes.add_metric([outcome], counts.get(outcome, 0))
            yield outcomes
        bridge = self._bridge
        if bridge is None:
            return
        yield GaugeMetricFamily(
            "callroster_bridge_up",
            "1 once SIP is bound and the media clock runs",
            value=int(bridge.is_listening()),
        )
        yield GaugeMetricFamily(
            "callroster_calls", "SIP calls in progress on this node", value=bridge.call_count()
        )
        yield from self._conferences(bridge)
        yield from self._pin_guard(bridge)
        if bridge.is_listening():
            yield from self._media(bridge)

    @staticmethod
    def _conferences(bridge: BridgeService) -> Iterator[Metric]:
        by_size = dict.fromkeys([size_bucket(upper) for upper in SIZE_BUCKETS], 0)
        by_size[size_bucket(SIZE_BUCKETS[-1] + 1)] = 0
        conferences = 0
        for conference_id in bridge.conferences_in_progress():
            conference = bridge.conference(conference_id)
            if conference is None:
                continue
            legs = len(conference.present())
            conferences += 1
            if legs:
                by_size[size_bucket(legs)] += legs
        yield GaugeMetricFamily(
            "callroster_conferences", "Conferences in progress on this node", value=conferences
        )
        yield GaugeMetricFamily(
            "callroster_legs",
            "Legs on a conference in progress (phones and browsers)",
            value=sum(by_size.values()),
        )
        sizes = GaugeMetricFamily(
            "callroster_legs_by_conference_size",
            "Legs on a conference in progress, by how many legs that conference has",
            labels=["size"],
        )
        for size, legs in by_size.items():
            sizes.add_metric([size], legs)
        yield sizes

    def _media(self, bridge: BridgeService) -> Iterator[Metric]:
        stats = bridge.stats
        self._ticks.update(stats)
        yield self._ticks.metric()
        yield CounterMetricFamily("callroster_media_ticks", "Media ticks run", value=stats.ticks)
        yield CounterMetricFamily(
            "callroster_media_ticks_skipped",
            "Media ticks never run because the clock jumped (a stall)",
            value=stats.skipped,
        )
        totals = bridge.media_totals()
        yield CounterMetricFamily(
            "callroster_rtp_packets_received", "RTP packets received", value=totals["received"]
        )
        yield CounterMetricFamily(
            "callroster_rtp_packets_sent", "RTP packets sent", value=totals["sent"]
        )
        dropped = CounterMetricFamily(
            "callroster_rtp_packets_dropped",
            "RTP packets dropped, by direction and reason",
            labels=["direction", "reason"],
        )
        for name, reason in DROPPED_IN.items():
            dropped.add_metric(["in", reason], totals[name])
        dropped.add_metric(["out", "send_failure"], totals["send_failures"])
        yield dropped

    @staticmethod
    def _pin_guard(bridge: BridgeService) -> Iterator[Metric]:
        guard = bridge.pin_guard
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


class Metrics:
    """The app's registry: the service's figures, and the HTTP latency by route."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.http_latency = Histogram(
            "callroster_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route template and status class",
            ["method", "route", "status"],
            buckets=HTTP_BUCKETS,
            registry=self.registry,
        )
        self.page_load = Histogram(
            "callroster_page_load_seconds",
            "Time for a page to load in a browser that consented to performance measurement, "
            "by the page's route template",
            ["page"],
            buckets=PAGE_LOAD_BUCKETS,
            registry=self.registry,
        )

    def watch(
        self,
        bridge: BridgeService | None,
        feed: Watched | None = None,
        call_log: DialOutCounts | None = None,
    ) -> None:
        """Read these parts' figures at every scrape."""
        self.registry.register(ServiceCollector(bridge, feed, call_log))

    def exposition(self) -> bytes:
        """Every figure in Prometheus' text format. Call it on the event loop's thread (the
        parts it reads are the loop's)."""
        return generate_latest(self.registry)
