"""Prometheus metrics of the webhook sender (apart from engine/metrics.py to avoid edit clashes)."""

from prometheus_client import Counter, Gauge, Histogram

#: One count per attempt's outcome: delivered, failed (will be retried), dead (the last attempt
#: failed, or no attempt can help), held (not sent: the access log could not be written).
DELIVERIES = Counter(
    "platewatch_webhook_deliveries_total", "Webhook delivery attempts by outcome", ["destination", "outcome"]
)
DEAD_LETTERS = Gauge(
    "platewatch_webhook_dead_letters",
    "Deliveries given up on, waiting for someone to look (GET /api/v1/webhooks/deliveries?status=dead)",
    ["destination"],
)
DELIVERY_SECONDS = Histogram(
    "platewatch_webhook_delivery_seconds",
    "Time of one webhook POST, until the receiver answered or the attempt failed",
    ["destination"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
