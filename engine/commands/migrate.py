"""Apply the database migrations (safe to run any number of times)."""

from __future__ import annotations

from rich.console import Console

from platewatch.engine.commands.context import settings
from platewatch.engine.logs import setup_logging
from platewatch.engine.services import Services
from platewatch.engine.store import migrate as run_migrations


def migrate() -> None:
    """Apply the database migrations (safe to run any number of times)."""
    s = settings()
    setup_logging(s.logging.level)
    with Services(s, need={"database"}) as endpoints:
        report = run_migrations(endpoints.database_owner_url)
    applied = ", ".join(f"{v:04d}" for v in report.applied) or "none (already current)"
    Console().print(
        f"backend [bold]{report.backend}[/bold], schema version {report.current}, applied: {applied}"
    )
