"""`platewatch backup` / `restore` end to end on a real database and image directory: reads, images and
the access log come back the same, the chain still verifies, and a damaged backup changes nothing."""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from datetime import UTC, datetime
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
from platewatch.engine.store.images import DirectoryImageStore, store_read_images

runner = CliRunner()


@pytest.fixture
def env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.delenv("PLATEWATCH_CONFIG", raising=False)
    migrate(database_url)
    return {
        "PLATEWATCH_SERVICES__DATABASE_URL": database_url,
        "PLATEWATCH_DATA_DIR": str(tmp_path / "data"),
        "COLUMNS": "200",
    }


def cli(env: dict[str, str], *args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args), env=env)
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result.output


def _fill(database_url: str, images: Path) -> None:
    reads = [
        Read(
            read_id=str(uuid.uuid4()),
            camera_id=f"cam-{i % 2}",
            time=datetime.now(UTC).timestamp() - i,
            plate=f"7ABC{i:03d}",
            confidence=0.9,
            crop_jpeg=b"\xff\xd8crop" + bytes([i]) * 100,
            overview_jpeg=b"\xff\xd8overview" + bytes([i]) * 300,
        )
        for i in range(5)
    ]
    assert store_read_images(DirectoryImageStore(images), reads) == 10
    writer = ReadWriter(database_url)
    try:
        writer.write(reads)
    finally:
        writer.close()
    someone = Actor(username="ivy", organisation="PAPD", user_id=7, address="10.0.0.9")
    with psycopg.connect(database_url, autocommit=True) as conn:
        for plate in ("7ABC001", "7ABC003"):
            entry = access_log.LogEntry.by(
                someone, "reads.search", terms={"plate": plate}, purpose="routine patrol", case_number="24-1"
            )
            access_log.append(conn, entry)


def _snapshot(
    database_url: str, images: Path
) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]], dict[str, str]]:
    with psycopg.connect(database_url) as conn:
        reads = conn.execute(
            "SELECT read_id, camera_id, time, plate, image_key FROM reads ORDER BY read_id"
        ).fetchall()
        log = conn.execute("SELECT * FROM access_log ORDER BY 1").fetchall()
    files = {
        p.relative_to(images).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in images.rglob("*")
        if p.is_file()
    }
    return reads, log, files


@pytest.mark.parametrize("encrypted", [True, False])
def test_backup_drop_restore_gives_back_the_same_rows_images_and_chain(
    env: dict[str, str], database_url: str, tmp_path: Path, encrypted: bool
) -> None:
    images = tmp_path / "data" / "images"
    _fill(database_url, images)
    before = _snapshot(database_url, images)
    assert len(before[0]) == 5 and len(before[1]) >= 2 and len(before[2]) == 10
    key = ["--key-file", str(tmp_path / "backup.key")] if encrypted else []

    backup = tmp_path / "backup"
    output = cli(env, "backup", str(backup), *key)
    assert "10 images" in output
    manifest = json.loads((backup / "manifest.json").read_text())
    assert manifest["encrypted"] is encrypted and len(manifest["images"]["files"]) == 10
    assert oct((backup / "database.dump").stat().st_mode & 0o777) == "0o600"
    plate_bytes = b"7ABC001"
    stored = (backup / "database.dump").read_bytes()
    if encrypted:  # nothing of a read readable without the key
        assert plate_bytes not in stored
        assert b"overview" not in next((backup / "images").rglob("*.jpg")).read_bytes()

    # Lose everything: the images and every table.
    shutil.rmtree(images)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")

    cli(env, "restore", str(backup), *key)
    after = _snapshot(database_url, images)
    assert after == before
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert access_log.verify(conn).ok

    # A database that holds tables is not overwritten unless asked.
    refused = cli(env, "restore", str(backup), *key, code=1)
    assert "--replace" in refused
    cli(env, "restore", str(backup), *key, "--replace")
    assert _snapshot(database_url, images)[:2] == before[:2]


def test_a_damaged_or_wrongly_keyed_backup_is_refused_before_anything_changes(
    env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    images = tmp_path / "data" / "images"
    _fill(database_url, images)
    backup = tmp_path / "backup"
    cli(env, "backup", str(backup), "--key-file", str(tmp_path / "k1"))
    before = _snapshot(database_url, images)

    # Another key does not open it.
    from cryptography.fernet import Fernet

    (tmp_path / "k2").write_bytes(Fernet.generate_key())
    output = cli(env, "restore", str(backup), "--key-file", str(tmp_path / "k2"), "--replace", code=1)
    assert "does not decrypt" in output
    assert "encrypted" in cli(env, "restore", str(backup), "--replace", code=1)

    # One image gone from the backup: refused, the database untouched.
    next((backup / "images").rglob("*.jpg")).unlink()
    output = cli(env, "restore", str(backup), "--key-file", str(tmp_path / "k1"), "--replace", code=1)
    assert "Traceback" not in output
    assert _snapshot(database_url, images) == before


def test_backup_refuses_a_directory_that_is_not_empty(env: dict[str, str], tmp_path: Path) -> None:
    target = tmp_path / "used"
    target.mkdir()
    (target / "something").write_text("x")
    assert "not empty" in cli(env, "backup", str(target), code=1)
