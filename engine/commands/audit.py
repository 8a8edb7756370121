"""`platewatch audit …`: check the access log's hash chain and anchor its head (policy 462.4(a)), and
report on a period of it (policy 462.4(c)).

`verify` walks every row and checks it against the anchors; it names the first bad row and exits 1,
so a cron job or a monitoring check can run it as it is. The worker anchors at least hourly;
`anchor` does it now. `report` writes the audit report (HTML with charts, CSV or JSON) for any
period; the scheduled audits the worker produces are the same report (docs/audit.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

import psycopg
import redis
import typer
from rich.console import Console

from platewatch.engine.commands.context import console, iso_time, settings
from platewatch.engine.commands.operator import policy_database, refusals
from platewatch.engine.config import Settings
from platewatch.engine.logs import setup_logging
from platewatch.engine.policy import access_log
from platewatch.engine.policy.access_log import LogEntry
from platewatch.engine.policy.audit_render import render_csv, render_html
from platewatch.engine.policy.audit_report import build_report
from platewatch.engine.policy.audit_schedule import period_bounds
from platewatch.engine.policy.directory import Actor
from platewatch.engine.services import Services
from platewatch.engine.store import migrate as run_migrations

out = Console()
audit_app = typer.Typer(help="The access log: verify its hash chain, anchor its head.")

AnchorFile = Annotated[
    Path | None,
    typer.Option(
        "--anchors", help="The anchor file (default: access.anchor_file, or in the data directory)."
    ),
]


@audit_app.command("verify")
def verify(anchors: AnchorFile = None) -> None:
    """Check every row of the access log against the chain and the anchors; exit 1 at the first bad row."""
    with policy_database() as (conn, s, _operator):
        path = anchors or access_log.anchor_path(s.access, s.data_dir)
        report = access_log.verify(conn, path)
    if not report.ok:
        console.print(
            f"[red]access log broken at row {report.first_bad_seq}[/red]: {report.problem}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)
    span = f" (rows {report.first_seq}-{report.last_seq})" if report.rows else ""
    out.print(
        f"access log OK: {report.rows} rows{span}, {report.anchors_checked} anchors checked"
        f" in {report.seconds:.2f}s",
        highlight=False,
    )


@audit_app.command("anchor")
def anchor(anchors: AnchorFile = None) -> None:
    """Write the chain head to the anchor file now (after checking the rows since the last anchor)."""
    with policy_database() as (conn, s, _operator):
        path = anchors or access_log.anchor_path(s.access, s.data_dir)
        made = access_log.anchor(conn, path)
    if made is None:
        out.print("the access log is empty; nothing to anchor")
    else:
        out.print(f"anchored row {made.seq} ({made.hash[:16]}…) in {path}", highlight=False)


@contextmanager
def _report_services() -> Iterator[tuple[psycopg.Connection, redis.Redis | None, Settings]]:
    """The database and, for hotlist entries without an expiry, the hotlists' Redis (None if down)."""
    s = settings()
    setup_logging(s.logging.level)
    with refusals(), Services(s, need={"database", "redis"}) as endpoints:
        run_migrations(endpoints.database_owner_url)
        hotlists = (
            redis.Redis.from_url(endpoints.redis_url, socket_timeout=30) if endpoints.redis_url else None
        )
        try:
            with psycopg.connect(endpoints.database_url, autocommit=True, prepare_threshold=None) as conn:
                yield conn, hotlists, s
        finally:
            if hotlists is not None:
                hotlists.close()


@audit_app.command("report")
def report(
    time_from: Annotated[
        str | None,
        typer.Option("--from", help="Start, ISO 8601 (UTC without a zone); default: this period's"),
    ] = None,
    time_to: Annotated[str | None, typer.Option("--to", help="End, exclusive; default: now")] = None,
    fmt: Annotated[
        Literal["html", "csv", "json"], typer.Option("--format", help="html (with charts), csv or json")
    ] = "html",
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write here (default: standard output)")
    ] = None,
) -> None:
    """The audit report for a period: searches per user and organisation, without a case number,
    wildcard, fuzzy, bulk, out of hours, exports and shares, hotlists without expiry, lapsed training,
    failed logins, account and role changes (policy 462.4(c))."""
    with _report_services() as (conn, hotlists, s):
        now = datetime.now(UTC)
        start = iso_time(time_from) or period_bounds(s.audit.period, s.audit.timezone, now)[0]
        end = iso_time(time_to) or now
        if start >= end:
            raise typer.BadParameter("--from must be before --to")
        figures = build_report(conn, s.audit, s.access, start, end, hotlists=hotlists)
        operator = Actor.console()
        access_log.append(
            conn,
            LogEntry.by(
                operator,
                "audit.report",
                terms={"from": start, "to": end, "format": fmt, "rows": figures.rows, "command": True},
            ),
        )
    if fmt == "html":
        text = render_html(figures)
    elif fmt == "csv":
        text = render_csv(figures)
    else:
        text = json.dumps(figures.as_dict(), indent=1)
    if out_file is None:
        typer.echo(text, nl=not text.endswith("\n"))
    else:
        out_file.write_text(text, encoding="utf-8")
        out_file.chmod(0o600)  # it names users and cases
    console.print(
        f"audit report {start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} UTC: {figures.rows:,} log rows,"
        f" {figures.searches:,} searches, {figures.searches_without_case} without a case number,"
        f" {figures.bulk_results} bulk, {figures.out_of_hours:,} out of hours, in {figures.seconds:.2f}s"
        + (f"; written to {out_file}" if out_file else ""),
        highlight=False,
        soft_wrap=True,
    )
