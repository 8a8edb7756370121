"""`platewatch hotlist …`: import feeds and edit entries (the same keys an admin edits with redis-cli).

Operating the ALPR equipment is an admin's work with current training (policy 462.2(d)): these
commands act as the user of `platewatch login`, through the API, so each import, edit and listing
is in the access log under a name. Editing the keys with redis-cli stays possible (the layout is a
documented interface); the worker records each change it sees as a "hotlist change" row.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from platewatch.engine.commands.api_client import call_as_user
from platewatch.engine.hotlist.importers import FORMATS

hotlist_app = typer.Typer(
    no_args_is_help=True,
    help="Hotlists in Redis (docs/hotlist.md); as a trained admin (platewatch login).",
)
out = Console()
err = Console(stderr=True)
HOTLISTS = "/api/v1/admin/hotlists"
_CHUNK = 256 * 1024
#: An import's answer comes when the whole feed is written; a statewide file takes a while.
_IMPORT_TIMEOUT = httpx.Timeout(30.0, read=3600.0)


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error[/red] {message}", highlight=False)
    return typer.Exit(2)


def _part(text: str) -> str:
    """A list name or entry as one path segment (patterns hold ? and *)."""
    return quote(text, safe="")


def _expiry(text: str | None) -> float | None:
    """`30d`, `12h`, `90m` from now, or a date `2026-12-31` (lapses at the end of that day, UTC)."""
    if not text:
        return None
    match = re.fullmatch(r"(\d+)([dhm])", text.strip())
    if match:
        unit = {"d": 86400, "h": 3600, "m": 60}[match.group(2)]
        return time.time() + int(match.group(1)) * unit
    try:
        day = dt.date.fromisoformat(text.strip())
    except ValueError:
        raise _fail(f"--expires {text!r}: use 30d, 12h, 90m or a date YYYY-MM-DD") from None
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC).timestamp()


@hotlist_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The feed file.")],
    list_name: Annotated[str, typer.Option("--list", help="Hotlist to load into.")],
    fmt: Annotated[str, typer.Option("--format", help=f"Feed format: {', '.join(FORMATS)}.")],
    table: Annotated[
        str | None, typer.Option(help="CA DOJ table svs|sfr|slr (default: from the file name).")
    ] = None,
    source: Annotated[str, typer.Option(help="Source recorded on each entry (default: the feed's).")] = "",
    expire_days: Annotated[
        float | None, typer.Option(help="Entries lapse after this many days unless re-imported.")
    ] = None,
    replace: Annotated[
        bool, typer.Option(help="Remove the list's entries that are not in this file.")
    ] = False,
) -> None:
    """Import a feed file into a hotlist, with a progress bar; bad lines are listed and skipped."""
    params: dict[str, Any] = {"format": fmt, "filename": file.name, "replace": str(replace).lower()}
    if table:
        params["table"] = table
    if source:
        params["source"] = source
    if expire_days is not None:
        params["expire_days"] = str(expire_days)
    size = file.stat().st_size
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
    )
    with progress, file.open("rb") as handle:
        task = progress.add_task(f"{file.name} → {list_name}", total=size)

        def chunks() -> Iterator[bytes]:
            while chunk := handle.read(_CHUNK):
                progress.advance(task, len(chunk))
                yield chunk

        report = call_as_user(
            "POST",
            f"{HOTLISTS}/{_part(list_name)}/import",
            params=params,
            content=chunks(),
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
            timeout=_IMPORT_TIMEOUT,
            errors=err,
        )
        progress.update(task, completed=size)
    out.print(
        f"{report['written']} entries written to [bold]{list_name}[/bold], {report['skipped']} lines skipped"
        + (f", {report['lapsed']} already lapsed" if report["lapsed"] else "")
        + (f", {report['removed']} stale entries removed" if replace else ""),
        highlight=False,
    )
    for note in report["notes"]:
        out.print(f"[yellow]note[/yellow] {note}", highlight=False)
    _print_problems(report["problems"], report["skipped"])


def _print_problems(problems: list[dict[str, Any]], total: int, limit: int = 20) -> None:
    if not problems:
        return
    table = Table("line", "problem", "text", title="skipped lines")
    for problem in problems[:limit]:
        table.add_row(str(problem["line"]), problem["message"], problem["text"])
    out.print(table)
    if total > limit:
        out.print(f"… and {total - limit} more")


@hotlist_app.command()
def add(
    list_name: Annotated[str, typer.Argument(help="Hotlist name.")],
    plate: Annotated[str, typer.Argument(help="Plate, or a pattern with ? (one character) and * (any run).")],
    reason: Annotated[str, typer.Option(help="Why it is listed: one short line, no criminal history.")],
    case: Annotated[str, typer.Option(help="Case or incident number.")] = "",
    priority: Annotated[
        int | None, typer.Option(min=1, max=5, help="1 highest (default: the list's).")
    ] = None,
    ref: Annotated[str, typer.Option(help="Reference in the source system (e.g. NCIC number).")] = "",
    source: Annotated[str, typer.Option(help="Where the entry comes from.")] = "manual",
    state: Annotated[str, typer.Option(help="Issuing state or region.")] = "",
    vehicle: Annotated[str, typer.Option(help="Vehicle description, to verify a hit.")] = "",
    expires: Annotated[str | None, typer.Option(help="30d, 12h, 90m or a date YYYY-MM-DD.")] = None,
) -> None:
    """Add or replace one entry (recorded as added by the logged-in user)."""
    expires_at = _expiry(expires)
    body = {
        "plate": plate,
        "reason": reason,
        "case": case,
        "priority": priority,
        "ref": ref,
        "source": source,
        "state": state,
        "vehicle": vehicle,
        "expires_at": (
            dt.datetime.fromtimestamp(expires_at, dt.UTC).isoformat() if expires_at is not None else None
        ),
    }
    added = call_as_user("POST", f"{HOTLISTS}/{_part(list_name)}/entries", json=body, errors=err)
    out.print(f"added {added['key']}", highlight=False)


@hotlist_app.command()
def remove(
    list_name: Annotated[str, typer.Argument(help="Hotlist name.")],
    plate: Annotated[str, typer.Argument(help="Plate or pattern as listed.")],
) -> None:
    """Remove one entry."""
    done = call_as_user("DELETE", f"{HOTLISTS}/{_part(list_name)}/entries/{_part(plate)}", errors=err)
    out.print(f"removed {done['removed']}", highlight=False)


@hotlist_app.command()
def show(
    list_name: Annotated[str | None, typer.Argument(help="A list: its settings and entries.")] = None,
    plate: Annotated[str | None, typer.Argument(help="One entry: its fields and expiry.")] = None,
    limit: Annotated[int, typer.Option(help="Entries shown at most.")] = 50,
) -> None:
    """Show the lists, one list, or one entry."""
    if list_name is None:
        lists = call_as_user("GET", HOTLISTS, errors=err)
        table = Table("list", "entries", "fuzzy", "partial", "priority", "active", title="hotlists")
        for row in lists:
            table.add_row(
                row["name"], str(row["entries"]), row["fuzzy"], row["partial"], row["priority"], row["active"]
            )
        out.print(table)
        return
    if plate is not None:
        entry = call_as_user("GET", f"{HOTLISTS}/{_part(list_name)}/entries/{_part(plate)}", errors=err)
        table = Table("field", "value", title=entry["key"])
        for name, value in entry["fields"].items():
            table.add_row(name, value)
        ttl = entry["expires_in_s"]
        table.add_row("expires", "never" if ttl is None else f"in {dt.timedelta(seconds=ttl)}")
        out.print(table)
        return
    shown = call_as_user(
        "GET", f"{HOTLISTS}/{_part(list_name)}/entries", params={"limit": max(1, limit)}, errors=err
    )
    stored = shown["settings"]
    out.print(f"[bold]{list_name}[/bold] settings: {stored or '(defaults from the configuration)'}")
    table = Table("entry", "reason", "priority", "case", "source")
    for e in shown["entries"]:
        table.add_row(e["entry"], e["reason"], e["priority"], e["case"], e["source"])
    out.print(table)


@hotlist_app.command()
def errors(
    clear: Annotated[bool, typer.Option(help="Empty the report (matchers refill it).")] = False,
) -> None:
    """Malformed keys the matcher skips, and why (the pw:hot:_errors hash)."""
    found: dict[str, str] = call_as_user("DELETE" if clear else "GET", f"{HOTLISTS}/errors", errors=err)
    if not found:
        out.print("no malformed hotlist keys")
        return
    table = Table("key", "problem", title=f"{len(found)} malformed keys (skipped, not matched)")
    for key, reason in sorted(found.items()):
        table.add_row(key, reason)
    out.print(table)
