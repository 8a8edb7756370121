"""What the dispatch side of an API process exposes on /metrics.

Every API instance follows the whole change stream, so `platewatch_alert_events_total` counts the
same events on each: sum over one instance, or take the max across them, not the sum.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ALERT_EVENTS = Counter(
    "platewatch_alert_events_total",
    "Alert changes followed from the stream, by kind (raised, verified, ...) and hotlist",
    ["kind", "hotlist", "tier"],
)
WS_CLIENTS = Gauge("platewatch_ws_clients", "Websocket clients connected to this API process")
WS_DISCONNECTS = Counter(
    "platewatch_ws_disconnects_total", "Websocket clients that left, by reason", ["reason"]
)
DELIVERY_SECONDS = Histogram(
    "platewatch_alert_delivery_seconds",
    "From an alert being raised (the match stage) to its message sent to a websocket client",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
FRAME_TO_SCREEN_SECONDS = Histogram(
    "platewatch_alert_frame_to_ws_seconds",
    "From the frame's capture to the alert's message sent to a websocket client",
    buckets=(0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0),
)
STEPS = Counter(
    "platewatch_alert_steps_total",
    "Dispatcher steps taken on alerts, by step and outcome",
    ["step", "outcome"],
)
