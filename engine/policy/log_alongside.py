"""A request's access row committed while its query runs, instead of after it.

Why: a row appended after the query costs the request a whole commit, which is a WAL flush (3 ms at
the median and 10 ms at p95 on the loaded 2-core development machine, docs/measuring.md), and the
policy allows no answer before its row is durable (asynchronous commit was rejected for that).
Everything that describes an access (who, from where, when, why, what was asked) is known before
the query runs, so that row, the *access row* (action `<route>.begun`), is appended on a
connection of its own, in a thread, as the query starts; the request answers only once it is
committed, and answers an error, never the data, if it failed. It costs the request only the part
of its commit that outlasts the query (`access_log.WAIT_SECONDS`).

What the query returned (how many, which ids) is known only after it. That goes in the *result
row*, the route's ordinary row (action `<route>`, the terms, purpose and ids as every other route
writes them), written after the query (`append(flushed=False)`, one round trip) and committed before
the answer too, but without waiting for its flush. Both rows carry the same `access_id` in their
terms, so an auditor can pair them. A crash of the database server within the WAL writer's delay (a
fraction of a second) after a result row's commit can lose that row; the access row, on disk before
any data left, still names who asked for what, why and when. A crash of the API process loses
nothing written: both rows are committed before the answer leaves.

Used now by the routes whose query cannot write the row itself: an image (its id is known only once
the file is read) and the alert routes. A search and a read write one row per access instead, in
their query's own statement, committed durably with it (`access_log.ResultRow`,
`deps.Caller.in_statement`): one statement, one commit and no second connection, thread or backend
per request, which beat this arrangement on the same benchmark (docs/measuring.md).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import replace

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from .access_log import (
    RESULT_ROW_SECONDS,
    WAIT_SECONDS,
    AccessLogError,
    LogEntry,
    LogRow,
    append,
    normalise_terms,
)

BEGUN = ".begun"  # an access row's action: its route's, and this
POOL_WAIT_S = 10.0  # as long as a request waits for its own connection
ROW_WAIT_S = 30.0  # an access row not committed by then fails its request

Connect = Callable[[], psycopg.Connection]


def access_id() -> str:
    """What pairs an access row with its result row: random, unique in practice, short."""
    return secrets.token_hex(8)


def access_entry(entry: LogEntry) -> LogEntry:
    """The access row of the result row `entry` (whose terms hold the pair's `access_id`): the same
    who, why and what was asked, under the route's action plus BEGUN, and nothing returned yet."""
    return replace(entry, action=entry.action + BEGUN, returned_count=0, returned_ids=())


class Begun:
    """An access row on its way: committed in a writer's thread while the request's query runs."""

    def __init__(self, future: Future[LogRow] | None, row: LogRow | None = None) -> None:
        self._future = future
        self._row = row

    @classmethod
    def done(cls, row: LogRow | None) -> Begun:
        """An access row already written (or, for the bench's no-log baseline, none)."""
        return cls(None, row)

    def wait(self, timeout_s: float = ROW_WAIT_S) -> LogRow | None:
        """The committed access row; raises AccessLogError if it could not be written."""
        if self._future is None:
            return self._row
        try:
            return self._future.result(timeout_s)
        except FutureTimeout:
            raise AccessLogError(f"the access row was not committed within {timeout_s:g} s") from None
        except (psycopg.Error, PoolTimeout, OSError) as exc:
            raise AccessLogError(
                f"the access row could not be written ({type(exc).__name__}: {exc})"
            ) from exc

    def finish(
        self, conn: psycopg.Connection, result: LogEntry, *, write: Callable[..., object] | None = None
    ) -> LogRow | None:
        """Write the result row on `conn` (unflushed), then wait for the access row; raises
        AccessLogError if either failed. The time from this call to its return is what the access
        log added to the request once its data was ready (`WAIT_SECONDS`).

        `write`: how the result row is written (default `append(conn, result, flushed=False)`).
        """
        ready = time.perf_counter()
        try:
            if write is None:
                append(conn, result, flushed=False)
            else:
                write(conn, result, flushed=False)
            RESULT_ROW_SECONDS.observe(time.perf_counter() - ready)
        finally:
            row = self.wait()  # even when the result row failed: the thread's row is settled first
        WAIT_SECONDS.observe(time.perf_counter() - ready)
        return row


class AlongsideWriter:
    """Threads that append access rows on a small pool of connections of their own.

    One per API process; `workers` as many as the requests it serves at once (its database pool), so
    a request's access row does not queue behind another's. Each row is its own commit: concurrent
    commits already share WAL flushes in the server, and gathering rows into one commit per group
    (tried, docs/measuring.md) made them wait for each other's groups.

    Connections are not checked before use (the check was a round trip per row, on a machine where
    every round trip waits for a core): a row whose connection the database had closed while it sat
    idle (a restart) is written once more on a fresh one. If a connection breaks during the commit
    itself, that retry can log the row twice: a row too many, never one too few.
    """

    def __init__(self, database_url: str, *, workers: int) -> None:
        self._pool = ConnectionPool(
            database_url,
            min_size=0,
            max_size=workers,
            kwargs={"autocommit": True, "prepare_threshold": None},
            open=False,
            name="platewatch-access-log",
        )
        self._threads = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="access-log-alongside")

    def open(self) -> None:
        self._pool.open(wait=False)

    def close(self) -> None:
        """Finish the rows under way, then close the connections."""
        self._threads.shutdown(wait=True)
        self._pool.close()

    def begin(self, entry: LogEntry) -> Begun:
        """Start appending `entry` (an access row); an entry that could never be written raises here."""
        entry.check()
        normalise_terms(entry.terms)
        return Begun(self._threads.submit(self._append, entry))

    def _append(self, entry: LogEntry) -> LogRow:
        for attempt in (1, 2):
            with self._pool.connection(timeout=POOL_WAIT_S) as conn:
                try:
                    return append(conn, entry)
                except psycopg.OperationalError:
                    if attempt == 2 or not conn.closed:
                        raise
                    # closed by the database while idle (a restart): once more, on a fresh one
        raise AssertionError("unreachable")
