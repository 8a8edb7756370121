"""The persist write path on real PostgreSQL: COPY and INSERT agree, replays never duplicate, a database
restart in the middle of writing loses nothing."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from pathlib import Path

import psycopg
import pytest

from platewatch.codecs import Read
from platewatch.engine.services.postgres import start_embedded_postgres
from platewatch.engine.store import migrate, persist
from platewatch.engine.store.copy_writer import ReadWriter
from platewatch.engine.store.images import CROP, OVERVIEW, DirectoryImageStore
from platewatch.engine.store.persist import ReadStore
from platewatch.engine.store.reads import write_reads

COLUMNS = (
    "time, camera_id, plate, plate_norm, confidence, region, box, char_confidences, candidates,"
    " track_length, provisional, pass_id, image_key,"
    " colour, colour_confidence, vehicle_type, direction, heading, plateless, state"
)


def make_reads(n: int, *, t0: float | None = None, images: bool = False) -> list[Read]:
    t0 = time.time() - 3600 if t0 is None else t0
    return [
        Read(
            read_id=str(uuid.uuid4()),
            camera_id=f"cam-{i % 3}",
            time=t0 + i * 0.123457,
            plate=f"7ab-{i:04d}",
            confidence=0.5 + (i % 50) / 100,
            region="us",
            box=(i, 2 * i, 120, 40),
            char_confidences=(0.9, 0.8, 0.75) if i % 2 else (),
            candidates=((f"7AB{i:04d}", 0.9), ("7A8" + f"{i:04d}", 0.1)) if i % 3 else (),
            track_length=i % 7 + 1,
            provisional=bool(i % 2),
            pass_id=f"pass-{i}",
            crop_jpeg=b"\xff\xd8crop" if images else None,
            overview_jpeg=b"\xff\xd8overview" if images and i % 2 else None,
            colour=("gray", "", "red")[i % 3],
            colour_confidence=0.75 if i % 3 != 1 else 0.4,
            direction=("approaching", "receding", "")[i % 3],
            heading=None if i % 4 == 0 else float(i % 360),
            state=("TX", "", "CA")[i % 3],
        )
        for i in range(n)
    ]


def _rows(conn: psycopg.Connection, ids: list[str]) -> list[tuple[object, ...]]:
    return conn.execute(
        f"SELECT {COLUMNS} FROM reads WHERE read_id = ANY(%s::uuid[]) ORDER BY time", (ids,)
    ).fetchall()


def test_copy_and_insert_store_identical_rows(database_url: str) -> None:
    migrate(database_url)
    reads = make_reads(600, images=True)
    twins = [Read(**{**{f: getattr(r, f) for f in r.__slots__}, "read_id": str(uuid.uuid4())}) for r in reads]  # type: ignore[attr-defined]
    writer = ReadWriter(database_url)
    try:
        assert writer.write(reads).inserted == 600  # binary COPY, two connections
    finally:
        writer.close()
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert write_reads(conn, twins).inserted == 600  # the INSERT path
        copied = _rows(conn, [r.read_id for r in reads])
        inserted = _rows(conn, [r.read_id for r in twins])

    # image keys differ by read id only
    def strip(row: tuple[object, ...]) -> tuple[object, ...]:
        return (*row[:12], str(row[12]).rsplit("/", 1)[0], *row[13:])

    assert [strip(row) for row in copied] == [strip(row) for row in inserted]
    assert copied[1][8] == [["7AB0001", 0.9], ["7A80001", 0.1]]
    # The vehicle: empty texts and an unseen colour are NULL, a heading None is NULL.
    assert copied[0][-7:-1] == ("gray", 0.75, None, "approaching", None, False)
    assert copied[1][-7:-1] == (None, None, None, "receding", 1.0, False)
    # The plate's state: empty is NULL.
    assert (copied[0][-1], copied[1][-1], copied[2][-1]) == ("TX", None, "CA")


def test_replays_through_either_path_never_duplicate(database_url: str) -> None:
    migrate(database_url)
    reads = make_reads(1500)
    writer = ReadWriter(database_url)
    try:
        first = writer.write(reads[:1000])
        replay = writer.write(reads[500:1500])  # half replay: COPY is refused, INSERT absorbs it
        again = writer.write(reads)
    finally:
        writer.close()
    assert (first.inserted, first.duplicates) == (1000, 0)
    assert (replay.inserted, replay.duplicates) == (500, 500)
    assert (again.inserted, again.duplicates) == (0, 1500)
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert write_reads(conn, reads[:10]).duplicates == 10  # same microsecond on both paths
        assert conn.execute("SELECT count(*), count(DISTINCT read_id) FROM reads").fetchone() == (1500, 1500)


def test_a_bad_row_is_refused_alone(database_url: str) -> None:
    migrate(database_url)
    reads = make_reads(300)
    bad = Read(read_id=str(uuid.uuid4()), camera_id="c", time=time.time(), plate="X\x00Y", confidence=0.5)
    writer = ReadWriter(database_url, connections=1)
    try:
        result = writer.write([*reads, bad])
    finally:
        writer.close()
    assert result.inserted == 300 and [r.read_id for r, _ in result.rejected] == [bad.read_id]


def test_images_are_written_before_rows(database_url: str, tmp_path: Path) -> None:
    migrate(database_url)
    images = DirectoryImageStore(tmp_path / "images")
    store = ReadStore(database_url, images)
    reads = make_reads(4, images=True)
    try:
        store.write_now(reads)
    finally:
        store.close()
    with psycopg.connect(database_url) as conn:
        keys = [r[0] for r in conn.execute("SELECT image_key FROM reads ORDER BY time").fetchall()]
    assert images.get(keys[0], CROP) == b"\xff\xd8crop"
    assert images.get(keys[0], OVERVIEW) is None and images.get(keys[1], OVERVIEW) == b"\xff\xd8overview"
    assert keys[0].startswith("reads/") and keys[0].endswith(reads[0].read_id)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_database_restart_during_writes_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real PostgreSQL is stopped (fast shutdown) and started again while batches are being written."""
    monkeypatch.setattr(persist, "backoff_delays", lambda **_: iter([0.1] * 10_000))
    port = _free_port()
    server = start_embedded_postgres(tmp_path / "pg", "127.0.0.1", port, 60)
    try:
        migrate(server.owner_url)  # as the owner; the store writes as the application's role
        store = ReadStore(server.url)
        batches = [make_reads(400, t0=time.time() - 7200 + k * 100) for k in range(12)]
        done: list[int] = []

        async def write_all() -> None:
            for batch in batches:
                result = await persist.write_until_stored(store, batch)
                done.append(result.inserted)
                await asyncio.sleep(0.05)

        # The writes run in a thread; the server is stopped and started from this (main) thread,
        # because embedded children die with the thread that started them.
        writer = threading.Thread(target=asyncio.run, args=(write_all(),))
        writer.start()
        time.sleep(0.3)
        server.stop()
        during = len(done)
        time.sleep(1.0)
        server = start_embedded_postgres(tmp_path / "pg", "127.0.0.1", port, 60)
        writer.join(120)
        store.close()
        assert during < len(batches), "the restart came after all writes: nothing was tested"
        assert len(done) == len(batches)
        with psycopg.connect(server.url) as conn:
            count = conn.execute("SELECT count(*), count(DISTINCT read_id) FROM reads").fetchone()
        assert count == (4800, 4800)
    finally:
        server.stop()
