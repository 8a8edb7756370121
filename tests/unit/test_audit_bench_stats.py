"""The audit bench's statistics: quantiles of samples and of Prometheus histograms, and its charts."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from platewatch.engine.bench.audit import (
    APPEND_HISTOGRAM,
    HISTOGRAM,
    LOGGED,
    TARGET_OVERHEAD_P95_MS,
    UNLOGGED,
    Interleaved,
    Phase,
    SearchLoad,
    Window,
    _bucket_bins,
    bucket_delta,
    bucket_quantile,
    bucket_sum,
    histogram_from_metrics,
    latency_chart,
    paired_bootstrap,
    percentile,
)
from platewatch.engine.policy.access_log import APPEND_SECONDS, WAIT_SECONDS

INF = math.inf


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([], 0.95) is None
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0.5) == 3.0
    assert percentile([5.0, 1.0, 4.0, 2.0, 3.0], 0.95) == pytest.approx(4.8)  # order does not matter
    assert percentile(list(range(101)), 0.95) == pytest.approx(95.0)


def test_bucket_quantile_spreads_observations_evenly_within_their_bucket() -> None:
    buckets = [(0.001, 10.0), (0.002, 20.0), (INF, 20.0)]
    assert bucket_quantile(buckets, 0.5) == pytest.approx(0.001)
    assert bucket_quantile(buckets, 0.75) == pytest.approx(0.0015)
    assert bucket_quantile(buckets, 0.25) == pytest.approx(0.0005)  # from 0 to the first bound
    assert bucket_quantile(list(reversed(buckets)), 0.75) == pytest.approx(0.0015)


def test_bucket_quantile_skips_empty_buckets_and_caps_at_the_largest_finite_bound() -> None:
    assert bucket_quantile([(0.001, 0.0), (0.002, 0.0), (0.005, 4.0), (INF, 4.0)], 0.5) == pytest.approx(
        0.0035
    )
    assert bucket_quantile([(0.001, 5.0), (0.05, 5.0), (INF, 10.0)], 0.95) == 0.05
    assert bucket_quantile([(0.001, 0.0), (INF, 0.0)], 0.95) is None
    assert bucket_quantile([], 0.5) is None


def test_the_difference_of_two_readings_is_what_was_observed_between_them() -> None:
    before = [(0.001, 3.0), (0.002, 5.0), (INF, 6.0)]
    after = [(0.001, 4.0), (0.002, 9.0), (INF, 10.0)]
    assert bucket_delta(after, before) == [(0.001, 1.0), (0.002, 4.0), (INF, 4.0)]
    assert bucket_delta(after, []) == after
    assert bucket_sum([after, before]) == [(0.001, 7.0), (0.002, 14.0), (INF, 16.0)]


def test_the_histogram_is_read_from_a_metrics_page() -> None:
    registry = CollectorRegistry()
    h = Histogram(HISTOGRAM, "test", buckets=(0.001, 0.005), registry=registry)
    for seconds in (0.0005, 0.002, 0.003, 0.2):
        h.observe(seconds)
    other = Histogram("platewatch_other_seconds", "test", buckets=(0.001,), registry=registry)
    other.observe(0.0001)
    buckets, total, count = histogram_from_metrics(generate_latest(registry).decode())
    assert buckets == [(0.001, 1.0), (0.005, 3.0), (INF, 4.0)]
    assert count == 4.0 and total == pytest.approx(0.2055)
    assert histogram_from_metrics("") == ([], 0.0, 0.0)


@pytest.mark.parametrize("histogram", [WAIT_SECONDS, APPEND_SECONDS])
def test_the_wait_and_append_histograms_resolve_the_five_ms_target(histogram: Histogram) -> None:
    bounds = [b for b in histogram._upper_bounds if not math.isinf(b)]
    below = [b for b in bounds if b <= TARGET_OVERHEAD_P95_MS / 1000]
    assert TARGET_OVERHEAD_P95_MS / 1000 in bounds and max(bounds) >= 0.05
    assert max(b - a for a, b in zip([0.0, *below], below, strict=False)) <= 0.0005 + 1e-12


def test_a_phase_counts_each_histogram_over_every_instance_between_its_readings_only() -> None:
    before = {HISTOGRAM: [([(0.001, 5.0), (INF, 6.0)], 0.01, 6.0), ([(0.001, 1.0), (INF, 1.0)], 0.0005, 1.0)]}
    after = {HISTOGRAM: [([(0.001, 7.0), (INF, 9.0)], 0.02, 9.0), ([(0.001, 4.0), (INF, 5.0)], 0.003, 5.0)]}
    before[APPEND_HISTOGRAM] = after[APPEND_HISTOGRAM] = before[HISTOGRAM]
    phase = Phase(before, after)
    buckets, total, count = phase.observed(HISTOGRAM)
    assert buckets == [(0.001, 5.0), (INF, 7.0)] and count == 7.0 and total == pytest.approx(0.0125)
    assert phase.observed(APPEND_HISTOGRAM) == ([(0.001, 0.0), (INF, 0.0)], 0.0, 0.0)


def test_the_chart_draws_uneven_buckets_and_the_target() -> None:
    buckets = [(0.001, 2.0), (0.002, 6.0), (0.004, 6.0), (0.01, 8.0), (INF, 8.0)]
    bins = _bucket_bins(buckets)
    assert bins == [(0.0, 1.0, 2.0), (1.0, 2.0, 4.0), (2.0, 4.0, 0.0), (4.0, 10.0, 2.0)]
    svg = latency_chart(bins, TARGET_OVERHEAD_P95_MS, "appends")
    assert svg.count("<rect") == 3 and "target 5 ms" in svg and "4-10 ms: 2" in svg
    assert "target" not in latency_chart(bins, None, "searches")
    assert latency_chart([], 5.0, "logins").startswith("<p>No logins")


def test_each_sides_searches_are_those_sent_to_it_that_started_in_its_windows() -> None:
    load = SearchLoad()
    load.done = [
        (0.1, 5.0, LOGGED),
        (0.9, 900.0, LOGGED),  # ends after the switch: kept, counted by its start
        (1.05, 7.0, LOGGED),  # read the side just before the switch: neither side's window
        (1.2, 3.0, UNLOGGED),
        (2.5, 4.0, UNLOGGED),
        (3.5, 6.0, LOGGED),
        (4.0, 1.0, LOGGED),  # after the last window
    ]
    windows = [Window(LOGGED, 0.0, 1.0), Window(UNLOGGED, 1.0, 3.0), Window(LOGGED, 3.0, 4.0)]
    measured = Interleaved(load, windows, Phase({}, {}), Phase({}, {}))
    assert measured.samples(LOGGED) == [[5.0, 900.0], [6.0]]
    assert measured.samples(UNLOGGED) == [[3.0, 4.0]]
    assert measured.seconds(LOGGED) == 2.0 and measured.seconds(UNLOGGED) == 2.0


def test_the_bootstrap_interval_brackets_the_p95_difference_and_widens_with_drift() -> None:
    steady = [[float(v) for v in range(100)]] * 6
    shifted = [[v + 2.0 for v in w] for w in steady]
    assert paired_bootstrap(shifted, steady, 0.95) == pytest.approx((2.0, 2.0))
    # the load drifts from pair to pair, alike on both sides: the pairs keep it out of the interval
    drift = [[v * (1 + k) for v in range(100)] for k in range(6)]
    assert paired_bootstrap([[v + 2.0 for v in w] for w in drift], drift, 0.95) == pytest.approx((2.0, 2.0))
    # unpaired noise (one side's windows alone slow) widens it
    noisy = paired_bootstrap(
        [[v * (3 if k % 2 else 1) for v in w] for k, w in enumerate(steady)], steady, 0.95
    )
    assert noisy is not None and noisy[1] - noisy[0] > 50
    assert paired_bootstrap([steady[0]], [steady[0]], 0.95) is None  # one pair: no interval
    assert paired_bootstrap(steady, steady[:3], 0.95) is None


def test_a_phase_reports_its_overhead_under_its_own_prefix() -> None:
    load = SearchLoad()
    windows = []
    for k in range(4):  # two pairs of 1 s windows: the log's searches 3 ms slower
        side = LOGGED if k % 2 == 0 else UNLOGGED
        windows.append(Window(side, float(k), float(k + 1)))
        load.done += [(k + 0.01 * i, float(i) + (3.0 if side == LOGGED else 0.0), side) for i in range(100)]
    measured = Interleaved(load, windows, Phase({}, {}), Phase({}, {}))
    back_to_back, paced = measured.overhead(), measured.overhead("paced_")
    assert back_to_back["search_overhead_p95_ms"] == pytest.approx(3.0)
    assert back_to_back["search_overhead_p50_ms"] == pytest.approx(3.0)
    assert (back_to_back["search_overhead_p95_low_ms"], back_to_back["search_overhead_p95_high_ms"]) == (
        3.0,
        3.0,
    )
    assert back_to_back["searches"] == back_to_back["nolog_searches"] == 200
    assert back_to_back["searches_per_s"] == back_to_back["nolog_searches_per_s"] == 100.0
    assert paced == {f"paced_{k}": v for k, v in back_to_back.items()}


def test_failed_searches_are_counted_in_their_sides_window_and_not_timed() -> None:
    load = SearchLoad()
    load.done = [(0.5, 5.0, LOGGED), (1.5, 4.0, UNLOGGED)]
    load.failures = [(0.2, LOGGED), (0.7, LOGGED), (1.9, UNLOGGED), (1.0, LOGGED), (5.0, LOGGED)]
    windows = [Window(LOGGED, 0.0, 1.0), Window(UNLOGGED, 1.0, 2.0)]
    measured = Interleaved(load, windows, Phase({}, {}), Phase({}, {}))
    # the one sent to the log's side as the switch came, and the one after the windows, are neither side's
    assert (measured.failed(LOGGED), measured.failed(UNLOGGED)) == (2, 1)
    figures = measured.overhead()
    assert figures["searches_failed"] == 2 and figures["nolog_searches_failed"] == 1
    assert figures["searches"] == 1 and figures["search_p95_ms"] == 5.0
