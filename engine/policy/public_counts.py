"""The aggregate counts the public usage-and-privacy page shows (Civil Code § 1798.90.51), by month.

Only totals per calendar month (UTC): reads, hits (alerts), verified hits, searches, shares. Never a
plate, an image, a camera or its location, or the time of any read: each figure is a `count(*)`
grouped by month and nothing else leaves this module, and the month is a `YYYY-MM` label. The
public page may be asked for by anyone, so callers cache the answer (engine/api/privacy.py).

- reads: the per-camera hourly aggregate (refreshed hourly by the worker), summed over cameras;
  the reads table itself where the aggregate has not been built yet;
- hits: alerts raised at alert strength (not "possible" matches); verified hits: those a dispatcher
  verified;
- searches: allowed history searches by people (`audit.search_actions`);
- shares: releases to other agencies (`audit.share_actions`) plus each distinct alert message sent
  to an approved public agency's system (webhook transfers to a public agency, retries counted once).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import psycopg

from platewatch.engine.config.audit import AuditConfig


@dataclass(frozen=True)
class MonthCounts:
    month: str  # YYYY-MM
    reads: int
    hits: int
    verified_hits: int
    searches: int
    shares: int


def month_starts(months: int, now: datetime) -> list[date]:
    """The first day of each of the last `months` calendar months, this one included, oldest first."""
    at = now.astimezone(UTC)
    year, month = at.year, at.month
    out = []
    for _ in range(months):
        out.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return sorted(out)


def _reads_source(conn: psycopg.Connection) -> str:
    row = conn.execute(
        "SELECT ispopulated FROM pg_matviews WHERE matviewname = 'reads_per_camera_hour'"
    ).fetchone()
    if row is not None and not row[0]:
        return (
            "SELECT date_trunc('month', time) AS m, count(*) AS n FROM reads WHERE time >= %(t0)s GROUP BY 1"
        )
    return (
        "SELECT date_trunc('month', hour) AS m, sum(reads)::bigint AS n FROM reads_per_camera_hour"
        " WHERE hour >= %(t0)s GROUP BY 1"
    )


def public_counts(
    conn: psycopg.Connection, cfg: AuditConfig, months: int, now: datetime | None = None
) -> list[MonthCounts]:
    at = now or datetime.now(UTC)
    starts = month_starts(months, at)
    t0 = datetime(starts[0].year, starts[0].month, 1, tzinfo=UTC)
    params = {
        "t0": t0,
        "searches": list(cfg.search_actions),
        "shares": list(cfg.share_actions),
    }
    table: dict[date, list[int]] = {m: [0, 0, 0, 0, 0] for m in starts}

    def add(sql: str, *columns: int) -> None:
        conn.execute("SET LOCAL TIME ZONE 'UTC'")
        for row in conn.execute(sql.encode(), params).fetchall():
            key = row[0].astimezone(UTC).date() if isinstance(row[0], datetime) else row[0]
            if key in table:
                for col, value in zip(columns, row[1:], strict=True):
                    table[key][col] += int(value or 0)

    with conn.transaction():
        add(_reads_source(conn), 0)
        add(
            "SELECT date_trunc('month', raised_at) AS m, count(*) FILTER (WHERE tier = 'alert'),"
            " count(*) FILTER (WHERE tier = 'alert' AND state = 'verified')"
            " FROM alerts WHERE raised_at >= %(t0)s GROUP BY 1",
            1,
            2,
        )
        add(
            "SELECT date_trunc('month', time) AS m,"
            " count(*) FILTER (WHERE action = ANY(%(searches)s) AND user_id IS NOT NULL),"
            " count(*) FILTER (WHERE action = ANY(%(shares)s))"
            " + count(DISTINCT terms->>'msg_id') FILTER (WHERE action = 'webhook.transfer'"
            "   AND terms->>'recipient' = 'public_agency')"
            " FROM access_log WHERE time >= %(t0)s AND outcome = 'allowed'"
            " AND (action = ANY(%(searches)s) OR action = ANY(%(shares)s) OR action = 'webhook.transfer')"
            " GROUP BY 1",
            3,
            4,
        )
    return [MonthCounts(f"{m:%Y-%m}", *table[m]) for m in starts]
