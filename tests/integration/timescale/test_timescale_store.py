"""The TimescaleDB backend's SQL, for real, on PGlite + TimescaleDB: hypertable, policies, compression,
continuous aggregate, idempotent writes, retention with holds, search."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from platewatch.codecs import Read
from platewatch.engine.store import migrate
from platewatch.engine.store.copy_writer import ReadWriter
from platewatch.engine.store.holds import HoldCriteria, place_hold, release_hold
from platewatch.engine.store.images import CROP, DirectoryImageStore, evidence_key, store_read_images
from platewatch.engine.store.retention import refresh_aggregates, run_retention
from platewatch.engine.store.search import SearchQuery, search_reads

pytestmark = pytest.mark.timescaledb


def connect(url: str, attempts: int = 50) -> psycopg.Connection:
    """Connect, retrying briefly: PGlite takes the next client once the last one has detached."""
    for i in range(attempts):
        try:
            return psycopg.connect(url, autocommit=True, prepare_threshold=None, connect_timeout=5)
        except psycopg.OperationalError:
            if i == attempts - 1:
                raise
            time.sleep(0.1)
    raise AssertionError("unreachable")


NOW = datetime.now(UTC)
DAYS = 365


def _read(days_ago: float, plate: str, camera: str = "cam-1") -> Read:
    return Read(
        read_id=str(uuid.uuid4()),
        camera_id=camera,
        time=(NOW - timedelta(days=days_ago)).timestamp(),
        plate=plate,
        confidence=0.9,
        candidates=((plate, 0.9),),
        char_confidences=(0.9,) * len(plate),
        crop_jpeg=b"jpeg",
    )


@pytest.fixture(scope="module")
def url(pglite_url: str) -> str:
    report = migrate(pglite_url)
    assert report.backend == "timescaledb"
    return pglite_url


@pytest.fixture
def conn(url: str) -> Iterator[psycopg.Connection]:
    c = connect(url)
    try:
        yield c
    finally:
        c.close()


def _write(url: str, reads: list[Read], images: DirectoryImageStore | None = None) -> tuple[int, int]:
    if images is not None:
        store_read_images(images, reads)
    writer = ReadWriter(url)  # detects PGlite: INSERT … ON CONFLICT, one connection
    try:
        result = writer.write(reads)
    finally:
        writer.close()
    return result.inserted, result.duplicates


def test_schema_is_a_hypertable_with_policies_and_an_aggregate(url: str) -> None:
    assert migrate(url).applied == []  # idempotent on TimescaleDB too
    with connect(url) as c:
        assert c.execute("SELECT backend FROM pw_meta").fetchone() == ("timescaledb",)
        ht = c.execute(
            "SELECT compression_enabled FROM timescaledb_information.hypertables"
            " WHERE hypertable_name = 'reads'"
        )
        assert ht.fetchone() == (True,)
        seg = c.execute(
            "SELECT attname FROM timescaledb_information.compression_settings"
            " WHERE hypertable_name = 'reads' AND segmentby_column_index = 1"
        ).fetchone()
        assert seg == ("camera_id",)
        jobs = {
            (r[0], r[1])
            for r in c.execute("SELECT proc_name, hypertable_name FROM timescaledb_information.jobs")
        }
        assert {
            ("policy_compression", "reads"),
            ("policy_retention", "reads"),
            ("policy_refresh_continuous_aggregate", "reads_per_camera_hour"),
            ("policy_retention", "reads_per_camera_hour"),
        } <= jobs
        cagg = c.execute(
            "SELECT count(*) FROM timescaledb_information.continuous_aggregates"
            " WHERE view_name = 'reads_per_camera_hour'"
        )
        assert cagg.fetchone() == (1,)


def test_writes_are_idempotent(url: str, conn: psycopg.Connection) -> None:
    reads = [_read(1 + i / 100, f"IDEM{i:03d}") for i in range(300)]
    assert _write(url, reads[:200]) == (200, 0)
    assert _write(url, reads[100:]) == (100, 100)
    row = conn.execute(
        "SELECT count(*), count(DISTINCT read_id) FROM reads WHERE plate LIKE 'IDEM%'"
    ).fetchone()
    assert row == (300, 300)


def test_compressed_chunks_stay_searchable(url: str, conn: psycopg.Connection) -> None:
    reads = [_read(20 + i / 50, "CMP123", f"cam-{i % 3}") for i in range(60)]
    _write(url, reads)
    job = conn.execute(
        "SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = 'policy_compression'"
    ).fetchone()
    assert job is not None
    conn.execute(f"CALL run_job({int(job[0])})".encode())  # policies never run on their own on PGlite
    compressed = conn.execute(
        "SELECT count(*) FROM timescaledb_information.chunks"
        " WHERE hypertable_name = 'reads' AND is_compressed"
    ).fetchone()
    assert compressed is not None and compressed[0] >= 1
    page = search_reads(conn, SearchQuery(plate="CMP123", limit=100))
    assert len(page.rows) == 60
    assert {r.read_id for r in search_reads(conn, SearchQuery(pattern="CM?12*", limit=100)).rows} == {
        r.read_id for r in reads
    }
    fuzzy = search_reads(conn, SearchQuery(plate="CMPI2E", fuzzy=True, limit=100)).rows
    assert fuzzy == []  # E is no confusion of 3
    assert len(search_reads(conn, SearchQuery(plate="CMPI23", fuzzy=True, limit=100)).rows) == 60
    _write(url, reads[:5])  # a replay into a compressed chunk is absorbed too
    assert conn.execute("SELECT count(*) FROM reads WHERE plate = 'CMP123'").fetchone() == (60,)


def test_retention_drops_chunks_but_never_held_reads(
    url: str, conn: psycopg.Connection, tmp_path: Path
) -> None:
    images = DirectoryImageStore(tmp_path / "images")
    old = [_read(DAYS + 3, "GONE1"), _read(DAYS + 3, "HELD77")]
    kept = [_read(DAYS - 2, "KEPT1")]
    _write(url, old + kept, images)
    hold = place_hold(
        conn, images, case_number="24-9", created_by="det.kim", criteria=HoldCriteria(plate="HELD77")
    )
    assert hold.reads == 1
    report = run_retention(conn, images, days=DAYS)
    assert report.backend == "timescaledb" and report.dropped_days
    plates = {
        r[0] for r in conn.execute("SELECT plate FROM reads WHERE plate IN ('GONE1', 'HELD77', 'KEPT1')")
    }
    assert plates == {"KEPT1"}
    assert conn.execute(
        "SELECT plate FROM evidence_reads WHERE hold_id = %s", (hold.hold_id,)
    ).fetchall() == [("HELD77",)]
    assert images.get(evidence_key(hold.hold_id, old[1].read_id), CROP) == b"jpeg"
    assert images.days() and min(images.days()) >= report.cutoff.date()
    drop_after = conn.execute(
        "SELECT config->>'drop_after' FROM timescaledb_information.jobs"
        " WHERE proc_name = 'policy_retention' AND hypertable_name = 'reads'"
    ).fetchone()
    assert drop_after == ("367 days",)
    release_hold(conn, images, hold.hold_id, released_by="captain", reason="closed")
    assert conn.execute(
        "SELECT count(*) FROM evidence_reads WHERE hold_id = %s", (hold.hold_id,)
    ).fetchone() == (0,)


def test_continuous_aggregate_counts_reads_per_camera_hour(url: str, conn: psycopg.Connection) -> None:
    reads = [_read(3, "AGG1", "cam-agg"), _read(3, "AGG2", "cam-agg"), _read(3, "AGG3", "cam-agg2")]
    _write(url, reads)
    refresh_aggregates(conn, "timescaledb")
    rows = conn.execute(
        "SELECT camera_id, sum(reads)::int FROM reads_per_camera_hour WHERE camera_id LIKE 'cam-agg%'"
        " GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert rows == [("cam-agg", 2), ("cam-agg2", 1)]
