"""Audits on a schedule (policy 462.4(c) "on a regular basis"): produced, sampled, signed off, or overdue.

Periods are calendar weeks, months or quarters in `audit.timezone`. When a period ends, the worker's
upkeep produces its audit: the report's HTML, CSV and JSON under `audit.report_dir`, a row in
`audits` with the headline figures, and the review sample. Someone (an auditor or a supervisor) reads
it and signs it off; one that is not signed off `audit.signoff_days` after its period ends is overdue,
which the audit page and /api/v1/audit/status show to supervisors and a notification announces.
A period that ended before the access log's first row is not audited: there was nothing to audit.
"""

from __future__ import annotations

import json
import logging
import random
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import redis
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from platewatch.engine.config.access import AccessConfig
from platewatch.engine.config.audit import AuditConfig, AuditPeriod

from . import access_log
from .access_log import LogEntry
from .audit_render import render_csv, render_html
from .audit_report import AuditReport, build_report
from .audit_sample import draw_sample, sample_progress
from .directory import Actor, User
from .errors import NotPermitted, PolicyError
from .roles import Role

log = logging.getLogger("platewatch.audit")
MAX_CATCH_UP = 12  # periods produced at most in one pass after a long stop


class AuditError(PolicyError):
    """An audit that does not exist, or a sign-off that cannot be recorded."""


def period_bounds(period: AuditPeriod, tz: str, at: datetime) -> tuple[datetime, datetime]:
    """The [start, end) of the calendar period containing `at`, local midnights, as UTC times."""
    zone = zoneinfo.ZoneInfo(tz)
    local = at.astimezone(zone)
    day = local.date()
    if period == "weekly":
        first = day - timedelta(days=day.isoweekday() - 1)
        nxt = first + timedelta(days=7)
    elif period == "monthly":
        first = day.replace(day=1)
        nxt = (first + timedelta(days=32)).replace(day=1)
    else:
        first = day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
        nxt = (first + timedelta(days=95)).replace(day=1)

    def midnight(d: Any) -> datetime:
        return datetime(d.year, d.month, d.day, tzinfo=zone).astimezone(UTC)

    return midnight(first), midnight(nxt)


def due_at(cfg: AuditConfig, period_end: datetime) -> datetime:
    return period_end + timedelta(days=cfg.signoff_days)


def due_periods(conn: psycopg.Connection, cfg: AuditConfig, now: datetime) -> list[tuple[datetime, datetime]]:
    """Ended periods without an audit, oldest first, from the first logged access on (at most 12)."""
    first = conn.execute("SELECT min(time) FROM access_log").fetchone()
    if first is None or first[0] is None:
        return []
    done = {
        r[0]
        for r in conn.execute("SELECT period_start FROM audits WHERE period = %s", (cfg.period,)).fetchall()
    }
    out: list[tuple[datetime, datetime]] = []
    start, _ = period_bounds(cfg.period, cfg.timezone, now)
    while len(out) < MAX_CATCH_UP:
        prev_start, prev_end = period_bounds(cfg.period, cfg.timezone, start - timedelta(microseconds=1))
        if prev_end <= first[0]:
            break
        if prev_start not in done:
            out.append((prev_start, prev_end))
        start = prev_start
    return sorted(out)


def headline(report: AuditReport) -> dict[str, Any]:
    """The figures the status page shows beside each audit."""
    return {
        "rows": report.rows,
        "searches": report.searches,
        "searches_without_case": report.searches_without_case,
        "wildcard_searches": report.wildcard_searches,
        "fuzzy_searches": report.fuzzy_searches,
        "bulk_results": report.bulk_results,
        "out_of_hours": report.out_of_hours,
        "transfers": sum(report.transfers.values()),
        "failed_logins": report.failed_logins,
        "account_changes": sum(report.account_changes.values()),
        "lapsed_training": len({x["username"] for x in report.lapsed_training}),
        "hotlist_without_expiry": (
            sum(report.hotlist_without_expiry.values()) if report.hotlist_without_expiry is not None else None
        ),
    }


def write_report_files(report: AuditReport, directory: Path, stem: str) -> list[str]:
    """The report as HTML, CSV and JSON in `directory` (private: they name users and cases)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    files = []
    for suffix, text in (
        ("html", render_html(report)),
        ("csv", render_csv(report)),
        ("json", json.dumps(report.as_dict(), indent=1)),
    ):
        path = directory / f"{stem}.{suffix}"
        tmp = path.with_suffix(f".{suffix}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.chmod(0o600)
        tmp.replace(path)
        files.append(str(path))
    return files


def produce_audit(
    conn: psycopg.Connection,
    cfg: AuditConfig,
    access: AccessConfig,
    actor: Actor,
    period: tuple[datetime, datetime],
    *,
    data_dir: Path,
    hotlists: redis.Redis | None = None,
    rng: random.Random | None = None,
) -> int | None:
    """Produce one period's audit (report files, row, sample); None if another worker already did."""
    start, end = period
    report = build_report(conn, cfg, access, start, end, hotlists=hotlists)
    local = start.astimezone(zoneinfo.ZoneInfo(cfg.timezone))
    stem = f"audit-{cfg.period}-{local:%Y-%m-%d}"
    files = write_report_files(report, cfg.reports_in(data_dir), stem)
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO audits (period, period_start, period_end, produced_by, report_files, figures,"
            " due_at) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (period, period_start) DO NOTHING"
            " RETURNING audit_id",
            (cfg.period, start, end, actor.username, files, Jsonb(headline(report)), due_at(cfg, end)),
        ).fetchone()
        if row is None:
            return None
        audit_id = int(row[0])
        access_log.append(
            conn,
            LogEntry.by(
                actor,
                "audit.produce",
                terms={
                    "audit_id": audit_id,
                    "period": cfg.period,
                    "from": start,
                    "to": end,
                    "rows": report.rows,
                },
            ),
        )
    draw_sample(conn, cfg, audit_id, start, end, rng=rng)
    log.info("audit %d produced for %s .. %s: %s", audit_id, start, end, ", ".join(files))
    return audit_id


def sign_off(conn: psycopg.Connection, signer: User, audit_id: int, note: str = "") -> dict[str, Any]:
    """Record that `signer` (an auditor or supervisor) has read and accepts the audit; once per audit."""
    if not signer.roles & {Role.AUDITOR, Role.SUPERVISOR}:
        raise NotPermitted(
            f"only an auditor or a supervisor signs off an audit, and {signer.username} is neither"
        )
    with conn.transaction():
        if conn.execute("SELECT 1 FROM audits WHERE audit_id = %s", (audit_id,)).fetchone() is None:
            raise AuditError(f"there is no audit {audit_id}")
        row = conn.execute(
            "INSERT INTO audit_signoffs (audit_id, signed_by, signed_by_id, note) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (audit_id) DO NOTHING RETURNING signed_at",
            (audit_id, signer.username, signer.user_id, note.strip()[:4000]),
        ).fetchone()
        if row is None:
            raise AuditError(f"audit {audit_id} is already signed off; a sign-off is final")
    return audit_row(conn, audit_id, datetime.now(UTC))


_AUDITS = (
    "SELECT a.audit_id, a.period, a.period_start, a.period_end, a.produced_at, a.produced_by, a.figures,"
    " a.due_at, s.signed_by, s.signed_at, s.note AS signoff_note"
    " FROM audits a LEFT JOIN audit_signoffs s USING (audit_id)"
)


def _with_state(conn: psycopg.Connection, row: dict[str, Any], now: datetime) -> dict[str, Any]:
    row["overdue"] = row["signed_at"] is None and row["due_at"] <= now
    row["sample"] = sample_progress(conn, row["audit_id"])
    return row


def audit_row(conn: psycopg.Connection, audit_id: int, now: datetime) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(f"{_AUDITS} WHERE a.audit_id = %s".encode(), (audit_id,)).fetchone()
    if row is None:
        raise AuditError(f"there is no audit {audit_id}")
    return _with_state(conn, row, now)


@dataclass(frozen=True)
class AuditStatus:
    period: str
    overdue: bool  # an audit past its sign-off date, or a period past it with no audit at all
    missing: list[tuple[datetime, datetime]]  # ended periods without an audit (the worker is behind)
    audits: list[dict[str, Any]]  # newest first


def audit_status(
    conn: psycopg.Connection, cfg: AuditConfig, now: datetime | None = None, *, limit: int = 24
) -> AuditStatus:
    at = now or datetime.now(UTC)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(f"{_AUDITS} ORDER BY a.period_start DESC LIMIT %s".encode(), (limit,)).fetchall()
    audits = [_with_state(conn, r, at) for r in rows]
    missing = due_periods(conn, cfg, at)
    overdue = any(a["overdue"] for a in audits) or any(due_at(cfg, end) <= at for _, end in missing)
    return AuditStatus(cfg.period, overdue, missing, audits)


def overdue_audits(conn: psycopg.Connection, now: datetime) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"{_AUDITS} WHERE s.signed_at IS NULL AND a.due_at <= %s ORDER BY a.audit_id".encode(), (now,)
        ).fetchall()
