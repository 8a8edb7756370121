"""`platewatch audit report` and `platewatch retention report` on a real database, and retention's
purge of alerts and webhook deliveries (keeping the alerts of held reads)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from platewatch.codecs import Read
from platewatch.engine.cli import app
from platewatch.engine.policy import access_log
from platewatch.engine.policy.directory import Actor
from platewatch.engine.store import migrate
from platewatch.engine.store.copy_writer import ReadWriter
from platewatch.engine.store.holds import HoldCriteria, place_hold
from platewatch.engine.store.images import DirectoryImageStore
from platewatch.engine.store.retention import run_retention

runner = CliRunner()


@pytest.fixture
def env(database_url: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.delenv("PLATEWATCH_CONFIG", raising=False)
    migrate(database_url)
    return {
        "PLATEWATCH_SERVICES__DATABASE_URL": database_url,
        "PLATEWATCH_SERVICES__REDIS_URL": redis_url,
        "PLATEWATCH_DATA_DIR": str(tmp_path),
        "COLUMNS": "200",
    }


def cli(env: dict[str, str], *args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args), env=env)
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result.output


def test_audit_report_writes_csv_html_and_json_and_is_logged(
    env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    someone = Actor(username="ivy", organisation="PAPD", user_id=7, address="10.0.0.9")
    with psycopg.connect(database_url, autocommit=True) as conn:
        for plate in ("7ABC123", "8XYZ999"):
            access_log.append(
                conn,
                access_log.LogEntry.by(
                    someone,
                    "reads.search",
                    terms={"plate": plate},
                    purpose="routine patrol",
                    case_number="24-1",
                ),
            )
        access_log.append(conn, access_log.LogEntry.by(someone, "reads.search", terms={"pattern": "7A*"}))
    span = [
        "--from",
        f"{datetime.now(UTC) - timedelta(days=1):%Y-%m-%d}",
        "--to",
        f"{datetime.now(UTC) + timedelta(days=1):%Y-%m-%d}",
    ]
    out = tmp_path / "audit.csv"
    said = cli(env, "audit", "report", *span, "--format", "csv", "--out", str(out))
    assert "3 searches, 1 without a case number" in said and str(out) in said
    text = out.read_text()
    assert "totals,searches,,3," in text and "totals,wildcard searches,,1," in text
    assert out.stat().st_mode & 0o077 == 0
    html = cli(env, "audit", "report", *span)
    assert html.lstrip().startswith("<!doctype html>") and "<svg" in html
    figures = json.loads(cli(env, "audit", "report", *span, "--format", "json").split("\naudit report")[0])
    assert figures["searches_without_case"] == 1 and figures["searches_by_user"][0]["username"] == "ivy"
    with psycopg.connect(database_url) as conn:
        rows = access_log.query(conn, action="audit.report")
    assert len(rows) == 3 and {r.terms["format"] for r in rows} == {"csv", "html", "json"}
    assert cli(env, "audit", "report", "--from", "2026-02-01", "--to", "2026-01-01", code=2)


def _alert(conn: psycopg.Connection, read_id: str, raised_at: datetime) -> str:
    alert_id = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO alerts (alert_id, raised_at, read_time, read_id, camera_id, plate, hotlist, entry,"
        " match_kind, state_at)"
        " VALUES (%s, %s, %s, %s, 'cam-1', '7ABC123', 'stolen', '7ABC123', 'exact', %s)",
        (alert_id, raised_at, raised_at, read_id, raised_at),
    )
    return alert_id


def test_retention_purges_old_alerts_and_deliveries_but_keeps_held_reads_alerts_and_reports_it(
    env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    read = Read(
        read_id=str(uuid.uuid4()),
        camera_id="cam-1",
        time=datetime.now(UTC).timestamp(),
        plate="7ABC123",
        confidence=0.9,
    )
    writer = ReadWriter(database_url)
    try:
        writer.write([read])
    finally:
        writer.close()
    images = DirectoryImageStore(tmp_path / "images")
    old = datetime.now(UTC) - timedelta(days=400)
    with psycopg.connect(database_url, autocommit=True) as conn:
        place_hold(
            conn,
            images,
            case_number="24-000777",
            created_by="sam",
            criteria=HoldCriteria(read_ids=(read.read_id,)),
            reason="burglary suspect vehicle",
        )
        held = _alert(conn, read.read_id, old)
        gone = _alert(conn, str(uuid.uuid4()), old)
        young = _alert(conn, str(uuid.uuid4()), datetime.now(UTC) - timedelta(days=10))
        for alert_id, status, created in (
            (gone, "delivered", old),
            (young, "dead", old),
            (young, "pending", old),
        ):
            conn.execute(
                "INSERT INTO webhook_deliveries (destination, event_seq, alert_id, msg_id, status,"
                " created_at) VALUES ('cad',"
                " (SELECT coalesce(max(event_seq), 0) + 1 FROM webhook_deliveries), %s, %s, %s, %s)",
                (alert_id, str(uuid.uuid4()), status, created),
            )
        report = run_retention(conn, images, days=365)
        assert (report.purged_alerts, report.purged_deliveries) == (1, 2)
        left = {r[0] for r in conn.execute("SELECT alert_id FROM alerts").fetchall()}
        assert left == {held, young}
        statuses = [r[0] for r in conn.execute("SELECT status FROM webhook_deliveries").fetchall()]
        assert statuses == ["pending"]  # a pending one is still being delivered
    shown = json.loads(cli(env, "retention", "report", "--json"))
    assert shown["runs"][0]["purged_alerts"] == 1 and shown["held_reads"] == 1
    [hold] = shown["holds"]
    assert (hold["case_number"], hold["reason"], hold["reads"]) == (
        "24-000777",
        "burglary suspect vehicle",
        1,
    )
    assert any("alerts" in r["data"] for r in shown["rules"])
    tables = cli(env, "retention", "report")
    assert "retention rules" in tables and "24-000777" in tables and "active" in tables
