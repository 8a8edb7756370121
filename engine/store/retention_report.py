"""The retention report (policy 462.3): what is kept how long, what was purged when, what is held and why.

An auditor asks three questions of retention: what are the rules, were they followed (the runs and
what each removed), and what is kept past them (the evidence holds, with their case and reason).
This answers all three from the database alone, so the CLI (`platewatch retention report`) and the
API (`/api/v1/audit/retention`) show the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from .retention import cutoff_for


@dataclass(frozen=True)
class Rule:
    data: str
    kept: str
    how: str


def retention_rules(days: int, log_days: int) -> list[Rule]:
    """The rules as built (docs/audit.md says the same); `days` is retention.days."""
    return [
        Rule(
            "reads and their images",
            f"{days} days (at least 365)",
            "whole UTC days past the cutoff are dropped daily by the worker; reads under an evidence "
            "hold are copied out first and kept until the hold is released",
        ),
        Rule(
            "alerts, their history and webhook deliveries",
            f"{days} days, like the reads they repeat",
            "purged in the same daily run; alerts about a held read are kept with it; delivered and "
            "dead-lettered webhook deliveries go after the same time (what was sent stays in the access log)",
        ),
        Rule(
            "evidence holds and held reads",
            "until a supervisor releases the hold",
            "releasing is recorded (who, when, why) and deletes the held copies; the hold's record stays",
        ),
        Rule(
            "evidence exports and their chain of custody",
            "the record: never deleted; the exported reads: as long as their evidence hold",
            "the bundle on portable media is booked into evidence; the application's database role "
            "may only add to the export and custody records",
        ),
        Rule(
            "sharing requests, decisions and releases",
            "never deleted (policy 462.6: kept on file)",
            "the application's database role may only add to them; released data leaves only as an "
            "evidence export",
        ),
        Rule(
            "the access log",
            f"{log_days} days (never less than the reads it describes)",
            "rows past it are purged hourly by the worker, and each purge is itself logged",
        ),
        Rule(
            "audits, sign-offs and reviews",
            "not purged",
            "the record of audit work; the reports are files under audit.report_dir",
        ),
    ]


@dataclass
class RetentionReport:
    days: int
    cutoff: datetime
    rules: list[Rule]
    runs: list[dict[str, Any]] = field(default_factory=list)
    holds: list[dict[str, Any]] = field(default_factory=list)
    oldest_read: datetime | None = None
    held_reads: int = 0


def retention_report(
    conn: psycopg.Connection, days: int, log_days: int, *, runs: int = 30, now: datetime | None = None
) -> RetentionReport:
    """The rules, the last `runs` retention runs (newest first) and every hold, active ones first."""
    with conn.cursor(row_factory=dict_row) as cur:
        run_rows = cur.execute(
            "SELECT run_id, started_at, finished_at, retention_days, cutoff, dropped_days,"
            " captured_reads, purged_images, purged_alerts, purged_deliveries"
            " FROM retention_runs ORDER BY run_id DESC LIMIT %s",
            (runs,),
        ).fetchall()
        holds = cur.execute(
            "SELECT h.hold_id, h.case_number, h.reason, h.created_by, h.created_at, h.released_at,"
            " h.released_by, h.release_reason,"
            " (SELECT count(*) FROM evidence_reads e WHERE e.hold_id = h.hold_id) AS reads,"
            " (SELECT max(at) FROM evidence_hold_events v WHERE v.hold_id = h.hold_id"
            "   AND v.action = 'captured') AS last_captured"
            " FROM evidence_holds h ORDER BY h.released_at IS NOT NULL, h.hold_id DESC"
        ).fetchall()
        oldest = cur.execute("SELECT min(time) AS t FROM reads").fetchone()
        held = cur.execute("SELECT count(DISTINCT read_id) AS n FROM evidence_reads").fetchone()
    return RetentionReport(
        days=days,
        cutoff=cutoff_for(days, now),
        rules=retention_rules(days, log_days),
        runs=list(run_rows),
        holds=list(holds),
        oldest_read=oldest["t"] if oldest else None,
        held_reads=int(held["n"]) if held else 0,
    )
