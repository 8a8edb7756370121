"""Scheduled store upkeep in the worker: partitions ahead, the hourly aggregate, trigram index
pending lists merged, time index ranges summarised, daily retention.

The worker runs `maintain` hourly on one worker of the group (its Faust leader). Retention itself
runs when the last finished run is more than 20 hours old, so a restarted worker neither skips a day
nor purges twice; `run_retention` also takes an advisory lock, so a manual `platewatch retention run`
cannot overlap.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import psycopg

from .images import ImageStore
from .retention import clean_gin_pending, refresh_aggregates, run_retention, store_backend, summarize_brin

log = logging.getLogger(__name__)
INTERVAL_S = 3600.0
RETENTION_EVERY = timedelta(hours=20)


def run_maintenance(database_url: str, images: ImageStore, days: int) -> None:
    """One upkeep pass (blocking; the timer runs it in a thread)."""
    with psycopg.connect(database_url, autocommit=True, prepare_threshold=None) as conn:
        backend = store_backend(conn)
        today = datetime.now(UTC).date()
        conn.execute(
            "SELECT pw_ensure_read_partitions(%s, %s)", (today - timedelta(days=1), today + timedelta(days=7))
        )
        last = conn.execute("SELECT max(finished_at) FROM retention_runs").fetchone()
        if last is None or last[0] is None or datetime.now(UTC) - last[0] > RETENTION_EVERY:
            run_retention(conn, images, days=days)  # refreshes the aggregate too
        elif backend == "postgres":
            refresh_aggregates(conn, backend)  # TimescaleDB refreshes its own on a policy
        clean_gin_pending(conn)
        summarize_brin(conn)


async def maintain(database_url: str, images: ImageStore, days: int) -> None:
    """`run_maintenance` in a thread; a failure is logged and the next run tries again."""
    try:
        await asyncio.get_running_loop().run_in_executor(None, run_maintenance, database_url, images, days)
    except (psycopg.Error, OSError) as exc:  # never kill the worker
        log.warning("store maintenance failed: %s", exc)
