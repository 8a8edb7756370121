"""Store migrations on an empty database and on one that already holds reads from an older schema."""

from __future__ import annotations

import importlib
import time
import uuid

import psycopg
import pytest

from platewatch.codecs import Read
from platewatch.engine.store import migrate
from platewatch.engine.store.reads import write_reads

# the package re-exports the function `migrate`, which shadows the module of the same name
migrate_module = importlib.import_module("platewatch.engine.store.migrate")


def _indexes(conn: psycopg.Connection) -> set[str]:
    return {
        r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'reads'").fetchall()
    }


def test_an_empty_database_gets_the_whole_store(database_url: str) -> None:
    report = migrate(database_url)
    assert report.backend == "postgres" and report.current >= 3
    with psycopg.connect(database_url) as conn:
        indexes = _indexes(conn)
        assert {"reads_pkey", "reads_time_brin", "reads_plate_key_time"} <= indexes
        assert "reads_plate_key_trgm" not in indexes  # 0015: patterns go through plate_texts
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        assert {"evidence_holds", "evidence_reads", "evidence_hold_events", "retention_runs"} <= tables
        assert conn.execute("SELECT pw_plate_key('O0DQ1ILT2Z5S6G8B')").fetchone() == ("0000111122556688",)
        assert conn.execute(
            "SELECT count(*) FROM pg_matviews WHERE matviewname = 'reads_per_camera_hour'"
        ).fetchone() == (1,)


def test_an_existing_database_keeps_its_reads(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    everything = migrate_module.available_migrations()
    monkeypatch.setattr(
        migrate_module, "available_migrations", lambda: [m for m in everything if m.version <= 2]
    )
    assert migrate(database_url).current == 2
    reads = [
        Read(read_id=str(uuid.uuid4()), camera_id="c", time=time.time() - i, plate=f"OLD{i}", confidence=0.9)
        for i in range(50)
    ]
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO reads (read_id, time, camera_id, plate, plate_norm, confidence)"
            " SELECT gen_random_uuid(), now() - interval '1 hour', 'c', 'X', 'X', 0.5"
        )
    monkeypatch.setattr(migrate_module, "available_migrations", lambda: everything)
    report = migrate(database_url)
    assert report.applied and min(report.applied) == 3
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert "reads_plate_key_time" in _indexes(conn) and "reads_plate_time" not in _indexes(conn)
        assert write_reads(conn, reads).inserted == 50
        assert conn.execute("SELECT count(*) FROM reads").fetchone() == (51,)
    assert migrate(database_url).applied == []
