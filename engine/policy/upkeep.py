"""Periodic policy upkeep in the worker: seal the access log's waiting rows into its chain, purge it
past retention, disable unused accounts, anchor the chain head (policy 462.4(a), Civil Code
§ 1798.90.52).

The worker runs it on its Faust leader every `access.anchor_interval_minutes` (at most an hour).
Each step runs on its own, so a step that fails (the anchor file's disk full, say) does not stop
the others, and the anchor comes last so that it covers the rows the other steps just wrote. A
chain that no longer verifies is not anchored; that is logged as an error each time, since it
means the access log was tampered with.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psycopg

from platewatch.engine.config.access import AccessConfig, access_log_days

from . import access_log
from .accounts import disable_unused
from .directory import Actor
from .errors import PolicyError
from .sealer import seal

log = logging.getLogger("platewatch.policy")

#: Who the upkeep's own rows (purges, disabled accounts) name.
UPKEEP = Actor(username="platewatch:upkeep", organisation="platewatch worker", address="worker")


@dataclass
class UpkeepReport:
    anchor: access_log.Anchor | None = None
    sealed: int = 0
    purged: int = 0
    disabled: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def run_upkeep(
    conn: psycopg.Connection,
    access: AccessConfig,
    *,
    retention_days: int,
    data_dir: Path,
    now: datetime | None = None,
) -> UpkeepReport:
    """One pass; a step's failure is logged and reported, and the next pass tries it again."""
    report = UpkeepReport()
    days = max(access_log.POLICY_FLOOR_DAYS, access_log_days(access, retention_days))
    try:  # the API processes seal too; this covers a site where none is running
        report.sealed = seal(conn, wait=True)
    except psycopg.Error as exc:
        report.problems.append(f"sealing the access log: {exc}")
    try:
        report.purged = access_log.purge_expired(conn, UPKEEP, days)
    except (PolicyError, psycopg.Error) as exc:
        report.problems.append(f"access-log purge: {exc}")
    try:
        report.disabled = disable_unused(conn, access, UPKEEP, now)
    except (PolicyError, psycopg.Error) as exc:
        report.problems.append(f"disabling unused accounts: {exc}")
    try:
        report.anchor = access_log.anchor(conn, access_log.anchor_path(access, data_dir))
    except (PolicyError, psycopg.Error, OSError) as exc:
        report.problems.append(f"anchoring the access log: {exc}")
    for problem in report.problems:
        log.error("policy upkeep: %s", problem)
    if report.disabled:
        log.info("policy upkeep: disabled unused accounts: %s", ", ".join(report.disabled))
    return report


def upkeep(database_url: str, access: AccessConfig, *, retention_days: int, data_dir: Path) -> UpkeepReport:
    """`run_upkeep` on a connection of its own (blocking)."""
    with psycopg.connect(database_url, autocommit=True, prepare_threshold=None) as conn:
        return run_upkeep(conn, access, retention_days=retention_days, data_dir=data_dir)


async def keep_up(database_url: str, access: AccessConfig, *, retention_days: int, data_dir: Path) -> None:
    """`upkeep` in a thread, for the worker's timer; a database that is down is logged, never raised."""
    try:
        await asyncio.to_thread(
            upkeep, database_url, access, retention_days=retention_days, data_dir=data_dir
        )
    except (psycopg.Error, OSError) as exc:
        log.warning("policy upkeep failed: %s", exc)
