-- What the application's database role needs from the owner. That role (platewatch_app: made by
-- the embedded PostgreSQL, README "Services" for a configured one) owns nothing: it reads and
-- writes the application's tables, reads and appends to the access log, and never changes or
-- deletes a row of it. The runner (engine/store/migrate.py) grants it that after every migration,
-- so tables added later are covered. What it cannot do as itself is done by the functions below,
-- which run as their owner (SECURITY DEFINER) and only do the one thing they are for.

-- The camera list was created on first use (engine/ingest/camera_store.py); the application's role
-- may not create tables, so the migration makes it.
CREATE TABLE IF NOT EXISTS camera_definitions (
    camera_id  text PRIMARY KEY,
    spec       bytea,
    removed    boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The writer makes the day partitions its rows need (plain PostgreSQL; a no-op on TimescaleDB).
-- Creating a partition takes the owner of `reads`, so the function runs as the owner. A later
-- CREATE OR REPLACE of it must say SECURITY DEFINER again. search_path is pinned (pg_temp last) so a
-- caller's temporary table cannot stand in for `reads`.
DO $$ BEGIN
    EXECUTE format('ALTER FUNCTION pw_ensure_read_partitions(date, date) SECURITY DEFINER'
                   ' SET search_path = %I, pg_temp', current_schema());
END $$;
REVOKE ALL ON FUNCTION pw_ensure_read_partitions(date, date) FROM PUBLIC;

-- The access log's retention purge (engine/policy/access_log.purge_expired) is the one deletion the
-- policy allows, and the application's role has no DELETE on the table: it calls this instead. It
-- deletes the rows up to `through_seq` and nothing else: never the head row (the next append chains
-- from it), and only when that row is older than `keep_days`, itself never under the one-year floor;
-- the append-only trigger still checks each deleted row against the floor. The caller holds the log's
-- advisory lock and appends the purge row in the same transaction.
CREATE OR REPLACE FUNCTION pw_access_log_purge(through_seq bigint, keep_days integer)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    deleted bigint;
BEGIN
    IF keep_days IS NULL OR keep_days < 365 THEN
        RAISE EXCEPTION 'access-log rows are kept at least 365 days, not %', keep_days
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM access_log
                   WHERE seq = through_seq AND time < now() - make_interval(days => keep_days)
                     AND seq < (SELECT max(seq) FROM access_log)) THEN
        RAISE EXCEPTION 'access-log row % is not past the retention of % days, or is the head', through_seq, keep_days
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM set_config('platewatch.access_log_purge', 'on', true);
    DELETE FROM access_log WHERE seq <= through_seq;
    GET DIAGNOSTICS deleted = ROW_COUNT;
    PERFORM set_config('platewatch.access_log_purge', 'off', true);
    RETURN deleted;
END $$;
DO $$ BEGIN
    EXECUTE format('ALTER FUNCTION pw_access_log_purge(bigint, integer) SET search_path = %I, pg_temp',
                   current_schema());
END $$;
REVOKE ALL ON FUNCTION pw_access_log_purge(bigint, integer) FROM PUBLIC;
