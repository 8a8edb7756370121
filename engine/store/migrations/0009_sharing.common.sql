-- Data-sharing requests (policy 462.6, Civil Code § 1798.90.55): another agency's written request,
-- the approver's decision and every release made under it, kept on file and never deleted
-- (docs/sharing.md). A request is entered once and never edited; a decision and a release are
-- rows of their own, so nothing here is ever updated.

-- The policy's Administrative Services Division Captain (or designee) decides sharing requests.
ALTER TABLE role_grants DROP CONSTRAINT IF EXISTS role_grants_role_check;
ALTER TABLE role_grants ADD CONSTRAINT role_grants_role_check
    CHECK (role IN ('admin', 'supervisor', 'dispatcher', 'investigator', 'auditor', 'sharing_approver'));
ALTER TABLE user_roles DROP CONSTRAINT IF EXISTS user_roles_role_check;
ALTER TABLE user_roles ADD CONSTRAINT user_roles_role_check
    CHECK (role IN ('admin', 'supervisor', 'dispatcher', 'investigator', 'auditor', 'sharing_approver'));

-- One row per request as received. An ineligible one is kept too (eligible = false, with the rule
-- that refused it), so the file shows what was asked and why it was turned away. The data asked
-- for is a plate or a pattern (never both), a time range and, optionally, cameras (none: any).
CREATE TABLE IF NOT EXISTS sharing_requests (
    request_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entered_at        timestamptz NOT NULL DEFAULT now(),
    entered_by        text        NOT NULL,
    entered_by_id     bigint      NOT NULL REFERENCES users (user_id),
    agency            text        NOT NULL CHECK (length(agency) BETWEEN 1 AND 200),
    agency_kind       text        NOT NULL
        CHECK (agency_kind IN ('law_enforcement', 'prosecutorial', 'other_public', 'private')),
    agency_state      text        NOT NULL CHECK (agency_state ~ '^[A-Z]{2}$'),  -- US: federal
    agency_is_public  boolean     NOT NULL,
    requester_name    text        NOT NULL CHECK (length(requester_name) BETWEEN 1 AND 200),
    requester_contact text        NOT NULL CHECK (length(requester_contact) BETWEEN 1 AND 200),
    agency_reference  text        NOT NULL DEFAULT '' CHECK (length(agency_reference) <= 64),
    case_number       text        NOT NULL CHECK (length(case_number) BETWEEN 1 AND 64),
    purpose           text        NOT NULL CHECK (length(purpose) BETWEEN 1 AND 2000),
    legal_basis       text        NOT NULL CHECK (length(legal_basis) BETWEEN 1 AND 2000),
    plate             text CHECK (plate ~ '^[A-Z0-9]{1,16}$'),
    pattern           text CHECK (pattern ~ '^[A-Z0-9?*]{1,16}$'),
    time_from         timestamptz NOT NULL,
    time_to           timestamptz NOT NULL,
    cameras           text[]      NOT NULL DEFAULT '{}',
    eligible          boolean     NOT NULL,
    refusal           text,
    CHECK ((plate IS NULL) <> (pattern IS NULL)),
    CHECK (time_from < time_to),
    CHECK (eligible = (refusal IS NULL))
);
CREATE INDEX IF NOT EXISTS sharing_requests_entered ON sharing_requests (entered_at DESC);

-- The written request itself, as uploaded: bytes, type, size and SHA-256 (what was approved can
-- be shown to be what was received).
CREATE TABLE IF NOT EXISTS sharing_documents (
    document_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id    bigint      NOT NULL REFERENCES sharing_requests (request_id),
    filename      text        NOT NULL CHECK (length(filename) BETWEEN 1 AND 200),
    content_type  text        NOT NULL,
    size          integer     NOT NULL CHECK (size > 0),
    sha256        bytea       NOT NULL CHECK (length(sha256) = 32),
    content       bytea       NOT NULL,
    uploaded_at   timestamptz NOT NULL DEFAULT now(),
    uploaded_by   text        NOT NULL,
    CHECK (length(content) = size)
);
CREATE INDEX IF NOT EXISTS sharing_documents_request ON sharing_documents (request_id);

-- At most one decision per request (the unique index: a second approver loses the race, and a
-- decided request stays decided). An approval is good until expires_at.
CREATE TABLE IF NOT EXISTS sharing_decisions (
    decision_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id    bigint      NOT NULL REFERENCES sharing_requests (request_id),
    decision      text        NOT NULL CHECK (decision IN ('approved', 'denied')),
    note          text        NOT NULL CHECK (length(note) BETWEEN 1 AND 2000),
    decided_at    timestamptz NOT NULL DEFAULT now(),
    decided_by    text        NOT NULL,
    decided_by_id bigint      NOT NULL REFERENCES users (user_id),
    expires_at    timestamptz,
    CHECK ((decision = 'approved') = (expires_at IS NOT NULL))
);
CREATE UNIQUE INDEX IF NOT EXISTS sharing_decisions_one ON sharing_decisions (request_id);

-- Each release of data under an approved request: which reads, who released them, and the
-- evidence export they left in.
CREATE TABLE IF NOT EXISTS sharing_releases (
    release_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id     bigint      NOT NULL REFERENCES sharing_requests (request_id),
    released_at    timestamptz NOT NULL DEFAULT now(),
    released_by    text        NOT NULL,
    released_by_id bigint      NOT NULL REFERENCES users (user_id),
    read_ids       uuid[]      NOT NULL CHECK (cardinality(read_ids) >= 1),
    export_id      text        NOT NULL DEFAULT '',
    manifest_sha256 text       NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS sharing_releases_request ON sharing_releases (request_id);

-- Kept on file, never changed or deleted (policy 462.6: "the approved request is retained on
-- file"): UPDATE, DELETE and TRUNCATE are refused for everyone, the owner included; the
-- application's role is granted only SELECT and INSERT (engine/store/migrate.py).
CREATE OR REPLACE FUNCTION pw_sharing_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'sharing records are kept on file: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'policy 462.6: requests, decisions and releases are never changed or deleted';
END $$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['sharing_requests', 'sharing_documents', 'sharing_decisions', 'sharing_releases']
    LOOP
        EXECUTE format('CREATE OR REPLACE TRIGGER %I BEFORE UPDATE OR DELETE ON %I'
                       ' FOR EACH ROW EXECUTE FUNCTION pw_sharing_append_only()', t || '_no_change', t);
        EXECUTE format('CREATE OR REPLACE TRIGGER %I BEFORE TRUNCATE ON %I'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION pw_sharing_append_only()', t || '_no_truncate', t);
        EXECUTE format('REVOKE ALL ON %I FROM PUBLIC', t);
    END LOOP;
END $$;
