"""The result row written by its query's own statement (engine/policy/access_log.py `ResultRow`), in
PostgreSQL.

Checked: the row names the first `limit` ids in the query's order, and the statement's rows come
back without the row's columns; an empty result still writes its row; the row's number is taken
once the query is done, after a row another connection appended meanwhile (a number taken before
a slow query would sit unlocked while the sealer passes it over); a row that cannot be written fails
the statement, so nothing is returned, and is told from a failed query; a number still in use
writes nothing and raises; the transaction commits with its flush, the row seen by others once
`one_round_trip` returns, and a failure in it rolls the row back; the chain verifies.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from platewatch.engine.policy import access_log
from platewatch.engine.policy.access_log import AccessLogError, LogEntry, ResultRow, append, verify
from platewatch.engine.policy.log_encoding import IN_FLIGHT_KEY
from platewatch.engine.store import migrate
from platewatch.engine.store.search import one_round_trip

_FOUND = (
    "SELECT v.id, v.n FROM (VALUES ('r-1', 1), ('r-2', 2), ('r-3', 3), ('r-4', 4)) v(id, n)"
    " WHERE v.n <= %(upto)s ORDER BY v.n"
)


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection]:
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as c:
        yield c


def _entry(username: str = "ivy") -> LogEntry:
    return LogEntry(
        action="reads.search",
        username=username,
        organisation="PAPD",
        user_id=7,
        client_address="10.0.0.9",
        terms={"plate": "7ABC123"},
        purpose="criminal investigation",
        case_number="24-001234",
    )


def _run(
    conn: psycopg.Connection, result: ResultRow, found: str = _FOUND, *, limit: int = 3, **params: Any
) -> list[dict[str, Any]]:
    params = dict(params)
    sql = result.statement(found, params, (), "id", "n", limit)
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        return result.rows(cur.execute(sql.encode(), params).fetchall())


def test_the_statement_returns_the_querys_rows_and_its_row_names_the_first_limit_ids(
    conn: psycopg.Connection,
) -> None:
    result = ResultRow(_entry())
    rows = _run(conn, result, upto=4, limit=3)
    assert rows == [{"id": f"r-{n}", "n": n} for n in (1, 2, 3, 4)]  # the query's own rows, in order
    assert result.seq is not None and result.in_statement_s >= 0
    (row,) = access_log.query(conn)
    assert row.seq == result.seq
    assert row.returned_ids == ("r-1", "r-2", "r-3") and row.returned_count == 3  # a page of 3
    assert (row.action, row.username, row.user_id, row.organisation, row.client_address) == (
        "reads.search",
        "ivy",
        7,
        "PAPD",
        "10.0.0.9",
    )
    assert (row.purpose, row.case_number, row.outcome, row.reason) == (
        "criminal investigation",
        "24-001234",
        "allowed",
        None,
    )
    assert row.terms == {"plate": "7ABC123"}
    report = verify(conn)
    assert report.ok and report.rows == 1, report.problem


def test_an_empty_result_still_writes_its_row(conn: psycopg.Connection) -> None:
    result = ResultRow(_entry())
    assert _run(conn, result, upto=0) == []
    (row,) = access_log.query(conn)
    assert row.seq == result.seq and row.returned_ids == () and row.returned_count == 0


def test_the_rows_number_is_taken_after_the_query_so_a_slow_query_leaves_no_gap_unlocked(
    database_url: str, conn: psycopg.Connection
) -> None:
    """Another connection appends while the query sleeps: that row's number must be the lower one.
    Taken before the query, the number would sit without its in-flight lock for the query's whole
    length, and a sealer finding it unheld for GAP_GRACE_S would pass it over for good."""
    slow = "SELECT v.id, v.n FROM (VALUES ('r-1', 1)) v(id, n), pg_sleep(%(sleep)s) WHERE v.n <= %(upto)s"
    result = ResultRow(_entry())
    done: list[list[dict[str, Any]]] = []
    with psycopg.connect(database_url, autocommit=True) as other:
        thread = threading.Thread(target=lambda: done.append(_run(other, result, slow, upto=1, sleep=1.0)))
        thread.start()
        time.sleep(0.4)  # the query is sleeping
        meanwhile = append(conn, _entry("ivo"))
        thread.join(10)
    assert done and done[0] == [{"id": "r-1", "n": 1}]
    assert result.seq is not None and result.seq > meanwhile.seq
    report = verify(conn)
    assert report.ok and report.rows == 2, report.problem


def test_a_row_that_cannot_be_written_fails_the_statement_and_nothing_is_returned(
    conn: psycopg.Connection,
) -> None:
    conn.execute("ALTER TABLE access_log ADD CONSTRAINT in_statement_test CHECK (seq < 0) NOT VALID")
    result = ResultRow(_entry())
    with pytest.raises(psycopg.Error) as failed:
        _run(conn, result, upto=4)
    assert access_log.refused_the_row(failed.value)  # the log's failure, not the query's
    assert result.seq is None
    conn.execute("ALTER TABLE access_log DROP CONSTRAINT in_statement_test")
    assert access_log.query(conn) == []
    with pytest.raises(psycopg.Error) as failed:
        _run(conn, ResultRow(_entry()), "SELECT 'r-1' AS id, 1 / (%(upto)s - 1) AS n", upto=1)
    assert not access_log.refused_the_row(failed.value)  # the query's own error
    assert access_log.query(conn) == []


def test_a_number_still_in_use_writes_nothing_and_raises(database_url: str, conn: psycopg.Connection) -> None:
    with psycopg.connect(database_url) as holder:  # a transaction holding the next number's lock
        taken = holder.execute("SELECT nextval('access_log_seq')").fetchone()
        assert taken is not None
        holder.execute("SELECT pg_advisory_xact_lock(%s, %s)", (IN_FLIGHT_KEY, taken[0] + 1))
        with pytest.raises(AccessLogError, match="could not be numbered"):
            _run(conn, ResultRow(_entry()), upto=2)
    assert access_log.query(conn) == []


def test_the_statements_transaction_commits_with_its_flush_and_the_row_is_committed_once_answered(
    database_url: str, conn: psycopg.Connection
) -> None:
    """The one row per access is the durable record: its transaction keeps synchronous commit on
    (the row it replaced, written beside an access row, turned it off), and run as
    `one_round_trip` runs it, the row is committed, seen by another connection, once the block has
    returned."""

    def setting() -> str:
        row = conn.execute("SHOW synchronous_commit").fetchone()
        assert row is not None
        return str(row[0])

    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        result = ResultRow(_entry())
        params: dict[str, Any] = {"upto": 1}
        sql = result.statement(_FOUND, params, (), "id", "n", 3)
        result.rows(cur.execute(sql.encode(), params).fetchall())
        assert setting() == "on"
    result = ResultRow(_entry())
    params = {"upto": 2}
    sql = result.statement(_FOUND, params, (), "id", "n", 3)
    with conn.cursor(row_factory=dict_row) as cur:
        with one_round_trip(conn):
            cur.execute(sql.encode(), params)
        assert result.rows(cur.fetchall()) == [{"id": "r-1", "n": 1}, {"id": "r-2", "n": 2}]
    assert result.done_at > 0
    with psycopg.connect(database_url, autocommit=True) as other:
        seen = other.execute("SELECT returned_ids FROM access_log WHERE seq = %s", (result.seq,)).fetchone()
    assert seen == (["r-1", "r-2"],)


def test_a_failure_in_one_round_trip_rolls_back_the_row_and_leaves_the_connection_usable(
    conn: psycopg.Connection,
) -> None:
    jit = conn.execute("SHOW jit").fetchone()
    result = ResultRow(_entry())
    params: dict[str, Any] = {"upto": 2}
    sql = result.statement(_FOUND, params, (), "id", "n", 3)
    with (
        pytest.raises(psycopg.errors.DivisionByZero),
        conn.cursor(row_factory=dict_row) as cur,
        one_round_trip(conn),
    ):
        conn.execute("SET LOCAL jit = " + ("on" if jit == ("off",) else "off"))
        cur.execute(sql.encode(), params)
        conn.execute("SELECT 1 / 0")
    assert access_log.query(conn) == []  # the row went in with the statement, and out with the failure
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert conn.execute("SHOW jit").fetchone() == jit  # the SET LOCAL ended with its transaction
