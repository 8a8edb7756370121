"""`platewatch bench search` on the real PostgreSQL and a real API process, at a small size."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from platewatch.engine.bench.search import KINDS, camera_grid, run_search_bench
from platewatch.engine.services import Endpoints
from platewatch.engine.store.search import Area, cameras_in_area

KEYS = ("reads", "exact_p95_ms", "partial_p95_ms", "fuzzy_p95_ms", "area_p95_ms")


def _bench_databases(url: str) -> set[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'pw_bench_%'").fetchall()
    return {r[0] for r in rows}


def test_the_camera_grid_puts_a_few_cameras_in_each_area() -> None:
    grid = camera_grid()
    for cam in grid:
        assert cam.latitude is not None and cam.longitude is not None
        inside = cameras_in_area(grid, Area(cam.latitude, cam.longitude, 400))
        assert cam.id in inside and 2 <= len(inside) <= 9, (cam.id, inside)


@pytest.mark.slow
def test_search_bench_measures_every_kind_and_cleans_up(shared_services: Endpoints, tmp_path: Path) -> None:
    owner = shared_services.database_owner_url
    before = _bench_databases(owner)
    out = tmp_path / "search.json"

    figures = run_search_bench(
        2000,
        owner_url=owner,
        database_url=shared_services.database_url,
        redis_url=shared_services.redis_url,
        days=2,
        searches=4,
        json_out=out,
    )

    assert json.loads(out.read_text()) == figures
    assert all(figures[k] is not None and figures[k] >= 0 for k in KEYS)
    assert figures["reads"] == 2000 + 500  # every fourth pass has its provisional read too
    # the searches were answered and found what they looked for (exact and partial plates exist)
    assert figures["exact_found_share"] == 1.0 and figures["partial_found_share"] == 1.0
    assert all(figures[f"{k}_p50_ms"] <= figures[f"{k}_p95_ms"] for k in KINDS)
    assert _bench_databases(owner) == before
