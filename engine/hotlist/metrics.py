"""Prometheus metrics of the hotlist matcher (kept apart from engine/metrics.py to avoid edit clashes)."""

from prometheus_client import Counter, Gauge, Histogram

ENTRIES = Gauge("platewatch_hotlist_entries", "Entries in the in-memory hotlist index", ["hotlist"])
MALFORMED = Gauge(
    "platewatch_hotlist_malformed_entries", "Keys skipped as malformed (listed in the pw:hot:_errors hash)"
)
MALFORMED_SEEN = Counter("platewatch_hotlist_malformed_total", "Malformed keys found (each time one is read)")
REDIS_UP = Gauge("platewatch_hotlist_redis_up", "1 while the hotlist follower is connected to Redis")
NOTIFICATIONS = Gauge(
    "platewatch_hotlist_notifications", "1 when keyspace notifications are on; 0: changes wait for reconcile"
)
CHANGES = Counter("platewatch_hotlist_changes_total", "Keys re-read after a keyspace notification")
RELOADS = Counter("platewatch_hotlist_reloads_total", "Full loads of the index (start, reconnect, reconcile)")
RELOAD_SECONDS = Gauge("platewatch_hotlist_reload_seconds", "Duration of the last full load")
LAST_SYNC = Gauge("platewatch_hotlist_last_reload_timestamp", "When the last full load finished (epoch s)")
MATCHES = Counter("platewatch_hotlist_matches_total", "Matches found", ["kind"])
MATCH_SECONDS = Histogram(
    "platewatch_hotlist_match_seconds",
    "Time to match one read (all its candidates)",
    buckets=(25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 5e-3, 0.025),
)
ALERTS = Counter("platewatch_alerts_total", "Alerts produced to pw.alerts", ["hotlist", "kind"])
ALERTS_SUPPRESSED = Counter(
    "platewatch_alerts_suppressed_total",
    "Alerts not sent: that pass (or that camera, within alerts.repeat_window_s) already alerted on it",
)
VERIFY_SECONDS = Histogram(
    "platewatch_hotlist_verify_seconds",
    "Time the second opinion took on a read's crop (only reads with a doubtful match ask it)",
    buckets=(250e-6, 500e-6, 1e-3, 2e-3, 5e-3, 0.01, 0.025, 0.1),
)
