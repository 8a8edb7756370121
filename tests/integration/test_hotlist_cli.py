"""`platewatch hotlist …` as a logged-in, trained admin, through a real API to a Redis of the test's
own (tests/equipment_site.py), and the bench command (small)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from equipment_site import EquipmentSite, equipment_site
from typer.testing import CliRunner

from platewatch.engine.commands.bench import bench_app

DATA = Path(__file__).resolve().parents[1] / "data" / "hotlist"


@pytest.fixture
def site(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EquipmentSite]:
    with equipment_site(database_url, tmp_path, monkeypatch) as s:
        yield s


def test_import_add_remove_show_errors(site: EquipmentSite) -> None:
    admin = redis.Redis.from_url(site.redis_url, decode_responses=True)
    result = site.invoke("hotlist", "import", str(DATA / "svs.tbl"), "--list", "stolen", "--format", "ca-doj")
    assert result.exit_code == 0, result.output
    assert "4 entries written to stolen, 3 lines skipped" in result.output
    assert admin.hgetall("pw:hot:stolen:7ABC123")["ref"] == "SVS county 19 date 20261101"
    assert admin.get("pw:hot:_layout") == "1"
    assert abs(float(admin.hget("pw:hot:stolen", "imported_at") or 0) - time.time()) < 120  # the list's age

    result = site.invoke(
        "hotlist", "import", str(DATA / "ncic.csv"), "--list", "stolen", "--format", "ncic-csv", "--replace"
    )
    assert result.exit_code == 0, result.output
    assert "not stored" in result.output and "NAM, MIS" in result.output
    assert not admin.exists("pw:hot:stolen:ABC123")  # replaced: not in the new feed
    assert admin.ttl("pw:hot:stolen:7ABC123") > 0  # EXP column → EXPIREAT

    result = site.invoke(
        "hotlist",
        "add",
        "shooting",
        "6?k*4",
        "--reason",
        "witness report",
        "--case",
        "26-0042",
        "--expires",
        "7d",
    )
    assert result.exit_code == 0, result.output
    assert admin.hget("pw:hot:shooting:6?K*4", "case") == "26-0042"
    assert 6 * 86400 < admin.ttl("pw:hot:shooting:6?K*4") <= 7 * 86400

    bad = site.invoke("hotlist", "add", "stolen", "AB*", "--reason", "x")
    assert bad.exit_code == 2 and "at least 3 known characters" in bad.output

    shown = site.invoke("hotlist", "show")
    assert shown.exit_code == 0 and "shooting" in shown.output and "stolen" in shown.output
    shown = site.invoke("hotlist", "show", "stolen", "7ABC123")
    assert "24-1187" in shown.output and "expires" in shown.output

    assert site.invoke("hotlist", "remove", "shooting", "6?K*4").exit_code == 0
    assert not admin.exists("pw:hot:shooting:6?K*4")
    assert site.invoke("hotlist", "remove", "shooting", "6?K*4").exit_code == 2

    admin.hset("pw:hot:_errors", "pw:hot:stolen:x", "plate must be 1-10 characters A-Z 0-9")
    listed = site.invoke("hotlist", "errors")
    assert "pw:hot:stolen:x" in listed.output
    site.invoke("hotlist", "errors", "--clear")
    assert not admin.exists("pw:hot:_errors")
    admin.close()


def test_bench_command_writes_its_figures(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(bench_app, ["hotlist", "--entries", "2000", "--json", str(out)])
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())
    assert figures["entries"] >= 1900
    for key in ("load_s", "match_p50_us", "match_p99_us", "update_visible_ms", "rss_mb"):
        assert figures[key] > 0
    assert figures["update_visible_ms"] < 1000
