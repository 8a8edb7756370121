"""Prometheus metrics of the engine, defined in one place so names stay consistent."""

from prometheus_client import Counter, Gauge

DEADLETTERS = Counter(
    "platewatch_deadletter_total", "Messages quarantined on pw.deadletter", ["source_topic", "reason"]
)
READS_PERSISTED = Counter("platewatch_reads_persisted_total", "Reads written to the database (new rows)")
READS_REPLAYED = Counter("platewatch_reads_replayed_total", "Reads skipped because they were already stored")
DB_WRITE_RETRIES = Counter("platewatch_db_write_retries_total", "Batch writes retried after a database error")
DB_UP = Gauge("platewatch_database_up", "1 while the persist agent's database connection works")
