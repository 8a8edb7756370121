"""The access log's sealer: chains committed rows, in number order, into `access_log_chain`.

Why a sealer: a request's row is inserted with no lock (`access_log.append`), so appends from every
API process never queue behind one another; the hash chain is built a moment later, here, by one
sealer at a time (a try-advisory-lock, so the processes' sealers never wait for each other).

Row numbers come from a sequence, so they can have gaps and commit out of order. At a gap the
sealer stops, unless the number is held by nobody: an append holds an advisory lock on its number
until its transaction ends (`access_log.IN_FLIGHT_KEY`), so a held number is a row that may still
commit, and the sealer waits for it. A number nobody holds, whose next row is older than
`GAP_GRACE_S`, was rolled back (or its process died) and is passed over for good. The grace covers
the instant between an append taking its number and its lock, within one statement.

Where it runs: a thread in each API process (`Sealer`, every `INTERVAL_S`, with a check of two index
ends when there is nothing to do), the worker's upkeep, and before `verify`, `anchor` and the
retention purge, so a process that appends without an API running is sealed all the same.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable

import psycopg
from prometheus_client import Counter

from platewatch.engine.retry import backoff_delays

from .log_encoding import CONTENT_COLUMNS, GENESIS, IN_FLIGHT_KEY, encode_columns

log = logging.getLogger("platewatch.policy")

SEAL_KEY = 0x7077_7365  # "pwse": one sealer at a time, so the chain is a line, not a tree
GAP_GRACE_S = 2.0
INTERVAL_S = 0.2
BATCH = 20_000
_KEY_MOD = 2_147_483_647  # the in-flight lock's second key is the number modulo this (access_log._INSERT)

SEALED = Counter("platewatch_access_log_sealed", "Access-log rows sealed into the hash chain")

Connect = Callable[[], psycopg.Connection]


def seal(
    conn: psycopg.Connection, *, wait: bool = False, batch: int = BATCH, gap_grace_s: float = GAP_GRACE_S
) -> int:
    """Chain every committed row after the chain's head that may be chained now; returns how many.

    `wait`: wait for another sealer to finish rather than leave the work to it (verify, anchor and
    the purge want the chain current). Each batch is a transaction (a savepoint in the caller's).
    """
    total = 0
    while True:
        sealed, more = _seal_batch(conn, wait=wait, batch=batch, gap_grace_s=gap_grace_s)
        total += sealed
        if not more:
            return total


def _seal_batch(conn: psycopg.Connection, *, wait: bool, batch: int, gap_grace_s: float) -> tuple[int, bool]:
    """(rows sealed, whether to go on at once)."""
    with conn.transaction():
        if wait:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (SEAL_KEY,))
        else:
            got = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (SEAL_KEY,)).fetchone()
            if not got or not got[0]:
                return 0, False  # another process's sealer is at it
        head = conn.execute(
            "SELECT pos, seq, hash FROM access_log_chain ORDER BY pos DESC LIMIT 1"
        ).fetchone()
        pos, seq, prev = (int(head[0]), int(head[1]), bytes(head[2])) if head else (0, 0, GENESIS)
        rows = conn.execute(
            f"SELECT {CONTENT_COLUMNS}, l.time < clock_timestamp() - make_interval(secs => %s)"
            " FROM access_log l WHERE l.seq > %s ORDER BY l.seq LIMIT %s",
            (gap_grace_s, seq, batch),
        ).fetchall()
        entries: list[tuple[int, int, bytes, bytes]] = []
        expected, retry = seq + 1, False
        sha256 = hashlib.sha256
        for r in rows:
            number = r[0]
            if number != expected:
                passable = _passable_gap(conn, expected, number - 1) if r[15] else False
                if passable is None:  # the gap's rows committed meanwhile: read them next
                    retry = True
                if not passable:
                    break
            digest = sha256(prev + encode_columns(r[:15])).digest()
            pos += 1
            entries.append((pos, number, prev, digest))
            prev, expected = digest, number + 1
        if entries:
            with (
                conn.cursor() as cur,
                cur.copy("COPY access_log_chain (pos, seq, prev_hash, hash) FROM STDIN") as copy,
            ):
                for entry in entries:
                    copy.write_row(entry)
    SEALED.inc(len(entries))
    return len(entries), retry or (len(entries) == len(rows) == batch)


def _passable_gap(conn: psycopg.Connection, first: int, last: int) -> bool | None:
    """Whether rows `first`..`last` (missing) will never commit: True, False, or None when they have
    committed since the rows were read.

    Locks first, rows second: a transaction is visible as committed before it releases its locks,
    so a number found free is either rolled back or already readable by the next statement.
    """
    lo, hi = first % _KEY_MOD, last % _KEY_MOD
    in_range = (
        "objid::bigint BETWEEN %s AND %s" if lo <= hi else "(objid::bigint >= %s OR objid::bigint <= %s)"
    )
    held = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2"
        f" AND classid = %s::bigint::oid AND {in_range})",
        (IN_FLIGHT_KEY, lo, hi),
    ).fetchone()
    if held is None or held[0]:
        return False
    landed = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM access_log WHERE seq BETWEEN %s AND %s)", (first, last)
    ).fetchone()
    return None if landed is None or landed[0] else True


def waiting(conn: psycopg.Connection) -> bool:
    """Whether a committed row is numbered past the chain's head: one end of each primary key."""
    found = conn.execute(
        "SELECT (SELECT max(seq) FROM access_log)"
        " > coalesce((SELECT seq FROM access_log_chain ORDER BY pos DESC LIMIT 1), 0)"
    ).fetchone()
    return bool(found and found[0])


class Sealer:
    """`seal` every `interval_s` on a connection of its own, in a daemon thread; a database that is
    down is logged and retried with backoff, never raised."""

    def __init__(
        self, database_url: str, *, interval_s: float = INTERVAL_S, connect: Connect | None = None
    ) -> None:
        self._connect = connect or (
            lambda: psycopg.connect(database_url, autocommit=True, prepare_threshold=None)
        )
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.sealed = 0

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="access-log-sealer", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _run(self) -> None:
        conn: psycopg.Connection | None = None
        delays = backoff_delays(base=0.5, cap=30.0)
        try:
            while not self._stop.wait(self._interval_s):
                try:
                    if conn is None or conn.closed:
                        conn = self._connect()
                    if waiting(conn):
                        self.sealed += seal(conn)
                except (psycopg.Error, OSError) as exc:
                    delay = next(delays)
                    log.warning(
                        "access log: sealing failed (%s: %s); retrying in %.1fs",
                        type(exc).__name__,
                        exc,
                        delay,
                    )
                    if conn is not None:
                        conn.close()
                        conn = None
                    self._stop.wait(delay)
                else:
                    delays = backoff_delays(base=0.5, cap=30.0)
        finally:
            if conn is not None:
                conn.close()
