"""What the operator commands (`user`, `training`, `audit`) share: the database, the operator, refusals.

They act on the database directly, as the server operator at the console: the access log names
them `os:<login>` (policy 462.4(a)). A refusal by the policy ends the command with its sentence and
exit status 1, never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import psycopg
import typer

from platewatch.engine.commands.context import console, settings
from platewatch.engine.config import Settings
from platewatch.engine.logs import setup_logging
from platewatch.engine.policy.directory import Actor
from platewatch.engine.policy.errors import PolicyError
from platewatch.engine.services import Services
from platewatch.engine.store import migrate as run_migrations


@contextmanager
def refusals() -> Iterator[None]:
    try:
        yield
    except PolicyError as exc:
        console.print(f"[red]refused[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


@contextmanager
def policy_database() -> Iterator[tuple[psycopg.Connection, Settings, Actor]]:
    """The database (migrated first), the settings, and the operator as the access log names them."""
    s = settings()
    setup_logging(s.logging.level)
    with refusals(), Services(s, need={"database"}) as endpoints:
        run_migrations(endpoints.database_owner_url)
        with psycopg.connect(endpoints.database_url, autocommit=True, prepare_threshold=None) as conn:
            yield conn, s, Actor.console()


def day(value: datetime | None) -> str:
    return "" if value is None else f"{value.astimezone(UTC):%Y-%m-%d}"
