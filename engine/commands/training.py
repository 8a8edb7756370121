"""`platewatch training …`: training records (policy 462.2(d), 462.7) from the server's console.

Only a supervisor with current training records training; the operator may only while none exists,
so that the first supervisor's training can be recorded (and that is logged as the operator's act).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from platewatch.engine.commands.context import iso_time
from platewatch.engine.commands.operator import day, policy_database
from platewatch.engine.policy import training

out = Console()
training_app = typer.Typer(help="Training records: add, list, lapsing (policy 462.2(d), 462.7).")


@training_app.command("add")
def add(
    username: Annotated[str, typer.Argument(help="Who completed the training.")],
    course: Annotated[
        str | None,
        typer.Option(
            "--course", help="A configured course (access.training_courses); default: the only one."
        ),
    ] = None,
    completed: Annotated[
        str | None, typer.Option("--completed", help="ISO 8601 date it was completed (default: today, UTC).")
    ] = None,
    expires: Annotated[
        str | None,
        typer.Option(
            "--expires", help="ISO 8601 date it lapses (default: access.training_valid_days later)."
        ),
    ] = None,
    note: Annotated[str, typer.Option("--note", help="A note kept with the record.")] = "",
) -> None:
    """Record completed training."""
    with policy_database() as (conn, s, operator):
        courses = s.access.training_courses
        if course is None and len(courses) != 1:
            raise typer.BadParameter("name the course with --course: " + ", ".join(courses))
        record = training.record_training(
            conn,
            s.access,
            operator,
            username,
            course or courses[0],
            iso_time(completed) or datetime.now(UTC),
            iso_time(expires),
            note,
        )
    out.print(
        f"recorded {record.course} for {record.username}: completed {day(record.completed_at)},"
        f" current until {day(record.expires_at)}"
    )


@training_app.command("list")
def list_cmd(
    username: Annotated[str | None, typer.Argument(help="Only this user's records.")] = None,
) -> None:
    """Training records, newest first."""
    with policy_database() as (conn, _s, _operator):
        records = training.training_records(conn, username)
    now = datetime.now(UTC)
    table = Table()
    for col in ("user", "course", "completed", "expires", "recorded by", "current", "note"):
        table.add_column(col)
    for r in records:
        table.add_row(
            r.username,
            r.course,
            day(r.completed_at),
            day(r.expires_at),
            r.recorded_by,
            "yes" if r.current(now) else "no",
            r.note,
        )
    out.print(table)


@training_app.command("lapsing")
def lapsing(
    days: Annotated[
        int | None,
        typer.Option("--days", help="Lapsing within this many days (default: access.training_warn_days)."),
    ] = None,
) -> None:
    """Users whose required training lapses soon, has lapsed, or was never recorded."""
    with policy_database() as (conn, s, _operator):
        lapses = training.lapsing(conn, s.access, days)
    now = datetime.now(UTC)
    table = Table()
    for col in ("user", "name", "course", "expires"):
        table.add_column(col)
    for lapse in lapses:
        if lapse.expires_at is None:
            expiry = "never trained"
        else:
            expiry = day(lapse.expires_at) + (" (lapsed)" if lapse.lapsed(now) else "")
        table.add_row(lapse.username, lapse.display_name, lapse.course, expiry)
    out.print(table)
