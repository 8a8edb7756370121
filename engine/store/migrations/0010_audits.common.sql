-- Audits of the access log (policy 462.4(c)): one row per audited period with the report's figures,
-- its sign-off, the random sample of searches a supervisor reviews, and the notifications of unusual
-- access the worker raises (docs/audit.md). The access log itself stays the record of every access;
-- these tables record the audit work done on it.

CREATE TABLE IF NOT EXISTS audits (
    audit_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    period       text        NOT NULL CHECK (period IN ('weekly', 'monthly', 'quarterly')),
    period_start timestamptz NOT NULL,
    period_end   timestamptz NOT NULL,
    produced_at  timestamptz NOT NULL DEFAULT now(),
    produced_by  text        NOT NULL,
    report_files text[]      NOT NULL DEFAULT '{}',   -- the HTML/CSV/JSON written under audit.report_dir
    figures      jsonb       NOT NULL DEFAULT '{}',   -- the headline figures, for the status page
    due_at       timestamptz NOT NULL,                -- signed off by then, or overdue
    CHECK (period_start < period_end),
    UNIQUE (period, period_start)
);

-- A sign-off is final: one per audit, never changed (who, when, what they noted).
CREATE TABLE IF NOT EXISTS audit_signoffs (
    audit_id     bigint      PRIMARY KEY REFERENCES audits (audit_id),
    signed_by    text        NOT NULL,
    signed_by_id bigint      REFERENCES users (user_id),
    signed_at    timestamptz NOT NULL DEFAULT now(),
    note         text        NOT NULL DEFAULT '' CHECK (length(note) <= 4000)
);

-- The review sample: searches drawn at random from the audited period, each assigned to a supervisor
-- who did not make it, and its review (who, when, finding). `seq` is the search's access-log row; no
-- foreign key, since the log may be purged before the audit record is.
CREATE TABLE IF NOT EXISTS audit_reviews (
    audit_id       bigint      NOT NULL REFERENCES audits (audit_id),
    seq            bigint      NOT NULL,
    searcher       text        NOT NULL,
    assigned_to    text,                             -- null: no supervisor other than the searcher exists
    assigned_to_id bigint      REFERENCES users (user_id),
    assigned_at    timestamptz NOT NULL DEFAULT now(),
    reviewed_by    text,
    reviewed_by_id bigint      REFERENCES users (user_id),
    reviewed_at    timestamptz,
    finding        text        CHECK (finding IN ('proper', 'improper', 'unclear')),
    note           text        CHECK (length(note) <= 4000),
    PRIMARY KEY (audit_id, seq),
    CHECK (assigned_to IS DISTINCT FROM searcher),
    CHECK (reviewed_by IS DISTINCT FROM searcher),
    CHECK ((reviewed_at IS NULL) = (finding IS NULL) AND (reviewed_at IS NULL) = (reviewed_by IS NULL))
);
CREATE INDEX IF NOT EXISTS audit_reviews_open ON audit_reviews (assigned_to) WHERE reviewed_at IS NULL;

-- Unusual access and overdue audits, for supervisors. `dedupe` makes raising idempotent: a rescan of
-- the same rows, or two workers, never raise one thing twice.
CREATE TABLE IF NOT EXISTS audit_notifications (
    notification_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    raised_at       timestamptz NOT NULL DEFAULT now(),
    kind            text        NOT NULL CHECK (kind IN ('bulk', 'out_of_hours', 'audit_overdue')),
    dedupe          text        NOT NULL UNIQUE,
    username        text,                             -- whose access it is about (none for an audit)
    message         text        NOT NULL,
    seqs            bigint[]    NOT NULL DEFAULT '{}', -- the access-log rows behind it
    acknowledged_at timestamptz,
    acknowledged_by text,
    CHECK ((acknowledged_at IS NULL) = (acknowledged_by IS NULL))
);
CREATE INDEX IF NOT EXISTS audit_notifications_open ON audit_notifications (raised_at DESC)
    WHERE acknowledged_at IS NULL;

-- How far the worker's scan for unusual access has read the access log.
CREATE TABLE IF NOT EXISTS audit_scan (
    id       boolean PRIMARY KEY DEFAULT true CHECK (id),
    last_seq bigint  NOT NULL DEFAULT 0
);

-- Retention (policy 462.3) now purges alerts and their webhook deliveries past retention.days too
-- (engine/store/retention.py); each run records how many went.
ALTER TABLE retention_runs ADD COLUMN IF NOT EXISTS purged_alerts integer NOT NULL DEFAULT 0;
ALTER TABLE retention_runs ADD COLUMN IF NOT EXISTS purged_deliveries integer NOT NULL DEFAULT 0;
