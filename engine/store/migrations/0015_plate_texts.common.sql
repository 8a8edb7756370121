-- The plate dictionary: every distinct plate text in `reads`, with the first and last UTC day it was
-- read. A partial-plate pattern (`*C123`, `7AB?1*`) is matched against these texts (a few million
-- rows at most, against hundreds of millions of reads a year), and the reads are then fetched by
-- the exact plate-key index for the texts that matched (engine/store/search_texts.py). The writer
-- keeps it in the same transaction as the reads (a stored read always has its text here); the
-- retention run prunes texts last read before its cutoff.
CREATE TABLE IF NOT EXISTS plate_texts (
    plate_norm text NOT NULL PRIMARY KEY,
    first_day  date NOT NULL,
    last_day   date NOT NULL,
    CHECK (first_day <= last_day)
) WITH (fillfactor = 80);  -- room on the page, so widening a text's days is a HOT update
-- A pending list (fastupdate) takes the writer's new texts: inserting each into the index proper
-- made the upsert four times slower. A search scans the list (at most 4 MB), and the hourly upkeep
-- merges it (clean_gin_pending).
CREATE INDEX IF NOT EXISTS plate_texts_key_trgm ON plate_texts
    USING gin (pw_plate_key(plate_norm) gin_trgm_ops) WITH (fastupdate = on, gin_pending_list_limit = 4096);

INSERT INTO plate_texts (plate_norm, first_day, last_day)
SELECT plate_norm, min(time AT TIME ZONE 'UTC')::date, max(time AT TIME ZONE 'UTC')::date
FROM reads GROUP BY plate_norm
ON CONFLICT (plate_norm) DO NOTHING;

-- Patterns no longer read the reads' own trigram index, and it was the costliest index on ingest.
DROP INDEX IF EXISTS reads_plate_key_trgm;
