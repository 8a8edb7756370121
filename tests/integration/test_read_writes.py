"""Batched idempotent writes of reads into real PostgreSQL."""

import time
import uuid

import psycopg

from platewatch.codecs import Read
from platewatch.engine.store import migrate
from platewatch.engine.store.reads import normalise_plate, write_reads


def _reads(n: int, day_offset: float = 0) -> list[Read]:
    now = time.time() - day_offset * 86400
    return [
        Read(
            read_id=str(uuid.uuid4()),
            camera_id=f"cam-{i % 3}",
            time=now - i,
            plate=f"7ab-c{i:03d}",
            confidence=0.9,
            candidates=((f"7ABC{i:03d}", 0.9),),
            char_confidences=(0.9,) * 7,
        )
        for i in range(n)
    ]


def test_replayed_batches_do_not_duplicate(database_url: str) -> None:
    migrate(database_url)
    reads = _reads(200)
    with psycopg.connect(database_url, autocommit=True) as conn:
        first = write_reads(conn, reads)
        replay = write_reads(conn, reads[50:150] + _reads(10))
        assert (first.inserted, first.duplicates) == (200, 0)
        assert (replay.inserted, replay.duplicates) == (10, 100)
        count = conn.execute("SELECT count(*), count(DISTINCT read_id) FROM reads").fetchone()
        assert count == (210, 210)
        plate = conn.execute(
            "SELECT plate, plate_norm FROM reads WHERE read_id = %s", (reads[7].read_id,)
        ).fetchone()
        assert plate == ("7ab-c007", "7ABC007")


def test_reads_from_days_without_a_partition_get_one(database_url: str) -> None:
    migrate(database_url)
    old = _reads(3, day_offset=40)
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert write_reads(conn, old).inserted == 3


def test_normalise_plate_keeps_only_letters_and_digits() -> None:
    assert normalise_plate(" 7ab-c·123 ") == "7ABC123"
