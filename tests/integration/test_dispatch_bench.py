"""`platewatch bench dispatch` on the real PostgreSQL and two real API processes, at a small size:
every client (in two client processes) gets every alert once, the dropped tenth replays what it
missed, the scratch database is dropped; and the command's wiring."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from platewatch.engine.bench import dispatch
from platewatch.engine.bench.dispatch import run_dispatch_bench
from platewatch.engine.cli import app
from platewatch.engine.services import Endpoints

KEYS = ("clients", "alerts", "delivered", "lost", "duplicated", "fanout_p95_ms", "replayed")


def _bench_databases(url: str) -> set[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'pw_bench_%'").fetchall()
    return {r[0] for r in rows}


@pytest.mark.slow
def test_dispatch_bench_delivers_every_alert_once_and_replays_the_dropped(
    shared_services: Endpoints, tmp_path: Path
) -> None:
    owner = shared_services.database_owner_url
    before = _bench_databases(owner)
    out = tmp_path / "dispatch.json"

    figures = run_dispatch_bench(
        20,
        100,
        owner_url=owner,
        database_url=shared_services.database_url,
        redis_url=shared_services.redis_url,
        instances=2,
        rate=100.0,
        batch=5,
        client_processes=2,
        json_out=out,
    )

    assert json.loads(out.read_text()) == figures
    assert all(figures[k] is not None for k in KEYS)
    assert (figures["clients"], figures["alerts"], figures["instances"]) == (20, 100, 2)
    assert figures["client_processes"] == 2 and figures["client_cpu_s"] > 0  # both processes reported
    assert figures["lost"] == 0 and figures["duplicated"] == 0
    assert figures["delivered"] == 20 * 100
    # two of the twenty left after a third of the alerts and came back a second later, recovered
    assert figures["reconnected"] >= 2 and figures["recovered"] == figures["reconnected"]
    assert figures["dropped_clients"] == 2 and figures["replayed"] > 0
    assert 0 < figures["fanout_p50_ms"] <= figures["fanout_p95_ms"] <= figures["fanout_max_ms"]
    assert figures["fanout_p50_ms"] <= figures["raised_p50_ms"]  # the store's transaction is before commit
    # a frame is read off the socket before its client's task decodes it, and both are counted
    assert figures["fanout_p50_ms"] <= figures["decoded_p50_ms"] <= figures["decoded_p95_ms"]
    assert figures["fanout_p95_ms"] <= figures["decoded_p95_ms"] <= figures["decoded_p99_ms"]
    assert figures["store_p50_ms"] > 0 and figures["rate_per_s"] > 0
    page = out.with_suffix(".html").read_text()
    assert page.count("<svg") == 1 and "target 50 ms" in page
    assert _bench_databases(owner) == before  # the scratch database is dropped


def test_the_command_hands_the_owner_and_the_application_role_to_the_bench(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: dict[str, Any] = {}

    def fake(clients: int, alerts: int, **options: Any) -> dict[str, Any]:
        seen.update(options, clients=clients, alerts=alerts)
        return dict.fromkeys(dispatch.KEYS, 1)

    monkeypatch.setattr(dispatch, "run_dispatch_bench", fake)
    options = [
        "--clients",
        "30",
        "--alerts",
        "400",
        "--instances",
        "3",
        "--rate",
        "50",
        "--batch",
        "4",
        "--no-compression",
        "--client-processes",
        "3",
    ]
    url = ["--database-url", "postgresql://owner@db/x", "--json", str(tmp_path / "d.json")]
    result = CliRunner().invoke(app, ["bench", "dispatch", *options, *url])
    assert result.exit_code == 0, result.output
    assert (seen["clients"], seen["alerts"], seen["instances"]) == (30, 400, 3)
    assert (seen["rate"], seen["batch"], seen["compression"]) == (50.0, 4, False)
    assert seen["client_processes"] == 3
    assert seen["owner_url"] == seen["database_url"] == "postgresql://owner@db/x"
    assert seen["json_out"] == tmp_path / "d.json"
    assert "fanout_p95_ms" in result.output
