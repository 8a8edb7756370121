"""What the dispatch side of an API process exposes on /metrics.

Every API instance follows the whole change stream, so `platewatch_alert_events_total` counts the
same events on each: sum over one instance, or take the max across them, not the sum.

The two delivery histograms count one observation per alert per client: 200 dispatchers and a
burst of 200 alerts a second are 40,000 a second. `prometheus_client.Histogram.observe` takes two
locks and walks the buckets per observation, which was a quarter of the feed's event-loop time at
that rate; `BulkHistogram` takes a frame's observations at once (one lock, a bisect each) and shows
the same series on /metrics.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge
from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector


class BulkHistogram(Collector):
    """A histogram without labels fed many observations per call, exposed as a Prometheus one."""

    def __init__(
        self,
        name: str,
        documentation: str,
        buckets: Sequence[float],
        registry: CollectorRegistry | None = REGISTRY,
    ) -> None:
        self.name, self.documentation = name, documentation
        self._bounds = sorted(float(b) for b in buckets)
        self._counts = [0] * (len(self._bounds) + 1)  # the last: above every bound (+Inf)
        self._sum = 0.0
        self._lock = threading.Lock()  # /metrics reads from a worker thread
        if registry is not None:
            registry.register(self)

    def observe_many(self, values: Iterable[float]) -> None:
        bounds, counts = self._bounds, self._counts
        with self._lock:
            for v in values:
                counts[bisect_left(bounds, v)] += 1  # bucket `le` is inclusive, as Prometheus's
                self._sum += v

    def describe(self) -> Iterable[Metric]:
        return [HistogramMetricFamily(self.name, self.documentation)]

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            counts, total = list(self._counts), self._sum
        cumulative, buckets = 0, []
        for bound, n in zip([*self._bounds, float("inf")], counts, strict=True):
            cumulative += n
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        yield HistogramMetricFamily(self.name, self.documentation, buckets=buckets, sum_value=total)


ALERT_EVENTS = Counter(
    "platewatch_alert_events_total",
    "Alert changes followed from the stream, by kind (raised, verified, ...) and hotlist",
    ["kind", "hotlist", "tier"],
)
WS_CLIENTS = Gauge("platewatch_ws_clients", "Websocket clients connected to this API process")
WS_DISCONNECTS = Counter(
    "platewatch_ws_disconnects_total", "Websocket clients that left, by reason", ["reason"]
)
DELIVERY_SECONDS = BulkHistogram(
    "platewatch_alert_delivery_seconds",
    "From an alert being raised (the match stage) to its message sent to a websocket client",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
FRAME_TO_SCREEN_SECONDS = BulkHistogram(
    "platewatch_alert_frame_to_ws_seconds",
    "From the frame's capture to the alert's message sent to a websocket client",
    buckets=(0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0),
)
STEPS = Counter(
    "platewatch_alert_steps_total",
    "Dispatcher steps taken on alerts, by step and outcome",
    ["step", "outcome"],
)
