"""Search against a brute-force reference over the same reads, on real PostgreSQL."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from platewatch.codecs import Read
from platewatch.engine.store import migrate
from platewatch.engine.store.copy_writer import ReadWriter
from platewatch.engine.store.reads import normalise_plate
from platewatch.engine.store.search import (
    SearchError,
    SearchQuery,
    build_query,
    normalise_pattern,
    pattern_regex,
    plate_key,
    search_reads,
)

T0 = datetime(2026, 11, 1, tzinfo=UTC)
ALPHABET = "ABDGIOSZ0125689"  # heavy on OCR confusions, so fuzzy matching has work to do


@pytest.fixture(scope="module")
def corpus() -> list[Read]:
    rng = random.Random(462)
    plates = ["".join(rng.choice(ALPHABET) for _ in range(rng.choice((5, 6, 7)))) for _ in range(300)]
    return [
        Read(
            read_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            camera_id=f"cam-{rng.randrange(4)}",
            time=(T0 + timedelta(seconds=rng.randrange(10 * 86400))).timestamp(),
            plate=rng.choice(plates),
            confidence=0.9,
        )
        for _ in range(3000)
    ]


@pytest.fixture
def conn(database_url: str, corpus: list[Read]):  # type: ignore[no-untyped-def]
    migrate(database_url)
    writer = ReadWriter(database_url)
    try:
        writer.write(corpus)
    finally:
        writer.close()
    with psycopg.connect(database_url, autocommit=True) as c:
        c.execute("ANALYZE reads")
        yield c


def _reference(corpus: list[Read], q: SearchQuery) -> list[str]:
    def ok(r: Read) -> bool:
        norm = normalise_plate(r.plate)
        when = datetime.fromtimestamp(r.time, UTC)
        if q.plate is not None:
            want = normalise_plate(q.plate)
            if (plate_key(norm) != plate_key(want)) if q.fuzzy else (norm != want):
                return False
        if q.pattern is not None:
            p = normalise_pattern(q.pattern)
            target, p = (plate_key(norm), plate_key(p)) if q.fuzzy else (norm, p)
            if not pattern_regex(p).match(target):
                return False
        if (q.time_from and when < q.time_from) or (q.time_to and when >= q.time_to):
            return False
        return not q.cameras or r.camera_id in q.cameras

    hits = sorted(
        (r for r in corpus if ok(r)), key=lambda r: (r.time, uuid.UUID(r.read_id).bytes), reverse=True
    )
    return [r.read_id for r in hits]


def _all_pages(conn: psycopg.Connection, q: SearchQuery) -> list[str]:
    ids: list[str] = []
    cursor = None
    for _ in range(1000):
        page = search_reads(conn, SearchQuery(**{**q.__dict__, "cursor": cursor}))
        ids += [r.read_id for r in page.rows]
        if page.next_cursor is None:
            return ids
        cursor = page.next_cursor
    raise AssertionError("pagination did not end")


def test_search_matches_a_brute_force_reference(conn: psycopg.Connection, corpus: list[Read]) -> None:
    rng = random.Random(7)
    queries = []
    for _ in range(60):
        plate = normalise_plate(rng.choice(corpus).plate)
        chars = list(plate)
        chars[rng.randrange(len(chars))] = "?"
        pattern = "".join(chars)
        if rng.random() < 0.5:
            pattern = pattern[: rng.randrange(3, len(pattern) + 1)] + "*"
        if rng.random() < 0.3:
            pattern = "*" + pattern[2:]
        start = T0 + timedelta(days=rng.uniform(0, 8))
        span = (
            {"time_from": start, "time_to": start + timedelta(days=rng.uniform(0.5, 3))}
            if rng.random() < 0.4
            else {}
        )
        cams = tuple(rng.sample(["cam-0", "cam-1", "cam-2", "cam-3"], 2)) if rng.random() < 0.3 else ()
        fuzzy = rng.random() < 0.5
        limit = rng.choice((3, 10, 50))
        queries.append(SearchQuery(plate=plate.lower(), fuzzy=fuzzy, cameras=cams, limit=limit, **span))
        if sum(c not in "?*" for c in pattern) >= 2:
            queries.append(SearchQuery(pattern=pattern, fuzzy=fuzzy, cameras=cams, limit=limit, **span))
    start = T0 + timedelta(days=2)
    queries.append(
        SearchQuery(time_from=start, time_to=start + timedelta(hours=6), cameras=("cam-1",), limit=20)
    )
    matched = 0
    for q in queries:
        want = _reference(corpus, q)
        assert _all_pages(conn, q) == want, q
        matched += bool(want)
    assert matched > len(queries) // 2  # the queries were not all empty


def test_fuzzy_finds_ocr_confusions(conn: psycopg.Connection, corpus: list[Read]) -> None:
    plate = next(normalise_plate(r.plate) for r in corpus if set(normalise_plate(r.plate)) & set("0O8B"))
    swapped = plate.translate(str.maketrans("0O8B", "O0B8"))
    exact = search_reads(conn, SearchQuery(plate=swapped, limit=1000)).rows
    fuzzy = search_reads(conn, SearchQuery(plate=swapped, fuzzy=True, limit=1000)).rows
    assert plate in {r.plate_norm for r in fuzzy}
    assert all(r.plate_norm == swapped for r in exact)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (SearchQuery(pattern="*?*"), "known characters"),
        (SearchQuery(pattern="A" * 65), "longer than 64"),
        (SearchQuery(plate="'; DROP TABLE reads; --"), None),
        (SearchQuery(pattern="%_'\\"), "known characters"),
        (SearchQuery(plate="A", pattern="B*"), "not both"),
        (SearchQuery(), "time range"),
        (SearchQuery(plate="ABC", limit=0), "limit"),
        (SearchQuery(plate="ABC", cursor="not-a-cursor"), "invalid cursor"),
        (SearchQuery(plate="ABC", time_from=datetime(2026, 1, 1)), "time zone"),
        (SearchQuery(plate="ABC", cameras=("x" * 65,)), "cameras"),
    ],
)
def test_hostile_or_broken_input_is_refused_or_harmless(
    request: pytest.FixtureRequest, query: SearchQuery, message: str | None
) -> None:
    if message is None:  # SQL metacharacters are stripped from plates: a harmless, empty search
        conn = request.getfixturevalue("conn")
        assert search_reads(conn, query).rows == []
        assert conn.execute("SELECT count(*) FROM reads").fetchone() == (3000,)
    else:
        with pytest.raises(SearchError, match=message):
            build_query(query)  # refused before any SQL is sent


def test_search_uses_the_plate_indexes(conn: psycopg.Connection) -> None:
    conn.execute("SET enable_seqscan = off")  # small table: make the planner show what it can use
    for q in (
        SearchQuery(plate="AB125"),
        SearchQuery(pattern="AB1?5*"),
        SearchQuery(pattern="AB?25", fuzzy=True),
    ):
        sql, params = build_query(q)
        plan = "\n".join(r[0] for r in conn.execute(b"EXPLAIN " + sql.encode(), params).fetchall())
        assert "reads_p" in plan and ("plate_key" in plan), plan
