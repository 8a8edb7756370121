"""Unusual access and overdue audits, raised to supervisors as notifications (policy 462.4(c)).

The worker scans the access-log rows written since its last scan every `audit.scan_minutes`
(default 5), so a notification follows the access by at most that long (plus the worker's own
scheduling): a bulk result (more than `audit.bulk_results` rows returned to a person, the audit
routes' own rows aside) raises one per
request; a spike out of hours (`audit.out_of_hours_spike` requests or more by one person in the hour
before the scan, outside working hours) raises one per person per local day. An audit past its
sign-off date raises one too. Scanning rather than raising at the append keeps the request path as
it is (the access log's append is what every request waits on) and survives restarts: the scan
position is in the database, and raising is idempotent (`dedupe`), so a rescan never raises twice.
"""

from __future__ import annotations

import asyncio
import logging
import random
import zoneinfo
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import redis
from psycopg.rows import dict_row

from platewatch.engine.config.access import AccessConfig
from platewatch.engine.config.audit import AuditConfig

from .audit_report import OUT_OF_HOURS, hours_params
from .audit_schedule import due_at, due_periods, overdue_audits, produce_audit
from .directory import User
from .errors import PolicyError
from .upkeep import UPKEEP

log = logging.getLogger("platewatch.audit")
SCAN_LIMIT = 500_000  # rows one scan reads at most; the next scan goes on from there
FIRST_SCAN = timedelta(hours=1)  # a first scan looks this far back, not at the whole log


def _raise(
    conn: psycopg.Connection,
    kind: str,
    dedupe: str,
    message: str,
    *,
    username: str | None = None,
    seqs: list[int] | None = None,
) -> bool:
    row = conn.execute(
        "INSERT INTO audit_notifications (kind, dedupe, username, message, seqs) VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT (dedupe) DO NOTHING RETURNING notification_id",
        (kind, dedupe, username, message, seqs or []),
    ).fetchone()
    if row is not None:
        log.warning("audit notification: %s", message)
    return row is not None


def scan_unusual(conn: psycopg.Connection, cfg: AuditConfig, now: datetime | None = None) -> int:
    """Raise notifications for the rows since the last scan; returns how many were raised."""
    at = now or datetime.now(UTC)
    raised = 0
    with conn.transaction():
        state = conn.execute("SELECT last_seq FROM audit_scan FOR UPDATE").fetchone()
        if state is None:
            first = conn.execute(
                "SELECT coalesce(max(seq), 0) FROM access_log WHERE time < %s", (at - FIRST_SCAN,)
            ).fetchone()
            last = int(first[0]) if first else 0
            conn.execute("INSERT INTO audit_scan (last_seq) VALUES (%s) ON CONFLICT DO NOTHING", (last,))
        else:
            last = int(state[0])
        head_row = conn.execute("SELECT coalesce(max(seq), 0) FROM access_log").fetchone()
        head = min(int(head_row[0]) if head_row else 0, last + SCAN_LIMIT)
        if head <= last:
            return 0
        with conn.cursor(row_factory=dict_row) as cur:
            bulk = cur.execute(
                "SELECT seq, time, username, action, returned_count, case_number FROM access_log"
                " WHERE seq > %s AND seq <= %s AND returned_count > %s AND user_id IS NOT NULL"
                " AND action NOT LIKE 'audit.%%' ORDER BY seq",
                (last, head, cfg.bulk_results),
            ).fetchall()
            for r in bulk:
                raised += _raise(
                    conn,
                    "bulk",
                    f"bulk:{r['seq']}",
                    f"{r['username']} received {r['returned_count']:,} rows from {r['action']} at"
                    f" {r['time']:%Y-%m-%d %H:%M} UTC (case {r['case_number'] or 'none'}; bulk is more than"
                    f" {cfg.bulk_results:,})",
                    username=r["username"],
                    seqs=[r["seq"]],
                )
            spikes = cur.execute(
                "SELECT username, count(*) AS n, array_agg(seq ORDER BY seq) AS seqs, max(time) AS latest"
                f" FROM access_log WHERE time > %(since)s AND time <= %(at)s AND seq <= %(head)s"
                f" AND user_id IS NOT NULL AND {OUT_OF_HOURS}"
                " GROUP BY username HAVING count(*) >= %(spike)s"
                " AND max(seq) > %(last)s",
                {
                    **hours_params(cfg),
                    "since": at - timedelta(hours=1),
                    "at": at,
                    "head": head,
                    "last": last,
                    "spike": cfg.out_of_hours_spike,
                },
            ).fetchall()
            zone = zoneinfo.ZoneInfo(cfg.timezone)
            for r in spikes:
                day = r["latest"].astimezone(zone).date()
                raised += _raise(
                    conn,
                    "out_of_hours",
                    f"out_of_hours:{r['username']}:{day}",
                    f"{r['username']} made {r['n']} requests out of hours in the hour before"
                    f" {at:%Y-%m-%d %H:%M} UTC (working hours {cfg.working_hours[0]}-{cfg.working_hours[1]}"
                    f" {cfg.timezone}; the threshold is {cfg.out_of_hours_spike})",
                    username=r["username"],
                    seqs=list(r["seqs"])[-100:],
                )
        conn.execute("UPDATE audit_scan SET last_seq = %s", (head,))
    return raised


def raise_overdue(conn: psycopg.Connection, cfg: AuditConfig, now: datetime | None = None) -> int:
    at = now or datetime.now(UTC)
    raised = 0
    with conn.transaction():
        for a in overdue_audits(conn, at):
            raised += _raise(
                conn,
                "audit_overdue",
                f"audit_overdue:{a['audit_id']}",
                f"the {a['period']} audit of {a['period_start']:%Y-%m-%d} .. {a['period_end']:%Y-%m-%d}"
                f" (audit {a['audit_id']}) was due for sign-off by {a['due_at']:%Y-%m-%d}"
                " and is not signed off",
            )
        for start, end in due_periods(conn, cfg, at):
            if due_at(cfg, end) <= at:
                raised += _raise(
                    conn,
                    "audit_overdue",
                    f"audit_missing:{cfg.period}:{start.isoformat()}",
                    f"no audit was produced for the {cfg.period} period {start:%Y-%m-%d} .. {end:%Y-%m-%d},"
                    " and its sign-off date has passed (is the worker running?)",
                )
    return raised


def notifications(
    conn: psycopg.Connection, *, open_only: bool = True, limit: int = 200
) -> list[dict[str, Any]]:
    where = "WHERE acknowledged_at IS NULL" if open_only else ""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT notification_id, raised_at, kind, username, message, seqs, acknowledged_at,"
            f" acknowledged_by FROM audit_notifications {where}"
            " ORDER BY notification_id DESC LIMIT %s".encode(),
            (limit,),
        ).fetchall()


def acknowledge(conn: psycopg.Connection, user: User, notification_id: int) -> dict[str, Any]:
    """A supervisor has seen it (and acts on it outside the system); recorded once, never undone."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "UPDATE audit_notifications SET acknowledged_at = now(), acknowledged_by = %s"
            " WHERE notification_id = %s AND acknowledged_at IS NULL RETURNING *",
            (user.username, notification_id),
        ).fetchone()
        if row is None:
            exists = cur.execute(
                "SELECT 1 FROM audit_notifications WHERE notification_id = %s", (notification_id,)
            ).fetchone()
            what = "was already acknowledged" if exists else "does not exist"
            raise PolicyError(f"notification {notification_id} {what}")
    return row


@dataclass
class AuditUpkeep:
    raised: int = 0
    produced: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def run_audit_upkeep(
    conn: psycopg.Connection,
    cfg: AuditConfig,
    access: AccessConfig,
    *,
    data_dir: Path,
    hotlists: redis.Redis | None = None,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> AuditUpkeep:
    """One pass: scan for unusual access, produce the audits that are due, flag overdue ones."""
    at = now or datetime.now(UTC)
    done = AuditUpkeep()
    try:
        done.raised += scan_unusual(conn, cfg, at)
    except (PolicyError, psycopg.Error) as exc:
        done.problems.append(f"scanning for unusual access: {exc}")
    try:
        for period in due_periods(conn, cfg, at):
            audit_id = produce_audit(
                conn, cfg, access, UPKEEP, period, data_dir=data_dir, hotlists=hotlists, rng=rng
            )
            if audit_id is not None:
                done.produced.append(audit_id)
    except (PolicyError, psycopg.Error, OSError, ValueError) as exc:
        done.problems.append(f"producing the audit: {exc}")
    try:
        done.raised += raise_overdue(conn, cfg, at)
    except (PolicyError, psycopg.Error) as exc:
        done.problems.append(f"flagging overdue audits: {exc}")
    for problem in done.problems:
        log.error("audit upkeep: %s", problem)
    return done


def audit_upkeep(
    database_url: str, redis_url: str | None, cfg: AuditConfig, access: AccessConfig, *, data_dir: Path
) -> AuditUpkeep:
    """`run_audit_upkeep` on connections of its own (blocking)."""
    hotlists = redis.Redis.from_url(redis_url, socket_timeout=30) if redis_url else None
    try:
        with psycopg.connect(database_url, autocommit=True, prepare_threshold=None) as conn:
            return run_audit_upkeep(conn, cfg, access, data_dir=data_dir, hotlists=hotlists)
    finally:
        if hotlists is not None:
            hotlists.close()


async def keep_audits(
    database_url: str, redis_url: str | None, cfg: AuditConfig, access: AccessConfig, *, data_dir: Path
) -> None:
    """`audit_upkeep` in a thread, for the worker's timer (every audit.scan_minutes); never raises."""
    try:
        await asyncio.to_thread(audit_upkeep, database_url, redis_url, cfg, access, data_dir=data_dir)
    except (psycopg.Error, OSError, redis.RedisError) as exc:
        log.warning("audit upkeep failed: %s", exc)
