-- Store features shared by both backends: search indexes, evidence holds, retention bookkeeping.

-- OCR confusion classes (0/O/D/Q, 1/I/L/T, 2/Z, 5/S, 6/G, 8/B) folded to one character. The plate
-- indexes are built on this form so one btree and one trigram index serve exact, pattern and fuzzy
-- search: an exact search filters plate_norm on top, a fuzzy one does not. Fewer indexes on `reads`
-- is what keeps ingest fast (each index costs more than the COPY itself).
CREATE OR REPLACE FUNCTION pw_plate_key(plate_norm text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
AS $$ SELECT translate(plate_norm, 'ODQILTZSGB', '0001112568') $$;

DROP INDEX IF EXISTS reads_plate_time;
DROP INDEX IF EXISTS reads_camera_time;
CREATE INDEX IF NOT EXISTS reads_plate_key_time ON reads (pw_plate_key(plate_norm), time DESC);
-- fastupdate with a large pending list turns per-row GIN insertions into sorted bulk merges.
CREATE INDEX IF NOT EXISTS reads_plate_key_trgm ON reads
    USING gin (pw_plate_key(plate_norm) gin_trgm_ops) WITH (fastupdate = on, gin_pending_list_limit = 16384);

-- Evidence holds (policy 462.3): a hold names what it keeps; the matching reads are copied into
-- evidence_reads (and their images into the image store's evidence area) when the hold is placed,
-- and again before any retention purge, so retention never has to look at holds twice.
CREATE TABLE IF NOT EXISTS evidence_holds (
    hold_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_number    text        NOT NULL CHECK (length(case_number) BETWEEN 1 AND 64),
    reason         text        NOT NULL DEFAULT '',
    created_by     text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    read_ids       uuid[],
    plate_norm     text,
    camera_ids     text[],
    time_from      timestamptz,
    time_to        timestamptz,
    released_at    timestamptz,
    released_by    text,
    release_reason text,
    CHECK (read_ids IS NOT NULL OR plate_norm IS NOT NULL OR (time_from IS NOT NULL AND time_to IS NOT NULL)),
    CHECK ((released_at IS NULL) = (released_by IS NULL))
);
CREATE INDEX IF NOT EXISTS evidence_holds_case ON evidence_holds (case_number);

CREATE TABLE IF NOT EXISTS evidence_reads (
    hold_id          bigint      NOT NULL REFERENCES evidence_holds (hold_id),
    read_id          uuid        NOT NULL,
    time             timestamptz NOT NULL,
    camera_id        text        NOT NULL,
    plate            text        NOT NULL,
    plate_norm       text        NOT NULL,
    confidence       real        NOT NULL,
    region           text        NOT NULL,
    box              integer[]   NOT NULL,
    char_confidences real[]      NOT NULL,
    candidates       jsonb       NOT NULL,
    track_length     integer     NOT NULL,
    provisional      boolean     NOT NULL,
    pass_id          text        NOT NULL,
    image_key        text,
    received_at      timestamptz NOT NULL,
    held_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (hold_id, read_id)
);
CREATE INDEX IF NOT EXISTS evidence_reads_plate ON evidence_reads (plate_norm, time DESC);

-- Append-only record of what happened to each hold (placed, captured more reads, released).
CREATE TABLE IF NOT EXISTS evidence_hold_events (
    event_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hold_id   bigint      NOT NULL REFERENCES evidence_holds (hold_id),
    at        timestamptz NOT NULL DEFAULT now(),
    actor     text        NOT NULL,
    action    text        NOT NULL CHECK (action IN ('placed', 'captured', 'released')),
    reads     integer     NOT NULL DEFAULT 0,
    detail    text        NOT NULL DEFAULT ''
);

-- One row per retention run: when, the cutoff, what went; `platewatch retention status` reads it.
CREATE TABLE IF NOT EXISTS retention_runs (
    run_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    retention_days  integer     NOT NULL CHECK (retention_days >= 365),
    cutoff          timestamptz NOT NULL,
    backend         text        NOT NULL,
    dropped_days    integer     NOT NULL DEFAULT 0,
    captured_reads  integer     NOT NULL DEFAULT 0,
    purged_images   integer     NOT NULL DEFAULT 0
);
