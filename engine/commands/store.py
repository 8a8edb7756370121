"""`platewatch retention …`, `platewatch hold …` and `platewatch search`: the store from the shell.

`retention` and `hold` are the operator's tools (an administrator at a console). `search` reads
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
from platewatch.engine.store.holds import Hold, HoldCriteria, HoldError, list_holds, place_hold, release_hold
from platewatch.engine.store.images import ImageStore, image_store_for
from platewatch.engine.store.retention import retention_status, run_retention

out = Console()
err = Console(stderr=True)
retention_app = typer.Typer(help="Purge reads past retention.days (policy 462.3), and see what it did.")
hold_app = typer.Typer(help="Evidence holds: keep reads (and images) past retention for a case.")


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


def _hold_table(holds: list[Hold]) -> Table:
    table = Table()
    for col in ("hold", "case", "placed", "by", "keeps", "reads", "released"):
        table.add_column(col)
    for h in holds:
        c = h.criteria
        keeps = ", ".join(
            x
            for x in (
                f"{len(c.read_ids)} ids" if c.read_ids else "",
                f"plate {c.plate}" if c.plate else "",
                f"cameras {','.join(c.cameras)}" if c.cameras else "",
                f"from {c.time_from:%Y-%m-%d %H:%M}" if c.time_from else "",
                f"to {c.time_to:%Y-%m-%d %H:%M}" if c.time_to else "",
            )
            if x
        )
        released = f"{h.released_at:%Y-%m-%d} by {h.released_by}: {h.release_reason}" if h.released_at else ""
        table.add_row(
            str(h.hold_id),
            h.case_number,
            f"{h.created_at:%Y-%m-%d}",
            h.created_by,
            keeps,
            str(h.reads),
            released,
        )
    return table


@hold_app.command("add")
def hold_add(
    case: Annotated[str, typer.Option("--case", help="Case or incident number the hold is for.")],
    by: Annotated[str, typer.Option("--by", help="Who places the hold.")],
    read_id: Annotated[
        list[str] | None, typer.Option("--read-id", help="A read to keep (repeatable).")
    ] = None,
    plate: Annotated[str | None, typer.Option(help="Keep every read of this plate.")] = None,
    camera: Annotated[
        list[str] | None, typer.Option("--camera", help="Only these cameras (repeatable).")
    ] = None,
    time_from: Annotated[str | None, typer.Option("--from", help="ISO 8601 start (UTC if no zone).")] = None,
    time_to: Annotated[str | None, typer.Option("--to", help="ISO 8601 end, exclusive.")] = None,
    reason: Annotated[str, typer.Option(help="Why (e.g. discovery request).")] = "",
) -> None:
    """Place an evidence hold; the matching reads and images are copied out of retention's reach."""
    criteria = HoldCriteria(
        read_ids=tuple(read_id or ()),
        plate=plate,
        cameras=tuple(camera or ()),
        time_from=iso_time(time_from),
        time_to=iso_time(time_to),
    )
    with _store() as (conn, images, _days):
        try:
            hold = place_hold(conn, images, case_number=case, created_by=by, criteria=criteria, reason=reason)
        except HoldError as exc:
            raise typer.BadParameter(str(exc)) from None
    out.print(_hold_table([hold]))


@hold_app.command("release")
def hold_release(
    hold_id: Annotated[int, typer.Argument(help="The hold's number (see `hold list`).")],
    by: Annotated[str, typer.Option("--by", help="Who releases it.")],
    reason: Annotated[str, typer.Option(help="Why it is released (recorded).")],
) -> None:
    """Release a hold: recorded, and its copies deleted; the reads then age out like any other."""
    with _store() as (conn, images, _days):
        try:
            hold = release_hold(conn, images, hold_id, released_by=by, reason=reason)
        except HoldError as exc:
            raise typer.BadParameter(str(exc)) from None
    out.print(_hold_table([hold]))


@hold_app.command("list")
def hold_list(
    case: Annotated[str | None, typer.Option("--case", help="Only this case's holds.")] = None,
    active: Annotated[bool, typer.Option(help="Only holds not released.")] = False,
) -> None:
    """List evidence holds with what they keep and how many reads they hold."""
    with _store() as (conn, _images, _days):
        holds = list_holds(conn, case_number=case, active_only=active)
    out.print(_hold_table(holds))


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
    params.append(("limit", str(limit)))
    return params


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
    limit: Annotated[int, typer.Option(help="Rows per page (1-1000).")] = 50,
    cursor: Annotated[str | None, typer.Option(help="Next-page cursor from a previous search.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """Search stored reads through the API as the logged-in user (see `platewatch login`), newest first."""
    params = _search_params(purpose, case, plate, pattern, fuzzy, time_from, time_to, camera, limit, cursor)
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
        for col in ("time (UTC)", "camera", "plate", "conf", "read"):
            table.add_column(col)
        for r in rows:
            table.add_row(
                f"{datetime.fromisoformat(r['time']).astimezone(UTC):%Y-%m-%d %H:%M:%S}",
                r["camera_id"],
                r["plate"],
                f"{float(r['confidence']):.2f}",
                r["read_id"],
            )
        out.print(table)
    if page.get("next_cursor"):
        out.print(f"more: --cursor {page['next_cursor']}")
