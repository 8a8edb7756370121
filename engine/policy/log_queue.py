"""Access-log rows written from a thread of their own, for callers that must not wait on the database.

The matcher learns of hotlist edits on its event loop, where a commit's WAL flush (up to a few
milliseconds, see `access_log`) would delay every read behind it. Rows are queued here and written
in batches, one transaction per batch, so an import of many entries costs one flush per batch
rather than one per row. A database that is down is retried with backoff, keeping the rows queued;
nothing here raises into the caller's loop. Rows still queued when the process stops within the
grace period are lost, and their count is logged.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

import psycopg

from platewatch.engine.retry import backoff_delays

from .access_log import AccessLogError, LogEntry, append, normalise_terms

log = logging.getLogger("platewatch.policy")

Connect = Callable[[], psycopg.Connection]


class QueuedLog:
    """A queue of access-log entries and the thread that appends them, oldest first."""

    def __init__(
        self,
        database_url: str,
        *,
        batch: int = 500,
        retry_cap_s: float = 30.0,
        connect: Connect | None = None,
    ) -> None:
        self._connect = connect or (
            lambda: psycopg.connect(database_url, autocommit=True, prepare_threshold=None)
        )
        self._batch = batch
        self._retry_cap_s = retry_cap_s
        self._queue: queue.SimpleQueue[LogEntry] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.written = 0
        self.failures = 0

    def submit(self, entry: LogEntry) -> None:
        """Queue one row; an entry that could never be written raises here, not in the thread."""
        entry.check()
        normalise_terms(entry.terms)
        self._queue.put(entry)

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="access-log-writer", daemon=True)
            self._thread.start()

    def stop(self, grace_s: float = 10.0) -> None:
        """Write what is queued (for up to `grace_s`), then end the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(grace_s)
            self._thread = None
        if self.queued:
            log.error("access log: %d queued rows were not written before stopping", self.queued)

    def _take(self, pending: list[LogEntry]) -> None:
        wait = not pending
        while len(pending) < self._batch:
            try:
                pending.append(self._queue.get(timeout=0.2) if wait else self._queue.get_nowait())
            except queue.Empty:
                return
            wait = False

    def _run(self) -> None:
        conn: psycopg.Connection | None = None
        pending: list[LogEntry] = []
        delays = backoff_delays(base=0.5, cap=self._retry_cap_s)
        try:
            while True:
                self._take(pending)
                if not pending:
                    if self._stop.is_set():
                        return
                    continue
                try:
                    if conn is None or conn.closed:
                        conn = self._connect()
                    self._write(conn, pending)
                except (psycopg.Error, OSError) as exc:
                    self.failures += 1
                    delay = next(delays)
                    log.warning(
                        "access log: %d rows not written yet (%s: %s); retrying in %.1fs",
                        len(pending),
                        type(exc).__name__,
                        exc,
                        delay,
                    )
                    if conn is not None:
                        conn.close()
                        conn = None
                    if self._stop.wait(delay):
                        return
                else:
                    self.written += len(pending)
                    pending = []
                    delays = backoff_delays(base=0.5, cap=self._retry_cap_s)
        finally:
            if conn is not None:
                conn.close()
            if pending:
                log.error("access log: %d rows were not written before stopping", len(pending))

    @staticmethod
    def _write(conn: psycopg.Connection, entries: list[LogEntry]) -> None:
        with conn.transaction():
            for entry in entries:
                try:
                    append(conn, entry)  # a savepoint: a row that fails leaves the others
                except AccessLogError as exc:  # checked at submit, so only a bug gets here
                    log.error("access log: dropped a row that cannot be written (%s): %r", exc, entry)
