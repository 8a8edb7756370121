"""The plate dictionary (`plate_texts`) on real PostgreSQL: it holds exactly the texts of the stored
reads with their first and last day, whichever way reads arrive (COPY on two connections at once,
INSERT, replays, an existing database migrating), and retention prunes the texts it emptied."""

from __future__ import annotations

import importlib
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from platewatch.codecs import Read
from platewatch.engine.store import migrate
from platewatch.engine.store.copy_writer import ReadWriter
from platewatch.engine.store.images import DirectoryImageStore
from platewatch.engine.store.reads import write_reads
from platewatch.engine.store.retention import run_retention
from platewatch.engine.store.search import SearchQuery, search_reads

migrate_module = importlib.import_module("platewatch.engine.store.migrate")
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _read(when: datetime, plate: str) -> Read:
    return Read(
        read_id=str(uuid.uuid4()), camera_id="cam-1", time=when.timestamp(), plate=plate, confidence=0.9
    )


def _texts(conn: psycopg.Connection) -> dict[str, tuple[date, date]]:
    rows = conn.execute("SELECT plate_norm, first_day, last_day FROM plate_texts").fetchall()
    return {p: (a, b) for p, a, b in rows}


def _from_reads(conn: psycopg.Connection) -> dict[str, tuple[date, date]]:
    rows = conn.execute(
        "SELECT plate_norm, min(time AT TIME ZONE 'UTC')::date, max(time AT TIME ZONE 'UTC')::date"
        " FROM reads GROUP BY plate_norm"
    ).fetchall()
    return {p: (a, b) for p, a, b in rows}


def test_the_dictionary_holds_every_stored_text_with_its_days(database_url: str) -> None:
    migrate(database_url)
    rng = random.Random(15)
    plates = [f"{rng.choice('7AB')}{rng.randrange(1000):03d}X{n % 7}" for n in range(400)]
    # Batches big enough for two connections, the same plates in both halves and across days, out of
    # time order: the two COPYs upsert overlapping texts at once.
    batches = [
        [_read(NOW - timedelta(days=rng.uniform(0, 20)), rng.choice(plates)) for _ in range(1200)]
        for _ in range(4)
    ]
    writer = ReadWriter(database_url, connections=2)
    try:
        for batch in batches:
            assert writer.write(batch).inserted == len(batch)
        assert writer.write([*batches[1][:600], _read(NOW - timedelta(days=40), "LATE1")]).duplicates == 600
    finally:
        writer.close()
    with psycopg.connect(database_url, autocommit=True) as conn:
        # the INSERT path (what PGlite and replays use), with a plate written in odd case and spaces
        early = _read(NOW - timedelta(days=90), "7ab 123")
        assert write_reads(conn, [early, _read(NOW + timedelta(days=2), plates[0])]).inserted == 2
        texts = _texts(conn)
        assert texts == _from_reads(conn)
        assert texts["7AB123"] == ((NOW - timedelta(days=90)).date(),) * 2
        assert len(texts) > 300


def test_retention_prunes_the_texts_whose_reads_went(database_url: str, tmp_path: Path) -> None:
    migrate(database_url)
    days = 365
    old, both_old, both_new = (NOW - timedelta(days=days + d) for d in (3, 5, -300))
    writer = ReadWriter(database_url, connections=1)
    try:
        writer.write([_read(old, "GONE12"), _read(both_old, "KEPT12"), _read(both_new, "KEPT12")])
    finally:
        writer.close()
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert set(_texts(conn)) == {"GONE12", "KEPT12"}
        run_retention(conn, DirectoryImageStore(tmp_path), days=days, now=NOW)
        texts = _texts(conn)
        assert set(texts) == {"KEPT12"} and texts["KEPT12"][1] == both_new.date()
        rows = search_reads(conn, SearchQuery(pattern="*T12", limit=10)).rows
        assert [r.plate for r in rows] == ["KEPT12"]
        assert search_reads(conn, SearchQuery(pattern="GON*", limit=10)).rows == []


def test_an_existing_database_gets_its_texts_when_it_migrates(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    everything = migrate_module.available_migrations()
    monkeypatch.setattr(
        migrate_module, "available_migrations", lambda: [m for m in everything if m.version < 15]
    )
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pw_ensure_read_partitions(current_date - 3, current_date)")
        conn.execute(
            "INSERT INTO reads (read_id, time, camera_id, plate, plate_norm, confidence)"
            " SELECT gen_random_uuid(), now() - make_interval(days => n % 3), 'c', p, p, 0.5"
            " FROM generate_series(0, 59) n, LATERAL (SELECT 'OLD' || (n % 20)::text AS p) x"
        )
    monkeypatch.setattr(migrate_module, "available_migrations", lambda: everything)
    assert 15 in migrate(database_url).applied
    with psycopg.connect(database_url, autocommit=True) as conn:
        texts = _texts(conn)
        assert len(texts) == 20 and texts == _from_reads(conn)
        found = search_reads(conn, SearchQuery(pattern="*D1?", limit=100)).rows
        assert {r.plate for r in found} == {f"OLD{n}" for n in range(10, 20)} and len(found) == 30
