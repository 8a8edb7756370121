"""The access log (policy 462.4(a), Civil Code § 1798.90.52): one row per access, hash-chained.

Each row records who (user id, username, organisation, client address), when (UTC, the database's
clock), what (action, query terms, what was returned: count and ids), why (purpose, case number or
alert id) and the outcome (allowed, or refused and why).

Sequenced, then sealed (as Certificate Transparency's merge delay): `append` inserts a row with no
lock, numbered by a sequence and timed by the database's clock, in its own transaction, and the
caller returns data only once it is committed. A sealer (sealer.py), in every API process and the
worker's upkeep and before `verify` and `anchor`, then chains the committed rows in number order into
`access_log_chain`: entries numbered without gaps (`pos`), each holding
`hash = SHA-256(prev_hash || canonical(row))`, the first chaining from 32 zero bytes. So appends
from every process no longer queue for one lock; a row is tamper-evident once sealed, normally
within a fraction of a second, and `verify` names a row left unsealed longer than `SEAL_DELAY_S`.

Both tables refuse UPDATE, DELETE and TRUNCATE (triggers, and no privileges for PUBLIC), but an
attacker with superuser can disable the triggers and rewrite rows, even recompute every hash. That
is what the anchors are for: `anchor()` appends the chain head (entry number, hash, time) to a file
outside the database, which the application's database role cannot write; `verify()` walks the
whole chain and checks it against every anchor, so an edited, deleted, inserted or reordered row, a
truncated tail, an emptied table and a recomputed chain are each caught, and the first bad row named.

Hashing is in Python so that verification does not trust the database it is checking; it reads
each column in the form it is hashed in (see `canonical`), so no JSON is parsed per row. Measured on
the 2-core development machine, PostgreSQL 15 on the same host, load average 3.5 from other work:
`verify` walks 1,000,000 rows (search-like rows: three cameras/terms, three returned ids) in 7.4-7.8 s
(before the chain moved to its own table; docs/policy.md has the current figures); `append` is one
INSERT and its commit, the commit's WAL flush most of it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time as _time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import psycopg
from prometheus_client import Histogram
from psycopg.types.json import Jsonb

from platewatch.engine.config.access import AccessConfig

from .directory import Actor
from .errors import PolicyError
from .log_encoding import (
    CONTENT_COLUMNS,
    ENCODING_VERSION,
    GENESIS,
    IN_FLIGHT_KEY,
    dump_json,
)
from .log_encoding import canonical as canonical  # re-exported: the chain's encoding, for callers
from .log_encoding import encode_columns as encode_columns
from .log_encoding import epoch_us as epoch_us
from .log_encoding import row_hash as row_hash
from .sealer import seal

PURGE_ACTION = "access_log.purge"
POLICY_FLOOR_DAYS = 365  # the trigger's own floor: no row younger than this can be purged
#: A row unsealed for longer than this is a finding of `verify`: the sealer runs every fraction of a
#: second in each API process, so only a row inserted behind its back, or one held by a transaction
#: open this long, is still unsealed after it.
SEAL_DELAY_S = 60.0
_MAX_TEXT = 10_000
Outcome = Literal["allowed", "refused"]

#: `append` whole (its INSERT and, outside a caller's transaction, its commit). Fine buckets up to
#: 50 ms, so `platewatch bench audit` can read the 5 ms p95 target off each API instance's /metrics,
#: and coarser ones to a second. A row written alongside a query costs the request only the part of
#: its append that outlasts the query: WAIT_SECONDS.
_BUCKETS = (
    *(ms / 1000 for ms in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 1.75)),
    *(ms / 1000 for ms in (2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 10.0, 12.5, 15.0)),
    *(ms / 1000 for ms in (20.0, 25.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0, 125.0, 150.0)),
    *(ms / 1000 for ms in (200.0, 300.0, 500.0, 1000.0)),
)
APPEND_SECONDS = Histogram(
    "platewatch_access_log_append_seconds",
    "Time to append one access-log row, its commit included when it is its own transaction",
    buckets=_BUCKETS,
)

#: What the access log adds to a request that reads data, from the moment its data is ready to the
#: moment the answer may leave. A search or a read writes its one row in its query's own statement
#: (`ResultRow`), so its data is ready inside the statement: the wait is that INSERT (by the
#: server's clock, from the query's end to the row's) plus the time from the row's INSERT (the
#: server's clock) to the commit's answer reaching the API (its clock: the same host in the bench),
#: which holds the commit's WAL flush that a read-only transaction would not pay, and, counted
#: against the log though a read-only query pays them too, the result's transfer and the API
#: thread's wake-up. The routes that still write an access row beside their query (`log_alongside`:
#: images, alerts) count from their data being ready to both rows being written.
WAIT_SECONDS = Histogram(
    "platewatch_access_log_wait_seconds",
    "Time a response waited for its access-log rows after its data was ready",
    buckets=_BUCKETS,
)

#: Of WAIT_SECONDS, the INSERT's part: written by the query's statement (`ResultRow`), the INSERT
#: inside it; for a route writing its result row after its query (`log_alongside`), that INSERT,
#: committed without its flush, one round trip. The rest of the wait is the commit's flush (or the
#: access row's commit outlasting the query); `bench audit` reports both.
RESULT_ROW_SECONDS = Histogram(
    "platewatch_access_log_result_row_seconds",
    "Time a response spent writing its result row after its data was ready",
    buckets=_BUCKETS,
)

_COLUMNS = (
    "l.seq, l.time, l.user_id, l.username, l.organisation, l.client_address, l.action, l.terms,"
    " l.purpose, l.case_number, l.alert_id, l.outcome, l.reason, l.returned_count, l.returned_ids,"
    " c.prev_hash, c.hash, c.pos"
)
_FROM = "access_log l LEFT JOIN access_log_chain c ON c.seq = l.seq"
_INSERTED = (
    "user_id, username, organisation, client_address, action, terms, purpose, case_number, alert_id,"
    " outcome, reason, returned_count, returned_ids"
)
# One statement: the number, the in-flight lock on it (try: a fresh number is never held, short of
# the key wrapping after 2^31 rows while one is still open), then the row. Its time is the clock's
# when it was numbered, to the microsecond.
_INSERT = (
    "WITH s AS (SELECT nextval('access_log_seq') AS seq)"
    f" INSERT INTO access_log (seq, time, {_INSERTED})"
    f" SELECT s.seq, clock_timestamp(), {', '.join(['%s'] * 13)} FROM s"
    f" WHERE pg_try_advisory_xact_lock({IN_FLIGHT_KEY}, (s.seq %% 2147483647)::integer)"
    " RETURNING seq, time"
)
# The same, its own transaction committed without waiting for the WAL flush: for a result row whose
# access row is committed durably beside it (`log_alongside`). `set_config(..., true)` holds for the
# transaction the statement is in; referenced in FROM so that it runs.
_INSERT_UNFLUSHED = (
    "WITH s AS (SELECT nextval('access_log_seq') AS seq),"
    " a AS (SELECT set_config('synchronous_commit', 'off', true))"
    f" INSERT INTO access_log (seq, time, {_INSERTED})"
    f" SELECT s.seq, clock_timestamp(), {', '.join(['%s'] * 13)} FROM s, a"
    f" WHERE pg_try_advisory_xact_lock({IN_FLIGHT_KEY}, (s.seq %% 2147483647)::integer)"
    " RETURNING seq, time"
)


class AccessLogError(PolicyError):
    """The access log could not be written or read as asked."""


class ChainBroken(AccessLogError):
    """Raised by `anchor` when the rows since the last anchor do not extend it."""

    def __init__(self, report: ChainReport) -> None:
        self.report = report
        super().__init__(f"the access log does not verify, so it was not anchored: {report.problem}")


@dataclass(frozen=True)
class LogEntry:
    """One access, as the caller describes it; the row number, time and hashes are added by `append`."""

    action: str
    username: str
    organisation: str
    outcome: Outcome = "allowed"
    reason: str | None = None
    user_id: int | None = None
    client_address: str | None = None
    terms: Mapping[str, Any] = field(default_factory=dict)
    purpose: str | None = None
    case_number: str | None = None
    alert_id: str | None = None
    returned_count: int = 0
    returned_ids: Sequence[str] = ()

    @classmethod
    def by(cls, actor: Actor, action: str, **fields: Any) -> LogEntry:
        return cls(
            action=action,
            username=actor.username,
            organisation=actor.organisation,
            user_id=actor.user_id,
            client_address=actor.address,
            **fields,
        )

    def check(self) -> None:
        if not self.action or not self.username or not self.organisation:
            raise AccessLogError("an access-log entry needs an action, a username and an organisation")
        if self.outcome not in ("allowed", "refused"):
            raise AccessLogError(f"outcome must be 'allowed' or 'refused', not {self.outcome!r}")
        if self.outcome == "refused" and not self.reason:
            raise AccessLogError("a refused access must say why (reason)")
        if self.returned_count < len(self.returned_ids):
            raise AccessLogError("returned_count is smaller than the number of returned ids")
        for text in (
            self.action,
            self.username,
            self.organisation,
            self.reason,
            self.client_address,
            self.purpose,
            self.case_number,
            self.alert_id,
            *self.returned_ids,
        ):
            if text is not None and ("\x00" in text or len(text) > _MAX_TEXT):
                raise AccessLogError("access-log text must not contain NUL characters or exceed 10,000 chars")


@dataclass(frozen=True)
class LogRow:
    """A stored row, as `query` reads it, with its chain entry (pos, prev_hash, hash) once it is
    sealed; until then pos is None and the hashes are empty."""

    seq: int
    time: datetime
    user_id: int | None
    username: str
    organisation: str
    client_address: str | None
    action: str
    terms: dict[str, Any]
    purpose: str | None
    case_number: str | None
    alert_id: str | None
    outcome: str
    reason: str | None
    returned_count: int
    returned_ids: tuple[str, ...]
    prev_hash: bytes = b""
    hash: bytes = b""
    pos: int | None = None


@dataclass(frozen=True)
class Anchor:
    pos: int  # the chain entry anchored
    seq: int  # its row
    hash: str  # hex
    time: datetime  # the anchored row's time
    anchored_at: datetime


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    rows: int  # chain entries checked (each a row)
    first_seq: int | None  # the row of the first entry
    last_seq: int | None  # the row of the last entry
    head_hash: str | None
    anchors_checked: int
    first_bad_seq: int | None = None  # the row named by the problem, where it names one
    problem: str | None = None
    seconds: float = 0.0
    first_pos: int | None = None
    last_pos: int | None = None
    first_bad_pos: int | None = None
    unsealed: int = 0  # rows left unsealed past SEAL_DELAY_S
    sealed: int = 0  # rows `verify` sealed before walking (they were waiting for the sealer)


def _json_value(value: Any) -> Any:
    """What JSON (and jsonb) can hold; times become ISO 8601 strings, sets sorted lists."""
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_json_value(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str):
        if "\x00" in value:
            raise AccessLogError("access-log terms must not contain NUL characters")
        return value
    if isinstance(value, float) and not math.isfinite(value):
        raise AccessLogError("access-log terms must not hold NaN or infinity")
    if value is None or isinstance(value, bool | int | float):
        return value
    raise AccessLogError(f"access-log terms must be JSON values, not {type(value).__name__}")


def normalise_terms(terms: Mapping[str, Any]) -> dict[str, Any]:
    out = _json_value(terms)
    assert isinstance(out, dict)
    return out


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def append(conn: psycopg.Connection, entry: LogEntry, *, flushed: bool = True) -> LogRow:
    """Write one row; raises if it cannot be written. Callers return data only after this returns.

    No lock is taken: on an idle autocommit connection the row is its own transaction, committed
    when this returns; inside a caller's transaction it is a savepoint of it (a row that fails
    leaves the caller's transaction usable) and is committed with it. The row is sealed into the
    chain afterwards (sealer.py), so the returned row has no hash yet.

    `flushed=False` commits without waiting for the WAL flush (the row is visible at once and on
    disk within a fraction of a second, but a database crash in between loses it). Only for a
    result row whose access row was committed durably beside it (`log_alongside`): the policy's
    rule, no data without a durable row, is kept by that row.
    """
    with APPEND_SECONDS.time():
        terms, ids, values = _values(entry)
        sql = _INSERT if flushed else _INSERT_UNFLUSHED
        if conn.autocommit and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            numbered = conn.execute(sql, values).fetchone()
        else:
            with conn.transaction():
                numbered = conn.execute(sql, values).fetchone()
    return _written(entry, terms, ids, numbered)


def _values(entry: LogEntry) -> tuple[dict[str, Any], list[str], tuple[Any, ...]]:
    """The entry checked, its terms and ids as stored, and the INSERT's parameters."""
    entry.check()
    terms = normalise_terms(entry.terms)
    ids = [str(i) for i in entry.returned_ids]
    values = (
        entry.user_id,
        entry.username,
        entry.organisation,
        entry.client_address,
        entry.action,
        Jsonb(terms),
        entry.purpose,
        entry.case_number,
        entry.alert_id,
        entry.outcome,
        entry.reason,
        entry.returned_count,
        ids,
    )
    return terms, ids, values


def _written(
    entry: LogEntry, terms: dict[str, Any], ids: list[str], numbered: Sequence[Any] | None
) -> LogRow:
    if numbered is None:
        raise AccessLogError("the access-log row could not be numbered (its number is still in use)")
    seq, time = numbered
    return LogRow(
        seq=seq,
        time=time,
        user_id=entry.user_id,
        username=entry.username,
        organisation=entry.organisation,
        client_address=entry.client_address,
        action=entry.action,
        terms=terms,
        purpose=entry.purpose,
        case_number=entry.case_number,
        alert_id=entry.alert_id,
        outcome=entry.outcome,
        reason=entry.reason,
        returned_count=entry.returned_count,
        returned_ids=tuple(ids),
    )


#: The parameters of `ResultRow`'s INSERT, in `_INSERTED`'s order, up to the count and ids it makes.
_NAMED = tuple(f"pw_log_{c.strip()}" for c in _INSERTED.split(","))[:11]
#: An access's row written by its query's own statement (`ResultRow`): the query is the CTE
#: `pw_found`, read once for its ids; the row is numbered, locked and inserted as `_INSERT` does it.
#: The number and the time are taken in the projection of the aggregate over the query's rows, so
#: only once the query is done: a slow query never holds a number without its in-flight lock, which
#: the sealer could take for a rolled-back row and pass over (sealer.GAP_GRACE_S). The statement's
#: rows are read off `pw_logged LEFT JOIN pw_found`, so none comes back unless the row went in (a
#: number still in use inserts nothing and the statement returns no row at all). `pw_log_done` is
#: the server's clock once the row is in, as seconds since the epoch: where what the log costs the
#: answer after it (the commit's flush) is counted from.
_IN_STATEMENT = (
    "pw_found AS ({found}),"
    f" pw_logged AS (INSERT INTO access_log (seq, time, {_INSERTED})"
    " SELECT n.seq, n.at, {named}, cardinality(n.ids), n.ids"
    " FROM (SELECT nextval('access_log_seq') AS seq, clock_timestamp() AS at,"
    " coalesce(array_agg(p.{id}::text ORDER BY {order}), '{{}}'::text[]) AS ids"
    " FROM (SELECT * FROM pw_found ORDER BY {order} LIMIT %(pw_log_limit)s) p) n"
    f" WHERE pg_try_advisory_xact_lock({IN_FLIGHT_KEY}, (n.seq %% 2147483647)::integer)"
    " RETURNING seq AS pw_log_seq, time AS pw_log_time, clock_timestamp() AS pw_log_done)"
    " SELECT pw_found.*, l.pw_log_seq,"
    " extract(epoch FROM l.pw_log_done - l.pw_log_time)::float8 AS pw_log_s,"
    " extract(epoch FROM l.pw_log_done)::float8 AS pw_log_done"
    " FROM pw_logged l LEFT JOIN pw_found ON true ORDER BY {order}"
)


@dataclass
class ResultRow:
    """An access's one row, written by the query whose result it records, in the same statement,
    and committed durably with the query's transaction before the caller returns anything.

    `entry` is the row as `append` would take it, less what the query returns: its ids and count
    are the statement's own first `limit` rows' (`statement`). The statement's transaction commits
    with its WAL flush (synchronous commit, as `append`'s own transaction): the policy's rule, no
    data without a durable row, is kept by the one row, and no second connection, thread or commit
    is spent per access (`log_alongside` did that, docs/audit.md). `rows` returns the query's rows
    once the row is in, or raises AccessLogError; a statement that fails writes neither, so no data
    leaves without its row, and the caller records the failure in a row of its own
    (`deps.Caller.in_statement`).
    """

    entry: LogEntry
    seq: int | None = None  # the row's number once written
    in_statement_s: float = 0.0  # its INSERT inside the statement, by the server's clock
    done_at: float = 0.0  # the server's clock (epoch seconds) once the row was in
    _id: str = ""

    def statement(
        self, found: str, params: dict[str, Any], ctes: Sequence[str], key: str, order: str, limit: int
    ) -> str:
        """The statement that runs `found` (a SELECT, after `ctes`) and writes the row; adds the
        row's values to `params` (named, `pw_log_*`).

        `key`: the column of `found` whose values are the ids returned; `order`: how `found`'s rows
        are ordered (its column names, unqualified); `limit`: how many of them are returned."""
        _, _, values = _values(self.entry)
        self._id = key
        params.update(zip(_NAMED, values[: len(_NAMED)], strict=True))
        params["pw_log_limit"] = limit
        head = "WITH " + "".join(f"{c}, " for c in ctes)
        return head + _IN_STATEMENT.format(
            found=found, id=key, order=order, named=", ".join(f"%({n})s" for n in _NAMED)
        )

    def rows(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """The query's rows out of the statement's (`statement`); raises if the row was not written."""
        if not rows or rows[0].get("pw_log_seq") is None:
            raise AccessLogError("the access-log row could not be numbered (its number is still in use)")
        self.seq = int(rows[0]["pw_log_seq"])
        self.in_statement_s = max(0.0, float(rows[0]["pw_log_s"]))
        self.done_at = float(rows[0]["pw_log_done"])
        return [
            {k: v for k, v in r.items() if not k.startswith("pw_log_")}
            for r in rows
            if r.get(self._id) is not None
        ]


def refused_the_row(exc: psycopg.Error) -> bool:
    """Whether a failed statement that wrote a `ResultRow` failed on the row (a constraint, trigger
    or privilege of the access log), not on the query: then it is the log that is unavailable."""
    diag = exc.diag  # not str(exc): a syntax error quotes the statement, which names the log
    return any(text is not None and "access_log" in text for text in (diag.table_name, diag.message_primary))


def _row(r: Sequence[Any]) -> LogRow:
    return LogRow(
        seq=r[0],
        time=r[1],
        user_id=r[2],
        username=r[3],
        organisation=r[4],
        client_address=r[5],
        action=r[6],
        terms=r[7],
        purpose=r[8],
        case_number=r[9],
        alert_id=r[10],
        outcome=r[11],
        reason=r[12],
        returned_count=r[13],
        returned_ids=tuple(r[14]),
        prev_hash=bytes(r[15]) if r[15] is not None else b"",
        hash=bytes(r[16]) if r[16] is not None else b"",
        pos=r[17],
    )


def query(
    conn: psycopg.Connection,
    *,
    username: str | None = None,
    action: str | None = None,
    case_number: str | None = None,
    outcome: Outcome | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_seq: int | None = None,
    limit: int = 100,
) -> list[LogRow]:
    """Rows matching every given filter, newest first; page with `before_seq` (the last seq seen)."""
    where: list[str] = []
    args: list[Any] = []
    for column, value in (
        ("username", username),
        ("action", action),
        ("case_number", case_number),
        ("outcome", outcome),
    ):
        if value is not None:
            where.append(f"l.{column} = %s")
            args.append(value)
    if since is not None:
        where.append("l.time >= %s")
        args.append(since)
    if until is not None:
        where.append("l.time < %s")
        args.append(until)
    if before_seq is not None:
        where.append("l.seq < %s")
        args.append(before_seq)
    sql = f"SELECT {_COLUMNS} FROM {_FROM}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY l.seq DESC LIMIT %s"
    args.append(max(1, min(limit, 10_000)))
    return [_row(r) for r in conn.execute(sql.encode(), args).fetchall()]


def head(conn: psycopg.Connection) -> LogRow | None:
    r = conn.execute(f"SELECT {_COLUMNS} FROM {_FROM} ORDER BY l.seq DESC LIMIT 1").fetchone()
    return _row(r) if r else None


# --- verification -----------------------------------------------------------------------------


def read_anchors(path: Path) -> list[Anchor]:
    """The anchors written so far, oldest first; a missing file means none.

    Anchors written before the chain had its own table name only `seq`: those rows were carried into
    the chain at pos = seq, so that is their entry.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    anchors = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            anchors.append(
                Anchor(
                    pos=int(d.get("pos", d["seq"])),
                    seq=int(d["seq"]),
                    hash=str(d["hash"]),
                    time=datetime.fromisoformat(d["time"]),
                    anchored_at=datetime.fromisoformat(d["anchored_at"]),
                )
            )
        except (ValueError, KeyError, TypeError):
            raise AccessLogError(f"{path}: line {number} is not an anchor; the file was damaged") from None
    return anchors


def _stream(conn: psycopg.Connection, from_pos: int, batch: int) -> Iterator[Sequence[Any]]:
    """Chain entries from `from_pos` in order, each with its row's content (NULLs: the row is gone)."""
    with conn.transaction(), conn.cursor(name="pw_access_log_verify") as cur:
        cur.itersize = batch
        cur.execute(
            f"SELECT c.pos, c.seq, c.prev_hash, c.hash, {CONTENT_COLUMNS} FROM access_log_chain c"
            " LEFT JOIN access_log l ON l.seq = c.seq WHERE c.pos >= %s ORDER BY c.pos",
            (from_pos,),
        )
        yield from cur


def _walk(
    rows: Iterator[Sequence[Any]],
    anchors: Sequence[Anchor],
    *,
    start: Anchor | None,
    now: datetime,
) -> ChainReport:
    """Check chain entries in order; stop at the first problem. `start`: trust the chain up to this anchor.

    Each row is (pos, seq, prev_hash, hash, then the row's 15 hashed columns, None where it is gone).
    """
    began = _time.perf_counter()
    by_pos: dict[int, list[Anchor]] = {}
    for a in anchors:
        by_pos.setdefault(a.pos, []).append(a)
    expected_pos: int | None = None
    expected_prev: bytes = GENESIS
    first_pos = last_pos = first_seq = last_seq = None
    last_hash: bytes | None = None
    count = checked_anchors = 0
    purged_gap: tuple[int, bytes] | None = None  # (first kept entry, its prev_hash) awaiting a purge row
    problem: tuple[int, int | None, str] | None = None  # (pos, seq, what)
    sha256 = hashlib.sha256
    dumps = dump_json
    for r in rows:
        pos, seq = r[0], r[1]
        prev, digest = bytes(r[2]), bytes(r[3])
        if first_pos is None:
            first_pos, first_seq = pos, seq
            if start is not None:
                if pos != start.pos:
                    when = f"{start.anchored_at:%Y-%m-%d %H:%M}"
                    problem = (start.pos, start.seq, f"row {start.seq}, anchored {when} UTC, is missing")
                    break
            elif pos != 1:
                purged_gap = (pos, prev)
            expected_pos, expected_prev = pos, prev
        assert expected_pos is not None
        if pos != expected_pos:
            n = pos - expected_pos
            missing = f"entry {expected_pos} is" if n == 1 else f"entries {expected_pos}-{pos - 1} are"
            problem = (expected_pos, None, f"chain {missing} missing: deleted from the middle of the chain")
            break
        if prev != expected_prev:
            problem = (
                pos,
                seq,
                f"row {seq} does not follow row {last_seq}: the hash it chains from differs, so a row "
                "was inserted, removed or moved here, or the row before it was rewritten",
            )
            break
        if last_seq is not None and seq <= last_seq:
            problem = (pos, seq, f"row {seq} is sealed after row {last_seq}: the chain was reordered")
            break
        if r[4] is None:
            problem = (pos, seq, f"row {seq} is missing: deleted from the log after it was sealed")
            break
        content = dumps([ENCODING_VERSION, *r[4:19]]).encode()
        if sha256(prev + content).digest() != digest:
            problem = (pos, seq, f"row {seq} was altered: its content no longer matches its hash")
            break
        for a in by_pos.get(pos, ()):
            checked_anchors += 1
            if a.hash != digest.hex():
                problem = (
                    pos,
                    seq,
                    f"row {seq} differs from the anchor written {a.anchored_at:%Y-%m-%d %H:%M} UTC: "
                    "the chain was rewritten from this row or earlier",
                )
                break
        if problem:
            break
        if purged_gap is not None and r[10] == PURGE_ACTION and r[15] == "allowed":
            t = json.loads(r[11])
            through = t.get("through_pos", t.get("through_seq"))  # rows before the chain table: pos = seq
            if through == purged_gap[0] - 1 and t.get("through_hash") == purged_gap[1].hex():
                purged_gap = None
        count += 1
        last_pos, last_seq, last_hash = pos, seq, digest
        expected_pos, expected_prev = pos + 1, digest
    if problem is None and purged_gap is not None:
        problem = (
            1,
            None,
            f"chain entries 1-{purged_gap[0] - 1} are missing and no retention purge of them was logged",
        )
    if problem is None:
        end = last_pos if last_pos is not None else (start.pos if start else 0)
        floor = now - timedelta(days=POLICY_FLOOR_DAYS)
        for a in anchors:
            if a.pos > end:
                what = "the log is empty" if last_pos is None else f"the log ends at row {last_seq}"
                problem = (
                    end + 1,
                    None,
                    f"{what}, but the anchor written {a.anchored_at:%Y-%m-%d %H:%M} UTC recorded row "
                    f"{a.seq} (chain entry {a.pos}): entries from {end + 1} on were removed",
                )
                break
            if first_pos is not None and start is None and a.pos < first_pos and a.time > floor:
                problem = (
                    a.pos,
                    a.seq,
                    f"row {a.seq} is gone, but the anchor written {a.anchored_at:%Y-%m-%d %H:%M} UTC shows "
                    f"it was less than {POLICY_FLOOR_DAYS} days old, too young for the retention purge",
                )
                break
    return ChainReport(
        ok=problem is None,
        rows=count,
        first_seq=first_seq,
        last_seq=last_seq,
        head_hash=last_hash.hex() if last_hash is not None else None,
        anchors_checked=checked_anchors,
        first_bad_seq=problem[1] if problem else None,
        problem=problem[2] if problem else None,
        seconds=_time.perf_counter() - began,
        first_pos=first_pos,
        last_pos=last_pos,
        first_bad_pos=problem[0] if problem else None,
    )


def _unsealed(
    conn: psycopg.Connection, head_seq: int | None, delay_s: float
) -> tuple[int, str | None, int | None]:
    """(how many rows are unsealed past `delay_s`, what the first of them means, its number)."""
    found = conn.execute(
        "SELECT count(*), min(l.seq) FROM access_log l"
        " WHERE l.time < clock_timestamp() - make_interval(secs => %s)"
        " AND NOT EXISTS (SELECT 1 FROM access_log_chain c WHERE c.seq = l.seq)",
        (delay_s,),
    ).fetchone()
    if found is None or not found[0]:
        return 0, None, None
    count, first = int(found[0]), int(found[1])
    many = f" ({count} rows in all)" if count > 1 else ""
    if head_seq is not None and first < head_seq:
        why = (
            f"row {first} was never sealed{many}: it sits behind rows already in the chain, so it was "
            "inserted behind the sealer's back"
        )
    else:
        why = (
            f"row {first} is not sealed after {delay_s:g} s{many}: the sealer is held at an earlier "
            "row by a transaction still open, or cannot run"
        )
    return count, why, first


def verify(
    conn: psycopg.Connection,
    anchor_file: Path | None = None,
    *,
    batch: int = 20_000,
    seal_delay_s: float = SEAL_DELAY_S,
) -> ChainReport:
    """Seal what is waiting, walk the whole chain in order and check it against the anchors, then
    look for rows left out of it; names the first bad row."""
    began = _time.perf_counter()
    anchors = read_anchors(anchor_file) if anchor_file is not None else []
    sealed = seal(conn, wait=True)
    report = _walk(_stream(conn, 1, batch), anchors, start=None, now=datetime.now(UTC))
    count, why, first = _unsealed(conn, report.last_seq, seal_delay_s)
    changes: dict[str, Any] = {"sealed": sealed, "unsealed": count, "seconds": _time.perf_counter() - began}
    if report.ok and why is not None:
        changes.update(ok=False, problem=why, first_bad_seq=first, first_bad_pos=None)
    return replace(report, **changes)


def anchor_path(cfg: AccessConfig, data_dir: Path) -> Path:
    """Where anchors go: `access.anchor_file`, or audit-anchors.jsonl in the data directory."""
    return cfg.anchor_file if cfg.anchor_file is not None else data_dir / "audit-anchors.jsonl"


def anchor(conn: psycopg.Connection, anchor_file: Path) -> Anchor | None:
    """Seal what is waiting, then append the chain head to `anchor_file`, after checking the entries
    since the last anchor extend it.

    Checking first means an anchor never blesses a chain already tampered with since the last one.
    Returns the new anchor, the last one if the head has not moved, or None for an empty chain.
    """
    seal(conn, wait=True)
    anchors = read_anchors(anchor_file)
    last = anchors[-1] if anchors else None
    if last is not None:
        report = _walk(_stream(conn, last.pos, 20_000), [last], start=last, now=datetime.now(UTC))
    else:
        report = _walk(_stream(conn, 1, 20_000), [], start=None, now=datetime.now(UTC))
    if not report.ok:
        raise ChainBroken(report)
    if report.last_pos is None or report.last_seq is None:
        return None
    if last is not None and report.last_pos == last.pos:
        return last
    row = conn.execute("SELECT time FROM access_log WHERE seq = %s", (report.last_seq,)).fetchone()
    assert row is not None and report.head_hash is not None
    new = Anchor(
        pos=report.last_pos,
        seq=report.last_seq,
        hash=report.head_hash,
        time=row[0],
        anchored_at=datetime.now(UTC),
    )
    line = json.dumps(
        {
            "pos": new.pos,
            "seq": new.seq,
            "hash": new.hash,
            "time": _timestamp(new.time),
            "anchored_at": _timestamp(new.anchored_at),
        },
        separators=(",", ":"),
    )
    anchor_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(anchor_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return new


def purge_expired(conn: psycopg.Connection, actor: Actor, days: int) -> int:
    """Delete rows older than `days` (never under a year), oldest first, with their chain entries, and
    log the purge itself.

    The purge row names the last removed chain entry and its hash (through_pos, through_hash), so
    `verify` can tell a logged purge of the oldest rows from someone deleting them. Rows are sealed
    first, so every row purged was in the chain; the chain's head entry is never purged (the next
    entry chains from it). Callers pass the configured access-log retention.
    """
    if days < POLICY_FLOOR_DAYS:
        raise AccessLogError(f"access-log rows are kept at least {POLICY_FLOOR_DAYS} days, not {days}")
    with conn.transaction():
        seal(conn, wait=True)  # and holds the sealer's lock until the purge row is written
        cutoff = conn.execute("SELECT now() - make_interval(days => %s)", (days,)).fetchone()
        assert cutoff is not None
        oldest = conn.execute("SELECT max(seq) FROM access_log WHERE time < %s", (cutoff[0],)).fetchone()
        if oldest is None or oldest[0] is None:
            return 0
        last = conn.execute(
            "SELECT c.pos, c.seq, c.hash FROM access_log_chain c WHERE c.seq <= %s"
            " AND c.pos < (SELECT max(pos) FROM access_log_chain) ORDER BY c.seq DESC LIMIT 1",
            (oldest[0],),
        ).fetchone()
        if last is None:
            return 0
        through_pos, through_seq, through_hash = last
        # The owner's function deletes: the application's role has no DELETE on either table.
        purged = conn.execute("SELECT pw_access_log_purge(%s, %s)", (through_seq, days)).fetchone()
        deleted = int(purged[0]) if purged else 0
        append(
            conn,
            LogEntry.by(
                actor,
                PURGE_ACTION,
                terms={
                    "through_seq": through_seq,
                    "through_pos": through_pos,
                    "through_hash": bytes(through_hash).hex(),
                    "days": days,
                },
                returned_count=deleted,
            ),
        )
    return deleted
