-- Reads: one row per plate read (final or provisional) of a vehicle pass.
-- read_id is the idempotency key; time is part of the primary key because both backends
-- partition by time and PostgreSQL requires the partition key in every unique constraint.
-- Replays carry the same (read_id, time), so INSERT … ON CONFLICT DO NOTHING absorbs them.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
