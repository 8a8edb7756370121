"""Retention on real PostgreSQL: only whole days past the cutoff go, held reads and their images stay,
images go with their reads, releasing a hold is recorded."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from platewatch.codecs import Read
from platewatch.engine.store import migrate
from platewatch.engine.store.copy_writer import ReadWriter
from platewatch.engine.store.holds import HoldCriteria, HoldError, list_holds, place_hold, release_hold
from platewatch.engine.store.images import CROP, DirectoryImageStore, evidence_key
from platewatch.engine.store.retention import cutoff_for, retention_status, run_retention

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
DAYS = 365


def _read(day_offset: float, plate: str, camera: str = "cam-1") -> Read:
    t = (NOW - timedelta(days=day_offset)).timestamp()
    return Read(
        read_id=str(uuid.uuid4()), camera_id=camera, time=t, plate=plate, confidence=0.9, crop_jpeg=b"jpeg"
    )


@pytest.fixture
def store(database_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    migrate(database_url)
    images = DirectoryImageStore(tmp_path / "images")
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn, images


def _write(url: str, images: DirectoryImageStore, reads: list[Read]) -> None:
    from platewatch.engine.store.images import store_read_images

    store_read_images(images, reads)
    writer = ReadWriter(url, connections=1)
    try:
        writer.write(reads)
    finally:
        writer.close()


def _ids(conn: psycopg.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT read_id::text FROM reads").fetchall()}


def test_retention_drops_only_whole_days_past_the_cutoff_and_never_held_reads(
    store: tuple[psycopg.Connection, DirectoryImageStore], database_url: str
) -> None:
    conn, images = store
    cutoff = cutoff_for(DAYS, NOW)  # midnight starting the oldest day kept whole
    gone = [_read(DAYS + 3, "OLD1"), _read(DAYS + 1.6, "OLD2"), _read(DAYS + 2, "HELD1")]
    edge = _read(DAYS + 0.4, "EDGE1")  # older than exactly 365 days, but its day is not all past: kept
    kept = [edge, _read(DAYS - 1, "NEW1"), _read(10, "HELD1"), _read(0, "NEW2")]
    assert datetime.fromtimestamp(edge.time, UTC) >= cutoff
    _write(database_url, images, gone + kept)
    hold = place_hold(
        conn, images, case_number="24-1187", created_by="sgt.lee", criteria=HoldCriteria(plate="held-1")
    )
    assert hold.reads == 2
    late = _read(DAYS + 2.2, "HELD1")  # arrives after the hold was placed: captured before its day drops
    _write(database_url, images, [late])

    report = run_retention(conn, images, days=DAYS, now=NOW)

    assert _ids(conn) == {r.read_id for r in kept}
    assert report.captured_reads == 1 and len(report.dropped_days) >= 3
    assert all(d < cutoff.date() for d in report.dropped_days)
    held = conn.execute("SELECT read_id::text, image_key FROM evidence_reads ORDER BY time").fetchall()
    assert [r[0] for r in held] == [late.read_id, gone[2].read_id, kept[2].read_id]
    # images: purged with their reads, kept for kept reads, evidence copies survive
    for r in gone:
        key = f"reads/{datetime.fromtimestamp(r.time, UTC):%Y/%m/%d}/{r.read_id}"
        assert images.get(key, CROP) is None
    assert images.get(evidence_key(hold.hold_id, gone[2].read_id), CROP) == b"jpeg"
    assert all(d >= cutoff.date() for d in images.days())
    # a second run finds nothing more to do
    again = run_retention(conn, images, days=DAYS, now=NOW)
    assert (again.dropped_days, again.captured_reads, again.purged_images) == ([], 0, 0)
    status = retention_status(conn, DAYS)
    assert status["active_holds"] == 1 and status["held_reads"] == 3


def test_holds_survive_retention_until_released_and_release_is_recorded(
    store: tuple[psycopg.Connection, DirectoryImageStore], database_url: str
) -> None:
    conn, images = store
    reads = [_read(DAYS + 5, "ABC123", "cam-1"), _read(DAYS + 5, "XYZ999", "cam-2")]
    _write(database_url, images, reads)
    t0 = datetime.fromtimestamp(reads[0].time, UTC) - timedelta(minutes=1)
    window = HoldCriteria(time_from=t0, time_to=t0 + timedelta(minutes=2), cameras=("cam-2",))
    by_ids = HoldCriteria(read_ids=(reads[0].read_id,))
    h1 = place_hold(conn, images, case_number="C-1", created_by="a", criteria=window, reason="discovery")
    h2 = place_hold(conn, images, case_number="C-2", created_by="b", criteria=by_ids)
    assert (h1.reads, h2.reads) == (1, 1)
    run_retention(conn, images, days=DAYS, now=NOW)
    assert _ids(conn) == set()
    assert conn.execute("SELECT count(*) FROM evidence_reads").fetchone() == (2,)

    released = release_hold(conn, images, h1.hold_id, released_by="captain", reason="case closed")
    assert released.released_by == "captain" and released.reads == 0
    assert [e[2] for e in released.events] == ["placed", "captured", "released"]
    assert images.get(evidence_key(h1.hold_id, reads[1].read_id), CROP) is None
    assert images.get(evidence_key(h2.hold_id, reads[0].read_id), CROP) == b"jpeg"
    assert [h.hold_id for h in list_holds(conn, active_only=True)] == [h2.hold_id]
    assert [h.hold_id for h in list_holds(conn, case_number="C-1")] == [h1.hold_id]
    with pytest.raises(HoldError, match="already released"):
        release_hold(conn, images, h1.hold_id, released_by="captain", reason="again")


def test_retention_below_the_policy_minimum_is_refused(
    store: tuple[psycopg.Connection, DirectoryImageStore],
) -> None:
    conn, images = store
    with pytest.raises(ValueError, match="at least 365 days"):
        run_retention(conn, images, days=364, now=NOW)


def test_a_hold_needs_criteria_and_a_case(store: tuple[psycopg.Connection, DirectoryImageStore]) -> None:
    conn, images = store
    with pytest.raises(HoldError, match="needs read ids"):
        place_hold(conn, images, case_number="C", created_by="a", criteria=HoldCriteria(cameras=("c",)))
    with pytest.raises(HoldError, match="case number"):
        place_hold(conn, images, case_number="", created_by="a", criteria=HoldCriteria(plate="A1"))


def test_hourly_aggregate_counts_reads_per_camera(
    store: tuple[psycopg.Connection, DirectoryImageStore], database_url: str
) -> None:
    conn, images = store
    _write(database_url, images, [_read(1, "A1", "cam-1"), _read(1, "A2", "cam-1"), _read(1, "A3", "cam-2")])
    run_retention(conn, images, days=DAYS, now=NOW)  # refreshes the view (first time: not concurrently)
    run_retention(conn, images, days=DAYS, now=NOW)  # … then concurrently
    rows = conn.execute("SELECT camera_id, reads FROM reads_per_camera_hour ORDER BY 1").fetchall()
    assert rows == [("cam-1", 2), ("cam-2", 1)]


def test_upkeep_summarises_the_time_index_so_a_canvass_reads_only_its_hour(
    store: tuple[psycopg.Connection, DirectoryImageStore], database_url: str
) -> None:
    """Until its block ranges are summarised, a BRIN index matches every query: a one-hour search
    would read the whole day. The upkeep summarises them (`summarize_brin`)."""
    from platewatch.engine.store.retention import summarize_brin

    conn, _images = store
    day = [
        Read(
            read_id=str(uuid.uuid4()),
            camera_id=f"cam-{i % 5}",
            time=(NOW - timedelta(hours=22) + timedelta(seconds=1.2 * i)).timestamp(),
            plate=f"7AB{i:04d}",
            confidence=0.9,
        )
        for i in range(60_000)  # 20 hours of one day, some hundreds of pages: several 128-page ranges
    ]
    writer = ReadWriter(database_url, connections=1)
    try:
        writer.write(day)
    finally:
        writer.close()
    conn.execute("ANALYZE reads")
    one_hour = (NOW - timedelta(hours=12), NOW - timedelta(hours=11))

    def blocks_read() -> int:
        plan = conn.execute(
            "EXPLAIN (ANALYZE, FORMAT JSON) SELECT count(*) FROM reads WHERE time >= %s AND time < %s",
            one_hour,
        ).fetchone()
        assert plan is not None

        def walk(node: dict) -> int:  # type: ignore[type-arg]
            own = int(node.get("Exact Heap Blocks", 0)) + int(node.get("Lossy Heap Blocks", 0))
            own += int(node.get("Shared Hit Blocks", 0)) if node.get("Node Type") == "Seq Scan" else 0
            return own + sum(walk(n) for n in node.get("Plans", []))

        return walk(plan[0][0]["Plan"])

    assert summarize_brin(conn) > 0
    assert summarize_brin(conn) == 0  # nothing new since
    summarised = blocks_read()
    pages = conn.execute("SELECT relpages FROM pg_class WHERE relname = 'reads_p20261128'").fetchone()
    assert pages is not None and summarised < int(pages[0]) / 2  # an hour of the day, not the day


def test_a_held_read_keeps_its_vehicle_and_state_after_the_read_is_purged(
    store: tuple[psycopg.Connection, DirectoryImageStore], database_url: str
) -> None:
    conn, images = store
    old = _read(DAYS + 3, "HELD2")
    old = dataclasses.replace(
        old, colour="blue", colour_confidence=0.9, direction="receding", heading=90.0, state="TX"
    )
    _write(database_url, images, [old])
    place_hold(
        conn, images, case_number="24-1190", created_by="sgt.lee", criteria=HoldCriteria(plate="held-2")
    )
    run_retention(conn, images, days=DAYS, now=NOW)
    assert _ids(conn) == set()  # the read itself is gone: only the evidence copy is left
    row = conn.execute(
        "SELECT colour, colour_confidence, direction, heading, plateless, state FROM evidence_reads"
        " WHERE read_id = %s",
        (old.read_id,),
    ).fetchone()
    assert row is not None and (row[0], row[2], row[3], row[4], row[5]) == (
        "blue",
        "receding",
        90.0,
        False,
        "TX",
    )
    assert abs(row[1] - 0.9) < 1e-6
