-- The vehicle of each read (codecs.Read): its colour where sure enough to show, with the
-- confidence; its body type where shown (withheld today: NULL); the direction of travel
-- (approaching/receding) and the image-plane heading in degrees; and whether the pass had no
-- readable plate (a plate-less pass: empty plate, never matched or alerted). NULL where unknown,
-- so a read written before this migration and one whose vehicle was not seen look alike. No index:
-- colour and type narrow a search already bounded by time, camera or plate (docs/store.md).
ALTER TABLE reads
    ADD COLUMN IF NOT EXISTS colour text,
    ADD COLUMN IF NOT EXISTS colour_confidence real,
    ADD COLUMN IF NOT EXISTS vehicle_type text,
    ADD COLUMN IF NOT EXISTS direction text,
    ADD COLUMN IF NOT EXISTS heading real,
    ADD COLUMN IF NOT EXISTS plateless boolean DEFAULT false;
