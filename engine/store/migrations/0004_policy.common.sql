-- Policy (462.2, 462.4, 462.7; Civil Code § 1798.90.52): accounts and roles, role grants that need a
-- supervisor's approval, second factor, training records, sessions, and the access log.
-- Users are never deleted (disabled instead), so every log row and grant keeps naming a real account.

CREATE TABLE IF NOT EXISTS users (
    user_id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username             text        NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9][a-z0-9._-]{1,63}$'),
    display_name         text        NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    organisation         text        NOT NULL CHECK (length(organisation) BETWEEN 1 AND 200),
    password_hash        text        NOT NULL,
    must_change_password boolean     NOT NULL DEFAULT false,
    clets_authorised     boolean     NOT NULL DEFAULT false,
    created_at           timestamptz NOT NULL DEFAULT now(),
    created_by           text        NOT NULL,
    disabled_at          timestamptz,
    disabled_reason      text,
    last_login_at        timestamptz,
    enabled_at           timestamptz,            -- last re-enabled: the unused-account clock restarts
    failed_logins        integer     NOT NULL DEFAULT 0,
    locked_until         timestamptz,
    -- Fernet tokens (the key is configuration, never in the database); pending until the first code checks.
    totp_secret          bytea,
    totp_pending         bytea,
    totp_enrolled_at     timestamptz,
    totp_last_step       bigint,
    CHECK ((disabled_at IS NULL) = (disabled_reason IS NULL))
);

CREATE TABLE IF NOT EXISTS role_grants (
    grant_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         bigint      NOT NULL REFERENCES users (user_id),
    role            text        NOT NULL
        CHECK (role IN ('admin', 'supervisor', 'dispatcher', 'investigator', 'auditor')),
    requested_by    text        NOT NULL,
    requested_by_id bigint      REFERENCES users (user_id),
    requested_at    timestamptz NOT NULL DEFAULT now(),
    reason          text        NOT NULL DEFAULT '',
    status          text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'refused')),
    decided_by      text,
    decided_by_id   bigint      REFERENCES users (user_id),
    decided_at      timestamptz,
    decision_note   text,
    CHECK ((status = 'pending') = (decided_at IS NULL))
);
CREATE UNIQUE INDEX IF NOT EXISTS role_grants_one_pending ON role_grants (user_id, role) WHERE status = 'pending';

CREATE TABLE IF NOT EXISTS user_roles (
    user_id     bigint      NOT NULL REFERENCES users (user_id),
    role        text        NOT NULL
        CHECK (role IN ('admin', 'supervisor', 'dispatcher', 'investigator', 'auditor')),
    granted_at  timestamptz NOT NULL DEFAULT now(),
    granted_by  text        NOT NULL,
    approved_by text,
    grant_id    bigint      REFERENCES role_grants (grant_id),
    PRIMARY KEY (user_id, role)
);

-- Recovery codes are random (80 bits), so a plain SHA-256 is enough to keep them unusable if read.
CREATE TABLE IF NOT EXISTS recovery_codes (
    user_id    bigint      NOT NULL REFERENCES users (user_id),
    code_hash  bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    used_at    timestamptz,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE IF NOT EXISTS training_records (
    record_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id        bigint      NOT NULL REFERENCES users (user_id),
    course         text        NOT NULL CHECK (length(course) BETWEEN 1 AND 200),
    completed_at   timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    recorded_by    text        NOT NULL,
    recorded_by_id bigint      REFERENCES users (user_id),
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    note           text        NOT NULL DEFAULT '',
    CHECK (expires_at > completed_at)
);
CREATE INDEX IF NOT EXISTS training_records_user ON training_records (user_id, expires_at DESC);

-- Opaque tokens: only their SHA-256 is stored, so a copy of this table logs nobody in.
CREATE TABLE IF NOT EXISTS sessions (
    session_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash     bytea       NOT NULL UNIQUE,
    csrf_hash      bytea,
    user_id        bigint      NOT NULL REFERENCES users (user_id),
    kind           text        NOT NULL CHECK (kind IN ('browser', 'bearer')),
    second_factor  text        NOT NULL CHECK (second_factor IN ('none', 'totp', 'recovery_code')),
    client_address text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    revoked_reason text
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user_id) WHERE revoked_at IS NULL;

-- The access log (462.4(a), Civil Code § 1798.90.52). `seq` is gapless (assigned under an advisory
-- lock), and each row's `hash` is SHA-256 over `prev_hash` and a canonical encoding of its content,
-- computed by the application (engine/policy/access_log.py), so an edited, deleted, inserted or
-- reordered row breaks the chain. No foreign keys: the log must outlive anything it mentions.
CREATE TABLE IF NOT EXISTS access_log (
    seq            bigint      PRIMARY KEY CHECK (seq >= 1),
    time           timestamptz NOT NULL,
    user_id        bigint,
    username       text        NOT NULL,
    organisation   text        NOT NULL,
    client_address text,
    action         text        NOT NULL,
    terms          jsonb       NOT NULL DEFAULT '{}',
    purpose        text,
    case_number    text,
    alert_id       text,
    outcome        text        NOT NULL CHECK (outcome IN ('allowed', 'refused')),
    reason         text,
    returned_count integer     NOT NULL DEFAULT 0 CHECK (returned_count >= 0),
    returned_ids   text[]      NOT NULL DEFAULT '{}',
    prev_hash      bytea       NOT NULL CHECK (length(prev_hash) = 32),
    hash           bytea       NOT NULL CHECK (length(hash) = 32),
    CHECK (outcome = 'allowed' OR reason IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS access_log_time ON access_log USING brin (time);
CREATE INDEX IF NOT EXISTS access_log_user_time ON access_log (username, time DESC);

-- Append-only: UPDATE, DELETE and TRUNCATE are refused for everyone, the owner included, unless a
-- superuser disables the trigger (which `verify` then catches through the chain and its anchors).
-- The one exception is the retention purge: rows older than the policy's one-year floor, deleted
-- with `platewatch.access_log_purge` set for the transaction, and that purge is itself logged.
CREATE OR REPLACE FUNCTION pw_access_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF current_setting('platewatch.access_log_purge', true) = 'on'
           AND OLD.time < now() - interval '365 days' THEN
            RETURN OLD;
        END IF;
    END IF;
    RAISE EXCEPTION 'the access log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'policy 462.4(a): access records are never changed; only the retention purge removes expired rows';
END $$;

CREATE OR REPLACE TRIGGER access_log_no_change BEFORE UPDATE OR DELETE ON access_log
    FOR EACH ROW EXECUTE FUNCTION pw_access_log_append_only();
CREATE OR REPLACE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON access_log
    FOR EACH STATEMENT EXECUTE FUNCTION pw_access_log_append_only();

-- Nobody but the owner gets anything by default; the application's role is granted SELECT, INSERT.
REVOKE ALL ON access_log FROM PUBLIC;
