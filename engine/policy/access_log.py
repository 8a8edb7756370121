"""The access log (policy 462.4(a), Civil Code § 1798.90.52): one row per access, hash-chained.

Each row records who (user id, username, organisation, client address), when (UTC, the database's
clock), what (action, query terms, what was returned: count and ids), why (purpose, case number or
alert id) and the outcome (allowed, or refused and why). Rows are numbered without gaps, and each
holds `hash = SHA-256(prev_hash || canonical(content))`, the first one chaining from 32 zero bytes.
Appends are serialised by a transaction-scoped advisory lock, so the chain is a line, not a tree.

The table refuses UPDATE, DELETE and TRUNCATE (a trigger, and no privileges for PUBLIC), but an
attacker with superuser can disable the trigger and rewrite rows, even recompute every hash. That
is what the anchors are for: `anchor()` appends the chain head (row number, hash, time) to a file
outside the database, which the application's database role cannot write; `verify()` walks the
whole chain and checks it against every anchor, so an edited, deleted, inserted or reordered row, a
truncated tail, an emptied table and a recomputed chain are each caught, and the first bad row named.

Hashing is in Python so that verification does not trust the database it is checking; it reads
each column in the form it is hashed in (see `canonical`), so no JSON is parsed per row. Measured on
the 2-core development machine, PostgreSQL 15 on the same host, load average 3.5 from other work:
`verify` walks 1,000,000 rows (search-like rows: three cameras/terms, three returned ids) in 7.4-7.8 s;
`append` takes 0.5 ms on an idle machine and up to about 5 ms when the disk is busy, almost all of it
the commit's WAL flush.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time as _time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import psycopg
from prometheus_client import Histogram
from psycopg.types.json import Jsonb

from platewatch.engine.config.access import AccessConfig

from .directory import Actor
from .errors import PolicyError

GENESIS = bytes(32)
ENCODING_VERSION = 1
PURGE_ACTION = "access_log.purge"
POLICY_FLOOR_DAYS = 365  # the trigger's own floor: no row younger than this can be purged
_LOCK_KEY = 0x7077_616C  # "pwal": serialises appends so each row chains from the one before
_MAX_TEXT = 10_000
Outcome = Literal["allowed", "refused"]

#: What the access log adds to a request: `append` whole, the wait for the append lock included
#: (which a request holds until its transaction commits). Fine buckets up to 50 ms, so `platewatch
#: bench audit` can read its 5 ms p95 target off each API instance's /metrics, and coarser ones to a
#: second, where appends queue for the lock under load.
APPEND_SECONDS = Histogram(
    "platewatch_access_log_append_seconds",
    "Time to append one access-log row, the wait for the append lock included",
    buckets=(
        *(ms / 1000 for ms in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 1.75)),
        *(ms / 1000 for ms in (2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 10.0, 12.5, 15.0)),
        *(ms / 1000 for ms in (20.0, 25.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0, 125.0, 150.0)),
        *(ms / 1000 for ms in (200.0, 300.0, 500.0, 1000.0)),
    ),
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode

_COLUMNS = (
    "seq, time, user_id, username, organisation, client_address, action, terms, purpose,"
    " case_number, alert_id, outcome, reason, returned_count, returned_ids, prev_hash, hash"
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
    """A stored row, as `query` and `verify` read it."""

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
    prev_hash: bytes
    hash: bytes


@dataclass(frozen=True)
class Anchor:
    seq: int
    hash: str  # hex
    time: datetime  # the anchored row's time
    anchored_at: datetime


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    rows: int  # rows checked
    first_seq: int | None
    last_seq: int | None
    head_hash: str | None
    anchors_checked: int
    first_bad_seq: int | None = None
    problem: str | None = None
    seconds: float = 0.0


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


def epoch_us(value: datetime) -> int:
    return (value - _EPOCH) // _MICROSECOND


def canonical(
    seq: int,
    time_us: int,
    user_id: int | None,
    username: str,
    organisation: str,
    client_address: str | None,
    action: str,
    terms_text: str,
    purpose: str | None,
    case_number: str | None,
    alert_id: str | None,
    outcome: str,
    reason: str | None,
    returned_count: int,
    returned_ids_text: str,
) -> bytes:
    """The bytes a row's hash covers: a JSON array of the columns in a fixed order.

    Time is whole microseconds since 1970 (UTC). `terms` and `returned_ids` enter as PostgreSQL
    renders them (`terms::text`, `returned_ids::text`): that rendering is a function of the stored
    value alone, and taking it as it comes spares `verify` parsing and re-encoding JSON per row,
    which is most of what a million rows would cost.
    """
    return _encode(
        (
            seq,
            time_us,
            user_id,
            username,
            organisation,
            client_address,
            action,
            terms_text,
            purpose,
            case_number,
            alert_id,
            outcome,
            reason,
            returned_count,
            returned_ids_text,
        )
    )


def _encode(columns: Sequence[Any]) -> bytes:
    """`canonical` of the 15 hashed columns, in its order (verify's loop inlines this for speed)."""
    return _dumps([ENCODING_VERSION, *columns]).encode("utf-8")


def row_hash(prev_hash: bytes, content: bytes) -> bytes:
    return hashlib.sha256(prev_hash + content).digest()


def append(conn: psycopg.Connection, entry: LogEntry) -> LogRow:
    """Write one row, chained to the one before; raises if it cannot be written.

    Runs in its own transaction, or as a savepoint of the caller's: a caller that writes the log
    and then changes data in one transaction holds the append lock until it commits, so keep such
    transactions short. Callers return data only after this returns. Busy readers go through
    `GroupAppender` (group_append.py) instead, which chains many rows under one lock and commit.
    """
    with APPEND_SECONDS.time():
        return append_prepared(conn, [prepare(conn, entry)])[0]


@dataclass(frozen=True)
class Prepared:
    """An entry checked and with PostgreSQL's own text of its jsonb terms and id array, which the
    hash covers; made before the append lock is taken, so the lock is held for less."""

    entry: LogEntry
    terms: dict[str, Any]
    ids: list[str]
    terms_text: str
    ids_text: str


def prepare(conn: psycopg.Connection, entry: LogEntry) -> Prepared:
    entry.check()
    terms = normalise_terms(entry.terms)
    ids = [str(i) for i in entry.returned_ids]
    texts = conn.execute("SELECT %s::jsonb::text, %s::text[]::text", (Jsonb(terms), ids)).fetchone()
    assert texts is not None
    return Prepared(entry, terms, ids, texts[0], texts[1])


def append_prepared(conn: psycopg.Connection, batch: Sequence[Prepared]) -> list[LogRow]:
    """Chain `batch` after the head, in order, under one lock and one transaction (or savepoint)."""
    rows: list[LogRow] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        head = conn.execute(
            "SELECT clock_timestamp(), h.seq, h.hash FROM (SELECT 1) one"
            " LEFT JOIN LATERAL (SELECT seq, hash FROM access_log ORDER BY seq DESC LIMIT 1) h ON true"
        ).fetchone()
        assert head is not None
        now, last_seq, last_hash = head
        seq = last_seq or 0
        prev = bytes(last_hash) if last_hash is not None else GENESIS
        params = []
        for p in batch:
            entry = p.entry
            seq += 1
            # The columns around `terms` and `returned_ids`, in the order of both the hash and the table.
            who = (entry.user_id, entry.username, entry.organisation, entry.client_address, entry.action)
            why = (
                entry.purpose,
                entry.case_number,
                entry.alert_id,
                entry.outcome,
                entry.reason,
                entry.returned_count,
            )
            digest = row_hash(prev, _encode((seq, epoch_us(now), *who, p.terms_text, *why, p.ids_text)))
            values = (seq, now, *who, Jsonb(p.terms), *why, p.ids, prev, digest)
            params.append(values)
            rows.append(_row((*values[:7], p.terms, *why, p.ids, prev, digest)))
            prev = digest
        with conn.cursor() as cur:
            cur.executemany(
                f"INSERT INTO access_log ({_COLUMNS}) VALUES ({', '.join(['%s'] * len(params[0]))})", params
            )
    return rows


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
        prev_hash=bytes(r[15]),
        hash=bytes(r[16]),
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
            where.append(f"{column} = %s")
            args.append(value)
    if since is not None:
        where.append("time >= %s")
        args.append(since)
    if until is not None:
        where.append("time < %s")
        args.append(until)
    if before_seq is not None:
        where.append("seq < %s")
        args.append(before_seq)
    sql = f"SELECT {_COLUMNS} FROM access_log"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY seq DESC LIMIT %s"
    args.append(max(1, min(limit, 10_000)))
    return [_row(r) for r in conn.execute(sql.encode(), args).fetchall()]


def head(conn: psycopg.Connection) -> LogRow | None:
    r = conn.execute(f"SELECT {_COLUMNS} FROM access_log ORDER BY seq DESC LIMIT 1").fetchone()
    return _row(r) if r else None


# --- verification -----------------------------------------------------------------------------


def read_anchors(path: Path) -> list[Anchor]:
    """The anchors written so far, oldest first; a missing file means none."""
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
                    seq=int(d["seq"]),
                    hash=str(d["hash"]),
                    time=datetime.fromisoformat(d["time"]),
                    anchored_at=datetime.fromisoformat(d["anchored_at"]),
                )
            )
        except (ValueError, KeyError, TypeError):
            raise AccessLogError(f"{path}: line {number} is not an anchor; the file was damaged") from None
    return anchors


# What `verify` reads: the hashed form of each column, exact on every PostgreSQL version (a whole
# second's epoch and the microseconds within it are both exact in double precision).
_VERIFY_COLUMNS = (
    "seq, extract(epoch FROM date_trunc('second', time))::bigint * 1000000"
    " + mod(extract(microseconds FROM time)::bigint, 1000000),"
    " user_id, username, organisation, client_address, action, terms::text, purpose, case_number,"
    " alert_id, outcome, reason, returned_count, returned_ids::text, prev_hash, hash"
)


def _stream(conn: psycopg.Connection, from_seq: int, batch: int) -> Iterator[Sequence[Any]]:
    with conn.transaction(), conn.cursor(name="pw_access_log_verify") as cur:
        cur.itersize = batch
        cur.execute(f"SELECT {_VERIFY_COLUMNS} FROM access_log WHERE seq >= %s ORDER BY seq", (from_seq,))
        yield from cur


def _walk(
    rows: Iterator[Sequence[Any]],
    anchors: Sequence[Anchor],
    *,
    start: Anchor | None,
    now: datetime,
) -> ChainReport:
    """Check rows in order; stop at the first problem. `start`: trust the chain up to this anchor."""
    began = _time.perf_counter()
    by_seq: dict[int, list[Anchor]] = {}
    for a in anchors:
        by_seq.setdefault(a.seq, []).append(a)
    expected_seq: int | None = None
    expected_prev: bytes = GENESIS
    first_seq = last_seq = None
    last_hash: bytes | None = None
    count = checked_anchors = 0
    purged_gap: tuple[int, bytes] | None = None  # (first kept seq, its prev_hash) awaiting a purge row
    problem: tuple[int, str] | None = None
    sha256 = hashlib.sha256
    dumps = _dumps
    for r in rows:
        seq = r[0]
        prev, digest = bytes(r[15]), bytes(r[16])
        if first_seq is None:
            first_seq = seq
            if start is not None:
                if seq != start.seq:
                    when = f"{start.anchored_at:%Y-%m-%d %H:%M}"
                    problem = (start.seq, f"row {start.seq}, anchored {when} UTC, is missing")
                    break
            elif seq != 1:
                purged_gap = (seq, prev)
            expected_seq, expected_prev = seq, prev
        assert expected_seq is not None
        if seq != expected_seq:
            missing = (
                f"row {expected_seq} is" if seq == expected_seq + 1 else f"rows {expected_seq}-{seq - 1} are"
            )
            problem = (expected_seq, f"{missing} missing: deleted from the middle of the log")
            break
        if prev != expected_prev:
            problem = (
                seq,
                f"row {seq} does not follow row {seq - 1}: the hash it chains from differs, so a row "
                "was inserted, removed or moved here, or the row before it was rewritten",
            )
            break
        content = dumps([ENCODING_VERSION, *r[:15]]).encode()
        if sha256(prev + content).digest() != digest:
            problem = (seq, f"row {seq} was altered: its content no longer matches its hash")
            break
        for a in by_seq.get(seq, ()):
            checked_anchors += 1
            if a.hash != digest.hex():
                problem = (
                    seq,
                    f"row {seq} differs from the anchor written {a.anchored_at:%Y-%m-%d %H:%M} UTC: "
                    "the chain was rewritten from this row or earlier",
                )
                break
        if problem:
            break
        if purged_gap is not None and r[6] == PURGE_ACTION and r[11] == "allowed":
            t = json.loads(r[7])
            if t.get("through_seq") == purged_gap[0] - 1 and t.get("through_hash") == purged_gap[1].hex():
                purged_gap = None
        count += 1
        last_seq, last_hash = seq, digest
        expected_seq, expected_prev = seq + 1, digest
    if problem is None and purged_gap is not None:
        problem = (1, f"rows 1-{purged_gap[0] - 1} are missing and no retention purge of them was logged")
    if problem is None:
        end = last_seq if last_seq is not None else (start.seq if start else 0)
        floor = now - timedelta(days=POLICY_FLOOR_DAYS)
        for a in anchors:
            if a.seq > end:
                what = "the log is empty" if last_seq is None else f"the log ends at row {last_seq}"
                problem = (
                    end + 1,
                    f"{what}, but the anchor written {a.anchored_at:%Y-%m-%d %H:%M} UTC recorded row "
                    f"{a.seq}: rows from {end + 1} on were removed",
                )
                break
            if first_seq is not None and start is None and a.seq < first_seq and a.time > floor:
                problem = (
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
        first_bad_seq=problem[0] if problem else None,
        problem=problem[1] if problem else None,
        seconds=_time.perf_counter() - began,
    )


def verify(conn: psycopg.Connection, anchor_file: Path | None = None, *, batch: int = 20_000) -> ChainReport:
    """Walk the whole chain in order and check it against the anchors; name the first bad row."""
    anchors = read_anchors(anchor_file) if anchor_file is not None else []
    return _walk(_stream(conn, 1, batch), anchors, start=None, now=datetime.now(UTC))


def anchor_path(cfg: AccessConfig, data_dir: Path) -> Path:
    """Where anchors go: `access.anchor_file`, or audit-anchors.jsonl in the data directory."""
    return cfg.anchor_file if cfg.anchor_file is not None else data_dir / "audit-anchors.jsonl"


def anchor(conn: psycopg.Connection, anchor_file: Path) -> Anchor | None:
    """Append the chain head to `anchor_file`, after checking the rows since the last anchor extend it.

    Checking first means an anchor never blesses a chain already tampered with since the last one.
    Returns the new anchor, the last one if the head has not moved, or None for an empty log.
    """
    anchors = read_anchors(anchor_file)
    last = anchors[-1] if anchors else None
    if last is not None:
        report = _walk(_stream(conn, last.seq, 20_000), [last], start=last, now=datetime.now(UTC))
    else:
        report = _walk(_stream(conn, 1, 20_000), [], start=None, now=datetime.now(UTC))
    if not report.ok:
        raise ChainBroken(report)
    if report.last_seq is None:
        return None
    if last is not None and report.last_seq == last.seq:
        return last
    row = conn.execute("SELECT time FROM access_log WHERE seq = %s", (report.last_seq,)).fetchone()
    assert row is not None and report.head_hash is not None
    new = Anchor(seq=report.last_seq, hash=report.head_hash, time=row[0], anchored_at=datetime.now(UTC))
    line = json.dumps(
        {
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
    """Delete rows older than `days` (never under a year), oldest first, and log the purge itself.

    The purge row names the last removed row and its hash, so `verify` can tell a logged purge of the
    oldest rows from someone deleting them. Callers pass the configured access-log retention.
    """
    if days < POLICY_FLOOR_DAYS:
        raise AccessLogError(f"access-log rows are kept at least {POLICY_FLOOR_DAYS} days, not {days}")
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        cutoff = conn.execute("SELECT now() - make_interval(days => %s)", (days,)).fetchone()
        assert cutoff is not None
        # never the head row: the next append chains from it
        last = conn.execute(
            "SELECT seq, hash FROM access_log WHERE time < %s"
            " AND seq < (SELECT max(seq) FROM access_log) ORDER BY seq DESC LIMIT 1",
            (cutoff[0],),
        ).fetchone()
        if last is None:
            return 0
        # The owner's function (migration 0005) deletes: the application's role has no DELETE here.
        purged = conn.execute("SELECT pw_access_log_purge(%s, %s)", (last[0], days)).fetchone()
        deleted = int(purged[0]) if purged else 0
        append(
            conn,
            LogEntry.by(
                actor,
                PURGE_ACTION,
                terms={"through_seq": last[0], "through_hash": bytes(last[1]).hex(), "days": days},
                returned_count=deleted,
            ),
        )
    return deleted
