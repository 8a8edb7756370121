"""Retention (policy 462.3): keep every read at least `retention.days` (≥ 365), then purge it.

The unit of purging is a whole UTC day: a day's partition (plain PostgreSQL: detached, then
dropped) or chunk (TimescaleDB: drop_chunks), and the same day's images. A day goes only once all
of it is older than the cutoff, so a read is kept at least `days` and at most a day longer; dropping
whole days costs nothing per row and leaves no bloat, unlike DELETE.

Order matters, and each step is safe to repeat if a run dies half way:
1. capture: reads of active evidence holds in the days about to go are copied to evidence_reads
   (and their images to the evidence area); holds copied most of them when they were placed,
   this catches reads that arrived later;
2. drop the days' partitions or chunks;
3. purge the days' images;
4. refresh the per-camera hourly aggregate so it no longer counts what went.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from .holds import capture
from .images import ImageStore
from .migrate import Backend
from .search_texts import prune_texts

log = logging.getLogger(__name__)

POLICY_MIN_DAYS = 365  # policy 462.3 / Government Code § 34090.6; mirrors engine.config
TIMESCALE_BACKSTOP_DAYS = 2  # the TimescaleDB policy drops this much later than our own run
_LOCK_KEY = 0x70_77_72_74  # "pwrt": one retention run at a time across workers


@dataclass(frozen=True)
class RetentionReport:
    backend: Backend
    days: int
    cutoff: datetime
    dropped_days: list[date] = field(default_factory=list)
    captured_reads: int = 0
    purged_images: int = 0
    skipped: bool = False
    purged_alerts: int = 0
    purged_deliveries: int = 0


def store_backend(conn: psycopg.Connection) -> Backend:
    """The backend this database was built for (recorded once by the migrations)."""
    row = conn.execute("SELECT backend FROM pw_meta").fetchone()
    if row is None:
        raise RuntimeError("the database has not been migrated (run `platewatch migrate`)")
    return row[0]  # type: ignore[no-any-return]


def cutoff_for(days: int, now: datetime | None = None) -> datetime:
    """Midnight UTC starting the oldest day that must be kept whole; everything before may go."""
    if days < POLICY_MIN_DAYS:
        raise ValueError(f"retention must be at least {POLICY_MIN_DAYS} days (policy 462.3), got {days}")
    now = now or datetime.now(UTC)
    return datetime.combine((now.astimezone(UTC) - timedelta(days=days)).date(), time(0), UTC)


def _drop_partitions(conn: psycopg.Connection, cutoff: datetime) -> list[date]:
    rows = conn.execute(
        "SELECT name, day_from FROM pw_read_partitions() WHERE day_to <= %s ORDER BY day_from", (cutoff,)
    ).fetchall()
    dropped = []
    for name, day_from in rows:
        ident = sql.Identifier(name)
        try:
            # CONCURRENTLY takes only a SHARE UPDATE EXCLUSIVE lock: writers keep writing meanwhile.
            conn.execute(sql.SQL("ALTER TABLE reads DETACH PARTITION {} CONCURRENTLY").format(ident))
        except psycopg.errors.ObjectNotInPrerequisiteState:
            # A detach interrupted earlier is pending: finish it.
            conn.execute(sql.SQL("ALTER TABLE reads DETACH PARTITION {} FINALIZE").format(ident))
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(ident))
        dropped.append(day_from.astimezone(UTC).date())
        log.info("retention: dropped partition %s", name)
    return dropped


def _drop_chunks(conn: psycopg.Connection, cutoff: datetime) -> list[date]:
    ranges = conn.execute(
        "SELECT range_start FROM timescaledb_information.chunks"
        " WHERE hypertable_name = 'reads' AND range_end <= %s ORDER BY 1",
        (cutoff,),
    ).fetchall()
    conn.execute("SELECT drop_chunks('reads', older_than => %s::timestamptz)", (cutoff,))
    return [r[0].astimezone(UTC).date() for r in ranges]


def set_timescale_retention(conn: psycopg.Connection, days: int) -> None:
    """Move the TimescaleDB backstop policy to `days` + 2 (no-op when it is already there)."""
    want = timedelta(days=days + TIMESCALE_BACKSTOP_DAYS)
    for table in ("reads", "reads_per_camera_hour"):
        row = conn.execute(
            "SELECT (config->>'drop_after')::interval FROM timescaledb_information.jobs"
            " WHERE proc_name = 'policy_retention' AND hypertable_name = %s",
            (table,),
        ).fetchone()
        if row is not None and row[0] == want:
            continue
        conn.execute("SELECT remove_retention_policy(%s, if_exists => true)", (table,))
        conn.execute("SELECT add_retention_policy(%s, drop_after => %s)", (table, want))


def refresh_aggregates(conn: psycopg.Connection, backend: Backend) -> None:
    """Bring reads_per_camera_hour up to date (it is read-only to everyone else)."""
    if backend == "timescaledb":
        conn.execute("CALL refresh_continuous_aggregate('reads_per_camera_hour', NULL, NULL)")
        return
    row = conn.execute(
        "SELECT ispopulated FROM pg_matviews WHERE matviewname = 'reads_per_camera_hour'"
    ).fetchone()
    concurrently = "CONCURRENTLY " if row and row[0] else ""  # the first refresh cannot be concurrent
    conn.execute(f"REFRESH MATERIALIZED VIEW {concurrently}reads_per_camera_hour".encode())


def clean_gin_pending(conn: psycopg.Connection) -> int:
    """Merge the trigram indexes' pending lists into the index proper: the plate dictionary's
    (`plate_texts`), and any on the reads' partitions or chunks (before migration 0015).

    The trigram GIN takes new rows into a pending list (fastupdate) because merging them in bulk is
    what keeps ingest fast; but a search scans the whole pending list, and while lists are long the
    planner even prefers sequential scans. Autovacuum merges them eventually; the hourly upkeep does
    it sooner. Returns the pending pages merged.
    """
    rows = conn.execute(
        "SELECT i.indexrelid::regclass::text FROM pg_inherits h"
        " JOIN pg_index i ON i.indrelid = h.inhrelid JOIN pg_class c ON c.oid = i.indexrelid"
        " JOIN pg_am am ON am.oid = c.relam WHERE h.inhparent = 'reads'::regclass AND am.amname = 'gin'"
        " UNION ALL SELECT 'plate_texts_key_trgm' WHERE to_regclass('plate_texts_key_trgm') IS NOT NULL"
    ).fetchall()
    merged = 0
    for (index,) in rows:
        row = conn.execute("SELECT gin_clean_pending_list(%s::regclass)", (index,)).fetchone()
        merged += int(row[0]) if row else 0
    return merged


def summarize_brin(conn: psycopg.Connection) -> int:
    """Summarise the block ranges the time (BRIN) indexes have not summarised yet, on every partition.

    A BRIN index summarises a block range only when vacuum reaches it; until then the range matches
    every query, so a time-range search (a canvass) reads the whole of today's partition: at 10 M
    reads an area search over one hour took 126 ms p50, 384 ms max, and 16 / 21 ms once summarised.
    Autovacuum gets there eventually; the hourly upkeep does it sooner. Returns the ranges summarised.
    """
    rows = conn.execute(
        "SELECT i.indexrelid::regclass::text FROM pg_inherits h"
        " JOIN pg_index i ON i.indrelid = h.inhrelid JOIN pg_class c ON c.oid = i.indexrelid"
        " JOIN pg_am am ON am.oid = c.relam WHERE h.inhparent = 'reads'::regclass AND am.amname = 'brin'"
    ).fetchall()
    summarised = 0
    for (index,) in rows:
        row = conn.execute("SELECT brin_summarize_new_values(%s::regclass)", (index,)).fetchone()
        summarised += int(row[0]) if row else 0
    return summarised


def purge_alerts(conn: psycopg.Connection, cutoff: datetime) -> tuple[int, int]:
    """Delete alerts raised before `cutoff`, except those about a read under an evidence hold, and
    webhook deliveries (delivered or dead letters) created before it; returns (alerts, deliveries).

    An alert repeats its read's plate, time and camera, so it may not outlive the read (462.3). A
    held read's alerts stay with it: the case may need to show that the system alerted. An alert's
    events and deliveries go with it (ON DELETE CASCADE); what was sent to whom stays in the access
    log (`webhook.transfer` rows), which is kept at least as long.
    """
    with conn.transaction():
        deliveries = conn.execute(
            "DELETE FROM webhook_deliveries WHERE created_at < %s AND status <> 'pending'", (cutoff,)
        ).rowcount
        alerts = conn.execute(
            "DELETE FROM alerts a WHERE a.raised_at < %s AND NOT EXISTS"
            " (SELECT 1 FROM evidence_reads e WHERE e.read_id::text = a.read_id)",
            (cutoff,),
        ).rowcount
    return alerts, deliveries


def run_retention(
    conn: psycopg.Connection, images: ImageStore, *, days: int, now: datetime | None = None
) -> RetentionReport:
    """Purge every whole day older than `days` except what holds keep. `conn` must be autocommit."""
    cutoff = cutoff_for(days, now)
    backend = store_backend(conn)
    got = conn.execute("SELECT pg_try_advisory_lock(%s)", (_LOCK_KEY,)).fetchone()
    if not got or not got[0]:
        log.info("retention: another run holds the lock; skipping")
        return RetentionReport(backend, days, cutoff, skipped=True)
    try:
        run = conn.execute(
            "INSERT INTO retention_runs (retention_days, cutoff, backend) VALUES (%s, %s, %s)"
            " RETURNING run_id",
            (days, cutoff, backend),
        ).fetchone()
        assert run is not None
        captured = capture(conn, images, before=cutoff)
        if backend == "timescaledb":
            set_timescale_retention(conn, days)
            dropped = _drop_chunks(conn, cutoff)
        else:
            dropped = _drop_partitions(conn, cutoff)
        prune_texts(conn, cutoff)  # the plate dictionary's texts whose every read went with those days
        purged = sum(images.purge_day(d) for d in images.days() if d < cutoff.date())
        refresh_aggregates(conn, backend)
        alerts, deliveries = purge_alerts(conn, cutoff)
        conn.execute(
            "UPDATE retention_runs SET finished_at = now(), dropped_days = %s, captured_reads = %s,"
            " purged_images = %s, purged_alerts = %s, purged_deliveries = %s WHERE run_id = %s",
            (len(dropped), captured, purged, alerts, deliveries, run[0]),
        )
        log.info(
            "retention: cutoff %s, dropped %d days, captured %d held reads, purged %d images",
            cutoff.date(),
            len(dropped),
            captured,
            purged,
        )
        return RetentionReport(backend, days, cutoff, dropped, captured, purged, False, alerts, deliveries)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))


def retention_status(conn: psycopg.Connection, days: int) -> dict[str, Any]:
    """What `platewatch retention status` shows: the policy, the oldest data, the last run, holds."""
    backend = store_backend(conn)
    with conn.cursor(row_factory=dict_row) as cur:
        oldest = cur.execute("SELECT min(time) AS t FROM reads").fetchone()
        last = cur.execute("SELECT * FROM retention_runs ORDER BY run_id DESC LIMIT 1").fetchone()
        holds = cur.execute(
            "SELECT count(*) FILTER (WHERE released_at IS NULL) AS active, count(*) AS total,"
            " (SELECT count(*) FROM evidence_reads) AS held_reads FROM evidence_holds"
        ).fetchone()
    return {
        "backend": backend,
        "retention_days": days,
        "cutoff": cutoff_for(days),
        "oldest_read": oldest["t"] if oldest else None,
        "last_run": last,
        "active_holds": holds["active"] if holds else 0,
        "held_reads": holds["held_reads"] if holds else 0,
    }
