"""`platewatch retention` end to end through the CLI on a real database (`hold` goes through the API:
tests/integration/test_evidence_cli.py)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from platewatch.codecs import Read
from platewatch.engine.cli import app
from platewatch.engine.store import migrate
from platewatch.engine.store.copy_writer import ReadWriter


@pytest.fixture
def env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key in ("PLATEWATCH_CONFIG",):
        monkeypatch.delenv(key, raising=False)
    migrate(database_url)
    writer = ReadWriter(database_url, connections=1)
    now = time.time()
    try:
        writer.write(
            [
                Read(read_id=str(uuid.uuid4()), camera_id="cam-9", time=now - i, plate=p, confidence=0.9)
                for i, p in enumerate(["7ABC123", "7ABC123", "7ABD123", "XYZ999"])
            ]
        )
    finally:
        writer.close()
    return {"PLATEWATCH_SERVICES__DATABASE_URL": database_url, "PLATEWATCH_DATA_DIR": str(tmp_path)}


def test_retention_commands(env: dict[str, str]) -> None:
    runner = CliRunner()
    ran = runner.invoke(app, ["retention", "run"], env=env)
    assert ran.exit_code == 0 and "dropped 0 days" in ran.output, ran.output
    status = runner.invoke(app, ["retention", "status"], env=env)
    assert status.exit_code == 0 and "active_holds" in status.output
