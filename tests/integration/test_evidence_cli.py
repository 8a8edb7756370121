"""`platewatch export …` and `platewatch hold …` against the real API, as logged-in users.

The commands are API clients: an investigator exports the reads of a search into a bundle on disk
that `export verify` accepts with the key `export public-key` prints, records custody, places a
hold; only a supervisor's `hold release` goes through.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from api_server import api_settings, enrol_totp, serve_api
from policy_people import PASSWORD, cheap_hashes, found_department
from typer.testing import CliRunner

from platewatch.codecs import Read
from platewatch.engine.cli import app
from platewatch.engine.policy import access_log
from platewatch.engine.policy.roles import Role
from platewatch.engine.store import migrate
from platewatch.engine.store.copy_writer import ReadWriter
from platewatch.engine.store.images import DirectoryImageStore, store_read_images

CASE = "24-001234"
PURPOSE = "criminal investigation"
JPEG = b"\xff\xd8\xff\xe0fake-jpeg\xff\xd9"


@dataclass
class Site:
    conn: psycopg.Connection
    env: dict[str, str]
    codes: dict[str, str]
    tmp: Path


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def site(
    database_url: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Site]:
    monkeypatch.delenv("PLATEWATCH_CONFIG", raising=False)
    cheap_hashes(monkeypatch)
    migrate(database_url)
    now = time.time()
    reads = [
        Read(
            read_id=str(uuid.uuid4()),
            camera_id="cam-9",
            time=now - 60 - i,
            plate=p,
            confidence=0.9,
            crop_jpeg=JPEG,
        )
        for i, p in enumerate(["7ABC123", "7ABC123", "XYZ999"])
    ]
    writer = ReadWriter(database_url, connections=1)
    try:
        writer.write(reads)
    finally:
        writer.close()
    data = tmp_path / "data"
    store_read_images(DirectoryImageStore(data / "images"), reads)
    with psycopg.connect(database_url, autocommit=True) as conn:
        dept = found_department(conn)
        dept.add("ivy", Role.INVESTIGATOR)
        at = datetime.now(UTC) - timedelta(minutes=5)
        codes = {name: enrol_totp(dept, name, at)[0].now() for name in ("ivy", "sam")}
        env = {
            "PLATEWATCH_SERVICES__DATABASE_URL": database_url,
            "PLATEWATCH_DATA_DIR": str(data),
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
        }
        with serve_api(api_settings(data, database_url, redis_url)) as url:
            env["API"] = url
            yield Site(conn, env, codes, tmp_path)


def _login(site: Site, runner: CliRunner, who: str) -> None:
    done = runner.invoke(
        app,
        ["login", "--api", site.env["API"], "--username", who],
        input=f"{PASSWORD}\n{site.codes[who]}\n",
        env=site.env,
    )
    assert done.exit_code == 0, done.output


def test_export_from_a_search_verify_and_custody(site: Site) -> None:
    runner = CliRunner()
    _login(site, runner, "ivy")
    found = runner.invoke(
        app, ["search", "--purpose", PURPOSE, "--case", CASE, "--plate", "7ABC123", "--json"], env=site.env
    )
    assert found.exit_code == 0, found.output
    hits = site.tmp / "hits.jsonl"
    hits.write_text(found.output)
    out = site.tmp / "media"
    made = runner.invoke(
        app,
        [
            *("export", "create", "--case", CASE, "--booking", "EV-7", "--purpose", PURPOSE),
            *("--from-search", str(hits), "--out", str(out)),
        ],
        env=site.env,
    )
    assert made.exit_code == 0, made.output
    match = re.search(r"export ([0-9a-f-]{36}): 2 reads", _flat(made.output))
    assert match, made.output
    export_id = match[1]
    assert (out / "manifest.json").is_file() and (out / "manifest.sig").is_file()

    key = runner.invoke(app, ["export", "public-key"], env=site.env)
    assert key.exit_code == 0 and "BEGIN PUBLIC KEY" in key.stdout
    pem = site.tmp / "department.pem"
    pem.write_text(key.stdout)
    ok = runner.invoke(app, ["export", "verify", str(out), "--public-key", str(pem)], env=site.env)
    assert ok.exit_code == 0 and f"case {CASE}" in _flat(ok.output), ok.output
    (out / "reads.csv").write_text("read_id\n")
    bad = runner.invoke(app, ["export", "verify", str(out), "--public-key", str(pem)], env=site.env)
    assert bad.exit_code == 1 and "changed: reads.csv" in bad.output

    zipped = runner.invoke(
        app,
        [
            *("export", "download", export_id, "--case", CASE, "--purpose", PURPOSE),
            *("--out", str(site.tmp), "--zip"),
        ],
        env=site.env,
    )
    assert zipped.exit_code == 0, zipped.output
    zip_ok = runner.invoke(
        app,
        ["export", "verify", str(site.tmp / f"evidence-{export_id}.zip"), "--public-key", str(pem)],
        env=site.env,
    )
    assert zip_ok.exit_code == 0, zip_ok.output

    step = runner.invoke(
        app, ["export", "custody", export_id, "--event", "copied", "--to", "DVD-R 4411"], env=site.env
    )
    assert step.exit_code == 0 and "copied" in step.output, step.output
    wrong = runner.invoke(app, ["export", "custody", export_id, "--event", "lost", "--to", "x"], env=site.env)
    assert wrong.exit_code == 2
    listed = runner.invoke(app, ["export", "list", "--case", CASE, "--json"], env=site.env)
    assert listed.exit_code == 0, listed.output
    assert [c in listed.output for c in ('"exported"', '"downloaded"', '"copied"', "DVD-R 4411")] == [
        True
    ] * 4
    rows = access_log.query(site.conn, username="ivy", action="evidence.export", outcome="allowed")
    assert len(rows) == 1 and rows[0].returned_count == 2 and rows[0].case_number == CASE


def test_hold_add_list_and_only_a_supervisor_releases(site: Site) -> None:
    runner = CliRunner()
    before = runner.invoke(app, ["hold", "list"], env=site.env)
    assert before.exit_code != 0 and "platewatch login" in _flat(before.output)
    _login(site, runner, "ivy")
    placed = runner.invoke(
        app,
        ["hold", "add", "--case", CASE, "--purpose", PURPOSE, "--plate", "XYZ999", "--reason", "discovery"],
        env=site.env,
    )
    assert placed.exit_code == 0 and "XYZ999" in placed.output, placed.output
    no_purpose = runner.invoke(
        app, ["hold", "add", "--case", CASE, "--purpose", "", "--plate", "XYZ999"], env=site.env
    )
    assert no_purpose.exit_code == 2 and "purpose" in _flat(no_purpose.output)
    listed = runner.invoke(app, ["hold", "list", "--active"], env=site.env)
    assert listed.exit_code == 0 and CASE in listed.output and "ivy" in listed.output
    refused = runner.invoke(app, ["hold", "release", "1", "--reason", "case closed"], env=site.env)
    assert refused.exit_code == 1 and "refused" in refused.output, refused.output
    _login(site, runner, "sam")
    released = runner.invoke(app, ["hold", "release", "1", "--reason", "case closed"], env=site.env)
    assert released.exit_code == 0 and "sam:" in released.output, released.output
    rows = access_log.query(site.conn, action="evidence.hold_release")
    assert sorted((r.username, r.outcome) for r in rows) == [("ivy", "refused"), ("sam", "allowed")]
