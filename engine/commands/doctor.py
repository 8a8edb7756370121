"""`platewatch doctor`: is everything this installation needs there and answering?"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from platewatch.engine.commands.context import settings
from platewatch.engine.logs import setup_logging
from platewatch.engine.services import (
    Probe,
    ServiceError,
    Services,
    probe_all,
    probe_broker,
    probe_database,
    probe_redis,
)
from platewatch.engine.services.restarts import RestartLog

out = Console()


def _service_probes() -> tuple[list[Probe], list[str]]:
    s = settings()
    cfg = s.services
    configured = {"broker": cfg.broker_url, "redis": cfg.redis_url, "database": cfg.database_url}
    probes = {
        "broker": lambda url: probe_broker(url),
        "redis": lambda url: probe_redis(url),
        "database": lambda url: probe_database(url),
    }
    results = [probes[name](url) for name, url in configured.items() if url]
    problems: list[str] = []
    missing = {name for name, url in configured.items() if not url}
    if missing:
        # Embedded services are checked by starting them (they start in well under a second) —
        # or by joining the ones a running `platewatch up` holds.
        try:
            with Services(s, need=missing) as endpoints:
                results += probe_all(endpoints)
        except ServiceError as exc:
            problems.append(f"embedded services: {exc}")
    order = ["broker", "redis", "database"]
    return sorted(results, key=lambda p: order.index(p.service)), problems


def doctor() -> None:
    """Check each service (where it comes from, version, reachable), TimescaleDB, and OpenVINO devices."""
    s = settings()
    setup_logging("WARNING")
    probes, problems = _service_probes()
    table = Table(title="platewatch doctor")
    for col in ("", "service", "from", "address", "version / problem"):
        table.add_column(col)
    for p in probes:
        mark = "[green]✔[/green]" if p.reachable else "[red]✘[/red]"
        detail = p.version or "" if p.reachable else f"[red]{p.error}[/red]"
        table.add_row(mark, p.service, p.origin, p.url, detail)
    for p in probes:
        if p.service in ("redis", "database"):
            # Only whether there is one: the address column already shows it as ***.
            has_password = "***" in p.url
            table.add_row(
                "[green]✔[/green]" if has_password else "[yellow]⚠[/yellow]",
                f"{p.service} password",
                p.origin,
                "",
                "set" if has_password else "none: any local user can connect",
            )
    restarts = RestartLog(s.embedded_dir).read()
    for name, entry in restarts.items():
        # Restarted means it had died: worth a look at <data_dir>/services/<name>.log.
        how = "killed by signal" if (entry.last_status or 0) < 0 else "exit status"
        status = "?" if entry.last_status is None else str(abs(entry.last_status))
        table.add_row(
            "[yellow]⚠[/yellow]",
            f"{name} restarts",
            "embedded",
            "",
            f"{entry.count} (last {entry.last}, {how} {status})",
        )
    db = next((p for p in probes if p.service == "database" and p.reachable), None)
    if db is not None:
        state = db.timescaledb or "unavailable"
        backend = "TimescaleDB hypertables" if state == "installed" else "PostgreSQL partitions"
        table.add_row("[green]✔[/green]", "store backend", "", "", f"{backend} (timescaledb: {state})")
    try:
        from platewatch.engine.vision.runtime import available_devices, get_runtime

        devices = available_devices()
        device_text = ", ".join(f"{d.name} ({d.full_name})" for d in devices) or "none"
        table.add_row(
            "[green]✔[/green]" if devices else "[red]✘[/red]", "OpenVINO", "", s.vision.device, device_text
        )
        if devices:
            precision = get_runtime(s.vision, s.data_dir).describe_precision()
            table.add_row("[green]✔[/green]", "inference precision", "", s.vision.precision, precision)
    except Exception as exc:  # a broken OpenVINO install is exactly what doctor is for
        problems.append(f"OpenVINO: {exc}")
    out.print(table)
    for p in probes:
        for warning in p.warnings:
            out.print(f"[yellow]⚠ {p.service}: {warning}[/yellow]")
    for problem in problems:
        out.print(f"[red]✘ {problem}[/red]")
    if problems or not all(p.reachable for p in probes):
        raise typer.Exit(1)
