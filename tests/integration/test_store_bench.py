"""`platewatch bench store` on the real PostgreSQL: its figures, its chart, and its scratch database."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from platewatch.engine.bench.store import run_store_bench


def _bench_databases(url: str) -> set[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'pw_bench_%'").fetchall()
    return {r[0] for r in rows}


@pytest.mark.slow
def test_store_bench_measures_both_paths_and_searches_and_cleans_up(
    database_url: str, tmp_path: Path
) -> None:
    before = _bench_databases(database_url)
    out = tmp_path / "store.json"

    figures = run_store_bench(3000, out, database_url=database_url, days=2, searches=5)

    assert json.loads(out.read_text()) == figures
    assert figures["reads"] == 3000 and figures["backend"] == "postgres"
    assert figures["ingest_rows_per_s"] > 0 and figures["copy_baseline_rows_per_s"] > 0
    assert figures["ratio"] == pytest.approx(
        figures["ingest_rows_per_s"] / figures["copy_baseline_rows_per_s"], rel=0.01
    )
    assert 0 < figures["search_exact_ms"] < 5000 and 0 < figures["search_partial_ms"] < 5000
    assert figures["partitions"] >= 365 + figures["days"]  # searched over a year of partitions, as deployed
    page = out.with_suffix(".html").read_text()
    assert page.count("<polyline") == 2 and "target 50,000/s" in page and "3000 reads" in page
    assert _bench_databases(database_url) == before  # the scratch database is dropped
