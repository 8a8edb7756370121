-- Plain PostgreSQL: reads per camera per hour as a materialized view, refreshed CONCURRENTLY (it
-- needs the unique index) by the store jobs, so readers never block on a refresh.
CREATE MATERIALIZED VIEW IF NOT EXISTS reads_per_camera_hour AS
    SELECT camera_id, date_trunc('hour', time) AS hour, count(*) AS reads
    FROM reads GROUP BY 1, 2
WITH NO DATA;
CREATE UNIQUE INDEX IF NOT EXISTS reads_per_camera_hour_key ON reads_per_camera_hour (camera_id, hour);

-- Retention detaches and drops whole day partitions; this lists them with their bounds so the
-- Python side never parses partition names.
CREATE OR REPLACE FUNCTION pw_read_partitions()
RETURNS TABLE (name text, day_from timestamptz, day_to timestamptz) LANGUAGE sql STABLE AS $$
    SELECT c.relname::text,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\)'))[1]::timestamptz,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'reads'::regclass
    ORDER BY 2
$$;

-- Same contract as in 0002, but the common case (every day already there) takes no lock, so
-- concurrent writers on several connections never queue behind each other here.
CREATE OR REPLACE FUNCTION pw_ensure_read_partitions(from_day date, to_day date)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    d date := from_day;
    made integer := 0;
    part text;
BEGIN
    WHILE d <= to_day LOOP
        part := format('reads_p%s', to_char(d, 'YYYYMMDD'));
        IF to_regclass(part) IS NULL THEN
            PERFORM pg_advisory_xact_lock(hashtext('pw_read_partitions'));
            -- The catalog snapshot may predate another writer's CREATE (an advisory lock does not
            -- refresh it), so a concurrent creation shows up as duplicate_table: that is success.
            BEGIN
                EXECUTE format(
                    'CREATE TABLE %I PARTITION OF reads FOR VALUES FROM (%L) TO (%L)',
                    part, d::timestamp AT TIME ZONE 'UTC', (d + 1)::timestamp AT TIME ZONE 'UTC');
                made := made + 1;
            EXCEPTION WHEN duplicate_table THEN
                NULL;
            END;
        END IF;
        d := d + 1;
    END LOOP;
    RETURN made;
END $$;
