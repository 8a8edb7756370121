-- TimescaleDB: columnar compression of chunks a week old, segmented by camera (a camera's reads
-- compress together and a per-camera query decompresses only its segments).
ALTER TABLE reads SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'camera_id',
    timescaledb.compress_orderby = 'time DESC'
);
SELECT add_compression_policy('reads', compress_after => INTERVAL '7 days', if_not_exists => TRUE);

-- Backstop retention policy: `platewatch retention run` (daily in the worker) captures held reads
-- and then drops chunks past retention.days itself; this policy, two days later, guarantees the
-- purge even when no platewatch worker runs. pw_set_retention() moves it when the setting changes.
SELECT add_retention_policy('reads', drop_after => INTERVAL '367 days', if_not_exists => TRUE);

CREATE MATERIALIZED VIEW IF NOT EXISTS reads_per_camera_hour
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
    SELECT camera_id, time_bucket(INTERVAL '1 hour', time) AS hour, count(*) AS reads
    FROM reads GROUP BY 1, 2
WITH NO DATA;
SELECT add_continuous_aggregate_policy('reads_per_camera_hour',
    start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour',
    schedule_interval => INTERVAL '1 hour', if_not_exists => TRUE);
SELECT add_retention_policy('reads_per_camera_hour', drop_after => INTERVAL '367 days', if_not_exists => TRUE);
