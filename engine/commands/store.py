"""`platewatch retention …` and `platewatch search`: the store from the shell.

`retention` is the operator's tool (an administrator at a console); evidence holds go through
the API (`platewatch hold`, engine/commands/evidence.py). `search` reads
data, so it goes through the API as the logged-in user (`platewatch login`): policy 462.2/462.4 asks
for a trained, authorised user, a purpose and a case number, and the access log records it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import httpx
import psycopg
import typer
from rich.console import Console
from rich.table import Table

from platewatch.engine.commands.api_client import LOGIN_FIRST, ApiRefused, checked, client, load_login
from platewatch.engine.commands.context import iso_time, settings
from platewatch.engine.logs import setup_logging
from platewatch.engine.services import Services
from platewatch.engine.store import migrate as run_migrations
from platewatch.engine.store.images import ImageStore, image_store_for
from platewatch.engine.store.retention import retention_status, run_retention

out = Console()
err = Console(stderr=True)
retention_app = typer.Typer(help="Purge reads past retention.days (policy 462.3), and see what it did.")


@contextmanager
def _store() -> Iterator[tuple[psycopg.Connection, ImageStore, int]]:
    s = settings()
    setup_logging(s.logging.level)
    with Services(s, need={"database"}) as endpoints:
        run_migrations(endpoints.database_owner_url)
        # the owner's URL: retention drops partitions, which the application's role may not
        with psycopg.connect(endpoints.database_owner_url, autocommit=True, prepare_threshold=None) as conn:
            yield conn, image_store_for(s), s.retention.days


@retention_app.command("run")
def retention_run() -> None:
    """Purge now: capture held reads, drop whole days past retention, purge their images."""
    with _store() as (conn, images, days):
        report = run_retention(conn, images, days=days)
    if report.skipped:
        out.print("another retention run is in progress; nothing done")
        return
    out.print(
        f"backend {report.backend}, keeping {report.days} days (whole days before"
        f" {report.cutoff:%Y-%m-%d} UTC may go): dropped {len(report.dropped_days)} days,"
        f" captured {report.captured_reads} held reads,"
        f" purged {report.purged_images} images"
    )


@retention_app.command("status")
def retention_status_cmd() -> None:
    """Show the retention policy, the oldest stored read, the last run, and evidence holds."""
    with _store() as (conn, _images, days):
        status = retention_status(conn, days)
    table = Table(title="retention", show_header=False)
    for key, value in status.items():
        if key == "last_run" and value:
            value = f"{value['started_at']:%Y-%m-%d %H:%M} UTC, dropped {value['dropped_days']} days"
        table.add_row(key, str(value))
    out.print(table)


@retention_app.command("report")
def retention_report_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables")] = False,
) -> None:
    """The retention report: the rules for each kind of data, what each run purged when, what is
    held past retention, why and for which case (policy 462.3; docs/audit.md)."""
    from platewatch.engine.config.access import access_log_days
    from platewatch.engine.store.retention_report import retention_report

    s = settings()
    with _store() as (conn, _images, days):
        rep = retention_report(conn, days, access_log_days(s.access, days))
    if as_json:
        body = {k: v for k, v in rep.__dict__.items() if k != "rules"}
        body["rules"] = [r.__dict__ for r in rep.rules]
        typer.echo(json.dumps(body, default=str, indent=1))
        return
    rules = Table(title=f"retention rules (reads: {rep.days} days; cutoff {rep.cutoff:%Y-%m-%d} UTC)")
    for col in ("data", "kept", "how"):
        rules.add_column(col)
    for r in rep.rules:
        rules.add_row(r.data, r.kept, r.how)
    runs = Table(title="retention runs (newest first)")
    for col in ("started", "cutoff", "days dropped", "held reads captured", "images", "alerts", "deliveries"):
        runs.add_column(col)
    for run in rep.runs:
        runs.add_row(
            f"{run['started_at']:%Y-%m-%d %H:%M}",
            f"{run['cutoff']:%Y-%m-%d}",
            *(str(run[k]) for k in ("dropped_days", "captured_reads", "purged_images")),
            *(str(run[k]) for k in ("purged_alerts", "purged_deliveries")),
        )
    holds = Table(title=f"evidence holds ({rep.held_reads} reads held)")
    for col in ("hold", "case", "reason", "placed", "by", "reads", "released"):
        holds.add_column(col)
    for h in rep.holds:
        released = (
            f"{h['released_at']:%Y-%m-%d} by {h['released_by']}: {h['release_reason']}"
            if h["released_at"]
            else "active"
        )
        holds.add_row(
            str(h["hold_id"]),
            h["case_number"],
            h["reason"],
            f"{h['created_at']:%Y-%m-%d}",
            h["created_by"],
            str(h["reads"]),
            released,
        )
    for table in (rules, runs, holds):
        out.print(table)


def _search_params(
    purpose: str | None,
    case: str,
    plate: str | None,
    pattern: str | None,
    fuzzy: bool,
    time_from: str | None,
    time_to: str | None,
    camera: list[str] | None,
    limit: int,
    cursor: str | None,
    area: tuple[float, float, float] | None = None,
    provisional: bool = False,
) -> list[tuple[str, str | int | float | bool | None]]:
    """The query string; empty values are left out, so the API names what is missing."""
    params: list[tuple[str, str | int | float | bool | None]] = [("case", case)]
    if purpose:
        params.append(("purpose", purpose))
    for key, value in (("plate", plate), ("pattern", pattern), ("cursor", cursor)):
        if value:
            params.append((key, value))
    for key, when in (("from", iso_time(time_from)), ("to", iso_time(time_to))):
        if when is not None:
            params.append((key, when.isoformat()))
    if fuzzy:
        params.append(("fuzzy", "true"))
    params.extend(("camera", c) for c in camera or ())
    if area is not None:
        params.extend((("lat", str(area[0])), ("lon", str(area[1])), ("radius_m", str(area[2]))))
    if provisional:
        params.append(("provisional", "true"))
    params.append(("limit", str(limit)))
    return params


def _area(near: str | None) -> tuple[float, float, float] | None:
    if not near:
        return None
    try:
        lat, lon, radius = (float(x) for x in near.split(","))
    except ValueError:
        raise typer.BadParameter("--near takes 'LAT,LON,RADIUS_M', e.g. 37.7793,-122.4193,500") from None
    return lat, lon, radius


def _correction(row: dict[str, Any]) -> str:
    """'→ 7ABC128 by ivy' (and `*` first when only the correction matched), or ''."""
    c = row.get("correction")
    if not c:
        return ""
    mark = "* " if row.get("matched_correction") else ""
    return f"{mark}→ {c['plate']} by {c['by']}" + (f": {c['note']}" if c.get("note") else "")


def search(
    case: Annotated[str, typer.Option("--case", help="Case or incident number (policy 462.2).")],
    purpose: Annotated[
        str | None,
        typer.Option(help="Why you search, one of access.purposes (policy 462.2, 462.4(b)); required."),
    ] = None,
    plate: Annotated[str | None, typer.Option(help="Exact plate.")] = None,
    pattern: Annotated[str | None, typer.Option(help="Partial plate: ? one character, * any run.")] = None,
    fuzzy: Annotated[bool, typer.Option(help="Treat OCR confusions (0/O, 8/B, …) as equal.")] = False,
    time_from: Annotated[str | None, typer.Option("--from", help="ISO 8601 start (UTC if no zone).")] = None,
    time_to: Annotated[str | None, typer.Option("--to", help="ISO 8601 end, exclusive.")] = None,
    camera: Annotated[
        list[str] | None, typer.Option("--camera", help="Only these cameras (repeatable).")
    ] = None,
    near: Annotated[
        str | None,
        typer.Option(help="Area: 'LAT,LON,RADIUS_M' (WGS 84 degrees, metres): cameras within it."),
    ] = None,
    provisional: Annotated[
        bool, typer.Option(help="Also the provisional reads of passes whose final read matches.")
    ] = False,
    limit: Annotated[int, typer.Option(help="Rows per page (1-1000).")] = 50,
    cursor: Annotated[str | None, typer.Option(help="Next-page cursor from a previous search.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """Search stored reads through the API as the logged-in user (see `platewatch login`), newest first.

    One row per vehicle pass: the provisional read of a pass whose final read matches too is left
    out unless --provisional. A corrected read shows its correction; `*` marks a read found
    through its correction only.
    """
    params = _search_params(
        purpose,
        case,
        plate,
        pattern,
        fuzzy,
        time_from,
        time_to,
        camera,
        limit,
        cursor,
        _area(near),
        provisional,
    )
    stored = load_login()
    if stored is None:
        err.print(LOGIN_FIRST, highlight=False)
        raise typer.Exit(1)
    if stored.expired():
        err.print(f"your login ended at {stored.expires_at}: run `platewatch login` again", highlight=False)
        raise typer.Exit(1)
    with client(stored.api, stored.token) as http:
        try:
            page = checked(http.get("/api/v1/reads", params=params))
        except httpx.HTTPError as exc:
            err.print(f"cannot reach the API at {stored.api} ({type(exc).__name__})", highlight=False)
            raise typer.Exit(1) from None
        except ApiRefused as exc:
            hint = "; run `platewatch login` again" if exc.status == 401 else ""
            err.print(f"refused: {exc}{hint}", highlight=False)
            raise typer.Exit(2 if exc.status in (400, 422) else 1) from None
    rows: list[dict[str, Any]] = page.get("reads", page.get("rows")) or []
    if as_json:
        for r in rows:
            print(json.dumps({**r, "case": case}))
    else:
        table = Table(title=f"reads (case {case})")
        for col in ("time (UTC)", "camera", "plate", "corrected", "conf", "read"):
            table.add_column(col)
        for r in rows:
            table.add_row(
                f"{datetime.fromisoformat(r['time']).astimezone(UTC):%Y-%m-%d %H:%M:%S}",
                r["camera_id"],
                r["plate"] + (" (provisional)" if r.get("provisional") else ""),
                _correction(r),
                f"{float(r['confidence']):.2f}",
                r["read_id"],
            )
        out.print(table)
    if page.get("next_cursor"):
        out.print(f"more: --cursor {page['next_cursor']}")
