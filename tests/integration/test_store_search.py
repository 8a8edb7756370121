"""Search against a brute-force reference over the same reads, on real PostgreSQL."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from platewatch.codecs import Read
from platewatch.engine.store import migrate, search
from platewatch.engine.store.copy_writer import ReadWriter
from platewatch.engine.store.reads import normalise_plate
from platewatch.engine.store.retention import clean_gin_pending
from platewatch.engine.store.search import (
    SearchError,
    SearchQuery,
    build_query,
    encode_cursor,
    normalise_pattern,
    pattern_regex,
    plate_key,
    search_reads,
    texts_query,
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


def _plan(conn: psycopg.Connection, sql: str, params: dict[str, object]) -> str:
    return "\n".join(r[0] for r in conn.execute(b"EXPLAIN " + sql.encode(), params).fetchall())


def test_search_uses_the_plate_indexes(conn: psycopg.Connection, corpus: list[Read]) -> None:
    conn.execute("SET enable_seqscan = off")  # small table: make the planner show what it can use
    clean_gin_pending(conn)  # as the hourly upkeep does: the whole table sits in the pending list
    plate = normalise_plate(corpus[0].plate)
    for q in (
        SearchQuery(plate=plate),
        SearchQuery(pattern=f"{plate[:2]}?{plate[3:]}*"),
        SearchQuery(pattern=f"*{plate[-4]}?{plate[-2:]}", fuzzy=True),
    ):
        keys = None
        if q.pattern is not None:  # the pattern is matched on the dictionary's trigram index ...
            text_sql, text_params = texts_query(q)
            assert "plate_texts_key_trgm" in _plan(conn, text_sql, text_params)
            keys = [plate_key(p) for (p,) in conn.execute(text_sql.encode(), text_params).fetchall()]
            assert keys
        sql, params = build_query(q, keys=keys)  # ... and its reads fetched on the plate-key btree
        plan = _plan(conn, sql, params)
        assert "pw_plate_key_time_idx on reads_p" in plan, plan


def test_patterns_find_what_a_like_over_the_reads_finds(
    conn: psycopg.Connection, corpus: list[Read], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dictionary's way against the LIKE over every read in range (the way before it, and what a
    pattern matching more than MAX_TEXTS texts still runs), page by page on the same data."""
    rng = random.Random(15)
    queries = []
    for _ in range(40):
        plate = normalise_plate(rng.choice(corpus).plate)
        start = rng.randrange(0, 3)
        pattern = rng.choice(("*", "")) + plate[start : start + 3] + rng.choice(("*", "?*", "?"))
        span = {"time_from": T0 + timedelta(days=rng.uniform(0, 5))} if rng.random() < 0.5 else {}
        queries.append(
            SearchQuery(pattern=pattern, fuzzy=rng.random() < 0.5, limit=rng.choice((5, 50)), **span)
        )

    def like_way(q: SearchQuery) -> list[str]:
        ids, cursor = [], None
        while True:
            sql, params = build_query(SearchQuery(**{**q.__dict__, "cursor": cursor}))  # no keys: LIKE
            rows = conn.execute(sql.encode(), params).fetchall()
            ids += [str(r[0]) for r in rows[: q.limit]]
            if len(rows) <= q.limit:
                return ids
            cursor = encode_cursor(rows[q.limit - 1][1], str(rows[q.limit - 1][0]))

    wanted = [like_way(q) for q in queries]
    assert sum(map(bool, wanted)) > 20  # most found something
    assert [_all_pages(conn, q) for q in queries] == wanted
    monkeypatch.setattr(search, "MAX_TEXTS", 1)  # every pattern above one text takes the LIKE way
    assert [_all_pages(conn, q) for q in queries] == wanted


def test_a_search_sets_its_planner_settings_for_its_own_transaction_without_warnings(
    conn: psycopg.Connection, corpus: list[Read], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The settings go with the query in one pipeline (`one_round_trip`): they hold for its query,
    end with its transaction, and warn nothing (SET LOCAL there warned once per setting and search,
    into the server's log and back as a notice)."""
    notices: list[str] = []
    conn.add_notice_handler(lambda d: notices.append(f"{d.severity}: {d.message_primary}"))
    before = conn.execute("SELECT current_setting('jit'), current_setting('plan_cache_mode')").fetchone()
    seen: list[tuple[str, ...]] = []
    run = search._statement

    def with_settings(ctes: list[str], select: str) -> str:  # the query reports the settings it ran under
        sql = run(ctes, select)
        return sql.replace(
            "SELECT h.read_id::text AS read_id",
            "SELECT current_setting('jit') AS pw_jit, current_setting('plan_cache_mode') AS pw_plans,"
            " current_setting('enable_indexscan') AS pw_index, h.read_id::text AS read_id",
            1,
        )

    monkeypatch.setattr(search, "_statement", with_settings)
    of = search.ReadRow.of

    def noted(r: dict[str, object]) -> search.ReadRow:
        seen.append((str(r["pw_jit"]), str(r["pw_plans"]), str(r["pw_index"])))
        return of({k: v for k, v in r.items() if not k.startswith("pw_")})

    monkeypatch.setattr(search.ReadRow, "of", noted)
    plate = corpus[0].plate
    search.search_reads(conn, SearchQuery(plate=plate))
    newest = max(datetime.fromtimestamp(r.time, UTC) for r in corpus)
    search.search_reads(conn, SearchQuery(time_from=newest - timedelta(hours=1), time_to=newest, limit=3))
    assert seen and all(s[0] == "off" for s in seen)
    assert ("off", "force_generic_plan", "on") in seen  # a plate search: generic plan, index scans
    assert any(s[2] == "off" for s in seen)  # a time-range search: no plain index scans
    after = conn.execute("SELECT current_setting('jit'), current_setting('plan_cache_mode')").fetchone()
    assert after == before  # the settings ended with the search's transaction
    assert notices == []
