"""Search by the vehicle (colour, type) with or without a partial plate, on real PostgreSQL, against
a brute-force reference over the same reads."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from platewatch.codecs import Read
from platewatch.engine.store import migrate
from platewatch.engine.store.copy_writer import ReadWriter
from platewatch.engine.store.search import SearchError, SearchQuery, pattern_regex, search_reads

T0 = datetime(2026, 11, 1, tzinfo=UTC)
COLOURS = ("", "gray", "blue", "white")


@pytest.fixture(scope="module")
def corpus() -> list[Read]:
    rng = random.Random(23)
    plates = ["7AB" + "".join(rng.choice("0123456789") for _ in range(3)) for _ in range(40)]
    plates += ["".join(rng.choice("XYZ0123") for _ in range(6)) for _ in range(40)]
    reads = []
    for i in range(1500):
        colour = COLOURS[i % 4]
        reads.append(
            Read(
                read_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                camera_id=f"cam-{rng.randrange(3)}",
                time=(T0 + timedelta(seconds=rng.randrange(3 * 86400))).timestamp(),
                plate=rng.choice(plates),
                confidence=0.9,
                colour=colour,
                colour_confidence=0.8 if colour else 0.3,
                direction=rng.choice(("approaching", "receding", "")),
                heading=float(rng.randrange(360)) if i % 2 else None,
            )
        )
    return reads


@pytest.fixture
def conn(database_url: str, corpus: list[Read]):  # type: ignore[no-untyped-def]
    migrate(database_url)
    writer = ReadWriter(database_url)
    try:
        writer.write(corpus)
    finally:
        writer.close()
    with psycopg.connect(database_url, autocommit=True) as c:
        yield c


def _all(conn: psycopg.Connection, q: SearchQuery) -> list[str]:
    found, cursor = [], None
    while True:
        page = search_reads(conn, SearchQuery(**{**q.__dict__, "cursor": cursor, "provisional": True}))
        found += [row.read_id for row in page.rows]
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


def test_colour_with_a_partial_plate_finds_exactly_those_reads(
    conn: psycopg.Connection, corpus: list[Read]
) -> None:
    q = SearchQuery(pattern="7AB*", colour="blue", limit=200)
    want = {r.read_id for r in corpus if r.colour == "blue" and pattern_regex("7AB*").fullmatch(r.plate)}
    found = _all(conn, q)
    assert want and set(found) == want and len(found) == len(want)


def test_colour_in_a_time_range_and_the_vehicle_comes_back(
    conn: psycopg.Connection, corpus: list[Read]
) -> None:
    t_from, t_to = T0 + timedelta(hours=6), T0 + timedelta(hours=30)
    q = SearchQuery(time_from=t_from, time_to=t_to, colour="gray", cameras=("cam-1",), limit=500)
    want = {
        r.read_id
        for r in corpus
        if r.colour == "gray" and r.camera_id == "cam-1" and t_from.timestamp() <= r.time < t_to.timestamp()
    }
    page = search_reads(conn, SearchQuery(**{**q.__dict__, "provisional": True}))
    assert want and {row.read_id for row in page.rows} == want
    by_id = {r.read_id: r for r in corpus}
    for row in page.rows:
        read = by_id[row.read_id]
        assert row.colour == "gray" and row.colour_confidence == pytest.approx(0.8)
        assert row.direction == (read.direction or None)
        assert row.heading == read.heading and row.plateless is False


def test_an_unknown_colour_or_type_is_refused(conn: psycopg.Connection) -> None:
    with pytest.raises(SearchError, match="colour"):
        search_reads(conn, SearchQuery(plate="7AB123", colour="purple"))
    with pytest.raises(SearchError, match="vehicle_type"):
        search_reads(conn, SearchQuery(plate="7AB123", vehicle_type="tank"))
