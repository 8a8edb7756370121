"""`platewatch hotlist …`: import feeds and edit entries (the same keys an admin edits with redis-cli)."""

from __future__ import annotations

import datetime as dt
import getpass
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import redis
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from platewatch.engine.commands.context import settings
from platewatch.engine.hotlist.admin import AdminError, add_entry, import_entries, list_names, remove_entry
from platewatch.engine.hotlist.entry import clean_text
from platewatch.engine.hotlist.importers import FORMATS, ImportProblem, create_importer
from platewatch.engine.hotlist.layout import Layout
from platewatch.engine.services import Services

hotlist_app = typer.Typer(no_args_is_help=True, help="Hotlists in Redis (docs/hotlist.md).")
out = Console()
err = Console(stderr=True)
LAYOUT = Layout()


@contextmanager
def _redis() -> Iterator[redis.Redis]:
    with Services(settings(), need={"redis"}) as endpoints:
        client = redis.Redis.from_url(endpoints.redis_url, decode_responses=True)
        try:
            yield client
        finally:
            client.close()


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _hash(client: redis.Redis, key: str) -> dict[str, str]:
    """HGETALL as text (the client decodes; this also satisfies the type checker)."""
    raw: dict[object, object] = client.hgetall(key)  # type: ignore[assignment]
    return {_text(k): _text(v) for k, v in raw.items()}


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error[/red] {message}", highlight=False)
    return typer.Exit(2)


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
    try:
        importer = create_importer(
            fmt,
            file,
            table=table,
            source=source,
            added_by=getpass.getuser(),
            added_at=dt.date.today().isoformat(),
        )
    except ValueError as exc:
        raise _fail(str(exc)) from None
    size = file.stat().st_size
    with _redis() as client, file.open(encoding="utf-8", errors="replace", newline="") as handle:
        progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
        )

        def lines() -> Iterator[str]:
            for line in handle:
                progress.advance(task, len(line.encode("utf-8", "replace")))
                yield line

        with progress:
            task = progress.add_task(f"{file.name} → {list_name}", total=size)
            try:
                report = import_entries(
                    client,
                    LAYOUT,
                    list_name,
                    importer.parse(lines()),
                    expire_s=expire_days * 86400 if expire_days else None,
                    replace=replace,
                )
            except AdminError as exc:
                raise _fail(str(exc)) from None
            progress.update(task, completed=size)
    out.print(
        f"{report.written} entries written to [bold]{list_name}[/bold], {len(report.problems)} lines skipped"
        + (f", {report.lapsed} already lapsed" if report.lapsed else "")
        + (f", {report.removed} stale entries removed" if replace else ""),
        highlight=False,
    )
    for note in importer.notes:
        out.print(f"[yellow]note[/yellow] {note}", highlight=False)
    _print_problems(report.problems)


def _print_problems(problems: list[ImportProblem], limit: int = 20) -> None:
    if not problems:
        return
    table = Table("line", "problem", "text", title="skipped lines")
    for problem in problems[:limit]:
        table.add_row(str(problem.line), problem.message, problem.text)
    out.print(table)
    if len(problems) > limit:
        out.print(f"… and {len(problems) - limit} more")


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
    """Add or replace one entry."""
    fields = {
        "reason": reason,
        "case": case,
        "priority": str(priority) if priority else "",
        "ref": ref,
        "source": source,
        "state": state.upper(),
        "vehicle": vehicle,
        "added_by": getpass.getuser(),
        "added_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    expires_at = _expiry(expires)
    with _redis() as client:
        try:
            key = add_entry(client, LAYOUT, list_name, plate, fields, expires_at)
        except AdminError as exc:
            raise _fail(str(exc)) from None
    out.print(f"added {key}", highlight=False)


@hotlist_app.command()
def remove(
    list_name: Annotated[str, typer.Argument(help="Hotlist name.")],
    plate: Annotated[str, typer.Argument(help="Plate or pattern as listed.")],
) -> None:
    """Remove one entry."""
    with _redis() as client:
        try:
            removed = remove_entry(client, LAYOUT, list_name, plate)
        except AdminError as exc:
            raise _fail(str(exc)) from None
    if not removed:
        raise _fail(f"no entry {LAYOUT.entry_key(list_name, clean_text(plate))}")
    out.print(f"removed {LAYOUT.entry_key(list_name, clean_text(plate))}", highlight=False)


@hotlist_app.command()
def show(
    list_name: Annotated[str | None, typer.Argument(help="A list: its settings and entries.")] = None,
    plate: Annotated[str | None, typer.Argument(help="One entry: its fields and expiry.")] = None,
    limit: Annotated[int, typer.Option(help="Entries shown at most.")] = 50,
) -> None:
    """Show the lists, one list, or one entry."""
    with _redis() as client:
        if list_name is None:
            table = Table("list", "entries", "fuzzy", "partial", "priority", "active", title="hotlists")
            configured = {h.name: h for h in settings().hotlists}
            for name, count in sorted((dict.fromkeys(configured, 0) | list_names(client, LAYOUT)).items()):
                cfg = configured.get(name)
                stored = _hash(client, LAYOUT.list_key(name))
                table.add_row(
                    name,
                    str(count),
                    stored.get("fuzzy", cfg.fuzzy if cfg else "strict"),
                    stored.get("partial", str(cfg.partial if cfg else False).lower()),
                    stored.get("priority", str(cfg.priority if cfg else 2)),
                    stored.get("active", "true"),
                )
            out.print(table)
            return
        if plate is not None:
            key = LAYOUT.entry_key(list_name, clean_text(plate))
            fields = _hash(client, key)
            if not fields:
                raise _fail(f"no entry {key}")
            ttl = int(client.ttl(key))
            table = Table("field", "value", title=key)
            for name, value in fields.items():
                table.add_row(name, value)
            table.add_row("expires", "never" if ttl < 0 else f"in {dt.timedelta(seconds=ttl)}")
            out.print(table)
            return
        stored = _hash(client, LAYOUT.list_key(list_name))
        out.print(f"[bold]{list_name}[/bold] settings: {stored or '(defaults from the configuration)'}")
        table = Table("entry", "reason", "priority", "case", "source")
        for shown, key in enumerate(client.scan_iter(match=LAYOUT.list_entries_match(list_name), count=1000)):
            if shown >= limit:
                break
            fields = _hash(client, _text(key))
            table.add_row(
                LAYOUT.classify(_text(key)).text,
                fields.get("reason", ""),
                fields.get("priority", ""),
                fields.get("case", ""),
                fields.get("source", ""),
            )
        out.print(table)


@hotlist_app.command()
def errors(
    clear: Annotated[bool, typer.Option(help="Empty the report (matchers refill it).")] = False,
) -> None:
    """Malformed keys the matcher skips, and why (the pw:hot:_errors hash)."""
    with _redis() as client:
        found = _hash(client, LAYOUT.errors_key)
        if clear:
            client.delete(LAYOUT.errors_key)
    if not found:
        out.print("no malformed hotlist keys")
        return
    table = Table("key", "problem", title=f"{len(found)} malformed keys (skipped, not matched)")
    for key, reason in sorted(found.items()):
        table.add_row(key, reason)
    out.print(table)
