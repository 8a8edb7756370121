"""The access log's group commit: many request threads, one lock and one commit per batch, and a
chain that verifies as if every row had been appended alone."""

from __future__ import annotations

import threading

import psycopg
import pytest

from platewatch.engine.policy import access_log
from platewatch.engine.policy.access_log import LogEntry, LogRow
from platewatch.engine.policy.group_append import GroupAppender
from platewatch.engine.store import migrate


@pytest.fixture
def conninfo(database_url: str) -> str:
    migrate(database_url)
    return database_url


def _entry(i: int) -> LogEntry:
    return LogEntry(
        action="reads.search",
        username=f"user{i % 5}",
        organisation="PAPD",
        user_id=i % 5 + 1,
        client_address="10.0.0.9",
        terms={"plate": f"ABC{i}", "cameras": ["north", "south"]},
        purpose="criminal investigation",
        case_number="24-001234",
        returned_count=1,
        returned_ids=[f"r{i}"],
    )


def test_concurrent_requests_share_batches_and_form_one_chain(conninfo: str) -> None:
    appender = GroupAppender(conninfo)
    rows: list[LogRow] = []
    lock = threading.Lock()

    def request(worker: int) -> None:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            for k in range(25):
                row = appender.append(conn, _entry(worker * 100 + k))
                with lock:
                    rows.append(row)

    threads = [threading.Thread(target=request, args=(w,)) for w in range(8)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        appender.close()
    assert sorted(r.seq for r in rows) == list(range(1, 201))  # every request got its own row back
    with psycopg.connect(conninfo, autocommit=True) as conn:
        report = access_log.verify(conn)
        assert report.ok and report.rows == 200, report
        # plain appends continue the same chain
        access_log.append(conn, _entry(999))
        assert access_log.verify(conn).ok


def test_a_batch_that_cannot_be_written_fails_every_waiter(conninfo: str) -> None:
    appender = GroupAppender(conninfo)
    try:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            appender.append(conn, _entry(1))
            conn.execute("ALTER TABLE access_log ADD CONSTRAINT nothing_more CHECK (false) NOT VALID")
            with pytest.raises(psycopg.errors.CheckViolation):
                appender.append(conn, _entry(2))
            conn.execute("ALTER TABLE access_log DROP CONSTRAINT nothing_more")
            assert appender.append(conn, _entry(3)).seq == 2  # reconnected; no gap in the chain
    finally:
        appender.close()
