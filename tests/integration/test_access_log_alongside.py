"""The access row committed alongside a request's query (engine/policy/log_alongside.py), in PostgreSQL.

Checked: the access row is committed while the caller's block still runs (so it overlaps the
query); the result row follows with the ids and the same `access_id`; a failed access row fails
`finish` even when the result row was written; the result row's commit skips only its own flush
(the setting does not leak into the connection's later transactions); both rows seal and verify.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace

import psycopg
import pytest
from prometheus_client import Histogram

from platewatch.engine.policy import access_log
from platewatch.engine.policy.access_log import (
    RESULT_ROW_SECONDS,
    WAIT_SECONDS,
    AccessLogError,
    LogEntry,
    append,
    verify,
)
from platewatch.engine.policy.log_alongside import BEGUN, AlongsideWriter, access_entry, access_id
from platewatch.engine.store import migrate


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection]:
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as c:
        yield c


@pytest.fixture
def writer(database_url: str, conn: psycopg.Connection) -> Iterator[AlongsideWriter]:
    w = AlongsideWriter(database_url, workers=2)
    w.open()
    try:
        yield w
    finally:
        w.close()


def _result(ids: list[str]) -> LogEntry:
    return LogEntry(
        action="reads.search",
        username="ivy",
        organisation="PAPD",
        user_id=7,
        client_address="10.0.0.9",
        terms={"plate": "7ABC123", "access_id": access_id()},
        purpose="criminal investigation",
        case_number="24-001234",
        returned_count=len(ids),
        returned_ids=ids,
    )


def _wait_count(histogram: Histogram = WAIT_SECONDS) -> float:
    return sum(s.value for m in histogram.collect() for s in m.samples if s.name.endswith("_count"))


def test_the_access_row_commits_while_the_block_runs_then_the_result_row_names_the_ids(
    conn: psycopg.Connection, writer: AlongsideWriter
) -> None:
    result = _result(["r-1", "r-2"])
    waits, result_rows = _wait_count(), _wait_count(RESULT_ROW_SECONDS)
    begun = writer.begin(access_entry(result))
    # still "inside the query": the access row becomes visible to another connection meanwhile
    deadline = time.monotonic() + 10
    while not access_log.query(conn, action="reads.search" + BEGUN):
        assert time.monotonic() < deadline, "the access row was not committed while the block ran"
        time.sleep(0.01)
    access_row = begun.finish(conn, result)
    assert _wait_count() == waits + 1 and _wait_count(RESULT_ROW_SECONDS) == result_rows + 1
    rows = {r.action: r for r in access_log.query(conn)}
    assert sorted(rows) == ["reads.search", "reads.search.begun"]
    got, begun_row = rows["reads.search"], rows["reads.search.begun"]
    assert access_row is not None and access_row.seq == begun_row.seq
    assert begun_row.terms == got.terms == dict(result.terms)
    assert (begun_row.username, begun_row.user_id, begun_row.purpose, begun_row.case_number) == (
        "ivy",
        7,
        "criminal investigation",
        "24-001234",
    )
    assert begun_row.returned_count == 0 and begun_row.returned_ids == ()
    assert got.returned_count == 2 and got.returned_ids == ("r-1", "r-2")
    report = verify(conn)
    assert report.ok and report.rows == 2, report.problem


def test_a_failed_access_row_fails_finish_even_after_the_result_row(
    conn: psycopg.Connection, writer: AlongsideWriter
) -> None:
    conn.execute(
        "ALTER TABLE access_log ADD CONSTRAINT alongside_test_no_begun"
        " CHECK (action NOT LIKE '%.begun') NOT VALID"
    )
    result = _result(["r-1"])
    begun = writer.begin(access_entry(result))
    with pytest.raises(AccessLogError, match="access row could not be written"):
        begun.finish(conn, result)
    assert [r.action for r in access_log.query(conn)] == ["reads.search"]


def test_an_entry_that_could_never_be_written_is_refused_before_any_thread_runs(
    writer: AlongsideWriter,
) -> None:
    with pytest.raises(AccessLogError):
        writer.begin(LogEntry(action="reads.search.begun", username="", organisation="PAPD"))


def test_an_unflushed_row_skips_only_its_own_transactions_flush(conn: psycopg.Connection) -> None:
    def setting() -> str:
        row = conn.execute("SHOW synchronous_commit").fetchone()
        assert row is not None
        return str(row[0])

    assert setting() == "on"
    append(conn, _result([]), flushed=False)  # its own transaction
    assert setting() == "on"
    with conn.transaction():
        append(conn, _result([]), flushed=False)
        assert setting() == "off"  # the statement's set_config ran, for this transaction only
    assert setting() == "on"
    append(conn, _result([]))
    assert len(access_log.query(conn)) == 3


def test_an_access_row_is_written_after_the_database_closed_the_writers_idle_connection(
    database_url: str, conn: psycopg.Connection
) -> None:
    """A database restart leaves pooled connections dead; the writer's are not checked before use,
    so the row is written once more on a fresh connection, and the request does not fail."""
    one = AlongsideWriter(database_url, workers=1)
    one.open()
    try:
        assert one.begin(access_entry(_result([]))).wait() is not None  # its connection is now idle
        killed = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
        assert killed is not None and killed[0] == 1
        time.sleep(0.2)
        row = one.begin(access_entry(replace(_result([]), username="ivo"))).wait()
    finally:
        one.close()
    assert row is not None
    assert sorted(r.username for r in access_log.query(conn)) == ["ivo", "ivy"]
