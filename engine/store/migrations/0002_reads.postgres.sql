-- Plain PostgreSQL backend: declarative range partitions by day, created ahead by
-- pw_ensure_read_partitions(); retention drops whole partitions (see engine/store).
CREATE TABLE IF NOT EXISTS reads (
    read_id          uuid        NOT NULL,
    time             timestamptz NOT NULL,
    camera_id        text        NOT NULL,
    plate            text        NOT NULL,
    plate_norm       text        NOT NULL,
    confidence       real        NOT NULL,
    region           text        NOT NULL DEFAULT '',
    box              integer[]   NOT NULL DEFAULT '{0,0,0,0}',
    char_confidences real[]      NOT NULL DEFAULT '{}',
    candidates       jsonb       NOT NULL DEFAULT '[]',
    track_length     integer     NOT NULL DEFAULT 1,
    provisional      boolean     NOT NULL DEFAULT false,
    pass_id          text        NOT NULL DEFAULT '',
    image_key        text,
    received_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (read_id, time)
) PARTITION BY RANGE (time);

CREATE INDEX IF NOT EXISTS reads_time_brin ON reads USING brin (time);
CREATE INDEX IF NOT EXISTS reads_plate_time ON reads (plate_norm, time DESC);
CREATE INDEX IF NOT EXISTS reads_camera_time ON reads (camera_id, time DESC);

-- Creates the daily partitions covering [from_day, to_day]; safe to call concurrently
-- and repeatedly (IF NOT EXISTS, and an advisory lock serialises DDL on the parent).
CREATE OR REPLACE FUNCTION pw_ensure_read_partitions(from_day date, to_day date)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    d date := from_day;
    made integer := 0;
    part text;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('pw_read_partitions'));
    WHILE d <= to_day LOOP
        part := format('reads_p%s', to_char(d, 'YYYYMMDD'));
        IF to_regclass(part) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF reads FOR VALUES FROM (%L) TO (%L)',
                part, d::timestamp AT TIME ZONE 'UTC', (d + 1)::timestamp AT TIME ZONE 'UTC');
            made := made + 1;
        END IF;
        d := d + 1;
    END LOOP;
    RETURN made;
END $$;

SELECT pw_ensure_read_partitions((now() AT TIME ZONE 'UTC')::date - 1, (now() AT TIME ZONE 'UTC')::date + 7);
