"""`platewatch bench audit` on the real PostgreSQL and two real API processes, at a small size."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from platewatch.engine.bench import audit
from platewatch.engine.bench.audit import run_audit_bench
from platewatch.engine.cli import app
from platewatch.engine.services import Endpoints

KEYS = ("rows", "append_per_s", "verify_s", "login_p95_ms", "search_overhead_p95_ms")


def _bench_databases(url: str) -> set[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'pw_bench_%'").fetchall()
    return {r[0] for r in rows}


@pytest.mark.slow
def test_audit_bench_measures_every_target_and_cleans_up(shared_services: Endpoints, tmp_path: Path) -> None:
    owner = shared_services.database_owner_url
    before = _bench_databases(owner)
    out = tmp_path / "audit.json"

    figures = run_audit_bench(
        2000,
        owner_url=owner,
        database_url=shared_services.database_url,
        redis_url=shared_services.redis_url,
        clients=2,
        instances=2,
        seconds=3,
        logins=6,
        json_out=out,
    )

    assert json.loads(out.read_text()) == figures
    assert all(figures[k] is not None for k in KEYS)
    assert figures["rows"] == 2000
    assert figures["append_single_rows"] + figures["append_batched_rows"] == 2000
    assert figures["append_per_s"] > 0 and figures["append_single_per_s"] > 0
    # the whole log verifies: the 2000 rows, the accounts', the logins' and the searches' (two processes)
    assert figures["verify_ok"] is True and figures["verify_problem"] is None
    assert figures["verified_rows"] > 2000 + figures["logins"] + figures["searches"]
    assert 0 < figures["verify_s"] < 60
    assert figures["report_rows"] >= 2000 and 0 < figures["report_s"] < 60  # the audit report (462.4(c))
    assert figures["logins"] == 6 and 0 < figures["login_p50_ms"] <= figures["login_p95_ms"] < 10_000
    assert figures["searches"] > 0 and 0 < figures["search_p50_ms"] <= figures["search_p95_ms"]
    # the same searches on instances that write no row, in windows taken in turn with the log's
    assert (
        figures["nolog_searches"] > 0 and 0 < figures["nolog_search_p50_ms"] <= figures["nolog_search_p95_ms"]
    )
    assert figures["windows"] == 2 and figures["window_s"] == pytest.approx(1.5, abs=0.2)
    # what the log adds: the clients' p95 with it less their p95 without it, with its interval
    overhead = figures["search_p95_ms"] - figures["nolog_search_p95_ms"]
    assert figures["search_overhead_p95_ms"] == pytest.approx(overhead, abs=0.02)
    low, high = figures["search_overhead_p95_low_ms"], figures["search_overhead_p95_high_ms"]
    assert low <= high and figures["search_overhead_mean_ms"] is not None
    # the answers' wait for the log (the key's definition before 2026-12-05) is kept beside it
    assert figures["log_wait_count"] > 0 and 0 < figures["log_wait_p50_ms"] <= figures["log_wait_p95_ms"]
    assert figures["log_wait_p50_ms"] <= figures["search_p95_ms"]
    # and what the no-log searches waited from their query's end to their answer with no row at all
    assert 0 < figures["nolog_wait_p50_ms"] <= figures["nolog_wait_p95_ms"]
    # the filled rows were sealed before the instances started; every row is in the chain after verify
    assert figures["seal_per_s"] > 0 and figures["chained_rows"] == figures["verified_rows"]
    assert figures["cpus"] >= 1 and figures["load_before"] >= 0
    # the fill's vacuum and checkpoint were done before the searches (the tests' owner may checkpoint)
    assert figures["settled"] is True
    # then paced, at half the rate the no-log instances served back to back (the default share)
    assert figures["paced_share"] == 0.5
    assert 0 < figures["paced_rate_per_s"] == pytest.approx(0.5 * figures["nolog_searches_per_s"], rel=0.01)
    assert figures["paced_searches"] > 0 and figures["paced_nolog_searches"] > 0
    # each side served what it was sent, not what it could: under half the rate back to back
    assert figures["paced_nolog_searches_per_s"] < 0.8 * figures["nolog_searches_per_s"]
    paced = figures["paced_search_p95_ms"] - figures["paced_nolog_search_p95_ms"]
    assert figures["paced_search_overhead_p95_ms"] == pytest.approx(paced, abs=0.02)
    assert figures["paced_search_overhead_p95_low_ms"] <= figures["paced_search_overhead_p95_high_ms"]
    page = out.with_suffix(".html").read_text()
    assert page.count("<svg") == 6 and "(target 5 ms)" in page and "target 300 ms" in page
    assert "Paced:" in page
    assert _bench_databases(owner) == before  # the scratch database is dropped


def test_the_command_hands_the_owner_and_the_application_role_to_the_bench(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: dict[str, Any] = {}

    def fake(rows: int, **options: Any) -> dict[str, Any]:
        seen.update(options, rows=rows)
        return dict.fromkeys(KEYS, 1)

    monkeypatch.setattr(audit, "run_audit_bench", fake)
    options = ["--rows", "2000", "--clients", "3", "--instances", "2", "--seconds", "4"]
    url = ["--database-url", "postgresql://owner@db/x", "--json", str(tmp_path / "a.json")]
    result = CliRunner().invoke(app, ["bench", "audit", *options, *url])
    assert result.exit_code == 0, result.output
    assert seen["rows"] == 2000 and seen["clients"] == 3 and seen["instances"] == 2 and seen["seconds"] == 4
    assert seen["owner_url"] == seen["database_url"] == "postgresql://owner@db/x"
    assert seen["json_out"] == tmp_path / "a.json"
    assert seen["paced_share"] == 0.5  # the default
    assert "search_overhead_p95_ms" in result.output
    result = CliRunner().invoke(app, ["bench", "audit", *options, *url, "--paced-share", "0"])
    assert result.exit_code == 0 and seen["paced_share"] == 0.0
    result = CliRunner().invoke(app, ["bench", "audit", *options, *url, "--paced-share", "1"])
    assert result.exit_code != 0  # a share of 1 or more is saturation again: refused
