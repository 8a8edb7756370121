-- TimescaleDB backend: a hypertable with daily chunks; retention and compression policies
-- are added by later migrations and the retention settings.
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
);

SELECT create_hypertable('reads', by_range('time', INTERVAL '1 day'), if_not_exists => TRUE);
CREATE INDEX IF NOT EXISTS reads_plate_time ON reads (plate_norm, time DESC);
CREATE INDEX IF NOT EXISTS reads_camera_time ON reads (camera_id, time DESC);

-- Same signature as the PostgreSQL backend so callers need not know the backend:
-- hypertables create chunks on insert, so there is nothing to do.
CREATE OR REPLACE FUNCTION pw_ensure_read_partitions(from_day date, to_day date)
RETURNS integer LANGUAGE sql AS $$ SELECT 0 $$;
