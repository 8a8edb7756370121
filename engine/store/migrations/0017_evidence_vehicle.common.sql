-- A held read keeps what the read said of the vehicle (0013) and the plate's state (0016): the
-- case may turn on "a blue car heading north", and after the read itself is purged the evidence
-- copy is all that is left. NULL where the read had none, as in `reads`.
ALTER TABLE evidence_reads
    ADD COLUMN IF NOT EXISTS colour text,
    ADD COLUMN IF NOT EXISTS colour_confidence real,
    ADD COLUMN IF NOT EXISTS vehicle_type text,
    ADD COLUMN IF NOT EXISTS direction text,
    ADD COLUMN IF NOT EXISTS heading real,
    ADD COLUMN IF NOT EXISTS plateless boolean DEFAULT false,
    ADD COLUMN IF NOT EXISTS state text;
