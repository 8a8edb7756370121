-- Corrections of misread plates (Civil Code 1798.90.51: the operator keeps ALPR data accurate and
-- corrects data errors). The read itself is never changed, so what the camera system produced stays
-- on record beside what a person says it should have been: each correction is a new row, the
-- newest one of a read is its current correction, and search matches it as well as the read's own
-- plate. `read_time` is the read's time (the reads table's key is (read_id, time)), so a
-- correction finds its read in one partition.
CREATE TABLE IF NOT EXISTS read_corrections (
    correction_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    read_id          uuid        NOT NULL,
    read_time        timestamptz NOT NULL,
    original_plate   text        NOT NULL,
    corrected_plate  text        NOT NULL CHECK (corrected_plate ~ '^[0-9A-Z]{1,16}$'),
    note             text        NOT NULL DEFAULT '' CHECK (length(note) <= 500),
    corrected_by     text        NOT NULL,
    case_number      text,
    corrected_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS read_corrections_read ON read_corrections (read_id, correction_id DESC);
CREATE INDEX IF NOT EXISTS read_corrections_key ON read_corrections (pw_plate_key(corrected_plate));
CREATE INDEX IF NOT EXISTS read_corrections_key_trgm ON read_corrections
    USING gin (pw_plate_key(corrected_plate) gin_trgm_ops);
CREATE INDEX IF NOT EXISTS read_corrections_read_time ON read_corrections (read_time);
