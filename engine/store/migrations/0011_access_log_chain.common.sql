-- The access log's hash chain moves off the request's path: "sequenced, then sealed" (as Certificate
-- Transparency's merge delay). A request's row is inserted with no lock, numbered by a sequence and
-- timed by the database's clock; a sealer (engine/policy/sealer.py) chains the committed rows, in
-- number order, into `access_log_chain` a moment later. `access_log` stays insert-only (its trigger is
-- unchanged); its prev_hash/hash columns are kept for the rows written before this migration, which
-- are carried into the chain as they were, and are no longer written.

-- Numbers come from a sequence: no lock, so they can have gaps (a rolled-back insert) and commit out
-- of order; the sealer waits at a young gap and passes over one nobody holds (sealer.py says how).
CREATE SEQUENCE IF NOT EXISTS access_log_seq AS bigint OWNED BY access_log.seq;
SELECT setval('access_log_seq', coalesce((SELECT max(seq) FROM access_log), 0) + 1, false);
ALTER TABLE access_log
    ALTER COLUMN seq SET DEFAULT nextval('access_log_seq'),
    ALTER COLUMN time SET DEFAULT clock_timestamp(),
    ALTER COLUMN prev_hash DROP NOT NULL,
    ALTER COLUMN hash DROP NOT NULL;

-- One entry per sealed row, numbered without gaps (`pos`), each with
-- hash = SHA-256(prev_hash || canonical(row)), the row's own number inside `canonical`, the first
-- entry chaining from 32 zero bytes. No foreign key: a sealed row that disappears must be a finding
-- of `verify`, not an error of the delete. `sealed_at` is not hashed; it shows the sealing delay.
CREATE TABLE IF NOT EXISTS access_log_chain (
    pos       bigint      PRIMARY KEY CHECK (pos >= 1),
    seq       bigint      NOT NULL UNIQUE,
    prev_hash bytea       NOT NULL CHECK (length(prev_hash) = 32),
    hash      bytea       NOT NULL CHECK (length(hash) = 32),
    sealed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- The rows written before: they already chain row to row from the first, so their hashes are carried
-- over unchanged at pos = seq, and the anchors written before (which named seq and hash) still hold.
INSERT INTO access_log_chain (pos, seq, prev_hash, hash, sealed_at)
SELECT seq, seq, prev_hash, hash, time FROM access_log WHERE hash IS NOT NULL ORDER BY seq
ON CONFLICT DO NOTHING;

-- Append-only, like the log: the one deletion is the retention purge's, of entries whose row it has
-- already removed (so no entry of a kept row can go).
CREATE OR REPLACE FUNCTION pw_access_log_chain_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF current_setting('platewatch.access_log_purge', true) = 'on'
           AND NOT EXISTS (SELECT 1 FROM access_log WHERE seq = OLD.seq) THEN
            RETURN OLD;
        END IF;
    END IF;
    RAISE EXCEPTION 'the access log''s chain is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'policy 462.4(a): access records are never changed; only the retention purge removes expired rows';
END $$;

CREATE OR REPLACE TRIGGER access_log_chain_no_change BEFORE UPDATE OR DELETE ON access_log_chain
    FOR EACH ROW EXECUTE FUNCTION pw_access_log_chain_append_only();
CREATE OR REPLACE TRIGGER access_log_chain_no_truncate BEFORE TRUNCATE ON access_log_chain
    FOR EACH STATEMENT EXECUTE FUNCTION pw_access_log_chain_append_only();

REVOKE ALL ON access_log_chain FROM PUBLIC;

-- The retention purge now removes the chain's entries of the rows it removes too. It purges through a
-- sealed row older than `keep_days` (never under a year) that is not the chain's head (the next
-- entry chains from it); the purge row the caller appends names through_pos and through_hash.
CREATE OR REPLACE FUNCTION pw_access_log_purge(through_seq bigint, keep_days integer)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    deleted bigint;
    through_pos bigint;
BEGIN
    IF keep_days IS NULL OR keep_days < 365 THEN
        RAISE EXCEPTION 'access-log rows are kept at least 365 days, not %', keep_days
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT c.pos INTO through_pos FROM access_log_chain c JOIN access_log l ON l.seq = c.seq
     WHERE c.seq = through_seq AND l.time < now() - make_interval(days => keep_days)
       AND c.pos < (SELECT max(pos) FROM access_log_chain);
    IF through_pos IS NULL THEN
        RAISE EXCEPTION 'access-log row % is not past the retention of % days, not sealed, or is the head',
            through_seq, keep_days
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM set_config('platewatch.access_log_purge', 'on', true);
    DELETE FROM access_log WHERE seq <= through_seq;
    GET DIAGNOSTICS deleted = ROW_COUNT;
    DELETE FROM access_log_chain WHERE pos <= through_pos;
    PERFORM set_config('platewatch.access_log_purge', 'off', true);
    RETURN deleted;
END $$;
DO $$ BEGIN
    EXECUTE format('ALTER FUNCTION pw_access_log_purge(bigint, integer) SET search_path = %I, pg_temp',
                   current_schema());
END $$;
REVOKE ALL ON FUNCTION pw_access_log_purge(bigint, integer) FROM PUBLIC;
