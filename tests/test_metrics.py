"""The metrics' own arithmetic (callroster/metrics.py): conference size buckets, and the
media tick lateness histogram built at scrape time from the lateness the tick keeps."""

from __future__ import annotations

from callroster.bridge.media_tick import TickStats
from callroster.metrics import TickHistogram, size_bucket


def test_size_buckets() -> None:
    sizes = [1, 2, 3, 5, 6, 10, 11, 25, 26, 50, 51, 100, 101, 5000]
    assert [size_bucket(n) for n in sizes] == [
        "1", "2", "3-5", "3-5", "6-10", "6-10", "11-25", "11-25", "26-50", "26-50",
        "51-100", "51-100", "101+", "101+",
    ]  # fmt: skip


def buckets(histogram: TickHistogram) -> dict[str, float]:
    metric = histogram.metric()
    return {
        sample.labels["le"]: sample.value
        for sample in metric.samples
        if sample.name.endswith("_bucket")
    }


def test_each_tick_is_counted_once_across_scrapes() -> None:
    stats, histogram = TickStats(), TickHistogram()
    for lateness in (0.0001, 0.0003, 0.0015, 0.03):
        stats.record(lateness)
    histogram.update(stats)
    first = buckets(histogram)
    assert (first["0.0005"], first["0.002"], first["0.02"], first["0.05"]) == (2, 3, 3, 4)
    assert first["+Inf"] == 4

    stats.record(0.5)  # one tick since: only it is added
    histogram.update(stats)
    second = buckets(histogram)
    assert (second["0.1"], second["+Inf"]) == (4, 5)
    sums = [s.value for s in histogram.metric().samples if s.name.endswith("_sum")]
    assert abs(sums[0] - (0.0001 + 0.0003 + 0.0015 + 0.03 + 0.5)) < 1e-9


def test_ticks_that_scrolled_out_unscraped_are_in_no_bucket() -> None:
    stats, histogram = TickStats(keep=3), TickHistogram()
    for _ in range(5):
        stats.record(0.001)
    histogram.update(stats)
    assert buckets(histogram)["+Inf"] == 3  # the 3 kept; callroster_media_ticks_total says 5
