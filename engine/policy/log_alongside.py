"""A request's access row committed while its query runs, instead of after it.

Why: a row appended after the query costs the request a whole commit, which is a WAL flush (3 ms at
the median and 10 ms at p95 on the loaded 2-core development machine, docs/measuring.md), and the
policy allows no answer before its row is durable (asynchronous commit was rejected for that).
Everything that describes an access (who, from where, when, why, what was asked) is known before
the query runs, so that row, the *access row* (action `<route>.begun`), is handed as the query
starts to a committer thread, which commits it together with the other requests' access rows
waiting then (group commit, `AlongsideWriter`); the request answers only once it is
committed, and answers an error, never the data, if it failed. It costs the request only the part
of its commit that outlasts the query (`access_log.WAIT_SECONDS`).

What the query returned (how many, which ids) is known only after it. That goes in the *result
row*, the route's ordinary row (action `<route>`, the terms, purpose and ids as every other route
writes them), committed before the answer too but without waiting for its flush
(`append(flushed=False)`): one round trip rather than a flush. Both carry the same `access_id` in
their terms, so an auditor can pair them. A crash of the database server within the WAL writer's
delay (a fraction of a second) after a result row's commit can lose that row; the access row, on
disk before any data left, still names who asked for what, why and when. A crash of the API process
loses nothing written: both rows are committed before the answer leaves.
"""

from __future__ import annotations

import queue
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import replace

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from .access_log import (
    WAIT_SECONDS,
    AccessLogError,
    LogEntry,
    LogRow,
    append,
    append_many,
    normalise_terms,
)

BEGUN = ".begun"  # an access row's action: its route's, and this
POOL_WAIT_S = 10.0  # as long as a request waits for its own connection
ROW_WAIT_S = 30.0  # an access row not committed by then fails its request
LANES = 2  # committer threads (and connections) per API process
GROUP_MAX = 100  # rows one commit takes at most

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
        finally:
            row = self.wait()  # even when the result row failed: the thread's row is settled first
        WAIT_SECONDS.observe(time.perf_counter() - ready)
        return row


class AlongsideWriter:
    """Access rows committed in groups: each of a few committer threads (lanes) takes every row
    waiting when it is free and commits them in one transaction on its connection.

    Why: with a thread and a connection per request, 20 searching clients meant 20 commits, each a
    round trip and a server process's turn on a saturated 2-core machine, plus a round trip to check
    the connection before lending it. A lane that is free takes a row at once, so a lone request
    waits no longer than before; under load, the rows that arrive while the lanes commit share the
    next commit. Rows of a group are numbered in arrival order and sealed like any other (the chain
    is built by the sealer, by number). A group that fails fails every request in it.

    Connections are not checked before use (the check was a round trip per row): a group whose
    connection the database had closed (a restart) is written once more on a fresh one. If a
    connection breaks during the COMMIT itself, that retry can log the group's rows twice; a row
    too many, never one too few.
    """

    def __init__(self, database_url: str, *, workers: int, lanes: int = LANES) -> None:
        self._lanes = max(1, min(workers, lanes))
        self._pool = ConnectionPool(
            database_url,
            min_size=0,
            max_size=self._lanes,
            kwargs={"autocommit": True, "prepare_threshold": None},
            open=False,
            name="platewatch-access-log",
        )
        self._queue: queue.SimpleQueue[tuple[LogEntry, Future[LogRow]] | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._run, name=f"access-log-lane-{n}", daemon=True)
            for n in range(self._lanes)
        ]
        self._closing = False
        self._lock = threading.Lock()

    def open(self) -> None:
        self._pool.open(wait=False)
        for t in self._threads:
            t.start()

    def close(self) -> None:
        """Finish the rows under way, then close the connections."""
        with self._lock:
            self._closing = True
            for _ in self._threads:
                self._queue.put(None)
        for t in self._threads:
            if t.is_alive():
                t.join()
        self._pool.close()

    def begin(self, entry: LogEntry) -> Begun:
        """Start appending `entry` (an access row); an entry that could never be written raises here,
        as does a writer that is closing (RuntimeError)."""
        entry.check()
        normalise_terms(entry.terms)
        future: Future[LogRow] = Future()
        with self._lock:
            if self._closing:
                raise RuntimeError("the access-log writer is closing")
            self._queue.put((entry, future))
        return Begun(future)

    def _run(self) -> None:
        last = False
        while not last:
            item = self._queue.get()
            if item is None:
                return
            group = [item]
            while len(group) < GROUP_MAX:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    last = True
                    break
                group.append(more)
            self._commit(group)

    def _commit(self, group: list[tuple[LogEntry, Future[LogRow]]]) -> None:
        try:
            rows = self._write([entry for entry, _ in group])
        except Exception as exc:  # every request waiting on the group gets the failure
            for _, future in group:
                future.set_exception(exc)
            return
        for (_, future), row in zip(group, rows, strict=True):
            if isinstance(row, LogRow):
                future.set_result(row)
            else:
                future.set_exception(row)

    def _write(self, entries: list[LogEntry]) -> list[LogRow | AccessLogError]:
        for attempt in (1, 2):
            with self._pool.connection(timeout=POOL_WAIT_S) as conn:
                try:
                    return append_many(conn, entries)
                except psycopg.OperationalError:
                    if attempt == 2 or not conn.closed:
                        raise
                    # closed by the database while idle (a restart): once more, on a fresh one
        raise AssertionError("unreachable")
