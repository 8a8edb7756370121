-- Evidence exports to portable media (policy 462.3) and their chain of custody (docs/evidence.md).
-- Both tables are a record for court: rows are only ever added. A trigger refuses UPDATE, DELETE
-- and TRUNCATE for everyone, the owner included, and the application's role is granted only
-- SELECT and INSERT on them (engine/store/migrate.py, APPEND_ONLY_TABLES).

-- One row per bundle built: who exported which reads, for which case and booking, under which
-- hold, the SHA-256 of the signed manifest (which itself holds the SHA-256 of every file) and of
-- the zip the server keeps and hands out, so a bundle produced in court can be matched to this row.
CREATE TABLE IF NOT EXISTS evidence_exports (
    export_id          uuid        PRIMARY KEY,
    exported_at        timestamptz NOT NULL DEFAULT now(),
    exported_by        text        NOT NULL,
    exported_by_id     bigint      REFERENCES users (user_id),
    organisation       text        NOT NULL,
    purpose            text        NOT NULL,
    case_number        text        NOT NULL CHECK (length(case_number) BETWEEN 1 AND 64),
    booking_number     text        NOT NULL CHECK (length(booking_number) BETWEEN 1 AND 64),
    hold_id            bigint      NOT NULL REFERENCES evidence_holds (hold_id),
    read_ids           uuid[]      NOT NULL,
    reads              integer     NOT NULL CHECK (reads >= 0),
    files              integer     NOT NULL CHECK (files >= 0),
    bytes              bigint      NOT NULL CHECK (bytes >= 0),
    manifest_sha256    text        NOT NULL CHECK (manifest_sha256 ~ '^[0-9a-f]{64}$'),
    bundle_sha256      text        NOT NULL CHECK (bundle_sha256 ~ '^[0-9a-f]{64}$'),  -- the zip handed out
    bundle_bytes       bigint      NOT NULL CHECK (bundle_bytes >= 0),
    signing_key_id     text        NOT NULL,
    platewatch_version text        NOT NULL
);
CREATE INDEX IF NOT EXISTS evidence_exports_case ON evidence_exports (case_number, exported_at DESC);

-- What happened to a bundle after it was built: exported (written with the export), downloaded
-- from the server, copied to media, handed over, received. `actor` recorded it (or downloaded it);
-- `party` is the media, or whom it went to or came from.
CREATE TABLE IF NOT EXISTS custody_events (
    event_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    export_id    uuid        NOT NULL REFERENCES evidence_exports (export_id),
    event        text        NOT NULL CHECK (event IN ('exported', 'downloaded', 'copied', 'handed_over', 'received')),
    at           timestamptz NOT NULL DEFAULT now(),
    actor        text        NOT NULL,
    actor_id     bigint      REFERENCES users (user_id),
    organisation text        NOT NULL,
    party        text        NOT NULL DEFAULT '' CHECK (length(party) <= 200),
    note         text        NOT NULL DEFAULT '' CHECK (length(note) <= 2000)
);
CREATE INDEX IF NOT EXISTS custody_events_export ON custody_events (export_id, event_id);

CREATE OR REPLACE FUNCTION pw_evidence_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'policy 462.3: the record of evidence exports and their custody is never changed';
END $$;

CREATE OR REPLACE TRIGGER evidence_exports_no_change BEFORE UPDATE OR DELETE ON evidence_exports
    FOR EACH ROW EXECUTE FUNCTION pw_evidence_append_only();
CREATE OR REPLACE TRIGGER evidence_exports_no_truncate BEFORE TRUNCATE ON evidence_exports
    FOR EACH STATEMENT EXECUTE FUNCTION pw_evidence_append_only();
CREATE OR REPLACE TRIGGER custody_events_no_change BEFORE UPDATE OR DELETE ON custody_events
    FOR EACH ROW EXECUTE FUNCTION pw_evidence_append_only();
CREATE OR REPLACE TRIGGER custody_events_no_truncate BEFORE TRUNCATE ON custody_events
    FOR EACH STATEMENT EXECUTE FUNCTION pw_evidence_append_only();

REVOKE ALL ON evidence_exports, custody_events FROM PUBLIC;
