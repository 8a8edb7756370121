-- The plate's issuing state (USPS code, e.g. TX) of each read (codecs.Read.state), where the plate
-- shows it (engine/vision/plate_state.py); NULL where unknown, so a read written before this
-- migration and one whose state was not legible look alike. No index: the state narrows a search
-- already bounded by time, camera or plate.
ALTER TABLE reads ADD COLUMN IF NOT EXISTS state text;
